"""Figures of the SAE unlearning experiment (``experiments.sae``): scores, SAE training curves,
feature-score histograms and the forget / side-effect trade-off of every configuration. Every
colour and marker comes from ``plots.style``: an SAE variant is coloured by its intervention
(``SAE-clamp``, ``SAE-dir-ablate``, ``SAE-untrained``), a baseline by its method."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from unlearnlab.plots import marks
from unlearnlab.plots.style import KIND_LINESTYLES, color, marker, role_color
from unlearnlab.plots.style import apply_style as style


def style_name(variant: str) -> str:
    """The ``plots.style`` name of a variant: its intervention for an SAE variant (whatever the
    kind, rule and retain corpus in its label: "SAE-topk kl clamp | retain text" → "SAE-clamp"),
    ``SAE-untrained`` for an SAE at initialisation, else the variant itself (a baseline)."""
    if "untrained" in variant:
        return "SAE-untrained"
    words = variant.split()
    return next((f"SAE-{key}" for key in ("dir-ablate", "clamp") if key in words), variant)


def score_bars(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Unlearning score per variant in percent, as the tables print it: mean ± 95 % CI over seeds
    (``experiments.sae.score_table``), clipped to 0–100 %; a single model gets no bar and "n = 1"
    on its label. Coloured by intervention (clamp, direction ablation, untrained SAE, RMU, GradDiff)."""
    from matplotlib.patches import Patch

    style()
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(table) + 1.2))
    y = np.arange(len(table))
    n = table["n"] if "n" in table else None
    names = [style_name(v) for v in table["variant"]]
    score = 100 * table["score_mean"]
    err = marks.error_bars(score, 100 * table["score_ci"], n, *marks.PERCENT)
    ax.barh(y, score, xerr=err, color=[color(name) for name in names], capsize=2)
    ax.set_yticks(y, [marks.n_label(v, k) for v, k in zip(table["variant"], n if n is not None else [None] * len(y))])
    ax.invert_yaxis()
    reach = np.nan_to_num(score + np.nan_to_num(err[1]))
    ax.set_xlim(0, min(100.0, max(20.0, float(reach.max(initial=0.0)) * 1.2)))
    ax.set_xlabel("unlearning score (%): 100 − forget acc. at side effects ≥ 0.99 × base")
    legend = [("SAE clamp", "SAE-clamp"), ("SAE dir-ablate", "SAE-dir-ablate"), ("SAE untrained", "SAE-untrained"),
              ("RMU", "RMU"), ("GradDiff", "GradDiff")]
    ax.legend(handles=[Patch(color=color(name), label=label) for label, name in legend if name in names], fontsize=7,
              loc="lower right")
    ax.set_title(title)
    return fig


def training_curves(curves: pd.DataFrame) -> plt.Figure:
    """Normalised reconstruction MSE and the fraction of dead features over training, per SAE kind
    (mean over seeds; a line style per kind, kinds being no method). "Dead" here is the training
    rule of ``sae.model`` (AuxK): silent for the last ``dead_tokens`` training tokens, which is not
    the quality table's "Dead" (never fires on the held-out activations); the axis says which."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.8))
    for kind, group in curves.groupby("kind"):
        mean = group.groupby("step")[["mse", "dead_fraction"]].mean()
        line = {"color": role_color("neutral"), "ls": KIND_LINESTYLES.get(kind, ":"), "label": kind}
        axes[0].plot(mean.index, mean["mse"], **line)
        axes[1].plot(mean.index, 100 * mean["dead_fraction"], **line)
    axes[0].set(yscale="log", xlabel="training step", ylabel="MSE / variance (training batch)")
    axes[1].set(xlabel="training step", ylabel="dead in training (% of features)", ylim=(0, None))
    axes[1].set_title("dead: silent for AuxK's whole window of recent training tokens\n"
                      "(not the quality table's: never fires on held-out activations)", fontsize=6)
    axes[0].legend(title="SAE kind", title_fontsize=7, fontsize=7)
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
        ax.hist(scores[~forget_leaning], bins=bins, alpha=0.8, label="retain-leaning",
                color=role_color("retain-leaning"))
        ax.hist(scores[forget_leaning], bins=bins, histtype="step", lw=1.2, label="forget-leaning",
                color=role_color("forget-leaning"))
        ax.set(yscale="log", xlabel=f"{rule} score", title=rule)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))  # small attribution values: no overlap
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    axes[0][0].set_ylabel("features")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def tradeoff(sweeps: pd.DataFrame, baselines: pd.DataFrame, base_side_acc: float = 1.0,
             ratios: tuple[float, ...] = (0.99, 0.95, 0.90)) -> plt.Figure:
    """Forget vs side-effect accuracy (%) of every configuration (SAE sweep rows and baseline runs),
    with the side-effect levels (× the base's) the methods are compared at. Colour and marker are
    the method's (``plots.style``: an SAE by its intervention, an untrained SAE grey); the SAE kind
    is the fill (topk filled, relu hollow)."""
    style()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for (kind, intervention), group in sweeps.groupby(["kind", "intervention"]):
        what = "clamp" if intervention == "clamp" else "dir-ablate"
        name = "SAE-untrained" if "untrained" in kind else f"SAE-{what}"
        filled = "topk" in kind
        ax.scatter(100 * group["side_acc"], 100 * group["forget_acc"], s=14, alpha=0.6, marker=marker(name),
                   color=color(name) if filled else "none", edgecolors=color(name), linewidths=0.6,
                   label=f"SAE-{kind} {what}")
    for method, group in baselines.groupby("method"):
        ax.scatter(100 * group["side_acc"], 100 * group["forget_acc"], s=28, color=color(method), marker=marker(method),
                   edgecolors="black", linewidths=0.4, label=method)
    for ratio, ls in zip(ratios, ("--", "-.", ":")):
        ax.axvline(100 * ratio * base_side_acc, color=color("base"), lw=0.8, ls=ls)
        ax.annotate(f"side ≥ {ratio:g}× base", (100 * ratio * base_side_acc, 2), fontsize=6, ha="right", va="bottom",
                    rotation=90)
    ax.set(xlabel="side-effect accuracy (%)", ylabel="forget accuracy (%)", xlim=(0, 102), ylim=(0, 102))
    ax.legend(fontsize=6, title="SAE: × (filled topk, hollow relu)", title_fontsize=6, loc="upper left")
    return fig
