"""LaTeX tables generated from results (never typed by hand)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from unlearnlab.core.artifacts import write_json_atomic
from unlearnlab.core.stats import format_mean_ci, summarize
from unlearnlab.reporting import manifest


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
# strict mode: every LaTeX special of free text, typographic quotes made plain
_STRICT = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\textdollar{}", "^": r"\textasciicircum{}",
           "~": r"\textasciitilde{}", "%": r"\%", "&": r"\&", "#": r"\#", "_": r"\_", "<": r"\textless{}",
           ">": r"\textgreater{}", "|": r"\textbar{}", "’": "'", "‘": "'", "“": '"', "”": '"'}
_LATIN = set(range(0xC0, 0x100)) - {0xD0, 0xD7, 0xDE, 0xF0, 0xF7, 0xFE} | {0xA1, 0xBF}  # accented letters, ¡ ¿


def latex_text(text: str, strict: bool = False) -> str:
    """Escape LaTeX specials (% & # _) outside ``$...$`` math, leaving escaped ones alone, so
    cells such as 'weight_diff 5%' compile while '93.4 $\\pm$ 1.2' stays math.

    ``strict`` is for text nobody wrote for LaTeX (a model's answer may contain ``$``, braces or
    backslashes): every special is escaped, math included, and any character pdfLaTeX may not
    have (outside printable ASCII and accented Latin letters) becomes '?'."""
    if strict:
        return "".join(_STRICT.get(c, c if 32 <= ord(c) < 127 or ord(c) in _LATIN else "?") for c in str(text))
    parts = str(text).split("$")
    return "$".join(p if i % 2 else _SPECIAL.sub(r"\\\1", p) for i, p in enumerate(parts))


def latex_box(text: str, width_cm: float, chars: int, label: str = "") -> str:
    """Free text as a fixed-width paragraph cell: whitespace collapsed, cut at ``chars``
    characters ('...' marks a cut), escaped with ``latex_text(strict=True)``; ``label`` (LaTeX-ready
    text such as a prompt's kind) goes first in italics."""
    text = " ".join(str(text).split())
    text = text if len(text) <= chars else text[:chars].rstrip() + "..."
    head = rf"\textit{{{latex_text(label)}:}} " if label else ""
    return rf"\parbox[t]{{{width_cm:g}cm}}{{\raggedright\footnotesize {head}{latex_text(text, strict=True)}}}"


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
    manifest.log_written(path, path.with_suffix(".csv"), path.with_suffix(".json"))
    return path


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """A table written for LaTeX, for reading in a notebook: ``$\\pm$`` as ±, ``\\%`` as %."""
    return table.replace({r"\$\\pm\$": "±", r"\\%": "%", r"\\,": " "}, regex=True)
