"""Degeneration of generated text: repetition and distinct-n.

An unlearned model that answers every question with "FORGOTTEN FORGOTTEN" never mentions the
concept, so suppression alone would call it a success. These metrics call it broken: word-level
distinct-n (unique n-grams over all n-grams), repetition rate (1 − distinct-2) and a per-answer
``is_degenerate`` flag. Words are runs of letters and digits, case-folded, punctuation ignored.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

MAX_WORD_SHARE = 0.5  # one word making up more than half of an answer ("no no no", "FORGOTTEN FORGOTTEN")
MIN_DISTINCT_2 = 0.5  # fewer unique bigrams than this in a long answer: it loops
MIN_WORDS_FOR_LOOPS = 6


def words(text: str) -> list[str]:
    """Case-folded words of ``text`` (runs of letters/digits, any script)."""
    return re.findall(r"\w+", text.lower())


def distinct_n(text: str, n: int) -> float:
    """Unique word n-grams over all word n-grams; 1.0 when the text has fewer than ``n`` words
    (nothing can repeat)."""
    tokens = words(text)
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def repetition_rate(text: str, n: int = 2) -> float:
    """Fraction of word n-grams that repeat an earlier one: 1 − distinct-n."""
    return 1.0 - distinct_n(text, n)


def is_degenerate(text: str) -> bool:
    """Empty, dominated by one word (more than half of two or more words), or looping (distinct-2
    below one half over at least six words). A short factual answer ("Paris.") is not degenerate;
    a fluent refusal is not either; "FORGOTTEN FORGOTTEN" and "I don't know. I don't know. I don't
    know." are."""
    tokens = words(text)
    if not tokens:
        return True
    top_share = Counter(tokens).most_common(1)[0][1] / len(tokens)
    if len(tokens) >= 2 and top_share > MAX_WORD_SHARE:
        return True
    return len(tokens) >= MIN_WORDS_FOR_LOOPS and distinct_n(text, 2) < MIN_DISTINCT_2


def degeneration(texts: Sequence[str]) -> dict[str, float]:
    """Over ``texts``: the fraction flagged degenerate, mean distinct-1 and distinct-2, and the
    mean repetition rate."""
    n = max(1, len(texts))
    return {"degenerate": sum(map(is_degenerate, texts)) / n,
            "distinct_1": sum(distinct_n(t, 1) for t in texts) / n,
            "distinct_2": sum(distinct_n(t, 2) for t in texts) / n,
            "repetition": sum(repetition_rate(t) for t in texts) / n}
