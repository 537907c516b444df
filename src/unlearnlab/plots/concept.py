"""Figures of the concept-removal study (issue 5): suppression vs side effects per variant with
CIs over seeds, and relearning curves; every colour from ``plots.style``. The saliency heatmap is
``plots.localize.score_heatmaps`` on ``experiments.concept.localize.heatmap_grids``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from unlearnlab.core.stats import summarize
from unlearnlab.plots.style import apply_style, color


def variant_bars(table: pd.DataFrame, panels: dict[str, str], ncols: int = 4):
    """One panel per column of ``summary`` (``panels``: column → title); bars are variants, error
    bars the 95 % CI over seeds."""
    apply_style()
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.3 * nrows), squeeze=False)
    variants = list(table["variant"])
    for ax, (col, title) in zip(axes.flat, panels.items()):
        ax.bar(range(len(variants)), table[f"{col}_mean"], yerr=table[f"{col}_ci"], capsize=2,
               color=[color(v) for v in variants])
        ax.set_xticks(range(len(variants)), variants, rotation=55, ha="right", fontsize=6)
        ax.set_title(title, fontsize=7)
        ax.tick_params(axis="y", labelsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def relearn_curves(curves: pd.DataFrame, metric: str = "logprob", ax=None):
    """Mean ± 95 % CI over seeds of ``metric`` (key-answer log-prob of held-out concept probes)
    against relearning steps, one line per variant."""
    apply_style()
    fig, ax = (plt.subplots(figsize=(4.6, 3.0)) if ax is None else (ax.figure, ax))
    for variant, group in curves.groupby("variant", sort=False):
        s = summarize(group, ["step"], [metric]).sort_values("step")
        ax.plot(s["step"], s[f"{metric}_mean"], marker="o", ms=3, color=color(variant), label=variant,
                ls="--" if variant == "base" else "-")
        ax.fill_between(s["step"], s[f"{metric}_mean"] - s[f"{metric}_ci"], s[f"{metric}_mean"] + s[f"{metric}_ci"],
                        color=color(variant), alpha=0.15)
    ax.set_xlabel("relearning steps on a few concept examples")
    ax.set_ylabel({"logprob": "held-out key answer log-prob", "exact": "held-out exact match"}.get(metric, metric))
    ax.legend(fontsize=7)
    return fig
