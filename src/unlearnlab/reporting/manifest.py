"""The run record: which profile, commit and date made each output file, and which notebook wrote it.

The pipeline snapshots the modification times of ``figures/``, ``paper/tables/`` and ``paper/numbers/`` around each
notebook (``snapshot`` / ``changed``): whatever a notebook wrote is attributed to it, however it
was saved, with no bookkeeping in the notebooks. When notebooks run at the same time, the files
``reporting`` logged for each (``log_written``) settle which of them wrote what. ``write_manifest`` merges one run into a
manifest file: ``outputs/manifest_<profile>.json`` under any output root, and, for a full
paper run into the repository, ``figures/MANIFEST.json``.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import subprocess
from pathlib import Path

from filelock import FileLock

from unlearnlab.core.artifacts import read_json, write_json_atomic
from unlearnlab.core.paths import Paths, repo_root

MANIFEST_NAME = "MANIFEST.json"
# Set by the pipeline for each notebook it runs: a file where every figure and table written
# through ``reporting`` (``figures.draw``, ``tables.write_latex``) is logged, so notebooks that run
# at the same time can still be told apart.
WRITTEN_LOG_ENV = "UNLEARNLAB_WRITTEN_LOG"


def log_written(*files: Path) -> None:
    """Append ``files`` to the running notebook's log (no-op outside a pipeline run)."""
    log = os.environ.get(WRITTEN_LOG_ENV)
    if log:
        with open(log, "a") as handle:  # one short write per call: appends do not interleave
            handle.write("".join(f"{Path(f).resolve()}\n" for f in files))


def read_written_log(log: Path, root: Path) -> set[str]:
    """The logged files under ``root``, as paths relative to it."""
    if not log.is_file():
        return set()
    root = root.resolve()
    return {Path(line).relative_to(root).as_posix() for line in log.read_text().splitlines()
            if line and Path(line).is_relative_to(root)}


def _output_dirs(paths: Paths) -> list[Path]:
    return [paths.figures, paths.tables, paths.numbers]


def written_by_notebook(manifest: dict) -> dict[str, list[str]]:
    """The manifest's ``written_by`` inverted: notebook -> the files it wrote."""
    files: dict[str, list[str]] = {}
    for name, notebook in manifest.get("written_by", {}).items():
        files.setdefault(notebook, []).append(name)
    return files


def snapshot(paths: Paths) -> dict[str, int]:
    """Modification time (ns) of every figure and table, keyed by its path under the root."""
    files = (f for d in _output_dirs(paths) if d.is_dir() for f in d.iterdir())
    return {f.relative_to(paths.root).as_posix(): f.stat().st_mtime_ns
            for f in files if f.is_file() and f.name != MANIFEST_NAME}


def changed(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """Files created or rewritten between two snapshots."""
    return sorted(name for name, mtime in after.items() if before.get(name) != mtime)


def git_commit() -> str:
    """HEAD's hash, with ``+dirty`` when the code that makes results (``src/``, ``notebooks/``) differs
    from it: a run made from uncommitted code must not be credited to the commit before it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True,
                              text=True, check=True).stdout.strip()
        clean = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src", "notebooks"], cwd=repo_root(),
                               capture_output=True).returncode == 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head if clean else f"{head}+dirty"


def short_commit(commit: object) -> str:
    """A commit as the reports print it: 7 hex digits, keeping ``+dirty``."""
    text = str(commit)
    return text[:7] + ("+dirty" if text.endswith("+dirty") else "")


def stamp(profile: str, profile_hash: str, **extra: object) -> dict:
    """What made a run: profile, its config hash, commit, date (and overrides, if any)."""
    return {"profile": profile, "git_commit": git_commit(), "profile_hash": profile_hash,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **extra}


def write_manifest(path: Path, paths: Paths, run_stamp: dict, times: dict[str, float],
                   written: dict[str, list[str]], partial: bool,
                   phases: dict[str, dict[str, float]] | None = None, computed: bool = True) -> dict:
    """Merge one run into the manifest at ``path`` and return it.

    ``written`` maps each notebook that ran to the files it wrote (paths under the root). A full
    run starts afresh; a partial run (``--only``) replaces only the entries of the notebooks it
    ran, so the manifest always says where every file came from. Files gone from disk are dropped.
    ``phases`` maps a notebook to the CPU seconds of each phase of its run (``core.timing``).
    ``computed`` False (the run trained or computed nothing new: every artifact came from the
    cache) keeps the timings of the run that did the work, for the same profile config: a rerun
    that only redraws must not replace an hour's measured times with seconds.
    """
    with _lock(path):  # notebooks of one root may finish at once (test workers)
        return _merge_run(path, paths, run_stamp, times, written, partial, phases, computed)


def _merge_run(path: Path, paths: Paths, run_stamp: dict, times: dict[str, float], written: dict[str, list[str]],
               partial: bool, phases: dict[str, dict[str, float]] | None, computed: bool) -> dict:
    previous = read_json(path) if path.is_file() else {}
    manifest = copy.deepcopy(previous) if partial else {**run_stamp, "notebook_seconds": times}
    runs = manifest.setdefault("notebook_runs", {})
    phases = phases or {}
    runs.update({nb: {**run_stamp, "seconds": seconds, **({"phase_cpu_s": phases[nb]} if nb in phases else {})}
                 for nb, seconds in times.items() if nb != "total"})
    if not computed and _same_profile(previous, run_stamp):
        _keep_timings(manifest, previous, [nb for nb in times if nb != "total"])
    owners = {f: nb for f, nb in manifest.get("written_by", {}).items() if nb not in written}
    owners.update({f: nb for nb, files in written.items() for f in files})
    manifest["written_by"] = {f: owners[f] for f in sorted(owners) if (paths.root / f).is_file()}
    manifest["figures"] = sorted(p.name for p in paths.figures.glob("*.pdf"))
    manifest["tables"] = sorted(p.name for p in paths.tables.glob("*.tex"))
    write_json_atomic(path, manifest)
    return manifest


def _same_profile(previous: dict, run_stamp: dict) -> bool:
    """Whether a run that computed nothing may keep ``previous``'s timings: same profile and overrides.
    Not the profile hash: an edit to one study's config (and an ``--only`` run of it) changes the hash
    of every notebook, yet the others' cached artifacts, and so their measured cost, are unchanged."""
    return all(previous.get(key) == run_stamp.get(key) for key in ("profile", "overrides"))


def _lock(path: Path) -> FileLock:
    """A lock for the manifest at ``path`` (``figures/MANIFEST.json`` or ``outputs/manifest_*.json``),
    kept in the root's ``outputs/.locks`` so that no lock file lands among the outputs."""
    folder = Path(path).resolve().parent.parent / "outputs" / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"{Path(path).name}.lock"))


def read_manifest(path: Path) -> dict:
    return read_json(path) if Path(path).is_file() else {}


def attribute(path: Path, writer: str, files: list[str]) -> None:
    """Record in the manifest at ``path`` that ``writer`` (e.g. the pipeline itself) wrote ``files``."""
    with _lock(path):
        record = read_manifest(path)
        record.setdefault("written_by", {}).update({f: writer for f in files})
        record["written_by"] = dict(sorted(record["written_by"].items()))
        write_json_atomic(path, record)


TIMING_FIELDS = ("seconds", "phase_cpu_s", "date", "git_commit", "lanes", "wall_seconds")


def _keep_timings(manifest: dict, previous: dict, notebooks: list[str]) -> None:
    """Put back ``previous``'s timing fields for ``notebooks`` (and the run's totals), and the commit
    of the run that computed the results: a redraw from cached artifacts changes no number, so a
    second ``./run_all.sh`` leaves the record (and the paper's ``\runCommit``) as it was."""
    for nb in notebooks:
        old = previous.get("notebook_runs", {}).get(nb)
        if old and "seconds" in old:
            manifest["notebook_runs"][nb].update({k: old[k] for k in TIMING_FIELDS if k in old})
    for key in ("notebook_seconds", "wall_seconds", "lanes", "date", "git_commit"):
        if key in previous:
            manifest[key] = previous[key]


def artifact_names(paths: Paths) -> set[str]:
    """Every stored artifact (``artifacts/<stage>/<name>``, figure data excluded): a run that
    leaves this set unchanged computed nothing new."""
    root = paths.artifacts
    if not root.is_dir():
        return set()
    return {f"{stage.name}/{entry.name}" for stage in root.iterdir() if stage.is_dir() and stage.name != "figures"
            for entry in stage.iterdir()}
