"""Wall time of the whole notebook pipeline per profile, checked against the design's budgets.

Why: the design promises that the smoke profile runs end to end in <= 90 s and the default
profile (every figure of the paper on a 2-core CPU) in <= 2400 s. This runs
``python -m unlearnlab.pipeline`` for each profile in a fresh output root (so no cached
artifact shortens the run), reads the ``outputs/pipeline_times_<profile>.json`` it writes, and
prints seconds per notebook with the measured/budget ratio. ``--from-json`` only formats timing
files that already exist. This prints numbers; it is not a test.

    python benchmarks/pipeline_time.py                                # smoke, temporary root
    python benchmarks/pipeline_time.py --profiles smoke default       # default takes up to an hour
    python benchmarks/pipeline_time.py --from-json run/outputs/pipeline_times_default.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from unlearnlab.core.paths import repo_root
from unlearnlab.profiles import PROFILE_NAMES

BUDGET_S = {"smoke": 90.0, "default": 2400.0}  # GUIDE.md section 5; the gpu profile has none
TOTAL = "total"


def times_file(root: Path, profile: str) -> Path:
    """Where ``unlearnlab.pipeline.run`` writes its timings under an output root."""
    return root / "outputs" / f"pipeline_times_{profile}.json"


def run_pipeline(profile: str, root: Path) -> dict[str, float]:
    """Run the pipeline as a subprocess, as ``run_all.sh`` does, and return its timings.

    A subprocess (not an import) so the measured run pays the same start-up and kernel costs
    as a real one and a failing notebook cannot leave this process in a broken state.
    """
    cmd = [sys.executable, "-m", "unlearnlab.pipeline", "--profile", profile, "--output-root", str(root)]
    print(f"[pipeline_time] {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, cwd=repo_root())
    if proc.returncode != 0:
        raise SystemExit(f"pipeline failed for profile {profile!r} (exit {proc.returncode}); see its output above")
    return load_times(times_file(root, profile))


def run_profiles(profiles: list[str], output_root: str | None) -> dict[str, dict[str, float]]:
    """Timings per profile, each run in its own fresh temporary root unless one is given."""
    results: dict[str, dict[str, float]] = {}
    for profile in profiles:
        if output_root:
            results[profile] = run_pipeline(profile, Path(output_root).resolve())
        else:
            with tempfile.TemporaryDirectory(prefix=f"pipeline_time_{profile}_") as tmp:
                results[profile] = run_pipeline(profile, Path(tmp))
    return results


def load_times(path: Path) -> dict[str, float]:
    """One timing JSON ({notebook: seconds, 'total': seconds}), with a clear error if malformed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"cannot read timings from {path}: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) for v in data.values()):
        raise SystemExit(f"{path} is not a {{notebook: seconds}} mapping")
    times = {str(k): float(v) for k, v in data.items()}
    times.setdefault(TOTAL, sum(times.values()))
    return times


def profile_of(path: Path) -> str:
    """The profile a timing file belongs to, from its name ``pipeline_times_<profile>.json``."""
    return path.stem.removeprefix("pipeline_times_")


def from_json(paths: list[str]) -> dict[str, dict[str, float]]:
    """Timings per profile from existing files; a repeated profile gets a numbered column."""
    results: dict[str, dict[str, float]] = {}
    for raw in paths:
        path = Path(raw)
        name = profile_of(path)
        column, n = name, 2
        while column in results:
            column, n = f"{name} ({n})", n + 1
        results[column] = load_times(path)
    return results


def notebook_rows(results: dict[str, dict[str, float]]) -> list[str]:
    """Every notebook seen in any profile, in pipeline order (numbered names sort), total last."""
    names = {k for times in results.values() for k in times if k != TOTAL}
    return sorted(names) + [TOTAL]


def budget_lines(results: dict[str, dict[str, float]]) -> list[str]:
    """One line per column whose profile has a budget: measured, budget, ratio, verdict."""
    lines = []
    for column, times in results.items():
        profile = column.split(" ")[0]
        budget = BUDGET_S.get(profile)
        if budget is None:
            lines.append(f"- {column}: whole pipeline {times[TOTAL]:.1f} s (no budget in the design)")
            continue
        ratio = times[TOTAL] / budget
        verdict = "within budget" if ratio <= 1.0 else "OVER BUDGET"
        lines.append(f"- {column}: whole pipeline {times[TOTAL]:.1f} s <= {budget:.0f} s? "
                     f"ratio measured/budget = {ratio:.3f} ({verdict})")
    return lines


def markdown(results: dict[str, dict[str, float]]) -> str:
    """The table plus the budget check, as one markdown document."""
    columns = list(results)
    out = ["| notebook | " + " | ".join(f"{c} (s)" for c in columns) + " |",
           "|---|" + "---:|" * len(columns)]
    for row in notebook_rows(results):
        cells = [f"{results[c][row]:.1f}" if row in results[c] else "-" for c in columns]
        label = f"**{row}**" if row == TOTAL else row
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "Budget check (design: smoke <= 300 s, default <= 3600 s):", *budget_lines(results)]
    return "\n".join(out) + "\n"


def write_report(text: str) -> Path:
    """Save under the git-ignored outputs/benchmarks/ next to the throughput results."""
    out = repo_root() / "outputs" / "benchmarks" / "pipeline_time.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out.relative_to(repo_root())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the notebook pipeline per profile and check it against the design's budgets.")
    parser.add_argument("--profiles", nargs="+", choices=PROFILE_NAMES, default=["smoke"],
                        help="profiles to run, in order (default: smoke; default takes up to an hour)")
    parser.add_argument("--output-root", default=None,
                        help="run into this root instead of a fresh temporary one; artifacts already "
                             "cached there are reused, so timings are then not cold")
    parser.add_argument("--from-json", nargs="+", metavar="FILE", default=None,
                        help="do not run anything: format these pipeline_times_<profile>.json files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = from_json(args.from_json) if args.from_json else run_profiles(args.profiles, args.output_root)
    text = markdown(results)
    print(text, end="")
    print(f"wrote {write_report(text)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
