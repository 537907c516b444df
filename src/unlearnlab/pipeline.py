"""Run the numbered notebooks headless with papermill, in order, into an output root.

    python -m unlearnlab.pipeline --profile smoke --output-root "$(mktemp -d)"
    python -m unlearnlab.pipeline --profile default          # updates figures/ and paper/tables/

Notebooks are jupytext percent files (``notebooks/NN_name.py``); each is converted in memory to
``.ipynb`` (papermill cannot read ``.py``), executed with parameters ``profile`` and
``output_root``, and saved executed under ``<root>/outputs/notebooks/<profile>/``. A full run
into the repository root writes ``figures/MANIFEST.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from unlearnlab.core.artifacts import config_hash, read_json, write_json_atomic
from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.profiles import PROFILE_NAMES, get_profile


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks in order; ``only`` keeps those whose number or name matches."""
    paths = sorted((repo_root() / "notebooks").glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) or p.stem == o for o in only)]
        if not paths:
            raise ValueError(f"no notebook matches {only}")
    return paths


def to_ipynb(py_path: Path):
    """The percent-format script as a notebook object with a Python kernelspec."""
    import jupytext

    nb = jupytext.read(py_path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def run_notebook(py_path: Path, out_dir: Path, parameters: dict) -> float:
    """Execute one notebook; return its wall time in seconds."""
    import nbformat
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f"{py_path.stem}.input.ipynb"
    dst = out_dir / f"{py_path.stem}.ipynb"
    nbformat.write(to_ipynb(py_path), src)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(src), str(dst), parameters=parameters, kernel_name="python3",
                                   cwd=str(py_path.parent), progress_bar=False, log_output=False)
    finally:
        src.unlink(missing_ok=True)
    return time.perf_counter() - start


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(profile: str, output_root: str | None, only: list[str] | None = None,
        parameters: dict[str, object] | None = None) -> dict[str, float]:
    """Run the notebooks; return wall time per notebook (also written to ``outputs/``).
    ``parameters`` are passed to every notebook run, on top of profile and output root."""
    prof = get_profile(profile)  # fails early with a clear message on an unknown profile
    paths = Paths.at(output_root).ensure()
    out_dir = paths.executed_notebooks / profile
    times: dict[str, float] = {}
    for nb in notebook_paths(only):
        print(f"[pipeline] {nb.name} (profile={profile}) ...", flush=True)
        params = {**(parameters or {}), "profile": profile, "output_root": str(paths.root)}
        times[nb.stem] = run_notebook(nb, out_dir, params)
        print(f"[pipeline] {nb.name} done in {times[nb.stem]:.1f} s", flush=True)
    times["total"] = sum(times.values())
    write_json_atomic(paths.root / "outputs" / f"pipeline_times_{profile}.json", times)
    if paths.root == repo_root() and profile != "smoke" and not parameters:  # custom runs make no paper figures
        write_manifest(paths, profile, config_hash(prof), times, partial=bool(only))
    return times


def write_manifest(paths: Paths, profile: str, profile_hash: str, times: dict[str, float], partial: bool) -> None:
    """``figures/MANIFEST.json``: which profile, commit and date made each notebook's figures.

    A full run rewrites it; a partial run (``--only``) updates the entries of the notebooks it
    ran and keeps the others, so the manifest always says where every committed figure came from.
    """
    path = paths.figures / "MANIFEST.json"
    manifest = read_json(path) if partial and path.is_file() else {}
    stamp = {"profile": profile, "git_commit": git_commit(),
             "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "profile_hash": profile_hash}
    if not partial:
        manifest = {**stamp, "notebook_seconds": times}
    runs = manifest.setdefault("notebook_runs", {})
    runs.update({name: {**stamp, "seconds": seconds} for name, seconds in times.items() if name != "total"})
    manifest["figures"] = sorted(p.name for p in paths.figures.glob("*.pdf"))
    manifest["tables"] = sorted(p.name for p in paths.tables.glob("*.tex"))
    write_json_atomic(path, manifest)


def _name_value(item: str) -> tuple[str, object]:
    """``NAME=VALUE`` as a notebook parameter: a VALUE that parses as a JSON object or list
    becomes a dict or list (e.g. ``-p 'concept_fields={"director": "Steven Spielberg"}'``);
    anything else stays a string, numbers and quoted strings included, as before."""
    name, sep, value = item.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"notebook parameter {item!r} is not NAME=VALUE (e.g. -p subject=Inception)")
    if value.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return name, value
        if isinstance(parsed, (dict, list)):
            return name, parsed
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default", choices=PROFILE_NAMES)
    parser.add_argument("--output-root", default=None, help="default: the repository root")
    parser.add_argument("--only", nargs="*", help="notebook numbers or names to run (default: all)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a notebook parameter, e.g. -p subject=Inception (a string) or "
                             "-p 'concept_fields={\"year\": \"1975\"}' (a JSON object or list); repeatable")
    args = parser.parse_args(argv)
    try:
        parameters = dict(_name_value(item) for item in args.parameter)
        times = run(args.profile, args.output_root, args.only, parameters)
    except Exception as err:  # papermill's PapermillExecutionError names the failing cell
        print(f"[pipeline] FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"[pipeline] all notebooks done in {times['total']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
