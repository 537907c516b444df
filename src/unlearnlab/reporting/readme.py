"""The README's generated blocks: timings from ``figures/MANIFEST.json``, other measurements from
``benchmarks/measured_by_hand.json``.

Why: a timing typed into the README goes stale the first time a notebook gets faster or slower
(the design's rule: every number in the README comes from a file). A block is the text between
the lines ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``; ``rewrite`` replaces the
text between them and leaves everything else byte for byte, so a second rewrite changes nothing.
The pipeline calls ``update_readme`` whenever it writes ``figures/MANIFEST.json``.

Blocks: ``quickstart`` (the two commands with their times), ``timings`` (seconds per notebook),
``measured`` (numbers measured by hand, each with its command and date, from the JSON record:
the test suite's wall time, the environment bootstrap, the benchmarks' ratios), ``results`` (the
paper's numbers, ``paper/numbers/*.json``), ``architectures`` (the architecture × capability table
from ``core.architecture_support``; every ✔ is a test in ``tests/test_architectures.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from unlearnlab.core.architecture_support import support_table_markdown
from unlearnlab.core.paths import repo_root
from unlearnlab.reporting.manifest import short_commit

README_PROFILE = "default"  # the README documents the default profile's times
MEASURED_NAME = "benchmarks/measured_by_hand.json"
BLOCK = re.compile(r"^<!-- generated:(?P<name>[\w-]+) -->\n(?P<body>.*?)^<!-- /generated:(?P=name) -->$",
                   re.S | re.M)
MARKER = re.compile(r"^<!-- /?generated:([\w-]+) -->$", re.M)


def manifest_seconds(record: dict, profile: str) -> dict[str, float]:
    """Seconds per notebook of ``profile`` in a manifest: the last full run's ``notebook_seconds``,
    replaced by each notebook's latest run (``notebook_runs``; ``--only`` runs update those)."""
    seconds = dict(record.get("notebook_seconds", {})) if record.get("profile") == profile else {}
    for nb, run in record.get("notebook_runs", {}).items():
        if run.get("profile", record.get("profile")) == profile and "seconds" in run:
            seconds[nb] = run["seconds"]
    return {nb: float(s) for nb, s in seconds.items() if nb != "total" and isinstance(s, (int, float))}


def run_wall_seconds(record: dict) -> float | None:
    """How long the last full run of the README's profile took from start to end (notebooks run
    side by side, so less than the sum of their seconds); None for records that predate it."""
    if record.get("profile") != README_PROFILE or "wall_seconds" not in record:
        return None
    return float(record["wall_seconds"])


def _provenance(record: dict, notebook: str) -> str:
    """``2026-12-01, commit 8299b09``: when and from which commit a notebook's time was taken."""
    run = {**record, **record.get("notebook_runs", {}).get(notebook, {})}
    return f"{str(run.get('date', '?'))[:10]}, commit {short_commit(run.get('git_commit', '?'))}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def render_quickstart(record: dict, measured: dict) -> str:
    """The two quick-start commands, each with its latest measured time."""
    total = run_wall_seconds(record) or sum(manifest_seconds(record, README_PROFILE).values())
    tests = measured_entries(measured).get("run_tests", {})
    tests_time = f" (~{tests['short']} on the {measured.get('machine', '?')}, {tests['date']})" if tests else ""
    return ("```bash\n"
            f"./run_tests.sh   # unit, integration and smoke tests (every notebook, smoke profile){tests_time}\n"
            f"./run_all.sh     # every figure and table of the paper, default profile "
            f"(~{_minutes(total)}, last recorded run: figures/MANIFEST.json)\n"
            "```\n")


def render_timings(record: dict) -> str:
    """Seconds per notebook and their sum, with the date and commit of the run(s) they come from."""
    seconds = manifest_seconds(record, README_PROFILE)
    origins = {nb: _provenance(record, nb) for nb in seconds}
    one_run = len(set(origins.values())) <= 1
    lines = [f"Default profile, wall time per notebook from `figures/MANIFEST.json`"
             + (f" (one run: {next(iter(origins.values()))}):" if one_run and origins else
                " (each notebook's latest run):"), "",
             "| notebook | seconds |" + ("" if one_run else " run |"),
             "|---|---|" + ("" if one_run else "---|")]
    for nb, s in seconds.items():
        lines.append(f"| {nb} | {s:.0f} |" + ("" if one_run else f" {origins[nb]} |"))
    total = sum(seconds.values())
    lines.append(f"| **all notebooks** | **{total:.0f}** ({_minutes(total)}) |" + ("" if one_run else " |"))
    wall = run_wall_seconds(record)
    if wall is not None:
        lanes = record.get("lanes", 1)
        lines += ["", f"Start to end of that run, {lanes} notebook(s) at a time: {wall:.0f} s ({_minutes(wall)})."]
    return "\n".join(lines) + "\n"


PHASE_ORDER = ("pretrain", "unlearn", "distill", "attack", "sae_train", "localize", "evaluate", "load",
               "save", "plot", "other")


def render_phases(record: dict, profile: str = README_PROFILE, source: str = "figures/MANIFEST.json") -> str:
    """Where each notebook's CPU seconds went, by phase (``core.timing``; kernel and pool workers
    together, so a row can exceed its wall time on two cores), with each phase's share of all."""
    runs = {nb: run for nb, run in record.get("notebook_runs", {}).items()
            if run.get("profile") == profile and "phase_cpu_s" in run}
    if not runs:
        return "No phase timings recorded yet (a pipeline run writes them into the manifest).\n"
    present = [ph for ph in PHASE_ORDER if any(ph in r["phase_cpu_s"] for r in runs.values())]
    present += sorted({ph for r in runs.values() for ph in r["phase_cpu_s"]} - set(present))
    lines = ["CPU seconds by phase (kernel and pool workers; `other` = imports, data, glue), from "
             f"`{source}` ({profile} profile):", "",
             "| notebook | wall s | " + " | ".join(present) + " |", "|---|---|" + "---|" * len(present)]
    totals = dict.fromkeys(present, 0.0)
    for nb, run in runs.items():
        cells = [run["phase_cpu_s"].get(ph, 0.0) for ph in present]
        for ph, value in zip(present, cells):
            totals[ph] += value
        lines.append(f"| {nb} | {run['seconds']:.0f} | " + " | ".join(f"{v:.0f}" for v in cells) + " |")
    grand = sum(totals.values()) or 1.0
    lines.append(f"| **all** | **{sum(r['seconds'] for r in runs.values()):.0f}** | "
                 + " | ".join(f"**{v:.0f}** ({100 * v / grand:.0f} %)" for v in totals.values()) + " |")
    return "\n".join(lines) + "\n"


def measured_entries(measured: dict) -> dict[str, dict]:
    """The hand-measured record's entries by key."""
    return {entry["key"]: entry for entry in measured.get("entries", [])}


def render_measured(measured: dict) -> str:
    """Numbers no pipeline run writes, each with the command that measured it and its date."""
    lines = [f"Measured by hand on the {measured.get('machine', '?')} (`{MEASURED_NAME}`):", "",
             "| what (command) | date | time / value |", "|---|---|---|"]
    for entry in measured.get("entries", []):
        lines.append(f"| {entry['what']} (`{entry['command']}`) | {entry['date']} | {entry['value']} |")
    return "\n".join(lines) + "\n"


def render_results(numbers_dir: Path) -> str:
    """The paper's numbers (``paper/numbers/<study>.json``, written by each study's report step), one
    folded table per study: the README states results only as the paper does, from the store."""
    files = sorted(Path(numbers_dir).glob("*.json"))
    if not files:
        return "No paper numbers yet: `./run_all.sh` writes them (`paper/numbers/`).\n"
    lines = []
    for f in files:
        entries = json.loads(f.read_text())["numbers"]
        lines += [f"<details><summary><b>{f.stem}</b> ({len(entries)} numbers, <code>paper/numbers/{f.name}</code>)"
                  "</summary>", "", "| quantity | value | macro |", "|---|---|---|"]
        lines += [f"| {e['about'].replace('|', '/')} | {e['plain'].replace('|', '/')} | `\\{name}` |"
                  for name, e in entries.items()]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def render_blocks(record: dict, measured: dict, numbers_dir: Path | None = None) -> dict[str, str]:
    """Every generated block's text, by block name."""
    return {"quickstart": render_quickstart(record, measured), "timings": render_timings(record),
            "phases": render_phases(record), "measured": render_measured(measured),
            "results": render_results(numbers_dir or repo_root() / "paper" / "numbers"),
            "architectures": support_table_markdown()}


def rewrite(text: str, blocks: dict[str, str]) -> str:
    """``text`` with each generated block's body replaced; an unknown block name or a marker
    without its partner is an error (a typo would otherwise leave a block stale for ever)."""
    found = [m.group("name") for m in BLOCK.finditer(text)]
    markers = MARKER.findall(text)
    if len(markers) != 2 * len(found):
        raise ValueError(f"unpaired generated-block marker in the README (blocks found: {found})")
    unknown = sorted(set(found) - set(blocks))
    if unknown:
        raise ValueError(f"README block(s) {unknown} have no generator; known: {sorted(blocks)}")

    def body(match: re.Match) -> str:
        name = match.group("name")
        return f"<!-- generated:{name} -->\n{blocks[name]}<!-- /generated:{name} -->"

    return BLOCK.sub(body, text)


def read_measured(path: Path | None = None) -> dict:
    """The hand-measured record (``benchmarks/measured_by_hand.json``)."""
    return json.loads((path or repo_root() / MEASURED_NAME).read_text())


def update_readme(path: Path, record: dict, measured_path: Path | None = None) -> bool:
    """Rewrite the README's blocks from a manifest; return whether the file changed. A manifest of
    another profile (a ``gpu`` run) leaves the README alone: its times are the default profile's."""
    if record.get("profile") != README_PROFILE or not path.is_file():
        return False
    text = path.read_text()
    new = rewrite(text, render_blocks(record, read_measured(measured_path), path.parent / "paper" / "numbers"))
    if new != text:
        path.write_text(new)
    return new != text
