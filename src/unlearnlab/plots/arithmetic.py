"""Figures of the arithmetic study. Each function draws one figure from a results DataFrame;
notebooks save it through ``reporting.figures.draw`` (so it can be re-drawn from stored results).
Colours come from ``plots.style``: one per method, in every figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from unlearnlab.core.stats import summarize
from unlearnlab.plots import marks
from unlearnlab.plots.style import apply_style as style
from unlearnlab.plots.style import color, marker, role_color


def _unrecovered(label: str) -> bool:
    """A run that did not recover retain accuracy within its budget says so in its label."""
    return "not recovered" in label


def relearning_curves(curves: pd.DataFrame, ax=None):
    """Forget accuracy vs relearning steps at each model's worst-case learning rate; mean and
    95 % CI band over seeds (clipped to 0–100 %; no band for a single run). The oracle is dashed;
    a run that never recovered retain accuracy (its label says so) is dotted with hollow markers.
    ``curves`` has columns label, seed, step, forget_acc."""
    style()
    fig, ax = (plt.subplots(figsize=(5.0, 3.2)) if ax is None else (ax.figure, ax))
    for label, group in curves.groupby("label", sort=False):
        s = summarize(group, ["step"], ["forget_acc"]).sort_values("step")
        c, unrec = color(label), _unrecovered(label)
        ls = "--" if label == "oracle" else (":" if unrec else "-")
        ax.plot(s["step"], 100 * s["forget_acc_mean"], ls, marker=marker(label), ms=3, color=c,
                mfc="white" if unrec else c, label=marks.n_label(label, s["n"].max()),
                lw=2 if label == "oracle" else 1.4)
        marks.band(ax, s["step"], 100 * s["forget_acc_mean"], 100 * s["forget_acc_ci"], s["n"], *marks.PERCENT,
                   color=c)
    ax.set_xlabel("relearning steps on forget data (x, ÷)")
    ax.set_ylabel("forget accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=6, ncol=2)
    return fig


def compute_vs_robustness(frontier: pd.DataFrame, oracle_post_attack: float, teacher_retain: float | None = None):
    """Two panels against distillation steps, one line per noise level alpha: retain accuracy
    (has distillation paid back the damage?) and forget accuracy after the worst-case attack;
    mean ± 95 % CI over models, clipped to 0–100 % (no bar for a single run).
    ``frontier`` has columns label, alpha, seed, distill_steps, retain_acc, post_attack_forget_acc."""
    style()
    fig, (ax_r, ax_f) = plt.subplots(1, 2, figsize=(7.6, 3.0))
    labels = list(dict.fromkeys(frontier.sort_values("alpha")["label"]))
    for label in labels:  # UNDO α=a in a shade of UNDO's colour, lighter for less noise
        group = frontier[frontier["label"] == label]
        s = summarize(group, ["distill_steps"], ["retain_acc", "post_attack_forget_acc"]).sort_values("distill_steps")
        for ax, col in ((ax_r, "retain_acc"), (ax_f, "post_attack_forget_acc")):
            mean = 100 * s[f"{col}_mean"]
            err = marks.error_bars(mean, 100 * s[f"{col}_ci"], s["n"], *marks.PERCENT)
            ax.errorbar(s["distill_steps"], mean, yerr=err,
                        marker=marker(label), ms=3, capsize=2, color=color(label), label=label)
    if teacher_retain is not None:
        ax_r.axhline(100 * teacher_retain, ls=":", color=role_color("neutral"), label="teacher (unlearned)")
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
    """Retain vs forget accuracy of every run (small points) and each label's mean (large, with
    the method's marker and a label next to it, moved apart where labels would overlap). A
    configuration that never recovered retain accuracy (its label says so) is hollow."""
    style()
    fig, ax = (plt.subplots(figsize=(4.6, 3.6)) if ax is None else (ax.figure, ax))
    means = []
    for label, group in models.groupby("label", sort=False):
        c, mk = color(label), marker(label)
        ax.scatter(100 * group["forget_acc"], 100 * group["retain_acc"], s=10, alpha=0.35, color=c, marker=mk)
        x, y = 100 * group["forget_acc"].mean(), 100 * group["retain_acc"].mean()
        ax.scatter(x, y, s=45, marker=mk, color="white" if _unrecovered(label) else c, edgecolors=c if
                   _unrecovered(label) else "black", lw=0.8, label=label)
        means.append((x, y, label))
    ax.set_xlabel("forget accuracy, x and ÷ (%)")
    ax.set_ylabel("retain accuracy, + and − (%)")
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=6, loc="center right")
    fig.tight_layout()
    xs, ys, texts = zip(*means) if means else ((), (), ())
    marks.place_labels(ax, list(xs), list(ys), [t.split(" (")[0] for t in texts], fontsize=5)
    return fig


def probe_by_layer(curves: pd.DataFrame, ax=None):
    """Linear-probe accuracy for the forgotten answer's first token against layer, one line per
    method (mean and 95 % CI band over models, clipped to 0–100 %; no band for a single model); the
    oracle, which never learned x/÷, is drawn thick and dashed as the reference a method should
    reach; a grey dotted line is the majority-class rate. ``curves`` has columns label, seed,
    layer, probe_acc, majority_acc (``attacks_report.probe_curves``)."""
    style()
    fig, ax = (plt.subplots(figsize=(5.0, 3.2)) if ax is None else (ax.figure, ax))
    for label, group in curves.groupby("label", sort=False):
        s = summarize(group, ["layer"], ["probe_acc"]).sort_values("layer")
        c, unrec, oracle = color(label), _unrecovered(label), label == "oracle"
        ax.plot(s["layer"], 100 * s["probe_acc_mean"], "--" if oracle else (":" if unrec else "-"),
                marker=marker(label), ms=4 if oracle else 3, color=c, mfc="white" if unrec else c,
                lw=2.6 if oracle else 1.2, zorder=3 if oracle else 2, label=marks.n_label(label, s["n"].max()))
        marks.band(ax, s["layer"], 100 * s["probe_acc_mean"], 100 * s["probe_acc_ci"], s["n"], *marks.PERCENT,
                   color=c)
    ax.axhline(100 * curves["majority_acc"].mean(), ls=":", color=role_color("neutral"), label="majority class")
    layers = sorted(curves["layer"].unique())
    ax.set_xticks(layers, [str(int(layer)) for layer in layers])
    ax.set_xlabel("layer (residual stream after it)")
    ax.set_ylabel("probe accuracy, answer's first token (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig
