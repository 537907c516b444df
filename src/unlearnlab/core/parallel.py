"""The one process pool: independent jobs on a multi-core CPU, one process of one thread per core.

Small models (and a 135M one at batch 4) do not scale across threads: the matrix products are
too small and much of a step is Python. Two one-thread processes on two cores ran ~20 % more
training tokens per second than one two-thread process (arithmetic pretraining), and more for
generation-heavy evaluation. On a GPU, or with one worker, jobs run in this process.

Workers are spawned (not forked: forking a process that already ran torch threads can
deadlock), so job functions must be module-level and jobs picklable; scripts need an
``if __name__ == "__main__":`` guard, notebooks do not. A worker's stderr reaches the executed
notebook, so every worker first silences library progress bars and warnings (``quiet_libraries``).
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

_CHATTY = r"(transformers|peft|datasets|huggingface_hub|transformer_lens|accelerate)(\.|$)"


def quiet_libraries() -> None:
    """No progress bars ("Loading weights", "Writing model shards", downloads), no hub or model
    loading chatter and no library deprecation warnings in notebook output. Errors still show."""
    import datasets
    import huggingface_hub
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=_CHATTY)


def _init_worker(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    torch.set_num_threads(1)
    quiet_libraries()
    if initializer is not None:
        initializer(*initargs)


class SerialPool:
    """Stand-in for a process pool (GPU, or one worker): runs each job when it is submitted, in
    this process, with its threads (no initializer: this process is already set up)."""

    class _Done:
        def __init__(self, value: Any):
            self.value = value

        def get(self) -> Any:
            return self.value

    def apply_async(self, fn: Callable[..., Any], args: tuple = ()) -> "SerialPool._Done":
        return self._Done(fn(*args))

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any], chunksize: int = 1) -> list:
        return [fn(job) for job in jobs]


@contextmanager
def worker_pool(workers: int, device: str = "cpu", initializer: Callable[..., None] | None = None,
                initargs: tuple = ()) -> Iterator[Any]:
    """A spawn pool of ``workers`` one-thread, quiet processes, each running
    ``initializer(*initargs)`` once at start (module-level, picklable); a ``SerialPool`` on a GPU
    or with fewer than two workers. Both offer ``map(fn, jobs)`` and ``apply_async(fn, args)``
    (``.get()`` returns the value or re-raises the worker's exception), for schedules where one
    job's result feeds the next."""
    if device != "cpu" or workers < 2:
        yield SerialPool()
        return
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker,
                                                   initargs=(initializer, initargs)) as pool:
        yield pool


def map_jobs(fn: Callable[[Any], Any], jobs: Sequence[Any], device: str = "cpu", workers: int | None = None,
             initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> list:
    """``[fn(job) for job in jobs]``, in order; on a multi-core CPU in ``worker_pool`` processes
    (at most one per core and per job, or ``workers``); in this process on a GPU or when only
    one worker would run (then ``initializer`` does not run either)."""
    jobs = list(jobs)
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    with worker_pool(workers, device, initializer, initargs) as pool:
        return pool.map(fn, jobs, chunksize=1)
