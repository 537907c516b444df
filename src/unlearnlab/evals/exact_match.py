"""Evaluation: exact-match accuracy (one forward pass) and cross-entropy.

Greedy exact match needs no ``generate``: feed prompt + gold answer once; the greedy answer
equals the gold answer exactly when every gold answer token (including the final EOS) is the
argmax of the model's prediction given the gold prefix. A test proves the equivalence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.logprobs import logits_of, shifted_masks, token_logprobs
from unlearnlab.core.timing import in_phase


def _batch_hits(model, data: TokenSet, batch_size: int) -> Iterator[torch.Tensor]:
    """Per-batch booleans, batch after batch in the data's order (shared by the full and the
    bounded scorer, so both see the same padded batches and the same arithmetic)."""
    device = next(model.parameters()).device
    for batch in data.batches(batch_size, device):
        logits = logits_of(model, batch)
        hit = logits[:, :-1].argmax(-1) == batch["input_ids"][:, 1:]
        scored = shifted_masks(batch, answer_only=True)
        yield (hit | ~scored).all(-1).cpu()


@torch.no_grad()
@in_phase("evaluate")
def exact_match(model, data: TokenSet, batch_size: int = 256) -> torch.Tensor:
    """Per-example booleans: would greedy decoding reproduce the gold answer?"""
    correct = list(_batch_hits(model, data, batch_size))
    return torch.cat(correct) if correct else torch.zeros(0, dtype=torch.bool)


def mean_accuracy(hits: torch.Tensor) -> float:
    """The accuracy of per-example booleans, as every caller computes it (float32 mean)."""
    return float(hits.float().mean())


def hits_needed(n: int, threshold: float) -> int:
    """The fewest hits h out of ``n`` with ``mean_accuracy`` >= ``threshold`` (``n + 1``: never).

    Found with the very expression the full check uses (a float32 mean of h ones and n - h zeros,
    compared as a Python float), so a decision on the hit count is the decision on the accuracy.
    The mean depends on h only (sums of 0/1 below 2**24 are exact in float32) and grows with h:
    a binary search is enough.
    """
    def reaches(h: int) -> bool:
        return mean_accuracy(torch.arange(n) < h) >= threshold

    if n == 0:
        return 0 if mean_accuracy(torch.zeros(0, dtype=torch.bool)) >= threshold else 1
    if not reaches(n):
        return n + 1
    lo, hi = 0, n  # reaches(hi) holds; find the smallest such h
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


@torch.no_grad()
@in_phase("evaluate")
def exact_match_reaching(model, data: TokenSet, needed: int, batch_size: int = 256) -> torch.Tensor | None:
    """``exact_match`` when at least ``needed`` examples can still be hits, else None.

    A stopping rule only asks whether accuracy reaches a threshold (``hits_needed``); scoring
    stops at the first batch after which even all remaining examples could not bring the hits up
    to ``needed``. When the answer may be yes, every batch is scored, so the result (and the
    accuracy recorded from it) is exactly ``exact_match``'s.
    """
    return hits_reaching(_batch_hits(model, data, batch_size), len(data), needed)


def hits_reaching(batches: Iterable[torch.Tensor], n: int, needed: int) -> torch.Tensor | None:
    """All ``n`` booleans of ``batches`` concatenated, or None as soon as fewer than ``needed``
    hits remain possible (the batches after that one are never drawn, so never computed)."""
    correct: list[torch.Tensor] = []
    remaining, hits = n, 0
    if hits + remaining < needed:
        return None
    for batch_hits in batches:
        correct.append(batch_hits)
        remaining -= len(batch_hits)
        hits += int(batch_hits.sum())
        if hits + remaining < needed:
            return None
    return torch.cat(correct) if correct else torch.zeros(0, dtype=torch.bool)


@in_phase("evaluate")
def accuracy_by_label(model, data: TokenSet, batch_size: int = 256) -> dict[str, float]:
    """Exact-match accuracy per label (e.g. per operation)."""
    hits = exact_match(model, data, batch_size)
    groups: dict[str, list[bool]] = defaultdict(list)
    for label, hit in zip(data.labels, hits.tolist()):
        groups[label].append(hit)
    return {label: sum(v) / len(v) for label, v in sorted(groups.items())}


@torch.no_grad()
@in_phase("evaluate")
def cross_entropy(model, data: TokenSet, batch_size: int = 256) -> float:
    """Mean next-token negative log-likelihood (nats per token) over every real token."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for batch in data.batches(batch_size, device):
        logp = token_logprobs(logits_of(model, batch), batch)
        mask = shifted_masks(batch, answer_only=False)
        total += float(-(logp * mask).sum())
        count += int(mask.sum())
    return total / max(count, 1)

