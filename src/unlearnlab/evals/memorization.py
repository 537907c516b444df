"""Memorization metrics the unlearning literature shares, on answer tokens and on strings.

* ``exact_memorization`` (Tirumala et al. 2022): the fraction of answer tokens that are the
  model's argmax given the question and the gold prefix;
* ``extraction_strength`` (Carlini et al. 2021, as used by Wang et al. 2025 and open-unlearning):
  ``1 - k/|y|`` for the shortest gold prefix ``y_<k`` after which the greedy model reproduces the
  rest of the answer; 1 when it needs no hint, 0 when even the last token is not reproduced;
* ``rouge_l``: ROUGE-L between a generated and a gold string (the ``rouge-score`` package, as TOFU
  and MUSE use it; TOFU reports recall with Porter stemming, MUSE the F1 without stemming).

Both token metrics are teacher-forced, so they need one forward pass and no generation: the
greedy model reproduces ``y_k..`` from ``y_<k`` exactly when every prediction from position k on is
the gold token (each correct prediction keeps the prefix gold). ``answer_tokens`` computes the
inputs (log-probs, argmax and gold ids per answer) with ``core.logprobs``; ``greedy_continuations``
generates, for the string metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from unlearnlab.core.batching import TokenSet, pad_token_id, token_ids
from unlearnlab.core.logprobs import logits_of, shifted_masks, token_logprobs
from unlearnlab.core.timing import in_phase


def exact_memorization(predicted: Sequence[int] | torch.Tensor, gold: Sequence[int] | torch.Tensor) -> float:
    """Fraction of answer positions whose teacher-forced argmax is the gold token."""
    predicted, gold = torch.as_tensor(predicted), torch.as_tensor(gold)
    if predicted.shape != gold.shape or gold.numel() == 0:
        raise ValueError(f"need equal, non-empty shapes, got {tuple(predicted.shape)} and {tuple(gold.shape)}")
    return float((predicted == gold).float().mean())


def extraction_strength(predicted: Sequence[int] | torch.Tensor, gold: Sequence[int] | torch.Tensor) -> float:
    """``1 - k/n`` for the smallest ``k`` such that every teacher-forced prediction from position
    ``k`` on is right (``k = n``, strength 0, when the last one is wrong)."""
    predicted, gold = torch.as_tensor(predicted), torch.as_tensor(gold)
    if predicted.shape != gold.shape or gold.numel() == 0:
        raise ValueError(f"need equal, non-empty shapes, got {tuple(predicted.shape)} and {tuple(gold.shape)}")
    wrong = (predicted != gold).nonzero().flatten()
    k = int(wrong[-1]) + 1 if len(wrong) else 0
    return 1.0 - k / gold.numel()


@lru_cache(maxsize=4)
def _scorer(stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemmer)


def rouge_l(prediction: str, reference: str, measure: str = "recall", stemmer: bool = True) -> float:
    """ROUGE-L of ``prediction`` against ``reference``: ``measure`` is recall, precision or fmeasure."""
    if measure not in ("recall", "precision", "fmeasure"):
        raise ValueError(f"unknown ROUGE measure {measure!r}")
    return float(getattr(_scorer(stemmer).score(reference, prediction)["rougeL"], measure))


def mean_rouge_l(predictions: Sequence[str], references: Sequence[str], measure: str = "recall",
                 stemmer: bool = True) -> float:
    if len(predictions) != len(references) or not references:
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    return sum(rouge_l(p, r, measure, stemmer) for p, r in zip(predictions, references)) / len(references)


@dataclass
class AnswerTokens:
    """One answer, teacher-forced: per answer token its log-prob, the argmax and the gold id."""

    logprobs: torch.Tensor
    predicted: torch.Tensor
    gold: torch.Tensor

    @property
    def mean_loss(self) -> float:
        """Mean negative log-likelihood per answer token (TOFU's length-normalised loss)."""
        return float(-self.logprobs.mean())


def qa_tokens(tokenizer, prompts: Sequence[str], answers: Sequence[str], eos: bool = True) -> TokenSet:
    """``<bos> prompt`` / ``answer [<eos>]`` token pairs (the end token scored, as TOFU scores it)."""
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts for {len(answers)} answers")
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    end = [tokenizer.eos_token_id] if eos else []
    return TokenSet([bos + token_ids(tokenizer, p) for p in prompts], [token_ids(tokenizer, a) + end for a in answers],
                    pad_id=pad_token_id(tokenizer))


@torch.no_grad()
@in_phase("evaluate")
def answer_tokens(model, data: TokenSet, batch_size: int = 32) -> list[AnswerTokens]:
    """Every example's answer tokens, teacher-forced, one forward pass per batch."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for batch in data.batches(batch_size, device):
        logits = logits_of(model, batch)
        logp, mask = token_logprobs(logits, batch), shifted_masks(batch, answer_only=True)
        argmax, gold = logits[:, :-1].argmax(-1), batch["input_ids"][:, 1:]
        for row in range(len(mask)):
            keep = mask[row]
            out.append(AnswerTokens(logp[row, keep].cpu(), argmax[row, keep].cpu(), gold[row, keep].cpu()))
    model.train(was_training)
    return out


@torch.no_grad()
@in_phase("evaluate")
def greedy_continuations(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 32,
                         batch_size: int = 1) -> list[list[int]]:
    """Token ids the model generates greedily after ``<bos> prompt``; each stops at the end token,
    which is kept. ``batch_size`` 1 (the default, what every stored result used): one prompt at a
    time, no padding. Larger: left-padded batches (masked, positions from the mask), the same
    continuations up to float rounding, several times faster on a CPU (generation is per-token)."""
    device = next(model.parameters()).device
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    encoded = [bos + token_ids(tokenizer, prompt) for prompt in prompts]
    out = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start:start + batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([[pad_token_id(tokenizer)] * (width - len(c)) + c for c in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk], device=device)
        generated = model.generate(ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                   pad_token_id=pad_token_id(tokenizer), eos_token_id=tokenizer.eos_token_id)
        out += [_through_end(row[width:].tolist(), tokenizer.eos_token_id) for row in generated]
    return out


def _through_end(ids: list[int], eos: int | None) -> list[int]:
    """A continuation up to and including its first end token (a batch pads the rest)."""
    return ids[: ids.index(eos) + 1] if eos is not None and eos in ids else ids


@in_phase("evaluate")
def greedy_answers(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 32,
                   batch_size: int = 1) -> list[str]:
    """The greedy continuations as text (special tokens dropped), for the ROUGE metrics."""
    return [tokenizer.decode(ids, skip_special_tokens=True).strip()
            for ids in greedy_continuations(model, tokenizer, prompts, max_new_tokens, batch_size)]


def memorization_scores(model, tokenizer, prompts: Sequence[str], answers: Sequence[str],
                        batch_size: int = 32) -> dict[str, float]:
    """Mean exact memorization and extraction strength of ``answers`` after ``prompts`` (end token
    included; answers are tokenized as given, so add the leading space a tokenizer expects)."""
    tokens = answer_tokens(model, qa_tokens(tokenizer, prompts, answers), batch_size)
    n = max(len(tokens), 1)
    return {"exact_memorization": sum(exact_memorization(t.predicted, t.gold) for t in tokens) / n,
            "extraction_strength": sum(extraction_strength(t.predicted, t.gold) for t in tokens) / n}
