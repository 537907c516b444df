"""Figures of the localization study: score heatmaps, agreement between methods and causal
validation against random masks (the Targeted-UNDO frontier is ``plots.targeted``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from unlearnlab.plots.style import apply_style as style
from unlearnlab.plots.style import color


POOL_ABOVE, MAX_COLUMNS = 512, 128  # 1,536 neurons in 3 inches leave less than a pixel per unit


def _pooled(grid: torch.Tensor, max_columns: int = MAX_COLUMNS) -> tuple[torch.Tensor, int]:
    """A grid wider than ``POOL_ABOVE`` units pooled in blocks of ``k`` (at most ``max_columns``
    remain), each block shown by its entry of largest magnitude, sign kept (NaN: none scored): a
    single hot neuron stays visible instead of vanishing between pixels. Returns it and ``k``."""
    k = -(-grid.shape[1] // max_columns)
    if grid.shape[1] <= POOL_ABOVE or k <= 1:
        return grid, 1
    pad = k * (-(-grid.shape[1] // k)) - grid.shape[1]
    g = torch.nn.functional.pad(grid.float(), (0, pad), value=float("nan")).reshape(grid.shape[0], -1, k)
    mag = torch.where(torch.isnan(g), torch.full_like(g, -1.0), g.abs())
    pick = g.gather(2, mag.argmax(2, keepdim=True)).squeeze(2)
    return pick, k


def _limits(grid: torch.Tensor) -> tuple[float, float, str, bool]:
    """Colour limits: up to the 99th percentile of |score| (a few extreme units would otherwise
    wash every other unit out; the colour bar's arrow marks the saturation), diverging around 0
    when the scores have a sign. Returns (low, high, colour map, saturated?)."""
    finite = grid[torch.isfinite(grid)].float()
    if not finite.numel():
        return 0.0, 1.0, "viridis", False
    top = float(finite.abs().max())
    high = float(finite.abs().quantile(0.99)) if finite.numel() >= 100 else top
    high = high if high > 0 else (top or 1.0)
    if float(finite.min()) < 0:
        return -high, high, "RdBu_r", top > high
    return 0.0, high, "viridis", top > high


def score_heatmaps(grids: dict[str, dict[str, torch.Tensor]], title: str = ""):
    """One row per method, one column per component kind (heads, neurons): layer × unit heatmaps.
    ``grids[method][kind]`` is a (layers × units) tensor; each panel has its own colour scale
    (scores of different methods are not comparable), diverging when a method's scores have a sign
    and saturating at the 99th percentile of |score|. Wide grids are pooled (``_pooled``: largest
    |score| per block of units, said in the column title); grey cells were not scored."""
    style()
    methods = list(grids)
    kinds = list(next(iter(grids.values())))
    fig, axes = plt.subplots(len(methods), len(kinds), figsize=(3.6 * len(kinds), 0.55 + 0.9 * len(methods)),
                             squeeze=False, gridspec_kw={"width_ratios": [1 if k == "heads" else 3 for k in kinds]})
    for j, kind in enumerate(kinds):
        blocks = max(_pooled(grids[m][kind])[1] for m in methods)
        axes[0, j].set_title(kind if blocks == 1 else f"{kind} (largest |score| per block of {blocks})", fontsize=8)
    for i, method in enumerate(methods):
        for j, kind in enumerate(kinds):
            ax, (grid, k) = axes[i, j], _pooled(grids[method][kind])
            lo, hi, cmap, saturated = _limits(grid)
            im = ax.imshow(grid.numpy(), aspect="auto", interpolation="nearest",
                           cmap=plt.get_cmap(cmap).with_extremes(bad="lightgray"), vmin=lo, vmax=hi)
            ax.set_yticks(range(grid.shape[0]) if grid.shape[0] <= 8 else range(0, grid.shape[0], 5))
            if k > 1:  # ticks in units, not blocks
                ticks = ax.get_xticks()
                ticks = ticks[(ticks >= 0) & (ticks < grid.shape[1])]
                ax.set_xticks(ticks, [f"{int(t * k)}" for t in ticks])
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel(f"{method}\nlayer", fontsize=7)
            extend = ("both" if lo < 0 else "max") if saturated else "neither"
            fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01, extend=extend).ax.tick_params(labelsize=5)
            if not bool(torch.isfinite(grid).any()):
                ax.text(0.5, 0.5, "no scores at this granularity", ha="center", va="center",
                        transform=ax.transAxes, fontsize=6, color="dimgray")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if any(bool(torch.isnan(g).any()) for kinds_ in grids.values() for g in kinds_.values()):
        fig.text(0.01, 0.0, "grey cells: not scored", fontsize=6, color="dimgray", va="top")
    return fig


def agreement(jaccard: pd.DataFrame, spearman: pd.DataFrame, budget: float):
    """Two matrices: Jaccard overlap of the methods' masks at ``budget`` and Spearman rank
    correlation of their head+neuron scores."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    for ax, df, title, (lo, cmap) in ((axes[0], jaccard, f"mask Jaccard at {100 * budget:g} % budget", (0, "viridis")),
                                       (axes[1], spearman, "Spearman ρ of component scores", (-1, "RdBu_r"))):
        im = ax.imshow(df.values, vmin=lo, vmax=1, cmap=cmap)
        ax.set_xticks(range(len(df.columns)), df.columns, rotation=60, ha="right", fontsize=6)
        ax.set_yticks(range(len(df.index)), df.index, fontsize=6)
        for (r, c), v in np.ndenumerate(df.values):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=5,
                    color="white" if (v - lo) / (1 - lo) < 0.5 else "black")
        ax.set_title(title, fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


def causal_bars(rows: pd.DataFrame):
    """Forget drop − retain drop when each method's mask is zeroed, per budget, with the random
    masks of the same size (mean and min–max over draws)."""
    style()
    budgets = sorted(rows["budget"].unique())
    methods = list(dict.fromkeys(rows[~rows["control"]]["method"]))
    fig, axes = plt.subplots(1, len(budgets), figsize=(2.2 * len(budgets) + 0.8, 2.9), sharey=True, squeeze=False)
    x = np.arange(len(methods))
    for ax, budget in zip(axes[0], budgets):
        at = rows[rows["budget"] == budget]
        real = at[~at["control"]].set_index("method").loc[methods]
        ax.bar(x - 0.2, 100 * real["selectivity"], 0.4, color=[color(m) for m in methods])
        ctrl = at[at["control"]].groupby("method")["selectivity"].agg(["mean", "min", "max"]).loc[methods]
        ax.bar(x + 0.2, 100 * ctrl["mean"], 0.4, color=color("random"))
        spread = [100 * (ctrl["mean"] - ctrl["min"]), 100 * (ctrl["max"] - ctrl["mean"])]
        ax.errorbar(x + 0.2, 100 * ctrl["mean"], yerr=spread,
                    fmt="none", ecolor="black", capsize=2, lw=0.8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(x, methods, rotation=60, ha="right", fontsize=6)
        ax.set_title(f"{100 * budget:g} % of parameters", fontsize=8)
    axes[0, 0].set_ylabel("forget drop − retain drop (points)")
    handles = [Patch(facecolor="white", edgecolor="black", lw=0.6,
                     label="localized mask, one per method (n = 1; the method's colour)"),
               Patch(color=color("random"), label="random mask, same size (mean; bar: min–max over draws)")]
    fig.legend(handles=handles, fontsize=6, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 1.06))
    fig.tight_layout()
    return fig
