"""The paper's reproducibility appendix, generated from the run manifest: the ``run`` numbers
(commit, profile, date, minutes, lanes, CI level) and a table of seconds per notebook. The
pipeline writes both after every run, so the appendix always describes the outputs beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unlearnlab.core.paths import Paths
from unlearnlab.reporting import manifest, numbers, tables
from unlearnlab.reporting.readme import manifest_seconds

WRITER = "pipeline"  # the manifest's ``written_by`` entry for these files


def seconds_table(record: dict, profile: str) -> pd.DataFrame:
    """Minutes per notebook of the last run of ``profile`` and where each was measured."""
    seconds = manifest_seconds(record, profile)
    runs = record.get("notebook_runs", {})
    rows = [{"notebook": nb, "minutes": f"{s / 60:.1f}",
             "commit": str(runs.get(nb, record).get("git_commit", "?"))[:7],
             "date": str(runs.get(nb, record).get("date", "?"))[:10]} for nb, s in sorted(seconds.items())]
    return pd.DataFrame(rows, columns=["notebook", "minutes", "commit", "date"])


def write(paths: Paths, record_path: Path, profile: str) -> list[str]:
    """Write ``paper/numbers/run.tex`` and ``paper/tables/run_seconds.tex`` from the manifest at
    ``record_path`` and attribute them to the pipeline in that manifest; return their paths."""
    record = manifest.read_manifest(record_path)
    written = [numbers.run_numbers(record, profile).write(paths)]
    written.append(tables.write_latex(
        seconds_table(record, profile), paths.tables / "run_seconds.tex",
        caption=f"Minutes per notebook of the run that produced this paper's outputs (profile {profile}).",
        label="tab:run-seconds"))
    files = [f for w in written for f in (w, w.with_suffix(".json"), w.with_suffix(".csv")) if f.is_file()]
    names = [f.relative_to(paths.root).as_posix() for f in files]
    manifest.attribute(record_path, WRITER, names)
    return names
