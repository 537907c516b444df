"""Run the numbered notebooks headless with papermill, in order, into an output root.

    python -m unlearnlab.pipeline --profile smoke --output-root "$(mktemp -d)"
    python -m unlearnlab.pipeline --profile default          # updates figures/ and paper/tables/
    python -m unlearnlab.pipeline --set concept.steps=4 --set 'arithmetic.seeds=[0,1]'
    python -m unlearnlab.pipeline --figure concept_bars      # re-draw one figure, no training

Notebooks are jupytext percent files (``notebooks/NN_name.py``); each is converted in memory to
``.ipynb`` (papermill cannot read ``.py``), executed with parameters ``profile``, ``output_root``
and ``overrides``, and saved executed under ``<root>/outputs/notebooks/<profile>/``. Every run
records which notebook wrote which figure and table in ``<root>/outputs/manifest_<profile>.json``;
a full run into the repository root with no overrides also writes ``figures/MANIFEST.json``
and rewrites the README's generated timing blocks from it (``reporting/readme.py``).

Progress goes to the terminal only (stderr), never into the executed notebooks: on a terminal, a
bar over notebooks with the time left, estimated from the seconds each notebook took in the last
recorded run (``figures/MANIFEST.json``, ``<root>/outputs/manifest_<profile>.json`` and
``pipeline_times_<profile>.json``), and papermill's bar over the running notebook's cells; when
stderr is not a terminal (CI, tests), one line per notebook instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from unlearnlab.core import timing
from unlearnlab.core.artifacts import config_hash, write_json_atomic
from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.profiles import PROFILE_NAMES, get_profile, parse_set
from unlearnlab.reporting import figures, manifest, readme


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks in order; ``only`` keeps those whose number or name matches."""
    paths = sorted((repo_root() / "notebooks").glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) or p.stem == o for o in only)]
        if not paths:
            raise ValueError(f"no notebook matches {only}")
    return paths


def run_notebook(py_path: Path, out_dir: Path, parameters: dict) -> float:
    """Execute one notebook; return its wall time in seconds. The kernel talks over IPC sockets
    in a temporary directory, not TCP: no "running over TCP without encryption" warning on every
    start, and no socket files left next to the notebooks."""
    import jupytext
    import nbformat
    import papermill
    from traitlets.config import Config

    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f"{py_path.stem}.input.ipynb"
    dst = out_dir / f"{py_path.stem}.ipynb"
    nbformat.write(jupytext.read(py_path), src)  # its header names the kernel
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="unlearnlab-kernel-") as sockets:
            config = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
            papermill.execute_notebook(str(src), str(dst), parameters=parameters, kernel_name="python3",
                                       cwd=str(py_path.parent), progress_bar=cell_bar(py_path.stem),
                                       log_output=False, config=config)
    finally:
        src.unlink(missing_ok=True)
    return time.perf_counter() - start


@contextmanager
def phase_folder(folder: Path) -> Iterator[Path]:
    """Point the notebook's kernel (and its pool workers, which inherit the environment) at an
    emptied ``folder`` for their phase timings (``core.timing.phase``)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    before = os.environ.get(timing.PHASE_DIR_ENV)
    os.environ[timing.PHASE_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(timing.PHASE_DIR_ENV, None)
        else:
            os.environ[timing.PHASE_DIR_ENV] = before


# --- progress on the terminal --------------------------------------------------------------------

def bars_wanted() -> bool:
    """Bars only where someone watches: a terminal. Redirected stderr (CI logs, pytest) would
    fill with carriage-return redraws, so it gets one line per notebook instead."""
    return sys.stderr.isatty()


def cell_bar(name: str) -> dict | bool:
    """papermill's ``progress_bar``: its tqdm over cells, drawn by this process on stderr under the
    notebooks bar. The bar lives outside the kernel, so no cell output of the executed notebook
    changes; without a terminal, no bar."""
    if not bars_wanted():
        return False
    return {"desc": f"  {name}", "unit": "cell", "leave": False, "position": 1, "file": sys.stderr}


def _record(path: Path) -> dict:
    """A JSON record, or nothing when it is missing or unreadable (an estimate is optional)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def expected_seconds(profile: str, root: Path, paper_manifest: Path | None = None) -> dict[str, float]:
    """Seconds each notebook took the last time it ran under ``profile``: the paper's manifest
    first, then this output root's own records (newer, and the only ones for smoke runs)."""
    paper_manifest = paper_manifest or repo_root() / "figures" / manifest.MANIFEST_NAME
    expected = readme.manifest_seconds(_record(paper_manifest), profile)
    expected.update(readme.manifest_seconds(_record(root / "outputs" / f"manifest_{profile}.json"), profile))
    last_run = _record(root / "outputs" / f"pipeline_times_{profile}.json")
    expected.update(readme.manifest_seconds({"profile": profile, "notebook_seconds": last_run}, profile))
    return expected


def time_left(expected: dict[str, float], remaining: list[str], elapsed: float) -> tuple[float, int]:
    """Seconds until ``remaining`` (the running notebook first, ``elapsed`` s in) are done, by the
    earlier times, and how many of them have none. A notebook past its earlier time is counted
    as about to finish: the estimate never goes negative."""
    known = [nb for nb in remaining if nb in expected]
    left = sum(expected[nb] for nb in known)
    if remaining and remaining[0] in expected:
        left -= min(elapsed, expected[remaining[0]])
    return left, len(remaining) - len(known)


def describe_left(seconds: float, untimed: int) -> str:
    """``~41 min left`` (+ how many notebooks have no earlier time), for bars and log lines."""
    if untimed and not seconds:
        return "no earlier times to estimate from"
    text = f"~{seconds / 60:.0f} min left" if seconds >= 90 else f"~{seconds:.0f} s left"
    return text + (f" + {untimed} notebook(s) never timed" if untimed else "")


class Progress:
    """What the terminal shows while the notebooks run: a bar over notebooks whose time-left
    estimate ticks every second, or, off a terminal, one line when each notebook starts and ends."""

    def __init__(self, names: list[str], expected: dict[str, float], bars: bool) -> None:
        self.names, self.expected = names, expected
        self.index, self.started = 0, time.perf_counter()
        self.bar = tqdm(total=len(names), desc="notebooks", position=0, file=sys.stderr, dynamic_ncols=True,
                        bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}{postfix}") if bars else None
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True) if bars else None
        if self._ticker:
            self._ticker.start()

    def left(self) -> str:
        elapsed = time.perf_counter() - self.started
        return describe_left(*time_left(self.expected, self.names[self.index:], elapsed))

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.bar.set_postfix_str(self.left())

    def _say(self, line: str) -> None:
        (self.bar.write if self.bar else print)(line, file=sys.stdout)
        sys.stdout.flush()

    def start(self, index: int, line: str) -> None:
        self.index, self.started = index, time.perf_counter()
        left = self.left()
        if self.bar:
            self.bar.set_postfix_str(left)
        self._say(f"{line} [{index + 1}/{len(self.names)}, {left}]")

    def done(self, line: str) -> None:
        self._say(line)
        if self.bar:
            self.bar.update(1)

    def close(self) -> None:
        self._stop.set()
        if self.bar:
            self._ticker.join()
            self.bar.close()


def check_output_root(output_root: str | None, overrides: dict[str, object] | None) -> None:
    """Overridden profile fields would rewrite the paper's figures and tables under their stable
    names with numbers the profile does not make: such runs need their own output root."""
    if overrides and Paths.at(output_root).root == repo_root():
        raise ValueError("--set changes the profile, so its figures and tables must not replace the paper's: "
                         "add --output-root DIR (e.g. --output-root \"$(mktemp -d)\")")


def run(profile: str, output_root: str | None, only: list[str] | None = None,
        parameters: dict[str, object] | None = None,
        overrides: dict[str, object] | None = None) -> dict[str, float]:
    """Run the notebooks; return wall time per notebook (also written to ``outputs/``).
    ``parameters`` are passed to every notebook run, on top of profile, output root and
    ``overrides`` (profile fields, ``{"study.field": value}``, validated before anything runs)."""
    # as JSON values: papermill would pass a tuple to the notebook as the string of its repr
    overrides = json.loads(json.dumps(overrides or {}))
    prof = get_profile(profile, overrides)  # bad input fails here, before anything is written
    check_output_root(output_root, overrides)
    notebooks = notebook_paths(only)
    paths = Paths.at(output_root).ensure()
    out_dir = paths.executed_notebooks / profile
    times: dict[str, float] = {}
    written: dict[str, list[str]] = {}
    phases: dict[str, dict[str, float]] = {}
    progress = Progress([nb.stem for nb in notebooks], expected_seconds(profile, paths.root), bars_wanted())
    try:
        for i, nb in enumerate(notebooks):
            progress.start(i, f"[pipeline] {nb.name} (profile={profile}) ...")
            params = {**(parameters or {}), "profile": profile, "output_root": str(paths.root),
                      "overrides": overrides}
            before = manifest.snapshot(paths)
            with phase_folder(paths.root / "outputs" / "phases" / profile / nb.stem) as folder:
                times[nb.stem] = run_notebook(nb, out_dir, params)
            phases[nb.stem] = timing.summarize_phase_dir(folder)
            written[nb.stem] = manifest.changed(before, manifest.snapshot(paths))
            progress.done(f"[pipeline] {nb.name} done in {times[nb.stem]:.1f} s")
    finally:
        progress.close()
    times["total"] = sum(times.values())
    write_json_atomic(paths.root / "outputs" / f"pipeline_times_{profile}.json", times)
    custom = {"overrides": overrides, "parameters": parameters} if overrides or parameters else {}
    run_stamp = manifest.stamp(profile, config_hash(prof), **custom)
    record = paths.root / "outputs" / f"manifest_{profile}.json"
    manifest.write_manifest(record, paths, run_stamp, times, written, partial=bool(only), phases=phases)
    if paths.root == repo_root() and profile != "smoke":
        if custom:  # -p runs write suffixed files; the paper's record stays the last plain run's
            print(f"[pipeline] custom run: figures/{manifest.MANIFEST_NAME} not updated; see {record}")
        else:
            paper_record = manifest.write_manifest(paths.figures / manifest.MANIFEST_NAME, paths, run_stamp,
                                                   times, written, partial=bool(only), phases=phases)
            update_readme(paths.root / "README.md", paper_record)
    return times


def update_readme(path: Path, paper_record: dict) -> None:
    """Rewrite the README's generated timing blocks; a broken README is reported, not fatal, since
    the figures and tables of a long run are already written."""
    try:
        if readme.update_readme(path, paper_record):
            print(f"[pipeline] {path.name}: generated blocks rewritten from figures/{manifest.MANIFEST_NAME}")
    except (ValueError, OSError, KeyError) as err:
        print(f"[pipeline] warning: {path.name} not updated: {err}", file=sys.stderr)


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default", choices=PROFILE_NAMES)
    parser.add_argument("--output-root", default=None, help="default: the repository root")
    parser.add_argument("--only", nargs="*", help="notebook numbers or names to run (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="STUDY.FIELD=VALUE", dest="overrides",
                        help="override one profile field, e.g. --set concept.steps=4 or "
                             "--set 'arithmetic.seeds=[0,1]' (VALUE is JSON when it parses, else a string); "
                             "repeatable; needs --output-root (the paper's figures stay the profile's)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a notebook parameter, e.g. -p subject=Inception (a string) or "
                             "-p 'concept_fields={\"year\": \"1975\"}' (a JSON object or list); repeatable")
    parser.add_argument("--figure", metavar="NAME",
                        help="re-draw one figure from its stored recipe under the output root and exit "
                             "(no training, no model); e.g. --figure concept_bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:  # bad input: one line, exit 2, nothing written
        if args.figure:
            for path in figures.redraw(Paths.at(args.output_root), args.figure):
                print(f"[pipeline] wrote {path}")
            return 0
        parameters = dict(_name_value(item) for item in args.parameter)
        overrides = parse_set(args.overrides)
        get_profile(args.profile, overrides)
        check_output_root(args.output_root, overrides)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"[pipeline] error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    try:
        times = run(args.profile, args.output_root, args.only, parameters, overrides)
    except Exception as err:  # papermill's PapermillExecutionError names the failing cell
        print(f"[pipeline] FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"[pipeline] all notebooks done in {times['total']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
