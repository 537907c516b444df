"""How every figure draws units, uncertainty, empty metrics and labels: the rules live here once,
so a figure cannot mislead in a way another one avoids.

- Units: accuracies and rates are drawn in percent (``PERCENT`` is their range), as the tables
  print them; a plot function multiplies fractions by 100 and says "(%)" on the axis.
- Intervals: a bar or band is the 95 % CI over independent runs, clipped to what the metric can
  take (``error_bars``, ``band``): no interval below 0 steps or 0 %, none above 100 %. A point from
  a single run (n = 1) has no interval at all, so it gets no bar (a zero-width cap would read as
  a tight CI), and its tick or legend label says "n = 1" (``n_label``).
- Empty metrics: a metric that is 0 for every variant, the base included, carries no
  information; its panel is left out and named in a note (``informative``).
- Labels: text next to points is moved apart until no two labels overlap (``place_labels``).
- Zero bars: a bar of height 0 is invisible and reads as a missing bar; it gets a "0" at its foot
  (``mark_zero_bars``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PERCENT = (0.0, 100.0)  # the range of an accuracy or rate drawn in percent
_ZERO = 1e-12


def error_bars(mean, ci, n=None, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Lower and upper error lengths (shape 2 × N, for ``errorbar``'s ``yerr``/``xerr``): the CI
    half-width clipped so the bar stays within [``low``, ``high``]; NaN (matplotlib draws no bar
    and no cap) where ``n`` ≤ 1 or the CI is unknown."""
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    ci = np.atleast_1d(np.asarray(ci, dtype=float))
    lower, upper = mean - ci, mean + ci
    if low is not None:
        lower = np.maximum(lower, low)
    if high is not None:
        upper = np.minimum(upper, high)
    err = np.clip(np.vstack([mean - lower, upper - mean]), 0.0, None)
    missing = ~np.isfinite(ci)
    if n is not None:
        missing |= np.atleast_1d(np.asarray(n, dtype=float)) <= 1
    err[:, missing] = np.nan
    return err


def band(ax, x, mean, ci, n=None, low: float | None = None, high: float | None = None, **kwargs) -> None:
    """A CI band (``fill_between``) clipped like ``error_bars``; nothing where n ≤ 1."""
    err = error_bars(mean, ci, n, low, high)
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    if np.isnan(err).all():
        return
    ax.fill_between(np.asarray(x), mean - err[0], mean + err[1], lw=0, **{"alpha": 0.15, **kwargs})


def mark_zero_bars(ax, xs, heights, color: str = "0.3", fontsize: float = 5) -> None:
    """Write "0" at the foot of every bar whose height is zero (a measured 0, not a missing bar)."""
    for x, h in zip(np.atleast_1d(xs), np.atleast_1d(np.asarray(heights, dtype=float))):
        if np.isfinite(h) and abs(h) < _ZERO:
            ax.annotate("0", (x, 0), xytext=(0, 1.5), textcoords="offset points", ha="center", va="bottom",
                        fontsize=fontsize, color=color)


def n_label(name: str, n) -> str:
    """A tick or legend label that says "n = 1" when a point is a single run (it has no bar)."""
    return f"{name} (n = 1)" if n is not None and float(n) <= 1 else name


def informative(table: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``columns`` (names of ``<col>_mean`` / ``<col>_ci`` in a summary table) into those
    that carry information and those that are 0 for every row, mean and CI (every variant,
    the base included): such a panel would be empty, so it is left out and named in a note."""
    kept, dropped = [], []
    for col in columns:
        values = table[[c for c in (f"{col}_mean", f"{col}_ci") if c in table]].to_numpy(dtype=float)
        (dropped if np.nan_to_num(np.abs(values), nan=0.0).max(initial=0.0) < _ZERO else kept).append(col)
    return kept, dropped


def _relax(boxes: list, low: float, high: float, pad: float = 2.0, rounds: int = 300) -> list[float]:
    """Vertical shifts (display units) that pull overlapping boxes apart symmetrically, so a
    cluster of labels becomes a column centred on its points, kept within [low, high]."""
    y = [b.y0 for b in boxes]
    h = [b.height + pad for b in boxes]
    for _ in range(rounds):
        moved = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if not (boxes[i].x0 < boxes[j].x1 + pad and boxes[j].x0 < boxes[i].x1 + pad):
                    continue
                lo, up = (i, j) if (y[i], i) <= (y[j], j) else (j, i)
                gap = y[up] - y[lo] - h[lo]
                if gap < 0:
                    y[lo] += gap / 2
                    y[up] -= gap / 2
                    moved = True
        y = [min(max(v, low), high - hi) for v, hi in zip(y, h)]
        if not moved:
            break
    return [v - b.y0 for v, b in zip(y, boxes)]


def place_labels(ax, xs, ys, texts: Sequence[str], fontsize: float = 5, offset: tuple[float, float] = (3, 3),
                 colors: Sequence[str] | None = None) -> list:
    """Annotate each point (``xs``, ``ys`` in data units) with its text, then pull overlapping
    labels apart vertically (a cluster becomes a column centred on its points, within the axes);
    a moved label gets a thin leader line to its point. Call it after the axes' limits, scales
    and layout are final (``tight_layout``): overlap is measured in display units. Returns the
    annotations."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_points = 72.0 / fig.dpi
    style = [{"fontsize": fontsize, "color": colors[i] if colors else "black", "annotation_clip": False}
             for i in range(len(texts))]
    drafts = [ax.annotate(t, (x, y), xytext=offset, textcoords="offset points", **style[i])
              for i, (x, y, t) in enumerate(zip(xs, ys, texts))]
    boxes = [d.get_window_extent(renderer) for d in drafts]
    for d in drafts:
        d.remove()
    frame = ax.get_window_extent(renderer)
    shifts = _relax(boxes, frame.y0, frame.y1)
    leader = {"arrowstyle": "-", "lw": 0.3, "color": "gray", "shrinkA": 0, "shrinkB": 2}
    return [ax.annotate(t, (x, y), xytext=(offset[0], offset[1] + shifts[i] * to_points), textcoords="offset points",
                        arrowprops=leader if abs(shifts[i]) > 1.0 else None, **style[i])
            for i, (x, y, t) in enumerate(zip(xs, ys, texts))]
