"""In-context (few-shot) relearning: do forget examples in the prompt bring the answer back?

No weight changes: each test question is preceded by ``k`` forget examples, question and answer,
and scored by greedy exact match (``evals.exact_match``: gold answer appended, one forward pass).
A model that only suppresses the knowledge may be "reminded" by a few examples of the forgotten
task; the oracle shows how much the examples teach on their own.

Prompt format: every shot is a whole example as the model saw it in training, its own
``<bos> question answer <eos>``, so a prompt reads

    <bos> q1 a1 <eos> <bos> q2 a2 <eos> … <bos> q        (then the scored answer: a <eos>)

which is the layout of packed pretraining rows (``core.batching.pack``). Shots are drawn per test
item from ``pool``, never with the test item's own prompt, in a seeded order, and nested: the
k = 1 shot is the first of the k = 4 shots, which are the first of the k = 16. Pass a ``pool``
disjoint from the test items by construction (a world's forget-train rows, not its eval rows)
when one fact appears under several prompts (an equation and a word problem). A prompt that
would exceed ``max_tokens`` (by default the model's context) keeps only the first shots that fit;
the rows report the mean number of shots actually used.

>>> rows = in_context_attack(model, held_out_forget, world.attack_set(64, seed), ks=(0, 1, 4, 16))
>>> # [{"k": 0, "shots": 0.0, "forget_acc": ...}, {"k": 1, "shots": 1.0, ...}, ...]
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from unlearnlab.core.anatomy import unwrapped
from unlearnlab.core.batching import TokenSet
from unlearnlab.evals.exact_match import exact_match

KS: tuple[int, ...] = (0, 1, 4, 16)


def shot_order(target: TokenSet, pool: TokenSet, seed: int) -> list[list[int]]:
    """Per test item, the pool indices it may use as shots (every pool item whose prompt differs
    from the item's), in a seeded random order of its own (so ``k`` shots are the first ``k``)."""
    orders = []
    for i, prompt in enumerate(target.prompts):
        eligible = [j for j, other in enumerate(pool.prompts) if other != prompt]
        random.Random(f"{seed}:{i}").shuffle(eligible)
        orders.append(eligible)
    return orders


def few_shot_set(target: TokenSet, pool: TokenSet, k: int, seed: int = 0,
                 max_tokens: int | None = None) -> tuple[TokenSet, list[int]]:
    """``target`` with up to ``k`` shots from ``pool`` before each prompt (answers and labels
    unchanged), and the number of shots each item got (fewer than ``k`` when the pool is short
    or the prompt would pass ``max_tokens``)."""
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    orders = shot_order(target, pool, seed) if k else [[] for _ in target.prompts]
    prompts, used = [], []
    for prompt, answer, order in zip(target.prompts, target.answers, orders):
        shots = [pool.prompts[j] + pool.answers[j] for j in order[:k]]
        while shots and max_tokens is not None and sum(map(len, shots)) + len(prompt) + len(answer) > max_tokens:
            shots.pop()
        prompts.append([t for shot in shots for t in shot] + prompt)
        used.append(len(shots))
    return TokenSet(prompts, list(target.answers), list(target.labels), target.pad_id), used


def in_context_attack(model: torch.nn.Module, target: TokenSet, pool: TokenSet, ks: Sequence[int] = KS,
                      seed: int = 0, max_tokens: int | None = None, batch_size: int = 32,
                      key: str = "forget_acc") -> list[dict]:
    """Greedy exact-match accuracy on ``target`` with ``k`` shots from ``pool`` for each ``k``:
    rows ``{"k", "shots" (mean used), key}``. ``max_tokens`` defaults to the model's context
    (``max_position_embeddings``); k = 0 is plain exact match."""
    if max_tokens is None:
        max_tokens = getattr(getattr(unwrapped(model), "config", None), "max_position_embeddings", None)
    rows = []
    for k in ks:
        data, used = few_shot_set(target, pool, k, seed, max_tokens)
        hits = exact_match(model, data, batch_size)
        rows.append({"k": k, "shots": sum(used) / max(len(used), 1), key: float(hits.float().mean())})
    return rows
