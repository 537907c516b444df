"""Does a rerun land inside the intervals? Cell-by-cell comparison of two runs' tables.

An independent replication (the default profile with a disjoint set of seeds, so every model is
trained anew; ``benchmarks/reproduce.py``) writes the same tables as the committed run. For each
'mean ± CI' cell present in both, the means should differ by less than the combined interval
sqrt(CI₁² + CI₂²) about 95 % of the time if the intervals are calibrated; cells far more often
outside say the intervals miss a source of variation (one model per world, a filter that depends on
the model). Rows are matched on the table's label columns (every column that holds no number).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

_MEAN_CI = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:\$\\pm\$|±)\s*(\d+(?:\.\d+)?)\s*$")
_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")


@dataclass(frozen=True)
class CellDiff:
    table: str
    row: str
    column: str
    first: str
    second: str
    outside: bool


def mean_ci(cell: object) -> tuple[float, float] | None:
    """(mean, half-width) of a '93.4 $\\pm$ 1.2' cell; None for anything else."""
    match = _MEAN_CI.match(str(cell))
    return (float(match.group(1)), float(match.group(2))) if match else None


def _label_columns(df: pd.DataFrame) -> list[str]:
    """Columns that name a row: no cell is a number or a 'mean ± CI' (the seeds/models counts are
    numbers, so they are compared, not matched on)."""
    def is_label(col: str) -> bool:
        cells = df[col].astype(str)
        return not any(_NUMBER.match(c) or mean_ci(c) for c in cells) or col.lower() in ("forget %", "budget")
    return [c for c in df.columns if is_label(c)]


def compare_tables(name: str, first: pd.DataFrame, second: pd.DataFrame) -> list[CellDiff]:
    """Every 'mean ± CI' cell present in both tables (same label columns, same column name)."""
    keys = _label_columns(first)
    index = lambda df: df.assign(_key=df[keys].astype(str).agg(" | ".join, axis=1)).set_index("_key")
    a, b = index(first), index(second)
    diffs = []
    for row in a.index.intersection(b.index):
        for col in a.columns.intersection(b.columns):
            x, y = mean_ci(a.at[row, col]), mean_ci(b.at[row, col])
            if x is None or y is None:
                continue
            outside = abs(x[0] - y[0]) > math.hypot(x[1], y[1])
            diffs.append(CellDiff(name, row, col, str(a.at[row, col]), str(b.at[row, col]), outside))
    return diffs


def compare_dirs(first: Path, second: Path) -> list[CellDiff]:
    """``compare_tables`` for every table CSV that both ``paper/tables`` folders hold."""
    diffs = []
    for path in sorted(Path(first).glob("*.csv")):
        other = Path(second) / path.name
        if other.is_file():
            diffs += compare_tables(path.stem, pd.read_csv(path, dtype=str, keep_default_na=False),
                                    pd.read_csv(other, dtype=str, keep_default_na=False))
    return diffs


def summary(diffs: list[CellDiff]) -> pd.DataFrame:
    """Per table: cells compared, cells outside the combined interval, and their share (%)."""
    df = pd.DataFrame([d.__dict__ for d in diffs], columns=list(CellDiff.__dataclass_fields__))
    out = df.groupby("table").agg(cells=("outside", "size"), outside=("outside", "sum")).reset_index()
    total = pd.DataFrame([{"table": "all", "cells": len(df), "outside": int(df["outside"].sum())}])
    out = pd.concat([out, total], ignore_index=True)
    out["outside %"] = (100 * out["outside"] / out["cells"].clip(lower=1)).round(1)
    return out


EXPECTED_OUTSIDE = 0.05  # calibrated 95 % intervals: the two errors add in quadrature, ~5 % of cells outside
ALLOWED_OUTSIDE = 0.07  # the design's tolerance (issue 17), written before any replication was run
RECORD_NAME = "benchmarks/replication.json"  # the last replication's result, committed beside the tables


NOT_RESULTS = {"replication", "run_seconds"}  # the appendix's own tables: about the runs, not results


def missing_tables(first: Path, second: Path) -> list[str]:
    """Result tables (CSV stems) of the run compared with that the replication did not write (a
    notebook that stopped there): named, so a summary over the rest is not read as a summary over all."""
    return sorted(p.stem for p in Path(first).glob("*.csv")
                  if p.stem not in NOT_RESULTS and not (Path(second) / p.name).is_file())


def record(diffs: list[CellDiff], seeds: dict[str, list[int]], against: str, replication: str, date: str,
           suites: dict[str, dict[str, str]], missing: list[str] | None = None) -> dict:
    """What ``benchmarks/reproduce.py --record`` keeps of a replication: the commits of the run compared
    with (``against``) and of the replication, its seeds per field, the per-table summary, every cell
    outside the combined interval, and the suite sizes of both runs."""
    return {"against_commit": against, "replication_commit": replication, "date": date, "seeds": seeds,
            "summary": summary(diffs).to_dict("records"),
            "outside": [d.__dict__ for d in diffs if d.outside], "suites": suites, "missing": missing or []}


def read_record(root: Path) -> dict | None:
    """The committed replication record under ``root`` (None when no replication was recorded)."""
    path = Path(root) / RECORD_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def summary_table(rec: dict) -> pd.DataFrame:
    """The record's per-table summary as the appendix prints it."""
    df = pd.DataFrame(rec["summary"])
    df["outside %"] = df["outside %"].map(lambda x: f"{x:.1f}")
    return df.rename(columns={"cells": "mean $\\pm$ CI cells"})
