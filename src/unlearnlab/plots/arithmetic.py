"""Figures of the arithmetic study. Each function draws one figure from a results DataFrame;
notebooks save it through ``reporting.figures.draw`` (so it can be re-drawn from stored results).
Colours come from ``plots.style``: one per method, in every figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from unlearnlab.core.stats import summarize
from unlearnlab.plots.style import apply_style as style
from unlearnlab.plots.style import color


def relearning_curves(curves: pd.DataFrame, ax=None):
    """Forget accuracy vs relearning steps at each model's worst-case learning rate; mean and
    95 % CI band over seeds. ``curves`` has columns label, seed, step, forget_acc."""
    style()
    fig, ax = (plt.subplots(figsize=(5.0, 3.2)) if ax is None else (ax.figure, ax))
    for label, group in curves.groupby("label", sort=False):
        s = summarize(group, ["step"], ["forget_acc"]).sort_values("step")
        dashed = label == "oracle"
        ax.plot(s["step"], 100 * s["forget_acc_mean"], "--" if dashed else "-", marker="o", ms=3,
                color=color(label), label=label, lw=2 if dashed else 1.4)
        ax.fill_between(s["step"], 100 * (s["forget_acc_mean"] - s["forget_acc_ci"]),
                        100 * (s["forget_acc_mean"] + s["forget_acc_ci"]), color=color(label), alpha=0.15)
    ax.set_xlabel("relearning steps on forget data (x, ÷)")
    ax.set_ylabel("forget accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=7, ncol=2)
    return fig


def compute_vs_robustness(frontier: pd.DataFrame, oracle_post_attack: float, teacher_retain: float | None = None):
    """Two panels against distillation steps, one line per noise level alpha: retain accuracy
    (has distillation paid back the damage?) and forget accuracy after the worst-case attack.
    ``frontier`` has columns label, alpha, seed, distill_steps, retain_acc, post_attack_forget_acc."""
    style()
    fig, (ax_r, ax_f) = plt.subplots(1, 2, figsize=(7.6, 3.0))
    labels = list(dict.fromkeys(frontier.sort_values("alpha")["label"]))
    for label in labels:  # UNDO α=a in a shade of UNDO's colour, lighter for less noise
        group = frontier[frontier["label"] == label]
        s = summarize(group, ["distill_steps"], ["retain_acc", "post_attack_forget_acc"]).sort_values("distill_steps")
        for ax, col in ((ax_r, "retain_acc"), (ax_f, "post_attack_forget_acc")):
            ax.errorbar(s["distill_steps"], 100 * s[f"{col}_mean"], yerr=100 * s[f"{col}_ci"], marker="o", ms=3,
                        capsize=2, color=color(label), label=label)
    if teacher_retain is not None:
        ax_r.axhline(100 * teacher_retain, ls=":", color="black", label="teacher (unlearned)")
    ax_f.axhline(100 * oracle_post_attack, ls="--", color=color("oracle"), label="oracle (attacked)")
    ax_r.set_ylabel("retain accuracy (%)")
    ax_f.set_ylabel("forget acc. after worst-case relearning (%)")
    steps = sorted(frontier["distill_steps"].unique())
    for ax in (ax_r, ax_f):
        ax.set_xscale("log")
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("distillation steps")
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def retain_forget_scatter(models: pd.DataFrame, ax=None):
    """Retain vs forget accuracy of every run (small points) and each label's mean (large)."""
    style()
    fig, ax = (plt.subplots(figsize=(4.2, 3.4)) if ax is None else (ax.figure, ax))
    for label, group in models.groupby("label", sort=False):
        c = color(label)
        ax.scatter(100 * group["forget_acc"], 100 * group["retain_acc"], s=10, alpha=0.35, color=c)
        ax.scatter(100 * group["forget_acc"].mean(), 100 * group["retain_acc"].mean(), s=45, color=c,
                   edgecolor="black", lw=0.5, label=label)
    ax.set_xlabel("forget accuracy, x and ÷ (%)")
    ax.set_ylabel("retain accuracy, + and − (%)")
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=6, loc="lower left")
    return fig
