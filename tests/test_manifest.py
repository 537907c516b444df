"""The manifest says which notebook wrote each figure and table; a partial run updates only the
notebooks it ran; the pipeline attributes files by what changed on disk around each notebook."""

from __future__ import annotations

import os

import pytest

from unlearnlab import pipeline
from unlearnlab.core.artifacts import read_json
from unlearnlab.core.paths import Paths
from unlearnlab.reporting import manifest

pytestmark = pytest.mark.unit


def _write(path, text="x", mtime_ns=None):
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def test_snapshot_sees_new_and_rewritten_files_only(tmp_path):
    paths = Paths.at(tmp_path).ensure()
    _write(paths.figures / "old.pdf", mtime_ns=10**18)
    _write(paths.tables / "kept.tex", mtime_ns=10**18)
    _write(paths.figures / manifest.MANIFEST_NAME)
    before = manifest.snapshot(paths)
    assert set(before) == {"figures/old.pdf", "paper/tables/kept.tex"}
    _write(paths.figures / "old.pdf", mtime_ns=2 * 10**18)
    _write(paths.figures / "new.png")
    assert manifest.changed(before, manifest.snapshot(paths)) == ["figures/new.png", "figures/old.pdf"]


def test_partial_run_keeps_the_other_notebooks_entries(tmp_path):
    paths = Paths.at(tmp_path).ensure()
    path = paths.figures / manifest.MANIFEST_NAME
    for name in ("a.pdf", "b.pdf"):
        _write(paths.figures / name)
    _write(paths.tables / "t.tex")
    full = {"00_data": ["figures/a.pdf"], "10_pretrain": ["figures/b.pdf", "paper/tables/t.tex"]}
    manifest.write_manifest(path, paths, {"profile_hash": "h1"}, {"00_data": 1.0, "10_pretrain": 2.0, "total": 3.0},
                            full, partial=False)
    (paths.tables / "t.tex").unlink()
    _write(paths.figures / "c.pdf")
    manifest.write_manifest(path, paths, {"profile_hash": "h2"}, {"10_pretrain": 5.0, "total": 5.0},
                            {"10_pretrain": ["figures/c.pdf"]}, partial=True)

    record = read_json(path)
    runs = record["notebook_runs"]
    assert runs["00_data"] == {"profile_hash": "h1", "seconds": 1.0}
    assert runs["10_pretrain"] == {"profile_hash": "h2", "seconds": 5.0}
    assert record["notebook_seconds"]["total"] == 3.0  # the last full run's totals stay
    assert record["written_by"] == {"figures/a.pdf": "00_data", "figures/c.pdf": "10_pretrain"}
    assert record["figures"] == ["a.pdf", "b.pdf", "c.pdf"] and record["tables"] == []
    assert manifest.written_by_notebook(record) == {"00_data": ["figures/a.pdf"], "10_pretrain": ["figures/c.pdf"]}


def test_a_rerun_that_computed_nothing_keeps_the_measured_timings(tmp_path):
    paths = Paths.at(tmp_path).ensure()
    path = paths.figures / manifest.MANIFEST_NAME
    _write(paths.figures / "a.pdf")
    stamp = {"profile": "default", "profile_hash": "h", "date": "2026-12-03", "wall_seconds": 3600.0,
             "git_commit": "aaaa"}
    manifest.write_manifest(path, paths, stamp, {"10_pretrain": 2600.0, "total": 2600.0},
                            {"10_pretrain": ["figures/a.pdf"]}, partial=False, phases={"10_pretrain": {"pretrain": 5000.0}})
    rerun = {**stamp, "date": "2026-12-04", "wall_seconds": 40.0, "git_commit": "bbbb"}
    manifest.write_manifest(path, paths, rerun, {"10_pretrain": 20.0, "total": 20.0},
                            {"10_pretrain": ["figures/a.pdf"]}, partial=False, computed=False)
    record = read_json(path)
    assert record["wall_seconds"] == 3600.0 and record["notebook_seconds"]["10_pretrain"] == 2600.0
    assert record["git_commit"] == "aaaa" and record["date"] == "2026-12-03"  # the run that computed
    assert record["notebook_runs"]["10_pretrain"]["seconds"] == 2600.0
    assert record["notebook_runs"]["10_pretrain"]["phase_cpu_s"] == {"pretrain": 5000.0}
    edited = {**rerun, "profile_hash": "h-after-another-study-changed"}  # other notebooks' artifacts still valid
    manifest.write_manifest(path, paths, edited, {"10_pretrain": 20.0, "total": 20.0},
                            {"10_pretrain": ["figures/a.pdf"]}, partial=False, computed=False)
    assert read_json(path)["notebook_runs"]["10_pretrain"]["seconds"] == 2600.0
    smoke = {**rerun, "profile": "smoke"}
    manifest.write_manifest(path, paths, smoke, {"10_pretrain": 20.0, "total": 20.0},
                            {"10_pretrain": ["figures/a.pdf"]}, partial=False, computed=False)
    assert read_json(path)["notebook_runs"]["10_pretrain"]["seconds"] == 20.0  # another profile's cost
    manifest.write_manifest(path, paths, stamp, {"10_pretrain": 2600.0, "total": 2600.0},
                            {"10_pretrain": ["figures/a.pdf"]}, partial=False, phases={"10_pretrain": {"pretrain": 5000.0}})
    manifest.write_manifest(path, paths, rerun, {"10_pretrain": 20.0, "total": 20.0},
                            {"10_pretrain": ["figures/a.pdf"]}, partial=True, computed=True)
    assert read_json(path)["notebook_runs"]["10_pretrain"]["seconds"] == 20.0  # it computed: its time counts


def test_artifact_names_ignore_figure_data(tmp_path):
    paths = Paths.at(tmp_path).ensure()
    (paths.artifacts / "pretrain" / "base_1").mkdir(parents=True)
    (paths.artifacts / "figures").mkdir()
    (paths.artifacts / "figures" / "x.pkl").write_text("x")
    assert manifest.artifact_names(paths) == {"pretrain/base_1"}


def test_pipeline_attributes_files_to_the_notebook_that_wrote_them(tmp_path, monkeypatch):
    """``run`` with stand-in notebooks (no kernel): each one's files are recorded under its name,
    and a run into a temporary root never writes a paper manifest there."""
    notebooks = [tmp_path / "nb" / f"{n}.py" for n in ("00_first", "10_second")]

    def fake_run_notebook(py_path, out_dir, parameters, cell_bars=True):
        figures = Paths.at(parameters["output_root"]).figures
        _write(figures / f"{py_path.stem}.png")
        return 0.5

    monkeypatch.setattr(pipeline, "notebook_paths", lambda only=None: notebooks)
    monkeypatch.setattr(pipeline, "run_notebook", fake_run_notebook)
    root = tmp_path / "root"
    pipeline.run("smoke", str(root), overrides={"concept.steps": 1}, lanes=1)

    record = read_json(root / "outputs" / "manifest_smoke.json")
    assert record["written_by"] == {"figures/00_first.png": "00_first", "figures/10_second.png": "10_second"}
    assert record["overrides"] == {"concept.steps": 1}
    assert not (root / "figures" / manifest.MANIFEST_NAME).exists()


def test_a_run_from_uncommitted_code_is_stamped_dirty(tmp_path, monkeypatch):
    """A result made by code that differs from HEAD must not be credited to HEAD; an edited output
    (a figure, a table) is not code and leaves the stamp clean."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    for name in ("src/mod.py", "figures/fig.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("one\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    monkeypatch.setattr(manifest, "repo_root", lambda: tmp_path)
    head = manifest.git_commit()
    assert len(head) == 40 and "+" not in head
    (tmp_path / "figures/fig.txt").write_text("two\n")
    assert manifest.git_commit() == head
    (tmp_path / "src/mod.py").write_text("two\n")
    assert manifest.git_commit() == f"{head}+dirty"
    assert manifest.short_commit(manifest.git_commit()) == f"{head[:7]}+dirty"
