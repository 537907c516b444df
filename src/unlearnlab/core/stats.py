"""Summary statistics: mean and 95 % confidence interval over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval (0 for a single value)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    if arr.size == 1:
        return float(arr[0]), 0.0
    sem = arr.std(ddof=1) / math.sqrt(arr.size)
    return float(arr.mean()), float(sem * stats.t.ppf(0.5 + confidence / 2, arr.size - 1))


def summarize(df: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Per group: ``<col>_mean``, ``<col>_ci`` and ``n`` (number of seeds)."""
    rows = []
    for keys, group in df.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(by, keys))
        row["n"] = len(group)
        for col in columns:
            row[f"{col}_mean"], row[f"{col}_ci"] = mean_ci(group[col].tolist())
        rows.append(row)
    return pd.DataFrame(rows)


def format_mean_ci(mean: float, ci: float, scale: float = 100.0, digits: int = 1) -> str:
    """'93.4 ± 1.2' (accuracies shown in percent by default); a NaN ``ci`` (one model: no interval
    exists) prints the mean alone rather than a misleading '± 0.0'."""
    if mean != mean:
        return "--"
    value = round(mean * scale, digits) + 0.0  # + 0.0: a mean that rounds to zero prints "0.0", not "-0.0"
    if ci != ci:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} $\\pm$ {ci * scale:.{digits}f}"
