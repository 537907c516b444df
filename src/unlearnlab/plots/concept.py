"""Figures of the concept-removal study (issue 5): suppression vs side effects per variant with
CIs over seeds, and relearning curves; every colour from ``plots.style``. The saliency heatmap is
``plots.localize.score_heatmaps`` on ``experiments.concept.localize.heatmap_grids``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from unlearnlab.core.stats import summarize
from unlearnlab.plots import marks
from unlearnlab.plots.style import apply_style, color, marker


# Columns drawn in percent (rates of answers, as the tables print them) and the range every
# metric can take (error bars are clipped to it): log-probs are ≤ 0, KL and cross-entropy ≥ 0.
RATE_SUFFIXES = ("_leak", "_correct", "_retained", "_degenerate", "_refusal", "_mention", "_distinct_2")


def _scale_and_range(col: str) -> tuple[float, float | None, float | None, bool]:
    """(factor, lowest, highest, in percent?) of a summary column: rates in percent within [0, 100]."""
    if col.endswith(RATE_SUFFIXES):
        return 100.0, *marks.PERCENT, True
    if col.endswith("_keylogp"):
        return 1.0, None, 0.0, False
    if col.endswith(("_kl", "_ce")):
        return 1.0, 0.0, None, False
    return 1.0, None, None, False


def variant_bars(table: pd.DataFrame, panels: dict[str, str], ncols: int = 4):
    """One panel per column of ``summary`` (``panels``: column → title); bars are variants, error
    bars the 95 % CI over seeds, clipped to the metric's range; a single run has no bar and its
    tick says "n = 1". Rates are in percent. A metric that is 0 for every variant, the base
    included, would be an empty panel: it is left out and named in a note under the figure
    (``marks.informative``)."""
    apply_style()
    kept, dropped = marks.informative(table, list(panels))
    nrows = max(1, -(-len(kept) // ncols))
    if nrows > 1:  # balanced rows: no last row of mostly empty axes
        ncols = -(-len(kept) // nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.3 * nrows + (0.3 if dropped else 0)),
                             squeeze=False)
    variants = list(table["variant"])
    n = table["n"] if "n" in table else None
    ticks = [marks.n_label(v, k) for v, k in zip(variants, n if n is not None else [None] * len(variants))]
    for ax, col in zip(axes.flat, kept):
        scale, low, high, unit = _scale_and_range(col)
        means = scale * table[f"{col}_mean"]
        err = marks.error_bars(means, scale * table[f"{col}_ci"], n, low, high)
        ax.bar(range(len(variants)), means, yerr=err, capsize=2, color=[color(v) for v in variants])
        marks.mark_zero_bars(ax, range(len(variants)), means)
        ax.set_xticks(range(len(variants)), ticks, rotation=55, ha="right", fontsize=6)
        ax.set_title(panels[col], fontsize=7)
        ax.tick_params(axis="y", labelsize=6)
        if unit:
            top = float(np.nanmax(np.r_[means + np.nan_to_num(err[1]), 0.0]))
            ax.set_ylim(0, min(103.0, max(10.0, 1.15 * top)))  # small rates readable, never above 100 %
            ax.set_ylabel("%", fontsize=7)
    for ax in list(axes.flat)[len(kept):]:
        ax.axis("off")
    fig.tight_layout()
    if dropped:
        fig.text(0.01, 0.0, "left out, 0 for every variant (the base included): "
                 + "; ".join(panels[c] for c in dropped), fontsize=6, color="dimgray", va="top")
    return fig


def relearn_curves(curves: pd.DataFrame, metric: str = "logprob", ax=None):
    """Mean ± 95 % CI over seeds of ``metric`` (key-answer log-prob of held-out concept probes)
    against relearning steps, one line per variant."""
    apply_style()
    fig, ax = (plt.subplots(figsize=(4.6, 3.0)) if ax is None else (ax.figure, ax))
    for variant, group in curves.groupby("variant", sort=False):
        s = summarize(group, ["step"], [metric]).sort_values("step")
        scale = 100.0 if metric == "exact" else 1.0
        ax.plot(s["step"], scale * s[f"{metric}_mean"], marker=marker(variant), ms=3, color=color(variant),
                label=variant, ls="--" if variant == "base" else "-")
        high = 100.0 if metric == "exact" else 0.0  # a log-prob is ≤ 0, a rate ≤ 100 %
        marks.band(ax, s["step"], scale * s[f"{metric}_mean"], scale * s[f"{metric}_ci"], s["n"], low=None if
                   metric != "exact" else 0.0, high=high, color=color(variant))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("relearning steps on a few concept examples")
    ax.set_ylabel({"logprob": "held-out key answer log-prob", "exact": "held-out exact match (%)"}.get(metric, metric))
    ax.legend(fontsize=7)
    return fig
