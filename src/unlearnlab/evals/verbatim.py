"""Verbatim extraction scored on the tokens that only a memorised text can supply.

A note's second half is mostly template ("Exam:", "mg daily", "Follow up in"), which any model
of the format predicts, so next-token accuracy over every token barely separates a model that
saw a text from one that did not. ``private_token_accuracy`` scores the same teacher-forced
predictions twice: over the tokens overlapping given character spans (the text's private values)
and over all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unlearnlab.core.batching import TokenSet, pad_token_id
from unlearnlab.core.logprobs import logits_of


def _flags(tokenizer, text: str, spans: Sequence[tuple[int, int]], start: int) -> tuple[list[int], list[bool], list[bool]]:
    """The text's token ids, and per token: after ``start`` and overlapping ``spans``; after ``start``."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    after = [b > start for _, b in enc["offset_mapping"]]
    private = [f and any(a < e and s < b for s, e in spans) for f, (a, b) in zip(after, enc["offset_mapping"])]
    return list(enc["input_ids"]), private, after


def _masked_mean(hit: torch.Tensor, rows: range, flags: Sequence[Sequence[bool]]) -> torch.Tensor:
    """Per row of ``hit``, its mean over the flagged tokens (NaN where none is flagged)."""
    mask = torch.zeros_like(hit)
    for r, i in enumerate(rows):  # hit[:, j] scores answer token j (the prompt is one BOS)
        mask[r, : len(flags[i])] = torch.tensor(flags[i], dtype=hit.dtype)
    n = mask.sum(-1)
    return torch.where(n > 0, (hit * mask).sum(-1) / n.clamp_min(1.0), float("nan")).cpu()


@torch.no_grad()
def private_token_accuracy(model, tokenizer, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                           starts: Sequence[int], batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Verbatim extraction, teacher-forced, one forward pass per batch: per text, the fraction of
    its tokens ending after character ``start`` that are the model's argmax given the gold prefix,
    (1) among the tokens overlapping ``spans`` (the text's private values) and (2) among all of
    them (template included). Texts are tokenized as training saw them (``<bos> text <eos>``); a
    text without a private token after ``start`` scores NaN in (1)."""
    answers, private, every = [], [], []
    for text, sp, start in zip(texts, spans, starts):
        ids, is_private, after = _flags(tokenizer, text, sp, start)
        answers.append(ids + [tokenizer.eos_token_id])
        private.append(is_private)
        every.append(after)
    data = TokenSet([[tokenizer.bos_token_id] for _ in answers], answers, [], pad_token_id(tokenizer))
    device = next(model.parameters()).device
    parts: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
    for first in range(0, len(data), batch_size):
        rows = range(first, min(first + batch_size, len(data)))
        batch = data.batch(rows, device)
        hit = (logits_of(model, batch)[:, :-1].argmax(-1) == batch["input_ids"][:, 1:]).float()
        for part, flags in zip(parts, (private, every)):
            part.append(_masked_mean(hit, rows, flags))
    empty = torch.zeros(0)
    return tuple(torch.cat(part) if part else empty for part in parts)
