"""Figures of the SAE unlearning experiment (``experiments.sae``): scores, SAE training curves,
feature-score histograms and the forget / side-effect trade-off of every configuration. Every
colour and marker comes from ``plots.style``: an SAE variant is coloured by its intervention
(``SAE-clamp``, ``SAE-dir-ablate``, ``SAE-untrained``), a baseline by its method."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from unlearnlab.plots.style import apply_style as style
from unlearnlab.plots.style import color

KIND_MARKERS = {"topk": "o", "relu": "s"}  # SAE kinds in the trade-off scatter


def style_name(variant: str) -> str:
    """The ``plots.style`` name of a variant: its intervention for an SAE variant (whatever the
    kind, rule and retain corpus in its label: "SAE-topk kl clamp | retain text" → "SAE-clamp"),
    ``SAE-untrained`` for an SAE at initialisation, else the variant itself (a baseline)."""
    if "untrained" in variant:
        return "SAE-untrained"
    words = variant.split()
    return next((f"SAE-{key}" for key in ("dir-ablate", "clamp") if key in words), variant)


def score_bars(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Unlearning score per variant, mean ± 95 % CI over seeds (``experiments.sae.score_table``),
    coloured by intervention (clamp, direction ablation, untrained SAE, RMU, GradDiff)."""
    from matplotlib.patches import Patch

    style()
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(table) + 1.2))
    y = np.arange(len(table))
    ci = table["score_ci"].where(table["n"] > 1) if "n" in table else table["score_ci"]
    names = [style_name(v) for v in table["variant"]]
    ax.barh(y, table["score_mean"], xerr=ci.fillna(0.0), color=[color(n) for n in names], capsize=2)
    ax.set_yticks(y, table["variant"])
    ax.invert_yaxis()
    ax.set_xlim(0, max(0.2, float((table["score_mean"] + ci.fillna(0.0)).max()) * 1.2))
    ax.set_xlabel("unlearning score (1 − forget acc. at side effects ≥ 0.99 × base)")
    legend = [("SAE clamp", "SAE-clamp"), ("SAE dir-ablate", "SAE-dir-ablate"), ("SAE untrained", "SAE-untrained"),
              ("RMU", "RMU"), ("GradDiff", "GradDiff")]
    ax.legend(handles=[Patch(color=color(name), label=label) for label, name in legend if name in names], fontsize=7,
              loc="lower right")
    ax.set_title(title)
    return fig


def training_curves(curves: pd.DataFrame) -> plt.Figure:
    """Normalised reconstruction MSE and dead fraction over training, per SAE kind (mean over seeds)."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.6))
    for kind, group in curves.groupby("kind"):
        mean = group.groupby("step")[["mse", "dead_fraction"]].mean()
        axes[0].plot(mean.index, mean["mse"], label=kind)
        axes[1].plot(mean.index, mean["dead_fraction"], label=kind)
    axes[0].set(yscale="log", xlabel="step", ylabel="MSE / variance")
    axes[1].set(xlabel="step", ylabel="dead fraction")
    axes[0].legend()
    fig.tight_layout()
    return fig


def score_histograms(features: pd.DataFrame, rules: tuple[str, ...]) -> plt.Figure:
    """Per scoring rule, the score distribution of forget-leaning features (fire more often on
    forget than on retain text) and retain-leaning ones (``experiments.sae.feature_table``)."""
    style()
    fig, axes = plt.subplots(1, len(rules), figsize=(3.2 * len(rules), 2.6), squeeze=False)
    forget_leaning = features["forget_freq"] > features["retain_freq"]
    for ax, rule in zip(axes[0], rules):
        scores = features[f"score_{rule}"]
        bins = np.linspace(min(0.0, scores.min()), scores.max() + 1e-12, 30)
        ax.hist(scores[forget_leaning], bins=bins, alpha=0.6, label="forget-leaning", color=color("SAE-clamp"))
        ax.hist(scores[~forget_leaning], bins=bins, alpha=0.6, label="retain-leaning", color=color("base"))
        ax.set(yscale="log", xlabel=f"{rule} score", title=rule)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))  # small attribution values: no overlap
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    axes[0][0].set_ylabel("features")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def tradeoff(sweeps: pd.DataFrame, baselines: pd.DataFrame, base_side_acc: float = 1.0,
             ratios: tuple[float, ...] = (0.99, 0.95, 0.90)) -> plt.Figure:
    """Forget vs side-effect accuracy of every configuration (SAE sweep rows and baseline runs),
    with the side-effect levels (× the base's) the methods are compared at."""
    style()
    fig, ax = plt.subplots(figsize=(5, 4))
    for (kind, intervention), group in sweeps.groupby(["kind", "intervention"]):
        what = "clamp" if intervention == "clamp" else "dir-ablate"
        ax.scatter(group["side_acc"], group["forget_acc"], s=10, alpha=0.5, color=color(f"SAE-{what}"),
                   marker=KIND_MARKERS.get(kind, "x"), label=f"SAE-{kind} {what}")
    for method, group in baselines.groupby("method"):
        ax.scatter(group["side_acc"], group["forget_acc"], s=25, color=color(method), marker="^", label=method)
    for ratio, ls in zip(ratios, ("--", "-.", ":")):
        ax.axvline(ratio * base_side_acc, color=color("base"), lw=0.8, ls=ls)
        ax.annotate(f"side ≥ {ratio:g}× base", (ratio * base_side_acc, 0.02), fontsize=6, ha="right", va="bottom",
                    rotation=90)
    ax.set(xlabel="side-effect accuracy", ylabel="forget accuracy", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.legend(fontsize=7)
    return fig
