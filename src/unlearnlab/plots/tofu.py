"""Figures of 36_tofu: forget quality against model utility per method (TOFU's trade-off plot),
the oracle and the base marked, and forget quality after int8 / int4 rounding. Input:
``experiments.tofu.run.run``'s two frames. Colours and markers: ``plots.style``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from unlearnlab.core.stats import summarize
from unlearnlab.plots import marks, style

REFERENCES = ("base", "oracle")
FLOOR = 1e-6  # forget quality is a p-value: drawn on a log axis, values below the floor at it
SCHEMES = ("float", "int8", "int4")


def _fq(values) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=float), FLOOR)


def trade_off(ax, df: pd.DataFrame, alpha: float) -> None:
    """Model utility (x) against forget quality (y, log), mean over seeds per method; the
    oracle's forget quality (1 by definition) and utility as dashed lines."""
    s = summarize(df, ["method"], ["model_utility", "forget_quality"])
    for _, row in s.iterrows():
        ax.scatter(row["model_utility_mean"], _fq([row["forget_quality_mean"]]), color=style.color(row["method"]),
                   marker=style.marker(row["method"]), s=30, zorder=3, label=marks.n_label(row["method"], row["n"]))
    oracle = s[s["method"] == "oracle"]
    if len(oracle):
        ax.axvline(oracle["model_utility_mean"].iloc[0], color=style.color("oracle"), ls="--", lw=0.8)
    ax.axhline(alpha, color="0.6", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlim(-0.03, 1)  # a little left of 0, so a model at utility 0 shows whole; a harmonic mean of probabilities, ROUGE recalls and truth-ratio scores
    ax.set_xlabel("model utility (higher: more kept)")
    ax.set_ylabel("forget quality (KS p-value vs oracle)")


def quantized(ax, df: pd.DataFrame, quant: pd.DataFrame, alpha: float) -> None:
    """Forget quality per method as trained (float) and after rounding to int8 / int4."""
    methods = [m for m in dict.fromkeys(df["method"])]
    frames = [df.assign(scheme="float")[["method", "scheme", "forget_quality"]]]
    if len(quant):
        frames.append(quant[["method", "scheme", "forget_quality"]])
    s = summarize(pd.concat(frames), ["method", "scheme"], ["forget_quality"])
    present = [scheme for scheme in SCHEMES if scheme in set(s["scheme"])]  # schemes this run measured
    for j, scheme in zip([SCHEMES.index(p) for p in present], present):
        g = s[s["scheme"] == scheme].set_index("method").reindex(methods)
        xs = np.arange(len(methods)) + 0.25 * (present.index(scheme) - (len(present) - 1) / 2)
        colors = [style.color(m) for m in methods]
        face = colors if scheme == "float" else "none"
        ax.scatter(xs, _fq(g["forget_quality_mean"]), c=face, edgecolors=colors, marker="os^"[j], s=22,
                   label=scheme, zorder=3)
    ax.axhline(alpha, color="0.6", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right")
    ax.set_ylabel("forget quality")
    ax.legend(fontsize=6, title="weights", title_fontsize=6)


def tofu_figure(df: pd.DataFrame, quant: pd.DataFrame, forget: str, alpha: float):
    """Two panels for one forget split: the trade-off, and forget quality under quantization;
    ``alpha`` (the study's verdict level, ``experiments.tofu.report.ALPHA``) dotted."""
    style.apply_style()
    df, quant = df[df["forget"] == forget], quant[quant["forget"] == forget] if len(quant) else quant
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0))
    trade_off(axes[0], df, alpha)
    axes[0].legend(fontsize=6, loc="best")
    axes[0].set_title(f"{forget}: dotted p = {alpha:g}, dashed oracle utility", fontsize=7)
    quantized(axes[1], df, quant, alpha)
    fig.tight_layout()
    plt.close(fig)
    return fig
