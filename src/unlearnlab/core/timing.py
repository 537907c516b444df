"""Timing of pipeline phases: wall and CPU seconds recorded into a result's info dict."""

from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Iterator


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
