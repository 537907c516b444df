"""Independent jobs on a multi-core CPU: one process of one thread per core.

Small models (and a 135M one at batch 4) do not scale across threads: the matrix products are
too small and much of a step is Python. Two one-thread processes on two cores ran ~20 % more
training tokens per second than one two-thread process (arithmetic pretraining), and more for
generation-heavy evaluation. On a GPU, or with one core or one job, jobs run in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch


def _in_one_thread(packed: tuple[Callable[[Any], Any], Any]) -> Any:
    fn, job = packed
    torch.set_num_threads(1)
    return fn(job)


def map_jobs(fn: Callable[[Any], Any], jobs: Sequence[Any], device: str = "cpu", workers: int | None = None) -> list:
    """``[fn(job) for job in jobs]``, in spawned one-thread processes on a multi-core CPU.

    ``fn`` must be a module-level function and jobs picklable (spawn, not fork: forking a
    process that already ran torch threads can deadlock). Scripts calling this need an
    ``if __name__ == "__main__":`` guard; notebooks do not.
    """
    jobs = list(jobs)
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if device != "cpu" or workers < 2:
        return [fn(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(_in_one_thread, [(fn, job) for job in jobs], chunksize=1)
