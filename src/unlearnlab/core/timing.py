"""Timing: a block's wall and CPU seconds into a result's info dict (``timed``), and the phases of
a whole run (``phase``: pretrain, unlearn, distill, attack, evaluate, load, plot), written per
process for ``benchmarks/profile_default.py``."""

from __future__ import annotations

import atexit
import functools
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def timed(info: dict, name: str) -> Iterator[None]:
    """Record the block's wall and CPU seconds as ``info[f"{name}_s"]`` and ``info[f"{name}_cpu_s"]``.

    CPU time is what a projection on an idle machine needs when other jobs share the cores.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        info[f"{name}_s"] = time.perf_counter() - wall
        info[f"{name}_cpu_s"] = time.process_time() - cpu


class Laps:
    """Consecutive phases of one run: ``lap(name)`` stores the seconds since the previous lap."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


# --- phases: where a run's seconds go ---------------------------------------------------------
#
# ``with phase("evaluate"):`` charges the seconds spent inside the block to that phase, excluding
# nested phases (a relearning attack's evaluations count as "attack/evaluate", not twice). Each
# process keeps its totals in memory and, when PHASE_DIR_ENV names a folder (the pipeline sets it per
# notebook; spawned pool workers inherit it), rewrites ``<folder>/<pid>.json`` after every
# outermost phase. CPU seconds add up across processes, so a table of them says where the cores
# went even when two workers ran at once; wall seconds say how long the user waited.

PHASE_DIR_ENV = "UNLEARNLAB_PHASE_DIR"


class PhaseClock:
    """Exclusive wall and CPU seconds per phase path ("attack/evaluate") of this process."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._mark = (time.perf_counter(), time.process_time())

    def _charge(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        if self.stack:
            path = "/".join(self.stack)
            self.wall[path] = self.wall.get(path, 0.0) + wall - self._mark[0]
            self.cpu[path] = self.cpu.get(path, 0.0) + cpu - self._mark[1]
        self._mark = (wall, cpu)

    def enter(self, name: str) -> None:
        self._charge()
        self.stack.append(name)
        path = "/".join(self.stack)
        self.calls[path] = self.calls.get(path, 0) + 1

    def exit(self) -> None:
        self._charge()
        self.stack.pop()

    def snapshot(self) -> dict:
        """Totals so far, with the process's whole CPU time (imports and glue included)."""
        return {"pid": os.getpid(), "main": multiprocessing.parent_process() is None,
                "process_cpu_s": time.process_time(), "wall_s": dict(self.wall), "cpu_s": dict(self.cpu),
                "calls": dict(self.calls)}


_CLOCK = PhaseClock()


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Charge the block's seconds (minus nested phases) to ``name`` under the enclosing phases."""
    _CLOCK.enter(name)
    try:
        yield
    finally:
        _CLOCK.exit()
        if not _CLOCK.stack:
            flush_phases()


def in_phase(name: str) -> Callable[[F], F]:
    """Decorator form of :func:`phase` for functions that are one phase each (an evaluation)."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def timed_fn(*args, **kwargs):
            with phase(name):
                return fn(*args, **kwargs)
        return timed_fn  # type: ignore[return-value]
    return wrap


def phase_snapshot() -> dict:
    """This process's phase totals (for tests and for callers that report them themselves)."""
    return _CLOCK.snapshot()


def flush_phases() -> Path | None:
    """Rewrite this process's totals under ``$UNLEARNLAB_PHASE_DIR`` (atomically); no-op when unset."""
    folder = os.environ.get(PHASE_DIR_ENV)
    if not folder:
        return None
    path = Path(folder) / f"{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_CLOCK.snapshot()))
    tmp.replace(path)
    return path


atexit.register(flush_phases)  # the notebook kernel's glue after its last phase


# The phases a profile table reports; a nested path counts under its innermost listed name
# (a relearning attack's evaluations are evaluation time), else under its outermost one.
LEAF_PHASES = ("evaluate", "load", "save", "plot", "localize")


def phase_category(path: str) -> str:
    """``"attack/evaluate"`` -> ``"evaluate"``; ``"pretrain"`` -> ``"pretrain"``."""
    parts = path.split("/")
    for part in reversed(parts):
        if part in LEAF_PHASES:
            return part
    return parts[0]


def summarize_phase_dir(folder: Path) -> dict[str, float]:
    """CPU seconds per phase category over every process that wrote into ``folder`` (the notebook's
    kernel and its pool workers), plus ``other``: their CPU outside any phase (imports, data
    building, glue)."""
    totals: dict[str, float] = {}
    outside = 0.0
    for path in sorted(Path(folder).glob("*.json")):
        record = json.loads(path.read_text())
        phased = 0.0
        for name, seconds in record["cpu_s"].items():
            key = phase_category(name)
            totals[key] = totals.get(key, 0.0) + seconds
            phased += seconds
        outside += max(0.0, record["process_cpu_s"] - phased)
    totals["other"] = outside
    return {k: round(v, 2) for k, v in sorted(totals.items())}
