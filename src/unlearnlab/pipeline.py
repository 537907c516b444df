"""Run the numbered notebooks headless with papermill into an output root, each after the ones it
reads from, two at a time on a multi-core CPU (``--lanes``).

    python -m unlearnlab.pipeline --profile smoke --output-root "$(mktemp -d)"
    python -m unlearnlab.pipeline --profile default          # updates figures/ and paper/tables/
    python -m unlearnlab.pipeline --set concept.steps=4 --set 'arithmetic.seeds=[0,1]'
    python -m unlearnlab.pipeline --figure concept_bars      # re-draw one figure, no training

Notebooks are jupytext percent files (``notebooks/NN_name.py``); each is converted in memory to
``.ipynb`` (papermill cannot read ``.py``), executed with parameters ``profile``, ``output_root``
and ``overrides``, and saved executed under ``<root>/outputs/notebooks/<profile>/``. Every run
records which notebook wrote which figure and table in ``<root>/outputs/manifest_<profile>.json``;
a full run into the repository root with no overrides also writes ``figures/MANIFEST.json``
and rewrites the README's generated timing blocks from it (``reporting/readme.py``). Each
notebook's kernel and pool workers record the CPU seconds of their phases (``core.timing``) under
``<root>/outputs/runs/<profile>/<notebook>/``; the manifest keeps the sums per phase.

Why lanes: the real-model studies (32-35) read nothing the arithmetic chain (00-31, 40, 41)
writes, and neither keeps two cores busy all the time, so on two cores the two run side by side.

Progress goes to the terminal only (stderr), never into the executed notebooks: on a terminal, a
bar over notebooks with the time left, estimated from the seconds each notebook took in the last
recorded run (``figures/MANIFEST.json``, ``<root>/outputs/manifest_<profile>.json`` and
``pipeline_times_<profile>.json``), and, with one lane, papermill's bar over the running
notebook's cells; when stderr is not a terminal (CI, tests), one line per notebook instead.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from tqdm import tqdm

from unlearnlab.core import timing
from unlearnlab.core.artifacts import config_hash, write_json_atomic
from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.profiles import PROFILE_NAMES, get_profile, parse_set
from unlearnlab.reporting import figures, manifest, readme, reproducibility


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks in order; ``only`` keeps those whose number or name matches."""
    paths = sorted((repo_root() / "notebooks").glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) or p.stem == o for o in only)]
        if not paths:
            raise ValueError(f"no notebook matches {only}")
    return paths


def run_notebook(py_path: Path, out_dir: Path, parameters: dict, cell_bars: bool = True) -> float:
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
                                       cwd=str(py_path.parent),
                                       progress_bar=cell_bar(py_path.stem) if cell_bars else False,
                                       log_output=False, config=config)
    finally:
        src.unlink(missing_ok=True)
    return time.perf_counter() - start


# --- which notebooks can run at the same time ------------------------------------------------------

ALL_EARLIER = ("*",)
# The earlier notebooks whose outputs each shipped notebook reads. The real-model studies (32-35)
# need none, so on two cores they run beside the arithmetic chain. A notebook not listed here (a
# user's own) waits for every earlier one, as does 90_paper.
NEEDS: dict[str, tuple[str, ...]] = {
    "00_data": (), "10_pretrain": ("00_data",), "20_localize": ("10_pretrain",),
    "30_baselines": ("10_pretrain",), "31_undo": ("30_baselines",), "32_rewrite_ia3": (),
    "33_masked_lora": (), "34_sae": (), "35_private_records": (), "36_tofu": (), "40_attacks": ("31_undo",),
    "41_targeted_undo": ("20_localize", "40_attacks"), "90_paper": ALL_EARLIER,
}


def needs(name: str, selected: list[str]) -> set[str]:
    """The notebooks among ``selected`` that must finish before ``name`` starts (one left out of
    the selection is taken as already run)."""
    earlier = selected[: selected.index(name)]
    wanted = NEEDS.get(name, ALL_EARLIER)
    return set(earlier) if wanted == ALL_EARLIER else set(wanted) & set(earlier)


def default_lanes(device: str) -> int:
    """Notebooks at once: two on a multi-core CPU (their pools then share the cores), one on a GPU
    (its memory is the limit, not the cores) or a one-core machine."""
    return 1 if device != "cpu" or (os.cpu_count() or 1) < 2 else 2


def run_folder(root: Path, profile: str, name: str) -> Path:
    """An emptied per-notebook folder for its phase timings and its log of written files."""
    folder = root / "outputs" / "runs" / profile / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "phases").mkdir(parents=True)
    return folder


def run_in_folder(py_path: Path, out_dir: Path, parameters: dict, folder: Path, cell_bars: bool = True,
                  threads: int | None = None) -> float:
    """``run_notebook`` with the kernel (and its pool workers, which inherit the environment)
    writing phase timings and the files they wrote into ``folder``; with ``threads``, the kernel's
    torch uses that many (two lanes of two-thread kernels on two cores made OpenMP threads wait
    on each other: a smoke notebook ran 6x slower)."""
    env = {timing.PHASE_DIR_ENV: str(folder / "phases"), manifest.WRITTEN_LOG_ENV: str(folder / "written.txt")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    before = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return run_notebook(py_path, out_dir, parameters, cell_bars)
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


def lanes_left(expected: dict[str, float], waiting: list[str], running: dict[str, float],
               lanes: int) -> tuple[float, int]:
    """Time left when up to ``lanes`` notebooks run at once: the earlier seconds of the waiting
    ones plus what the running ones (name -> seconds elapsed) have left, shared over the lanes."""
    left, untimed = time_left(expected, waiting, 0.0)
    for name, elapsed in running.items():
        if name in expected:
            left += max(0.0, expected[name] - elapsed)
        else:
            untimed += 1
    return left / max(1, min(lanes, len(waiting) + len(running) or 1)), untimed


class Progress:
    """What the terminal shows while the notebooks run: a bar over notebooks whose time-left
    estimate ticks every second, or, off a terminal, one line when each notebook starts and ends."""

    def __init__(self, names: list[str], expected: dict[str, float], bars: bool, lanes: int = 1) -> None:
        self.names, self.expected, self.lanes = names, expected, lanes
        self.running: dict[str, float] = {}  # name -> start time
        self.finished: set[str] = set()
        self.bar = tqdm(total=len(names), desc="notebooks", position=0, file=sys.stderr, dynamic_ncols=True,
                        bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}{postfix}") if bars else None
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True) if bars else None
        if self._ticker:
            self._ticker.start()

    def left(self) -> str:
        now = time.perf_counter()
        waiting = [n for n in self.names if n not in self.finished and n not in self.running]
        running = {n: now - t for n, t in self.running.items()}
        return describe_left(*lanes_left(self.expected, waiting, running, self.lanes))

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.bar.set_postfix_str(self.left())

    def _say(self, line: str) -> None:
        (self.bar.write if self.bar else print)(line, file=sys.stdout)
        sys.stdout.flush()

    def start(self, name: str, line: str) -> None:
        self.running[name] = time.perf_counter()
        left = self.left()
        if self.bar:
            self.bar.set_postfix_str(left)
        self._say(f"{line} [{self.names.index(name) + 1}/{len(self.names)}, {left}]")

    def done(self, name: str, line: str) -> None:
        self.running.pop(name, None)
        self.finished.add(name)
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


# Notebook parameters and profile fields (the last part of a --set key) that name a model, and the
# names the studies resolve themselves (the profile default, the bundled SmolLM2, concept's tiny model).
MODEL_FIELDS = ("model", "real_model")
BUILT_IN_MODELS = ("", "smollm2", "tiny-random")


def checked_models(parameters: dict[str, object], overrides: dict[str, object]) -> tuple[dict, dict]:
    """``parameters`` and ``overrides`` after checking every model they name (``-p model=PATH``,
    ``--set rewrite.model=PATH``) with ``core.real_model.check_model_source``: a bad one is a
    one-line ``ModelLoadError`` (a ValueError) before any notebook runs or the output root exists.
    A local path comes back absolute, because the notebooks run with ``notebooks/`` as their
    working directory, where a relative path would name nothing."""
    from unlearnlab.core.real_model import check_model_source  # transformers only when a model is named

    def checked(key: str, value: object) -> object:
        if key.rpartition(".")[2] not in MODEL_FIELDS or not isinstance(value, str) or value in BUILT_IN_MODELS:
            return value
        check_model_source(value)
        local = Path(value).expanduser()
        return str(local.absolute()) if local.exists() else value

    return ({k: checked(k, v) for k, v in parameters.items()}, {k: checked(k, v) for k, v in overrides.items()})


def run(profile: str, output_root: str | None, only: list[str] | None = None,
        parameters: dict[str, object] | None = None,
        overrides: dict[str, object] | None = None, lanes: int | None = None) -> dict[str, float]:
    """Run the notebooks; return wall time per notebook (also written to ``outputs/``).
    ``parameters`` are passed to every notebook run, on top of profile, output root and
    ``overrides`` (profile fields, ``{"study.field": value}``, validated before anything runs).
    Up to ``lanes`` notebooks run at once (default ``default_lanes``), each after the ones it
    ``needs``; with one lane they run in order in this process, with papermill's cell bar."""
    # as JSON values: papermill would pass a tuple to the notebook as the string of its repr
    overrides = json.loads(json.dumps(overrides or {}))
    prof = get_profile(profile, overrides)  # bad input fails here, before anything is written
    check_output_root(output_root, overrides)
    parameters, overrides = checked_models(parameters or {}, overrides)
    notebooks = notebook_paths(only)
    paths = Paths.at(output_root).ensure()
    lanes = min(lanes or default_lanes(prof.device), len(notebooks))  # one notebook: in this process
    params = {**(parameters or {}), "profile": profile, "output_root": str(paths.root), "overrides": overrides}
    names = [nb.stem for nb in notebooks]
    progress = Progress(names, expected_seconds(profile, paths.root), bars_wanted(), lanes)
    started = time.perf_counter()
    stored_before = manifest.artifact_names(paths)
    try:
        times, changes = execute(notebooks, paths, profile, params, lanes, progress)
    finally:
        progress.close()
    computed = manifest.artifact_names(paths) != stored_before
    folders = {nb: paths.root / "outputs" / "runs" / profile / nb for nb in names}
    phases = {nb: timing.summarize_phase_dir(folders[nb] / "phases") for nb in names}
    logged = {nb: manifest.read_written_log(folders[nb] / "written.txt", paths.root) for nb in names}
    # notebooks of other runs into this root (another process may have run one meanwhile) logged theirs too
    runs_dir = paths.root / "outputs" / "runs" / profile
    elsewhere = {f for d in (runs_dir.iterdir() if runs_dir.is_dir() else []) if d.name not in names
                 for f in manifest.read_written_log(d / "written.txt", paths.root)}
    written = {nb: sorted(logged[nb] | {f for f in changes[nb] if f not in elsewhere
                                        and not any(f in logged[other] for other in names if other != nb)})
               for nb in names}
    times = {nb: times[nb] for nb in names}
    times["total"] = sum(times.values())
    if computed:  # a run that only read cached artifacts would make the next run's estimate far too short
        write_json_atomic(paths.root / "outputs" / f"pipeline_times_{profile}.json", times)
    custom = {"overrides": overrides, "parameters": parameters} if overrides or parameters else {}
    run_stamp = manifest.stamp(profile, config_hash(prof), lanes=lanes,
                               wall_seconds=round(time.perf_counter() - started, 1), **custom)
    record = paths.root / "outputs" / f"manifest_{profile}.json"
    manifest.write_manifest(record, paths, run_stamp, times, written, partial=bool(only), phases=phases,
                            computed=computed)
    paper_run = paths.root == repo_root() and profile != "smoke"
    if not custom and not paper_run:
        reproducibility.write(paths, record, profile)
    if paper_run:
        if custom:  # -p runs write suffixed files; the paper's record stays the last plain run's
            print(f"[pipeline] custom run: figures/{manifest.MANIFEST_NAME} not updated; see {record}")
        else:
            paper_path = paths.figures / manifest.MANIFEST_NAME
            manifest.write_manifest(paper_path, paths, run_stamp, times, written, partial=bool(only), phases=phases,
                                    computed=computed)
            if not computed:
                print("[pipeline] nothing new was computed: the manifest keeps the timings of the run that did the work")
            reproducibility.write(paths, paper_path, profile)
            update_readme(paths.root / "README.md", manifest.read_manifest(paper_path))
    return times


def execute(notebooks: list[Path], paths: Paths, profile: str, params: dict, lanes: int,
            progress: Progress) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Run every notebook once its needs are done, up to ``lanes`` at once (spawned processes);
    return seconds per notebook and the figure/table files that changed while each ran. After a
    failure nothing new starts; the running ones finish, then the first error is raised."""
    out_dir = paths.executed_notebooks / profile
    names = [nb.stem for nb in notebooks]
    by_name = dict(zip(names, notebooks))
    times: dict[str, float] = {}
    changes: dict[str, list[str]] = {}

    def begin(name: str) -> tuple[Path, dict[str, int]]:
        progress.start(name, f"[pipeline] {name}.py (profile={profile}) ...")
        return run_folder(paths.root, profile, name), manifest.snapshot(paths)

    def end(name: str, seconds: float, before: dict[str, int]) -> None:
        times[name] = seconds
        changes[name] = manifest.changed(before, manifest.snapshot(paths))
        progress.done(name, f"[pipeline] {name}.py done in {seconds:.1f} s")

    if lanes <= 1:
        for name in names:
            folder, before = begin(name)
            end(name, run_in_folder(by_name[name], out_dir, params, folder), before)
        return times, changes
    error: BaseException | None = None
    running: dict[Future, tuple[str, dict[str, int]]] = {}
    with ProcessPoolExecutor(lanes, mp_context=multiprocessing.get_context("spawn")) as pool:
        while True:
            started = set(times) | {name for name, _ in running.values()}
            for name in names:
                if error is None and len(running) < lanes and name not in started \
                        and needs(name, names) <= set(times):
                    folder, before = begin(name)
                    running[pool.submit(run_in_folder, by_name[name], out_dir, params, folder, False,
                                        max(1, (os.cpu_count() or 1) // lanes))] = (name, before)
                    started.add(name)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name, before = running.pop(future)
                try:
                    end(name, future.result(), before)
                except Exception as err:  # papermill's error names the failing cell
                    progress.done(name, f"[pipeline] {name}.py FAILED")
                    error = error or err
    if error is not None:
        raise error
    return times, changes


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
    parser.add_argument("--lanes", type=int, default=None,
                        help="notebooks run at once, each after the ones whose outputs it reads "
                             "(default: 2 on a multi-core CPU, 1 on a GPU); 1 runs them in order")
    parser.add_argument("--figure", metavar="NAME",
                        help="re-draw one figure from its stored recipe under the output root and exit "
                             "(no training, no model); e.g. --figure concept_bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    if args.lanes is not None and args.lanes < 1:
        print(f"[pipeline] error: --lanes must be at least 1, got {args.lanes}", file=sys.stderr)
        return 2
    try:  # bad input: one line, exit 2, nothing written
        if args.figure:
            for path in figures.redraw(Paths.at(args.output_root), args.figure):
                print(f"[pipeline] wrote {path}")
            return 0
        parameters = dict(_name_value(item) for item in args.parameter)
        overrides = parse_set(args.overrides)
        get_profile(args.profile, overrides)
        check_output_root(args.output_root, overrides)
        parameters, overrides = checked_models(parameters, overrides)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"[pipeline] error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    try:
        times = run(args.profile, args.output_root, args.only, parameters, overrides, args.lanes)
    except Exception as err:  # papermill's PapermillExecutionError names the failing cell
        print(f"[pipeline] FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"[pipeline] all notebooks done: {times['total']:.1f} s of notebook time in "
          f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
