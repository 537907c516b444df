"""Token-level quantities every method is built from, written once.

Shapes: a batch of B sequences of length T gives next-token predictions for T-1 positions;
``targets_mask`` marks which of those positions are scored.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from unlearnlab.core.batching import Batch


def logits_of(model, batch: Batch, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (B, T, V) in float32 for a padded or packed batch (``TokenSet.packed_batch``);
    with ``keep``, a boolean (B, T) mask, only the kept positions' logits (N, V) in row-major
    order: the output layer (V = 49,152 on SmolLM2) then runs on those hidden states alone
    (Hugging Face's ``logits_to_keep``)."""
    extra = {} if keep is None else {"logits_to_keep": keep}
    if "segment_ids" in batch:
        bias = attention_bias(block_causal_mask(batch["segment_ids"]))
        out = model(input_ids=batch["input_ids"], attention_mask=bias, position_ids=batch["position_ids"], **extra)
    else:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **extra)
    return out.logits.float()


def scored_logprobs(model, batch: Batch, answer_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``token_logprobs`` (B, T-1) at the scored positions (``shifted_masks``, also returned),
    0 elsewhere, with the output layer computed on the scored positions only.

    Why: scoring answers only, the full (B, T, V) logits are mostly thrown away. On SmolLM2, 4 chat
    prompts of a rewrite (4 x 46 tokens, 32 answer tokens), 1 thread, ``python tests/test_step_speed.py
    8`` (2026-12-04) measured an answer-only fwd+bwd at 2.15 / 1.74 CPU s with full logits and 1.51 /
    1.50 this way (forward alone 0.54 -> 0.44), with bit-identical loss and gradients. Any sum over
    the mask (``masked_mean``, per-row sums) adds the same terms in the same order as from full
    logits; at most, another shape of the output layer's matrix product could round differently.
    """
    mask = shifted_masks(batch, answer_only)
    keep = F.pad(mask, (0, 1))  # (B, T): position t predicts token t + 1; the last predicts nothing
    logits = logits_of(model, batch, keep=keep)
    targets = batch["input_ids"][:, 1:][mask]
    picked = F.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return torch.zeros(mask.shape, dtype=picked.dtype, device=picked.device).masked_scatter(mask, picked), mask


def nll_of(model, batch: Batch, answer_only: bool = False) -> torch.Tensor:
    """``nll(logits_of(model, batch), batch, answer_only)`` with the output layer computed on the
    scored positions only (``scored_logprobs``): the same loss, cheaper when few tokens are scored."""
    logp, mask = scored_logprobs(model, batch, answer_only)
    return -masked_mean(logp, mask)


def sequence_logprob_of(model, batch: Batch, answer_only: bool = False, normalise: bool = False) -> torch.Tensor:
    """``sequence_logprob(logits_of(model, batch), batch, ...)`` computed on the scored positions
    only (``scored_logprobs``): forced choice and probes score answers, not prompts."""
    logp, mask = scored_logprobs(model, batch, answer_only)
    mask = mask.to(logp.dtype)
    total = (logp * mask).sum(-1)
    return total / mask.sum(-1).clamp_min(1.0) if normalise else total


def block_causal_mask(segments: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) boolean: a token attends to earlier tokens of its own example only. Padding
    (segment 0) attends to itself, so no softmax row is empty (its outputs are never scored)."""
    width = segments.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=segments.device).tril()
    same = (segments[:, :, None] == segments[:, None, :]) & (segments[:, :, None] > 0)
    itself = torch.eye(width, dtype=torch.bool, device=segments.device)
    return ((same & causal) | itself)[:, None]


def attention_bias(mask: torch.Tensor) -> torch.Tensor:
    """A boolean (B, 1, T, T) mask as the additive float mask every attention implementation reads
    alike: the eager one (used under bf16 autocast on a CPU, ``core.precision``) adds a 4-D mask
    to the scores as it is, so a boolean one would be added as 0/1 instead of blocking."""
    return torch.zeros(mask.shape, dtype=torch.float32, device=mask.device).masked_fill_(
        ~mask, torch.finfo(torch.float32).min)


def shifted_masks(batch: Batch, answer_only: bool) -> torch.Tensor:
    """Mask (B, T-1) of scored next-token positions: answers only, or every real token (in a
    packed batch, never the first token of an example from the last one of the example before)."""
    key = "answer_mask" if answer_only else "attention_mask"
    mask = batch[key][:, 1:].bool()
    if "segment_ids" in batch:
        segments = batch["segment_ids"]
        mask = mask & (segments[:, 1:] == segments[:, :-1])
    return mask


def token_logprobs(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """log p(x_{t+1} | x_{<=t}) for every position (B, T-1)."""
    logp = F.log_softmax(logits[:, :-1], dim=-1)
    return logp.gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def nll(logits: torch.Tensor, batch: Batch, answer_only: bool = False) -> torch.Tensor:
    """Mean negative log-likelihood over the scored tokens (the language-model loss)."""
    return -masked_mean(token_logprobs(logits, batch), shifted_masks(batch, answer_only))


def sequence_logprob(logits: torch.Tensor, batch: Batch, answer_only: bool = False,
                     normalise: bool = False) -> torch.Tensor:
    """Per-sequence sum (or mean, if ``normalise``) of token log-probs (B,)."""
    mask = shifted_masks(batch, answer_only).to(logits.dtype)
    total = (token_logprobs(logits, batch) * mask).sum(-1)
    return total / mask.sum(-1).clamp_min(1.0) if normalise else total


def uniform_cross_entropy(logits: torch.Tensor, batch: Batch, answer_only: bool = False) -> torch.Tensor:
    """KL(uniform || p) per scored token, averaged: 0 when the prediction is uniform (MaxEnt)."""
    logp = F.log_softmax(logits[:, :-1], dim=-1)
    vocab = logp.shape[-1]
    per_token = -logp.mean(-1) - math.log(vocab)
    return masked_mean(per_token, shifted_masks(batch, answer_only))


def forward_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, batch: Batch,
               answer_only: bool = False) -> torch.Tensor:
    """KL(p_teacher || p_student) per scored position, averaged (distillation on outputs)."""
    t = F.log_softmax(teacher_logits[:, :-1], dim=-1)
    s = F.log_softmax(student_logits[:, :-1], dim=-1)
    per_token = (t.exp() * (t - s)).sum(-1)
    return masked_mean(per_token, shifted_masks(batch, answer_only))
