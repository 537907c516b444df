"""Figures of the fact rewrite (notebook 32_rewrite_ia3): accuracy bars per variant, the logit
lens by layer, and relearning curves. Inputs are the frames of ``experiments.rewrite.results``;
colours come from ``plots.style`` (one per variant name)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from unlearnlab.core.stats import summarize
from unlearnlab.plots import marks
from unlearnlab.plots.style import apply_style, color, marker

SHORT = {"base": "unedited", "ia3_two_stage": "(IA)³ 2-stage local", "ia3_one_stage": "(IA)³ 1-stage local",
         "ia3_all": "(IA)³ all modules", "ia3_random": "(IA)³ random modules", "lora_local": "LoRA local",
         "full_ft": "full fine-tune"}


def _variants(df: pd.DataFrame) -> list[str]:
    return [v for v in SHORT if v in set(df.variant)]


def accuracy_bars(df: pd.DataFrame):
    """Held-out F2 accuracy, F1 forget rate and control accuracy per variant (mean ± 95 % CI
    over rewrites and seeds, clipped to 0–100 %; no bar for a single run)."""
    apply_style()
    metrics = {"f2_test": "F2 accuracy", "f1_forget_test": "F1 forget rate", "control_test": "F_control accuracy"}
    variants = _variants(df)
    s = summarize(df, ["variant"], list(metrics)).set_index("variant").loc[variants]
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    width = 0.8 / len(variants)
    x = np.arange(len(metrics))
    for i, v in enumerate(variants):
        means = np.array([100 * s.loc[v, f"{m}_mean"] for m in metrics])
        cis = np.array([100 * s.loc[v, f"{m}_ci"] for m in metrics])
        xs = x + (i - (len(variants) - 1) / 2) * width
        ax.bar(xs, means, width, capsize=2, color=color(v),
               yerr=marks.error_bars(means, cis, [s.loc[v, "n"]] * len(metrics), *marks.PERCENT),
               label=marks.n_label(SHORT[v], s.loc[v, "n"]))
        marks.mark_zero_bars(ax, xs, means)
    ax.set_xticks(x, list(metrics.values()))
    ax.set_ylabel("% of held-out prompts")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=6.5, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.22))
    return fig


LENS_STYLES = {"base": ":", "ia3_two_stage": "-", "ia3_one_stage": "--", "full_ft": "-."}  # told apart in grey too


def logit_lens(lens: pd.DataFrame, variants: tuple[str, ...] = ("base", "ia3_two_stage", "ia3_one_stage", "full_ft")):
    """Rank of F1's and F2's first token by layer (logit lens at the last prompt position of
    the completion-form prompts; mean over rewrites and seeds; log scale, inverted: up is a better rank). Top row:
    every layer; bottom row: the last quarter of the layers, where the variants part, with a
    marker per layer. Each variant has its colour and its own line style."""
    apply_style()
    layers = sorted(lens.layer.unique())
    late = layers[-max(4, len(layers) // 4 + 1):]
    fig, axes = plt.subplots(2, 2, figsize=(6.4, 4.6))
    for col, answer in enumerate(("F1", "F2")):
        sub = lens[lens.answer == answer]
        for row, shown in enumerate((layers, late)):
            ax = axes[row, col]
            for v in [v for v in variants if v in set(sub.variant)]:
                curve = sub[sub.variant == v].groupby("layer")["rank"].mean().loc[lambda c: c.index.isin(shown)]
                ax.plot(curve.index, curve.values + 1, color=color(v), label=SHORT[v], lw=1.4,
                        ls=LENS_STYLES.get(v, "-"), marker=marker(v) if row else None, ms=3)
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("layer" if row == 0 else f"layer (last {len(late)})")
        axes[0, col].set_title(f"{answer} ({'old' if answer == 'F1' else 'new'} object)", fontsize=9)
        axes[0, col].axvspan(late[0] - 0.5, late[-1] + 0.5, color="lightgray", alpha=0.4, lw=0)
    for ax in axes.flat:
        ax.invert_yaxis()  # up: the object is more likely
    for row in range(2):
        axes[row, 0].set_ylabel("rank + 1 of the object's\nfirst token (mean)")
    axes[0, 1].legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def relearn_curves(curves: pd.DataFrame, base_level: float | None = None):
    """F1's held-out log-prob during the relearning attack, per variant (mean ± 95 % CI over
    rewrites and seeds, the first learning rate of the sweep); ``base_level``: the unedited
    model's own value."""
    apply_style()
    fig, ax = plt.subplots(figsize=(4.6, 2.8))
    lr = sorted(curves.lr.unique())[0]
    sub = curves[curves.lr == lr]
    for v in _variants(sub):
        s = summarize(sub[sub.variant == v], ["step"], ["logprob"]).sort_values("step")
        ax.plot(s.step, s.logprob_mean, marker=marker(v), ms=3, color=color(v), label=SHORT[v])
        marks.band(ax, s.step, s.logprob_mean, s.logprob_ci, s.n, high=0.0, color=color(v))  # log-prob ≤ 0
    if base_level is not None:
        ax.axhline(base_level, ls="--", color=color("base"), lw=1, label="unedited model")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"relearning steps on F1 (all weights, lr {lr:g})")
    ax.set_ylabel("F1 answer log-prob (held-out)")
    ax.legend(fontsize=6.5)
    return fig
