"""A small probabilistic grammar that writes English-like sentences.

It is the "general text" of the synthetic world: retain data that is not arithmetic, on which
we measure cross-entropy to see whether unlearning damaged general language modelling.
"""

from __future__ import annotations

import random

LEXICON: dict[str, list[str]] = {
    "Det": ["the", "a", "every", "that", "this", "one", "some"],
    "Adj": ["small", "old", "red", "quiet", "happy", "green", "tall", "dark", "bright", "young",
            "cold", "warm", "strange", "gentle", "heavy", "clever"],
    "Noun": ["dog", "cat", "child", "farmer", "teacher", "bird", "river", "house", "garden",
             "king", "doctor", "boat", "horse", "tree", "village", "student", "window", "road",
             "painter", "friend", "book", "letter", "song", "ship", "forest", "baker"],
    "TVerb": ["sees", "finds", "likes", "follows", "paints", "carries", "watches", "helps",
              "reads", "builds", "visits", "remembers", "opens", "calls"],
    "IVerb": ["sleeps", "runs", "sings", "waits", "laughs", "falls", "smiles", "travels",
              "rests", "wanders"],
    "Prep": ["near", "under", "behind", "beside", "across", "inside", "above"],
    "Adv": ["slowly", "quietly", "often", "today", "again", "happily", "early", "later"],
    "Conj": ["and", "but", "while", "because"],
}

# Each rule: (probability weight, expansion). Terminals are lexicon categories.
GRAMMAR: dict[str, list[tuple[float, list[str]]]] = {
    "S": [(0.55, ["Clause", "."]), (0.45, ["Clause", "Conj", "Clause", "."])],
    "Clause": [(0.6, ["NP", "VP"]), (0.25, ["NP", "VP", "Adv"]), (0.15, ["NP", "VP", "PP"])],
    "NP": [(0.5, ["Det", "Noun"]), (0.35, ["Det", "Adj", "Noun"]), (0.15, ["Det", "Adj", "Adj", "Noun"])],
    "VP": [(0.55, ["TVerb", "NP"]), (0.3, ["IVerb"]), (0.15, ["TVerb", "NP", "PP"])],
    "PP": [(1.0, ["Prep", "NP"])],
}


def _expand(symbol: str, rng: random.Random, out: list[str]) -> None:
    if symbol in LEXICON:
        out.append(rng.choice(LEXICON[symbol]))
        return
    if symbol not in GRAMMAR:
        out.append(symbol)  # punctuation
        return
    rules = GRAMMAR[symbol]
    weights = [w for w, _ in rules]
    _, expansion = rng.choices(rules, weights=weights, k=1)[0]
    for child in expansion:
        _expand(child, rng, out)


def sentence(rng: random.Random) -> str:
    """One sentence drawn from the grammar."""
    words: list[str] = []
    _expand("S", rng, words)
    return " ".join(words)


def corpus(n: int, seed: int) -> list[str]:
    """``n`` sentences from a seeded generator (deterministic for a seed)."""
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(n)]
