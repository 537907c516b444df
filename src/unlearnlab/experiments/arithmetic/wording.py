"""Words the paper's prose takes from the results, so a rerun that changes a result changes the
sentence too: comparisons decided by one rule stated here, lists, bounds, and spelled-out numbers
for macro names (LaTeX control words hold letters only).

The comparison rule (``compare``): two configurations of the same seed descend from the same
independently pretrained base model, so they are compared per model. The per-model differences
``a_s - b_s`` get a mean and a Student-t 95 % interval over models (``core.stats.mean_ci``); ``a``
is "higher" when the whole interval is above zero, "lower" when it is below, and
"indistinguishable" otherwise, and always with fewer than two models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from unlearnlab.reporting.numbers import paired_word

_ONES = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven",
         "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen"]
_TENS = ["", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety"]


def spell(n: int) -> str:
    """0 <= n < 1000 as CamelCase words (5 -> 'Five', 20 -> 'Twenty'): macro names cannot hold digits."""
    if not 0 <= n < 1000:
        raise ValueError(f"spell: {n} is outside 0..999")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + (_ONES[n % 10] if n % 10 else "")
    return _ONES[n // 100] + "Hundred" + (spell(n % 100) if n % 100 else "")


def budget_name(fraction: float) -> str:
    """A mask budget as a macro-name part: 0.05 -> 'Five' (whole percent), 0.005 -> 'PointFive'."""
    pct = 100 * fraction
    if abs(pct - round(pct)) < 1e-9:
        return spell(int(round(pct)))
    whole, frac = f"{pct:g}".split(".")
    return (spell(int(whole)) if int(whole) else "") + "Point" + "".join(_ONES[int(d)] for d in frac)


def percent_text(fraction: float) -> str:
    """A setting given as a fraction, printed as LaTeX percent with its own precision (0.05 -> '5\\,\\%')."""
    return f"{100 * fraction:g}" + r"\,\%"


def plain(tex: str) -> str:
    """The README form of generated LaTeX text: '$\\alpha$' as α, '{,}' as ',', '\\,\\%' as %,
    '\\_' as _, '$3\\times10^{-4}$' as 3e-4."""
    for a, b in (("$\\alpha$", "α"), ("{,}", ","), ("\\,\\%", "%"), ("\\%", "%"), ("\\_", "_"),
                 ("\\ensuremath{\\pm}", "±"), ("``", '"'), ("''", '"')):
        tex = tex.replace(a, b)
    tex = re.sub(r"\$(\d)\\times10\^\{(-?\d+)\}\$", r"\1e\2", tex)
    return re.sub(r"\$10\^\{(-?\d+)\}\$", r"1e\1", tex)


def with_plain_forms(numbers):
    """``numbers`` (a ``reporting.numbers.Numbers``) with every text entry written without a
    separate README form given its ``plain`` form; returns it."""
    for entry in numbers.entries.values():
        if entry["plain"] == entry["tex"]:
            entry["plain"] = plain(entry["tex"])
    return numbers


def join(items: Sequence[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c' (empty: 'none')."""
    items = [str(i) for i in items]
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {last} " + items[-1]


def number_list(values: Sequence[float], unit: str = "") -> str:
    """Profile values as a LaTeX list: (0.1, 0.3) -> '0.1 and 0.3'; 1e-4 prints as $10^{-4}$."""
    def one(v: float) -> str:
        if v != 0 and abs(v) < 1e-2:
            mant, exp = f"{v:.0e}".split("e")
            return (f"${mant}\\times10^{{{int(exp)}}}$" if mant != "1" else f"$10^{{{int(exp)}}}$")
        return f"{v:g}"
    return join([one(v) + unit for v in values])


def paired_differences(a: pd.DataFrame, b: pd.DataFrame, column: str) -> list[float]:
    """Per seed present in both: ``a[column] - b[column]`` (one row per seed in each frame)."""
    left = a.groupby("seed")[column].mean()
    right = b.groupby("seed")[column].mean()
    shared = sorted(set(left.index) & set(right.index))
    return [float(left[s] - right[s]) for s in shared]


def compare(diffs: Sequence[float], words: tuple[str, str, str] = ("higher", "lower", "indistinguishable")) -> str:
    """The module's rule on per-model differences: ``words`` = (higher, lower, neither)."""
    return paired_word(diffs, *words)


def bound_phrase(bounds: Sequence[str], unit: str = "model") -> str:
    """What kind of number a steps ratio is, from ``targeted.report.steps_ratio``'s per-model
    ``bound`` ('=' interpolated, '<=' at most, '>=' at least): the prose states it in words."""
    kinds = [b for b in bounds if b in ("=", "<=", ">=")]
    if not kinds:
        return "no ratio: the configuration did not recover"
    words = {"=": "interpolated between recovered global runs",
             "<=": "an upper bound (global UNDO never became that robust)",
             ">=": "a lower bound (less robust than the cheapest recovered global run)"}
    counts = {k: kinds.count(k) for k in ("=", "<=", ">=") if k in kinds}
    if len(counts) == 1:
        k = next(iter(counts))
        return f"{words[k]} on every {unit}" if len(kinds) > 1 else f"{words[k]}"
    return join([f"{words[k]} on {n} {unit}{'s' if n > 1 else ''}" for k, n in counts.items()])


def bound_word(bounds: Sequence[str]) -> str:
    """'at most' / 'at least' / '' for a ratio that is one kind of bound on every model, so a
    sentence can read 'needs at most 0.15 times'; mixed or exact ratios get ''."""
    kinds = {b for b in bounds if b in ("=", "<=", ">=")}
    return {frozenset({"<="}): "at most", frozenset({">="}): "at least"}.get(frozenset(kinds), "")
