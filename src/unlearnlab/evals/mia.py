"""Membership inference: LOSS, zlib, min-k % and min-k %++ scores, ROC AUC and privacy leak.

All four scores of a batch come from one forward pass (the token log-probabilities and the
model's full next-token distribution at every position). Every score is oriented so that
*higher means more likely a training member*:

* ``loss``: minus the mean negative log-likelihood of the scored tokens (Yeom et al. 2018);
* ``zlib``: minus that loss divided by the zlib-compressed length of the text in bytes, so that
  texts that are simply easy (repetitive) are not mistaken for members (Carlini et al. 2021);
* ``min_k``: the mean log-probability of the k % least likely tokens (Shi et al. 2024);
* ``min_k_plus_plus``: the same over token log-probabilities standardised by the mean and
  standard deviation of log p under the model's own next-token distribution at that position
  (Zhang et al. 2024).

AUC is the probability that a random member outscores a random non-member (ties count one
half). The privacy leak (MUSE, Shi et al. 2024) compares the unlearned model with the oracle
retrained without the forget set: ``(AUC_model - AUC_oracle) / AUC_oracle``; 0 is oracle-like,
positive means forget records are still recognisable as members, negative that unlearning
overshot (the forget records look *less* familiar than never-seen ones, itself a tell).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.logprobs import logits_of, shifted_masks
from unlearnlab.core.timing import in_phase

ATTACKS: tuple[str, ...] = ("loss", "zlib", "min_k", "min_k_plus_plus")


def lowest_k_mean(values: torch.Tensor, mask: torch.Tensor, k: float) -> torch.Tensor:
    """Per row, the mean of the ``max(1, floor(k * n))`` smallest of its ``n`` masked values."""
    n = mask.sum(-1)
    keep = torch.clamp((k * n.float()).floor().long(), min=1)
    ordered = values.masked_fill(~mask, float("inf")).sort(-1).values
    take = torch.arange(values.shape[-1], device=values.device)[None, :] < keep[:, None]
    take = take & (n[:, None] > 0)
    return torch.where(take, ordered, torch.zeros_like(ordered)).sum(-1) / keep.float()


def zlib_length(text: str) -> int:
    return len(zlib.compress(text.encode("utf-8")))


@torch.no_grad()
def batch_scores(logits: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor, k: float) -> dict[str, torch.Tensor]:
    """LOSS, min-k and min-k++ scores (B,) of one batch's logits; ``mask`` (B, T-1) marks the
    scored next-token positions. (zlib needs the text and is derived from LOSS later.)"""
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)
    token_lp = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    probs = logp.exp()
    mu = (probs * logp).sum(-1)
    sigma = ((probs * logp.square()).sum(-1) - mu.square()).clamp_min(1e-12).sqrt()
    maskf = mask.float()
    mean_lp = (token_lp * maskf).sum(-1) / maskf.sum(-1).clamp_min(1.0)
    return {"loss": mean_lp, "min_k": lowest_k_mean(token_lp, mask, k),
            "min_k_plus_plus": lowest_k_mean((token_lp - mu) / sigma, mask, k)}


@torch.no_grad()
@in_phase("evaluate")
def mia_scores(model, data: TokenSet, texts: Sequence[str] | None = None, k: float = 0.2,
               batch_size: int = 64, answer_only: bool = True) -> dict[str, np.ndarray]:
    """Every attack's membership score for every example of ``data`` (higher: member).

    ``texts`` are the examples' strings for zlib; without them the token ids stand in (their
    decimal string compresses like the text would, up to the tokenizer). ``answer_only`` scores
    the answer tokens: for plain-text rows (empty prompt) that is the whole text.
    """
    if texts is not None and len(texts) != len(data):
        raise ValueError(f"{len(texts)} texts for {len(data)} examples")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts: dict[str, list[torch.Tensor]] = {a: [] for a in ATTACKS if a != "zlib"}
    for batch in data.batches(batch_size, device):
        scores = batch_scores(logits_of(model, batch), batch["input_ids"], shifted_masks(batch, answer_only), k)
        for name, value in scores.items():
            parts[name].append(value.cpu())
    model.train(was_training)
    out = {name: torch.cat(v).numpy().astype(float) if v else np.zeros(0) for name, v in parts.items()}
    strings = texts if texts is not None else [" ".join(map(str, p + a)) for p, a in zip(data.prompts, data.answers)]
    out["zlib"] = out["loss"] / np.array([zlib_length(s) for s in strings], dtype=float)
    return {name: out[name] for name in ATTACKS}


def roc_auc(members: Sequence[float], nonmembers: Sequence[float]) -> float:
    """P(member score > non-member score) + P(tie) / 2 (the Mann-Whitney form of ROC AUC)."""
    m, n = np.asarray(members, dtype=float), np.asarray(nonmembers, dtype=float)
    if m.size == 0 or n.size == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([m, n]))
    return float((ranks[: m.size].sum() - m.size * (m.size + 1) / 2) / (m.size * n.size))


def mia_auc(model, members: TokenSet, nonmembers: TokenSet, member_texts: Sequence[str] | None = None,
            nonmember_texts: Sequence[str] | None = None, k: float = 0.2, batch_size: int = 64) -> dict[str, float]:
    """ROC AUC of every attack, members (say forget records) against non-members (holdout)."""
    s_in = mia_scores(model, members, member_texts, k, batch_size)
    s_out = mia_scores(model, nonmembers, nonmember_texts, k, batch_size)
    return {name: roc_auc(s_in[name], s_out[name]) for name in ATTACKS}


def privacy_leak(auc_model: float, auc_oracle: float) -> float:
    """MUSE's PrivLeak: ``(AUC_model - AUC_oracle) / AUC_oracle`` (0: oracle-like)."""
    if not auc_oracle or auc_oracle != auc_oracle:
        return float("nan")
    return (auc_model - auc_oracle) / auc_oracle
