"""The paper's reproducibility appendix, generated from the run manifest: the ``run`` numbers
(commit, profile, date, minutes, lanes, CI level) and a table of seconds per notebook. The
pipeline writes both after every run, so the appendix always describes the outputs beside it.
Beside them, the ``replication`` numbers and table: what the last recorded independent replication
(``benchmarks/reproduce.py --record``, kept in ``benchmarks/replication.json``) found, and which
commit's tables it was compared with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.reporting import manifest, numbers, replication, tables
from unlearnlab.reporting.tables import latex_text
from unlearnlab.reporting.readme import manifest_seconds

WRITER = "pipeline"  # the manifest's ``written_by`` entry for these files


def seconds_table(record: dict, profile: str) -> pd.DataFrame:
    """Minutes per notebook of the last run of ``profile`` and where each was measured."""
    seconds = manifest_seconds(record, profile)
    runs = record.get("notebook_runs", {})
    rows = [{"notebook": nb, "minutes": f"{s / 60:.1f}",
             "commit": manifest.short_commit(runs.get(nb, record).get("git_commit", "?")),
             "date": str(runs.get(nb, record).get("date", "?"))[:10]} for nb, s in sorted(seconds.items())]
    return pd.DataFrame(rows, columns=["notebook", "minutes", "commit", "date"])


def replication_numbers(rec: dict | None) -> numbers.Numbers:
    """The appendix's statement of the last independent replication (every macro written, as
    'n/a' when none was recorded, so the paper builds either way)."""
    n = numbers.Numbers("replication")
    n.percent("expected", replication.EXPECTED_OUTSIDE, "share of cells outside if intervals are calibrated", digits=0)
    n.percent("allowed", replication.ALLOWED_OUTSIDE, "share of cells outside the design allows", digits=0)
    total = next((r for r in rec["summary"] if r["table"] == "all"), None) if rec else None
    n.count("cells", total["cells"] if total else 0, "mean ± CI cells both runs hold")
    n.count("outside", total["outside"] if total else 0, "cells whose means differ by more than sqrt(CI1^2 + CI2^2)")
    n.percent("outsidePercent", total["outside"] / max(1, total["cells"]) if total else None,
              "share of cells outside the combined interval")
    seeds = sorted({s for values in rec["seeds"].values() for s in values}) if rec else []
    n.text("seeds", ", ".join(map(str, seeds)) or "n/a", "seeds of the replication (every world and model)")
    for name, key in (("against", "against_commit"), ("commit", "replication_commit")):
        value = ", ".join(c.strip()[:7] for c in str(rec[key]).split(",")) if rec else "n/a"
        n.text(name, rf"\texttt{{{value}}}", f"{key.replace('_', ' ')}", value)
    n.text("date", str(rec["date"])[:10] if rec else "n/a", "date of the replication")
    missing = [latex_text(t) for t in rec.get("missing", [])] if rec else []
    n.text("missing", ", ".join(missing) or "none", "tables the replication did not write (not compared)",
           ", ".join(rec.get("missing", [])) if rec else "none")
    return n


def write_replication(paths: Paths) -> list[Path]:
    """``paper/numbers/replication.tex`` and ``paper/tables/replication.tex`` from the record."""
    rec = replication.read_record(repo_root())
    written = [replication_numbers(rec).write(paths)]
    table = replication.summary_table(rec) if rec else pd.DataFrame({"table": ["no replication recorded"]})
    written.append(tables.write_latex(
        table, paths.tables / "replication.tex",
        caption="Independent replication (every model trained anew on disjoint seeds) against this paper's "
                "tables: per table, the mean $\\pm$ CI cells both runs hold and those whose means differ by "
                "more than $\\sqrt{\\mathrm{CI}_1^2 + \\mathrm{CI}_2^2}$.", label="tab:replication"))
    return written


def write(paths: Paths, record_path: Path, profile: str) -> list[str]:
    """Write ``paper/numbers/run.tex`` and ``paper/tables/run_seconds.tex`` from the manifest at
    ``record_path`` and attribute them to the pipeline in that manifest; return their paths."""
    record = manifest.read_manifest(record_path)
    written = [numbers.run_numbers(record, profile).write(paths), *write_replication(paths)]
    written.append(tables.write_latex(
        seconds_table(record, profile), paths.tables / "run_seconds.tex",
        caption=f"Minutes per notebook of the run that produced this paper's outputs (profile {profile}).",
        label="tab:run-seconds"))
    files = [f for w in written for f in (w, w.with_suffix(".json"), w.with_suffix(".csv")) if f.is_file()]
    names = [f.relative_to(paths.root).as_posix() for f in files]
    manifest.attribute(record_path, WRITER, names)
    return names
