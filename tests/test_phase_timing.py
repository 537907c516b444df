"""Phase timing: exclusive seconds per nested phase, their categories, the per-process files the
pipeline sums per notebook, and the README/benchmark table built from them."""

from __future__ import annotations

import json
import time

import pytest

from unlearnlab.core import timing
from unlearnlab.reporting import readme

pytestmark = pytest.mark.unit


def _busy(seconds: float) -> None:
    """Spin (not sleep) so CPU seconds move as well as wall seconds."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_nested_phases_are_charged_exclusively(monkeypatch):
    clock = timing.PhaseClock()
    monkeypatch.setattr(timing, "_CLOCK", clock)
    monkeypatch.delenv(timing.PHASE_DIR_ENV, raising=False)
    with timing.phase("attack"):
        _busy(0.05)
        with timing.phase("evaluate"):
            _busy(0.1)
        _busy(0.05)
    assert clock.stack == []
    assert clock.wall["attack/evaluate"] == pytest.approx(0.1, abs=0.03)
    assert clock.wall["attack"] == pytest.approx(0.1, abs=0.03)  # its own time, without the evaluation
    # CPU seconds move too (less than wall when other processes share the core)
    assert 0 < clock.cpu["attack/evaluate"] <= clock.wall["attack/evaluate"] + 0.01
    assert clock.calls == {"attack": 1, "attack/evaluate": 1}


def test_a_phase_is_closed_when_its_block_raises(monkeypatch):
    clock = timing.PhaseClock()
    monkeypatch.setattr(timing, "_CLOCK", clock)

    @timing.in_phase("evaluate")
    def fails() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert clock.stack == [] and "evaluate" in clock.wall


@pytest.mark.parametrize("path, category", [("pretrain", "pretrain"), ("attack/evaluate", "evaluate"),
                                            ("unlearn/train", "unlearn"), ("plot", "plot"),
                                            ("localize/evaluate", "evaluate")])
def test_categories_take_the_innermost_listed_phase(path, category):
    assert timing.phase_category(path) == category


def test_flush_writes_per_process_totals_that_the_pipeline_sums(tmp_path, monkeypatch):
    clock = timing.PhaseClock()
    monkeypatch.setattr(timing, "_CLOCK", clock)
    monkeypatch.setenv(timing.PHASE_DIR_ENV, str(tmp_path))
    with timing.phase("pretrain"):
        _busy(0.05)
    record = json.loads((tmp_path / f"{record_pid()}.json").read_text())
    assert record["main"] and record["cpu_s"]["pretrain"] > 0
    # a second process's file (a pool worker) adds up with the first
    (tmp_path / "1.json").write_text(json.dumps({"pid": 1, "main": False, "process_cpu_s": 3.0,
                                                 "cpu_s": {"attack": 1.0, "attack/evaluate": 0.5},
                                                 "wall_s": {}, "calls": {}}))
    summary = timing.summarize_phase_dir(tmp_path)
    assert summary["attack"] == 1.0 and summary["evaluate"] == 0.5
    assert summary["other"] >= 1.5  # the worker's 3 s minus its 1.5 s in phases, plus ours
    assert summary["pretrain"] == pytest.approx(record["cpu_s"]["pretrain"], abs=0.01)


def record_pid() -> int:
    import os
    return os.getpid()


def test_phase_table_sums_columns_and_names_its_source():
    run = {"profile": "default", "seconds": 100.0, "phase_cpu_s": {"pretrain": 150.0, "other": 50.0}}
    record = {"notebook_runs": {"10_pretrain": run, "20_x": {**run, "phase_cpu_s": {"evaluate": 40.0}},
                                "30_gpu": {**run, "profile": "gpu"}}}
    table = readme.render_phases(record)
    assert "| notebook | wall s | pretrain | evaluate | other |" in table
    assert "| 10_pretrain | 100 | 150 | 0 | 50 |" in table
    assert "| **all** | **200** | **150** (62 %) | **40** (17 %) | **50** (21 %) |" in table
    assert "30_gpu" not in table
    assert "No phase timings" in readme.render_phases({"notebook_runs": {}})
