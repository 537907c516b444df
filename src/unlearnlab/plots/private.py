"""Figures of 35_private_records: accuracy, membership inference and relearning across forget
ratios and methods, the oracle as the reference line. Input: ``experiments.private.evaluate.results``
(``real_tier_bars``: ``experiments.private.real.run``). Colours: ``plots.style``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from unlearnlab.core.stats import summarize
from unlearnlab.plots import marks, style

REFERENCES = ("base", "oracle")

def _positions(df: pd.DataFrame) -> dict[float, int]:
    """Forget ratios as evenly spaced categories (1 % and 20 % are equally readable)."""
    return {r: i for i, r in enumerate(sorted(df["ratio"].unique()))}


def _methods(df: pd.DataFrame) -> list[str]:
    return [m for m in dict.fromkeys(df["method"]) if m not in REFERENCES]


def _range(col: str, scale: float) -> tuple[float | None, float | None]:
    """What a metric can take (its bars are clipped to it): accuracies 0–100 %, an AUC 0–1, the
    privacy leak (a signed ratio) unbounded."""
    return (None, None) if col.startswith("leak") else (0.0, scale)


def _panel(ax, df: pd.DataFrame, col: str, scale: float, ylabel: str) -> None:
    """One metric against forget ratio: methods as error bars (mean ± 95 % CI over seeds,
    clipped to the metric's range, none for a single seed; slightly offset), the oracle dashed,
    the base dotted (with their CI band where each seed has its own)."""
    pos = _positions(df)
    s = summarize(df.dropna(subset=[col]), ["method", "ratio"], [col])
    methods = _methods(df)
    for i, method in enumerate(methods):
        g = s[s["method"] == method].sort_values("ratio")
        x = np.array([pos[r] for r in g["ratio"]]) + 0.08 * (i - (len(methods) - 1) / 2)
        mean = scale * g[f"{col}_mean"]
        ax.errorbar(x, mean, yerr=marks.error_bars(mean, scale * g[f"{col}_ci"], g["n"], *_range(col, scale)),
                    marker=style.marker(method), ms=4, capsize=2, color=style.color(method), label=method)
    for ref, ls in (("oracle", "--"), ("base", ":")):
        g = s[s["method"] == ref].sort_values("ratio")
        if not g.empty:
            x = [pos[r] for r in g["ratio"]]
            ax.plot(x, scale * g[f"{col}_mean"], ls, marker="_", ms=12, lw=1.6, color=style.color(ref), label=ref)
            if (g["n"] > 1).all():  # independent references (one per seed): their 95 % CI as a band
                marks.band(ax, x, scale * g[f"{col}_mean"], scale * g[f"{col}_ci"], g["n"], *_range(col, scale),
                           color=style.color(ref), alpha=0.12)
    ax.set_xticks(list(pos.values()), [f"{100 * r:g}" for r in pos])
    ax.set_xlabel("forget set (% of clients)")
    ax.set_ylabel(ylabel)


def accuracy_vs_ratio(df: pd.DataFrame):
    """QA accuracy on forget clients (held-out paraphrase) and on retain clients."""
    style.apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(10.0, 3.0))
    _panel(axes[0], df, "forget_qa_acc", 100, "forget-client QA accuracy (%)")
    _panel(axes[1], df, "retain_qa_acc", 100, "retain-client QA accuracy (%)")
    _panel(axes[2], df, "forget_verbatim", 100, "verbatim, private tokens of forget notes (%)")
    for ax in axes[:2]:
        ax.set_ylim(-3, 103)
    _legend_above(fig, axes[0])
    return fig


def _legend_above(fig, ax) -> None:
    """One legend above the panels, where it cannot cover a point."""
    fig.tight_layout()
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=6, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 1.0))


def privacy_vs_ratio(df: pd.DataFrame, attack: str):
    """MIA AUC of forget notes against holdout notes, and the privacy leak relative to the
    oracle (0: oracle-like; the dashed line)."""
    style.apply_style()
    fig, (ax_auc, ax_leak) = plt.subplots(1, 2, figsize=(7.6, 3.0))
    _panel(ax_auc, df, f"auc_{attack}", 1, f"MIA AUC ({attack.replace('_', ' ')}), forget vs holdout")
    ax_auc.axhline(0.5, color="black", lw=0.6, alpha=0.4)
    ax_auc.set_ylim(-0.03, 1.03)
    _panel(ax_leak, df[df["method"] != "base"], f"leak_{attack}", 100, "privacy leak vs oracle (%)")
    ax_leak.axhline(0, color=style.color("oracle"), ls="--", lw=1)
    _legend_above(fig, ax_auc)
    return fig


def relearning_transfer(df: pd.DataFrame):
    """QA accuracy on the forget clients the attacker did *not* relearn on, before (hollow) and
    after (filled) relearning on the others; per method and ratio, the oracle as reference."""
    style.apply_style()
    fig, ax = plt.subplots(figsize=(5.4, 3.2))
    pos = _positions(df)
    data = df[df["method"] != "base"].dropna(subset=["others_after"])
    s = summarize(data, ["method", "ratio"], ["others_before", "others_after"])
    methods = [*_methods(data), "oracle"]
    for i, method in enumerate(methods):
        g = s[s["method"] == method].sort_values("ratio")
        x = np.array([pos[r] for r in g["ratio"]]) + 0.1 * (i - (len(methods) - 1) / 2)
        c = style.color(method)
        before, after, mk = 100 * g["others_before_mean"], 100 * g["others_after_mean"], style.marker(method)
        ax.errorbar(x, before, yerr=marks.error_bars(before, 100 * g["others_before_ci"], g["n"], *marks.PERCENT),
                    fmt=mk, mfc="white", color=c, ms=4, capsize=2)
        ax.errorbar(x, after, yerr=marks.error_bars(after, 100 * g["others_after_ci"], g["n"], *marks.PERCENT),
                    fmt=mk, color=c, ms=4, capsize=2, ls="--" if method == "oracle" else "-", label=method)
        ax.vlines(x, 100 * g["others_before_mean"], 100 * g["others_after_mean"], color=c, lw=0.8, alpha=0.6)
    ax.set_xticks(list(pos.values()), [f"{100 * r:g}" for r in pos])
    ax.set_xlabel("forget set (% of clients)")
    ax.set_ylabel("QA acc. on the other forget clients (%)")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=6, title="hollow: before, filled: after", title_fontsize=6)
    fig.tight_layout()
    return fig


def real_tier_bars(df: pd.DataFrame, attack: str):
    """The real tier (one forget ratio): per method, forget / retain QA accuracy, MIA AUC and QA
    accuracy on the other forget clients after relearning (mean ± 95 % CI over seeds, clipped to
    the metric's range; a single seed has no bar and its tick says "n = 1"); the oracle dashed,
    the base dotted."""
    style.apply_style()
    panels = [("forget_qa_acc", 100, "forget-client QA (%)"), ("retain_qa_acc", 100, "retain-client QA (%)"),
              (f"auc_{attack}", 1, f"MIA AUC ({attack.replace('_', ' ')})"),
              ("others_after", 100, "other forget clients\nafter relearning (%)")]
    methods = _methods(df)
    fig, axes = plt.subplots(1, len(panels), figsize=(10.0, 2.8))
    for ax, (col, scale, label) in zip(axes, panels):
        s = summarize(df.dropna(subset=[col]), ["method"], [col]).set_index("method")
        shown = [m for m in methods if m in s.index]
        means = [scale * s.loc[m, f"{col}_mean"] for m in shown]
        err = marks.error_bars(means, [scale * s.loc[m, f"{col}_ci"] for m in shown], [s.loc[m, "n"] for m in shown],
                               0.0, scale)
        ax.bar(range(len(shown)), means, yerr=err, capsize=2, color=[style.color(m) for m in shown])
        marks.mark_zero_bars(ax, range(len(shown)), means)
        for ref, ls in (("oracle", "--"), ("base", ":")):
            if ref in s.index:
                ax.axhline(scale * s.loc[ref, f"{col}_mean"], ls=ls, lw=1.4, color=style.color(ref), label=ref)
        ax.set_xticks(range(len(shown)), [marks.n_label(m, s.loc[m, "n"]) for m in shown], rotation=30, fontsize=7)
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.03 * scale)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def probe_vs_layer(curves: pd.DataFrame):
    """Linear-probe accuracy on the forget clients' private attribute per layer (one panel per
    forget ratio): per method mean ± 95 % CI over models (clipped to 0–100 %, none for one model),
    the oracle thick and dashed (the reference: it never saw the clients), the base dotted, and
    the same probe on holdout clients no model saw (grey: what the question alone gives away).
    Input: ``attacks_more.probe_curves``."""
    style.apply_style()
    ratios = sorted(curves["ratio"].unique())
    fig, axes = plt.subplots(1, len(ratios), figsize=(2.6 * len(ratios) + 0.6, 2.8), sharey=True, squeeze=False)
    s = summarize(curves, ["method", "ratio", "layer"], ["forget_acc", "holdout_acc"])
    methods = [*_methods(curves), "base", "oracle"]
    for ax, ratio in zip(axes[0], ratios):
        at = s[s["ratio"] == ratio]
        floor = at.groupby("layer")["holdout_acc_mean"].mean()
        ax.plot(floor.index, 100 * floor.values, color="0.6", lw=1, label="holdout (any model)")
        for i, method in enumerate(methods):
            g = at[at["method"] == method].sort_values("layer")
            if g.empty:
                continue
            x = g["layer"].to_numpy() + 0.04 * (i - (len(methods) - 1) / 2)
            mean = 100 * g["forget_acc_mean"]
            ref = method in REFERENCES
            ax.errorbar(x, mean, yerr=marks.error_bars(mean, 100 * g["forget_acc_ci"], g["n"], *marks.PERCENT),
                        marker=style.marker(method), ms=4, capsize=2, color=style.color(method), label=method,
                        ls={"oracle": "--", "base": ":"}.get(method, "-"), lw=2.4 if method == "oracle" else 1.2,
                        zorder=3 if ref else 2)
        ax.set_title(f"forget {100 * ratio:g} %", fontsize=8)
        ax.set_xticks(sorted(curves["layer"].unique()))
        ax.set_xlabel("layer (probe on residual stream)")
        ax.set_ylim(-3, 103)
    axes[0][0].set_ylabel("probe accuracy, forget clients (%)")
    _legend_above(fig, axes[0][0])
    return fig
