"""Figures of the localization study: score heatmaps, agreement between methods, causal
validation against random masks, and the Targeted-UNDO compute-vs-robustness frontier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import matplotlib.pyplot as plt

from unlearnlab.core.stats import summarize
from unlearnlab.plots.style import apply_style as style
from unlearnlab.plots.style import color


def _signed_limits(grid: torch.Tensor) -> tuple[float, float, str]:
    finite = grid[torch.isfinite(grid)]
    top = float(finite.abs().max()) if finite.numel() else 1.0
    if finite.numel() and float(finite.min()) < 0:
        return -top, top, "RdBu_r"
    return 0.0, top, "viridis"


def score_heatmaps(grids: dict[str, dict[str, torch.Tensor]], title: str = ""):
    """One row per method, one column per component kind (heads, neurons): layer × unit heatmaps.
    ``grids[method][kind]`` is a (layers × units) tensor; each panel has its own colour scale
    (scores of different methods are not comparable), diverging when a method's scores have a sign."""
    style()
    methods = list(grids)
    kinds = list(next(iter(grids.values())))
    fig, axes = plt.subplots(len(methods), len(kinds), figsize=(3.6 * len(kinds), 0.55 + 0.9 * len(methods)),
                             squeeze=False, gridspec_kw={"width_ratios": [1 if k == "heads" else 3 for k in kinds]})
    for i, method in enumerate(methods):
        for j, kind in enumerate(kinds):
            ax, grid = axes[i, j], grids[method][kind]
            lo, hi, cmap = _signed_limits(grid)
            im = ax.imshow(grid.numpy(), aspect="auto", interpolation="nearest", cmap=cmap, vmin=lo, vmax=hi)
            ax.set_yticks(range(grid.shape[0]) if grid.shape[0] <= 8 else range(0, grid.shape[0], 5))
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel(f"{method}\nlayer", fontsize=7)
            if i == 0:
                ax.set_title(kind, fontsize=8)
            fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01).ax.tick_params(labelsize=5)
            if not bool(torch.isfinite(grid).any()):
                ax.text(0.5, 0.5, "no scores at this granularity", ha="center", va="center",
                        transform=ax.transAxes, fontsize=6, color="dimgray")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
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
        ax.bar(x - 0.2, 100 * real["selectivity"], 0.4, color=[color(m) for m in methods], label="localized mask")
        ctrl = at[at["control"]].groupby("method")["selectivity"].agg(["mean", "min", "max"]).loc[methods]
        ax.bar(x + 0.2, 100 * ctrl["mean"], 0.4, color=color("random"), label="random, same size")
        ax.errorbar(x + 0.2, 100 * ctrl["mean"], yerr=[100 * (ctrl["mean"] - ctrl["min"]), 100 * (ctrl["max"] - ctrl["mean"])],
                    fmt="none", ecolor="black", capsize=2, lw=0.8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(x, methods, rotation=60, ha="right", fontsize=6)
        ax.set_title(f"{100 * budget:g} % of parameters", fontsize=8)
    axes[0, 0].set_ylabel("forget drop − retain drop (points)")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def targeted_frontier(front: pd.DataFrame, oracle_post_attack: float, max_budget: int):
    """Post-attack forget accuracy vs distillation steps to recover retain accuracy; runs that
    never recovered sit at the budget with hollow markers. Mean ± 95 % CI over seeds."""
    style()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    d = front.assign(steps=front["steps_to_recover"].fillna(max_budget))
    s = summarize(d, ["family", "label"], ["steps", "post_attack_forget_acc", "retain_acc"])
    rec = d.groupby(["family", "label"], sort=False)["recovered"].mean().reset_index()
    s = s.merge(rec, on=["family", "label"])
    for _, r in s.iterrows():  # global runs: the method's colour; targeted: the mask source's
        if r["family"] == "global UNDO":
            c, marker = color(r["label"]), "s"
        else:
            c, marker = color(r["label"].split(" ")[0]), "o" if "masked only" not in r["label"] else "^"
        full = r["recovered"] == 1.0
        ax.errorbar(r["steps_mean"], 100 * r["post_attack_forget_acc_mean"], xerr=r["steps_ci"],
                    yerr=100 * r["post_attack_forget_acc_ci"], fmt=marker, ms=5, capsize=2, color=c,
                    mfc=c if full else "white", lw=0.8)
        ax.annotate(r["label"], (r["steps_mean"], 100 * r["post_attack_forget_acc_mean"]), fontsize=5,
                    xytext=(3, 3), textcoords="offset points")
    ax.axhline(100 * oracle_post_attack, ls="--", color=color("oracle"), lw=1, label="oracle (attacked)")
    ax.axvline(max_budget, ls=":", color="black", lw=0.6)
    ax.set_xlabel("distillation steps to recover retain accuracy (hollow: not recovered by the budget)")
    ax.set_ylabel("forget acc. after worst-case relearning (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig
