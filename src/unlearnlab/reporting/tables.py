"""LaTeX tables generated from results (never typed by hand)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from unlearnlab.core.artifacts import write_json_atomic
from unlearnlab.core.stats import format_mean_ci, summarize


def mean_ci_table(df: pd.DataFrame, by: str, columns: dict[str, str], counts: dict[str, str] | None = None,
                  scale: float = 100.0) -> pd.DataFrame:
    """One row per ``by`` value; each metric column as 'mean ± CI' (×``scale``; the mean alone
    for a single seed, which has no interval); ``counts`` columns (compute) as mean ± CI without
    scaling; plus the number of seeds."""
    counts = counts or {}
    s = summarize(df, [by], list(columns) + list(counts))
    out = pd.DataFrame({by: s[by]})
    single = s["n"] < 2  # one seed: no interval, print the mean alone
    for col, title in columns.items():
        cis = s[f"{col}_ci"].mask(single)
        out[title] = [format_mean_ci(m, c, scale) for m, c in zip(s[f"{col}_mean"], cis)]
    for col, title in counts.items():
        cis = s[f"{col}_ci"].mask(single)
        out[title] = [format_mean_ci(m, c, 1.0, 0) for m, c in zip(s[f"{col}_mean"], cis)]
    out["seeds"] = s["n"].values
    return out


_SPECIAL = re.compile(r"(?<!\\)([%&#_])")


def latex_text(text: str) -> str:
    """Escape LaTeX specials (% & # _) outside ``$...$`` math, leaving escaped ones alone, so
    cells such as 'weight_diff 5%' compile while '93.4 $\\pm$ 1.2' stays math."""
    parts = str(text).split("$")
    return "$".join(p if i % 2 else _SPECIAL.sub(r"\\\1", p) for i, p in enumerate(parts))


def write_latex(table: pd.DataFrame, path: str | Path, caption: str, label: str) -> Path:
    """Write ``table`` as a booktabs LaTeX table (``Styler.to_latex``) plus a CSV twin (the CSV
    keeps the raw text; the caption, cells and headers are escaped with ``latex_text``, so a
    caption built from a config line such as 'forget ratios 1%, 5%' cannot comment itself out)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    latex_table = table.rename(columns=latex_text)
    for col in latex_table.columns:
        if not pd.api.types.is_numeric_dtype(latex_table[col]):
            latex_table[col] = latex_table[col].map(latex_text)
    latex = latex_table.style.hide(axis="index").to_latex(hrules=True, caption=latex_text(caption), label=label,
                                                     position="t", position_float="centering")
    tmp = path.with_suffix(".tex.tmp")
    tmp.write_text(latex)
    tmp.replace(path)
    table.to_csv(path.with_suffix(".csv"), index=False)
    write_json_atomic(path.with_suffix(".json"), {"caption": caption, "label": label, "rows": len(table)})
    return path
