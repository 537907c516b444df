"""Evaluation: exact-match accuracy (one forward pass) and cross-entropy.

Greedy exact match needs no ``generate``: feed prompt + gold answer once; the greedy answer
equals the gold answer exactly when every gold answer token (including the final EOS) is the
argmax of the model's prediction given the gold prefix. A test proves the equivalence.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.logprobs import logits_of, shifted_masks, token_logprobs
from unlearnlab.core.timing import in_phase


@torch.no_grad()
@in_phase("evaluate")
def exact_match(model, data: TokenSet, batch_size: int = 256) -> torch.Tensor:
    """Per-example booleans: would greedy decoding reproduce the gold answer?"""
    device = next(model.parameters()).device
    correct: list[torch.Tensor] = []
    for batch in data.batches(batch_size, device):
        logits = logits_of(model, batch)
        hit = logits[:, :-1].argmax(-1) == batch["input_ids"][:, 1:]
        scored = shifted_masks(batch, answer_only=True)
        correct.append((hit | ~scored).all(-1).cpu())
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

