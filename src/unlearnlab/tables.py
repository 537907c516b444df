"""LaTeX tables generated from results (never typed by hand)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unlearnlab.artifacts import write_json_atomic
from unlearnlab.metrics import format_mean_ci, summarize


def mean_ci_table(df: pd.DataFrame, by: str, columns: dict[str, str], counts: dict[str, str] | None = None,
                  scale: float = 100.0) -> pd.DataFrame:
    """One row per ``by`` value; each metric column as 'mean ± CI' (×``scale``); ``counts``
    columns (compute) as mean ± CI without scaling; plus the number of seeds."""
    counts = counts or {}
    s = summarize(df, [by], list(columns) + list(counts))
    out = pd.DataFrame({by: s[by]})
    for col, title in columns.items():
        out[title] = [format_mean_ci(m, c, scale) for m, c in zip(s[f"{col}_mean"], s[f"{col}_ci"])]
    for col, title in counts.items():
        out[title] = [format_mean_ci(m, c, 1.0, 0) for m, c in zip(s[f"{col}_mean"], s[f"{col}_ci"])]
    out["seeds"] = s["n"].values
    return out


def write_latex(table: pd.DataFrame, path: str | Path, caption: str, label: str) -> Path:
    """Write ``table`` as a booktabs LaTeX table (``Styler.to_latex``) plus a CSV twin."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    latex = table.style.hide(axis="index").to_latex(hrules=True, caption=caption, label=label,
                                                     position="t", position_float="centering")
    tmp = path.with_suffix(".tex.tmp")
    tmp.write_text(latex)
    tmp.replace(path)
    table.to_csv(path.with_suffix(".csv"), index=False)
    write_json_atomic(path.with_suffix(".json"), {"caption": caption, "label": label, "rows": len(table)})
    return path
