"""Progress on the terminal (issue 16): the time-left estimate from earlier runs' seconds, one
line per notebook off a terminal, bars on stderr otherwise, and an unchanged papermill call."""

from __future__ import annotations

import json
import sys

import pytest

from unlearnlab import pipeline

pytestmark = pytest.mark.unit

RUN = {"profile": "default", "seconds": 0.0}


def _json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_expected_seconds_prefer_the_newest_record_of_the_same_profile(tmp_path):
    paper = _json(tmp_path / "MANIFEST.json", {
        "profile": "default", "notebook_seconds": {"00_a": 10.0, "10_b": 20.0, "total": 30.0},
        "notebook_runs": {"10_b": {**RUN, "seconds": 25.0}, "20_c": {**RUN, "profile": "smoke", "seconds": 1.0}}})
    root = tmp_path / "root"
    _json(root / "outputs" / "pipeline_times_default.json", {"00_a": 12.0, "total": 12.0})
    assert pipeline.expected_seconds("default", root, paper) == {"00_a": 12.0, "10_b": 25.0}
    assert pipeline.expected_seconds("smoke", root, paper) == {"20_c": 1.0}
    assert pipeline.expected_seconds("gpu", root, tmp_path / "missing.json") == {}


def test_time_left_counts_the_running_notebook_down_and_never_below_zero():
    expected = {"a": 100.0, "b": 200.0, "c": 300.0}
    assert pipeline.time_left(expected, ["b", "c"], 50.0) == (450.0, 0)  # 150 + 300
    assert pipeline.time_left(expected, ["b", "c"], 500.0) == (300.0, 0)  # b overran: 0 + 300
    assert pipeline.time_left(expected, ["d", "c"], 50.0) == (300.0, 1)  # d never ran before
    assert pipeline.describe_left(2700.0, 0) == "~45 min left"
    assert pipeline.describe_left(30.0, 1) == "~30 s left + 1 notebook(s) never timed"
    assert pipeline.describe_left(0.0, 2) == "no earlier times to estimate from"


def test_time_left_with_two_lanes_shares_the_remaining_seconds():
    expected = {"a": 100.0, "b": 200.0, "c": 300.0}
    # b and c wait, a has run 40 of its 100 s: (200 + 300 + 60) / 2 lanes
    assert pipeline.lanes_left(expected, ["b", "c"], {"a": 40.0}, 2) == (280.0, 0)
    assert pipeline.lanes_left(expected, [], {"a": 400.0}, 2) == (0.0, 0)  # overran: about to end
    assert pipeline.lanes_left(expected, ["d"], {}, 2) == (0.0, 1)


def test_needs_follow_the_declared_inputs_and_wait_for_everything_else():
    names = ["00_data", "10_pretrain", "32_rewrite_ia3", "41_targeted_undo", "50_mine", "90_paper"]
    assert pipeline.needs("32_rewrite_ia3", names) == set()
    assert pipeline.needs("10_pretrain", names) == {"00_data"}
    assert pipeline.needs("41_targeted_undo", names) == set()  # its inputs were not selected: already run
    assert pipeline.needs("50_mine", names) == {"00_data", "10_pretrain", "32_rewrite_ia3", "41_targeted_undo"}
    assert pipeline.needs("90_paper", names) == set(names[:-1])


def _fake_pipeline(tmp_path, monkeypatch, bars: bool):
    notebooks = [tmp_path / "nb" / f"{n}.py" for n in ("00_first", "10_second")]
    monkeypatch.setattr(pipeline, "notebook_paths", lambda only=None: notebooks)
    monkeypatch.setattr(pipeline, "run_notebook", lambda py_path, out_dir, parameters, cell_bars=True: 0.5)
    monkeypatch.setattr(pipeline, "bars_wanted", lambda: bars)
    root = tmp_path / "root"
    _json(root / "outputs" / "pipeline_times_smoke.json", {"00_first": 120.0, "10_second": 60.0, "total": 180.0})
    return root


def test_off_a_terminal_each_notebook_gets_plain_lines_with_the_time_left(tmp_path, monkeypatch, capsys):
    root = _fake_pipeline(tmp_path, monkeypatch, bars=False)
    pipeline.run("smoke", str(root), lanes=1)
    out, err = capsys.readouterr()
    assert "[pipeline] 00_first.py (profile=smoke) ... [1/2, ~3 min left]" in out  # 120 + 60 s
    assert "[pipeline] 10_second.py (profile=smoke) ... [2/2, ~60 s left]" in out
    assert out.count("done in 0.5 s") == 2
    assert err == ""  # no bar, no carriage returns in a log


def test_on_a_terminal_the_bar_goes_to_stderr_and_the_lines_stay_on_stdout(tmp_path, monkeypatch, capsys):
    root = _fake_pipeline(tmp_path, monkeypatch, bars=True)
    pipeline.run("smoke", str(root), lanes=1)
    out, err = capsys.readouterr()
    assert "notebooks 2/2" in err and "notebooks" not in out
    assert out.count("done in 0.5 s") == 2


@pytest.mark.parametrize("bars", [False, True])
def test_the_executed_notebook_call_is_the_same_with_or_without_bars(tmp_path, monkeypatch, bars):
    """Only papermill's ``progress_bar`` differs: its tqdm (drawn by this process on stderr) never
    reaches the kernel, so the executed notebook gets the same parameters and outputs."""
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setattr(pipeline, "bars_wanted", lambda: bars)
    nb = tmp_path / "00_tiny.py"
    nb.write_text("# %% tags=[\"parameters\"]\nprofile = 'smoke'\n\n# %%\nprint(profile)\n")
    params = {"profile": "smoke", "output_root": str(tmp_path), "overrides": {}}
    pipeline.run_notebook(nb, tmp_path / "out", params)
    (src, dst), kw = calls[0]
    assert (src, dst) == (str(tmp_path / "out" / "00_tiny.input.ipynb"), str(tmp_path / "out" / "00_tiny.ipynb"))
    assert kw["parameters"] == params and kw["log_output"] is False and kw["kernel_name"] == "python3"
    assert set(kw) == {"parameters", "kernel_name", "cwd", "progress_bar", "log_output", "config"}
    if bars:
        assert kw["progress_bar"]["file"] is sys.stderr and kw["progress_bar"]["leave"] is False
    else:
        assert kw["progress_bar"] is False
    assert not (tmp_path / "out" / "00_tiny.input.ipynb").exists()

