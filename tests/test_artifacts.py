"""Artifacts: skip when done, resume after failure, never a .done for a killed run."""

import signal
import subprocess
import sys
import time

import pytest

from unlearnlab.core.artifacts import Artifact, ResultsStore, config_hash

pytestmark = pytest.mark.integration


def test_config_hash_is_stable_and_order_free():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_build_skips_when_done(tmp_path):
    calls = []
    art = Artifact(tmp_path, "stage", "run", {"x": 1})

    def make(d):
        calls.append(d)
        (d / "out.txt").write_text("result")

    assert art.build(make) == art.path and art.build(make) == art.path
    assert len(calls) == 1 and (art.path / "out.txt").read_text() == "result"
    assert (art.path / "config.json").is_file() and art.done


def test_failure_leaves_no_done_and_keeps_previous_result(tmp_path):
    art = Artifact(tmp_path, "stage", "run", {"x": 1})
    with pytest.raises(RuntimeError):
        art.build(lambda d: (_ for _ in ()).throw(RuntimeError("boom")))
    assert not art.done and not art.path.exists()
    art.build(lambda d: (d / "out.txt").write_text("good"))
    assert art.done
    with pytest.raises(RuntimeError), art.writing() as d:  # a failed rewrite
        (d / "out.txt").write_text("half")
        raise RuntimeError("killed")
    assert art.done and (art.path / "out.txt").read_text() == "good"
    assert [p.name for p in art.path.parent.iterdir()] == [art.path.name]  # temp dir cleaned


def test_run_killed_mid_write_has_no_done(tmp_path):
    script = (
        "import sys, time, pathlib\n"
        "from unlearnlab.core.artifacts import Artifact\n"
        f"art = Artifact(pathlib.Path({str(tmp_path)!r}), 'stage', 'run', {{'x': 1}})\n"
        "def make(d):\n"
        "    (d / 'part.bin').write_bytes(b'x' * 10)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(30)\n"
        "art.build(make)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    art = Artifact(tmp_path, "stage", "run", {"x": 1})
    assert not art.done and not art.path.exists()
    start = time.time()
    art.build(lambda d: (d / "out.txt").write_text("redone"))  # the next run redoes the work
    assert art.done and time.time() - start < 5
    assert [p.name for p in art.path.parent.iterdir()] == [art.path.name]  # killed run's temp dir removed


def test_results_store_rows_overwrite_by_key(tmp_path):
    store = ResultsStore(tmp_path)
    key = {"method": "GradDiff", "seed": 0}
    store.put("runs", key, {"acc": 0.5})
    store.put("runs", key, {"acc": 0.7})
    store.put("runs", {"method": "GradDiff", "seed": 1}, {"acc": 0.6})
    table = store.table("runs")
    assert len(table) == 2 and set(table["acc"]) == {0.7, 0.6}
    assert store.get("runs", key)["acc"] == 0.7
    with pytest.raises(ValueError):
        store.put("runs", key, {"seed": 3})
