"""Figures of the Targeted-UNDO study: the compute-vs-robustness frontier against global UNDO's
whole curve. Colours and markers come from ``plots.style``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from unlearnlab.core.stats import summarize
from unlearnlab.plots.style import apply_style as style
from unlearnlab.plots.style import color


def frontier(front: pd.DataFrame, curve: pd.DataFrame, oracle_post_attack: float, cap: int):
    """Post-attack forget accuracy against distillation steps (log scale), mean ± 95 % CI over
    independently pretrained models.

    Global UNDO: one line per α through every snapshot of its runs (``curve``: standard budgets,
    then the extended run's), and a square where its stopping rule fired (filled: recovered on
    every model; hollow: on some). Targeted-UNDO: one point per configuration at its steps to
    recover (hollow, at its largest budget: not recovered). Dotted: the distillation cap (the
    pretraining compute); dashed: the attacked oracle."""
    style()
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    for label, group in curve.sort_values("alpha").groupby("label", sort=False):
        s = summarize(group, ["distill_steps"], ["post_attack_forget_acc"]).sort_values("distill_steps")
        ax.plot(s["distill_steps"], 100 * s["post_attack_forget_acc_mean"], "-", lw=1, color=color(label),
                label=label, alpha=0.8)
        ax.fill_between(s["distill_steps"], 100 * (s["post_attack_forget_acc_mean"] - s["post_attack_forget_acc_ci"]),
                        100 * (s["post_attack_forget_acc_mean"] + s["post_attack_forget_acc_ci"]),
                        color=color(label), alpha=0.12, lw=0)
    d = front.assign(steps=front["steps_to_recover"].fillna(front["distill_steps"]))
    s = summarize(d, ["family", "label"], ["steps", "post_attack_forget_acc"])
    rec = d.groupby(["family", "label"], sort=False)["recovered"].mean().reset_index()
    s = s.merge(rec, on=["family", "label"])
    for _, r in s.iterrows():
        if r["family"] == "global UNDO":
            if r["recovered"] == 0:
                continue  # never recovered: its curve says all there is
            c, mk = color(r["label"]), "s"
        else:
            c, mk = color(r["label"].split(" ")[0]), "o" if "masked only" not in r["label"] else "^"
        ax.errorbar(r["steps_mean"], 100 * r["post_attack_forget_acc_mean"], xerr=r["steps_ci"],
                    yerr=100 * r["post_attack_forget_acc_ci"], fmt=mk, ms=5, capsize=2, color=c,
                    mfc=c if r["recovered"] == 1.0 else "white", lw=0.8)
        if r["family"] != "global UNDO":
            ax.annotate(r["label"], (r["steps_mean"], 100 * r["post_attack_forget_acc_mean"]), fontsize=5,
                        xytext=(3, 3), textcoords="offset points")
    ax.axhline(100 * oracle_post_attack, ls="--", color=color("oracle"), lw=1, label="oracle (attacked)")
    ax.axvline(cap, ls=":", color="black", lw=0.6)
    ax.annotate("pretraining compute", (cap, 50), fontsize=5, ha="right", va="center", rotation=90)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("distillation steps (points: steps to recover retain accuracy; hollow: not recovered)")
    ax.set_ylabel("forget acc. after worst-case relearning (%)")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=6, loc="upper center", title="global UNDO", title_fontsize=6)
    fig.tight_layout()
    return fig
