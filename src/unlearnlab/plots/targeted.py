"""Figures of the Targeted-UNDO study: the compute-vs-robustness frontier against global UNDO's
whole curve. Colours and markers come from ``plots.style``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd
from matplotlib.lines import Line2D

from unlearnlab.core.stats import summarize
from unlearnlab.plots import marks
from unlearnlab.plots.style import apply_style as style
from unlearnlab.plots.style import color, marker, role_color


def frontier(front: pd.DataFrame, curve: pd.DataFrame, oracle_post_attack: float, cap: int):
    """Post-attack forget accuracy against distillation steps (log scale), mean ± 95 % CI over
    independently pretrained models.

    Global UNDO: one line per α through every snapshot of its runs (``curve``: standard budgets,
    then the extended run's), and a square where its stopping rule fired (filled: recovered on
    every model; hollow: on some). Targeted-UNDO: one point per configuration at its steps to
    recover (hollow, at its largest budget: not recovered; face: the mask source's colour, edge:
    Targeted-UNDO's), labelled, labels moved apart where they would overlap. Intervals are clipped
    to what they measure (≥ 0 steps, 0–100 %) and left out for a single model or a configuration
    that never recovered (its steps are the budget, not a measurement). Dotted: the distillation
    cap (the pretraining compute); dashed: the attacked oracle."""
    style()
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for label, group in curve.sort_values("alpha").groupby("label", sort=False):
        s = summarize(group, ["distill_steps"], ["post_attack_forget_acc"]).sort_values("distill_steps")
        mean = 100 * s["post_attack_forget_acc_mean"]
        ax.plot(s["distill_steps"], mean, "-", lw=1, color=color(label), label=label, alpha=0.8)
        marks.band(ax, s["distill_steps"], mean, 100 * s["post_attack_forget_acc_ci"], s["n"], *marks.PERCENT,
                   color=color(label), alpha=0.12)
    d = front.assign(steps=front["steps_to_recover"].fillna(front["distill_steps"]))
    s = summarize(d, ["family", "label"], ["steps", "post_attack_forget_acc"])
    rec = d.groupby(["family", "label"], sort=False)["recovered"].mean().reset_index()
    s = s.merge(rec, on=["family", "label"])
    points = []
    for _, r in s.iterrows():
        if r["family"] == "global UNDO":
            if r["recovered"] == 0:
                continue  # never recovered: its curve says all there is
            c, mk, edge = color(r["label"]), marker(r["label"]), color(r["label"])
        else:  # face: the mask source's colour; edge: Targeted-UNDO's, so the family reads at a glance
            c, edge = color(r["label"].split(" ")[0]), color("TargetedUNDO")
            mk = "^" if "masked only" in r["label"] else "o"
            points.append(r)
        x, y = r["steps_mean"], 100 * r["post_attack_forget_acc_mean"]
        xerr = marks.error_bars(x, r["steps_ci"], r["n"] if r["recovered"] > 0 else 1, low=0.0)  # steps ≥ 0
        yerr = marks.error_bars(y, 100 * r["post_attack_forget_acc_ci"], r["n"], *marks.PERCENT)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", capsize=2, ecolor=c, lw=0.8)
        ax.scatter(x, y, s=30, marker=mk, color=c if r["recovered"] == 1.0 else "white", edgecolors=edge, lw=1.0,
                   zorder=3)
    ax.axhline(100 * oracle_post_attack, ls="--", color=color("oracle"), lw=1, label="oracle (attacked)")
    ax.axvline(cap, ls=":", color=role_color("neutral"), lw=0.6)
    ax.annotate("pretraining compute", (cap, 50), fontsize=5, ha="right", va="center", rotation=90)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("distillation steps (points: steps to recover retain accuracy; hollow: not recovered)")
    ax.set_ylabel("forget acc. after worst-case relearning (%)")
    ax.set_ylim(-2, 102)
    handles, labels = ax.get_legend_handles_labels()
    targeted = {"ls": "", "mfc": "lightgray", "color": color("TargetedUNDO")}
    keys = [Line2D([], [], ls="", marker="s", mfc="white", color="gray", label="global UNDO stop (square)"),
            Line2D([], [], marker="o", label="Targeted-UNDO (face: mask source)", **targeted),
            Line2D([], [], marker="^", label="Targeted-UNDO, masked weights only", **targeted)]
    ax.legend(handles=handles + keys, labels=labels + [k.get_label() for k in keys], fontsize=6, loc="upper center",
              ncol=2)
    fig.tight_layout()
    marks.place_labels(ax, [r["steps_mean"] for r in points], [100 * r["post_attack_forget_acc_mean"] for r in points],
                       [r["label"] for r in points], fontsize=5)
    return fig
