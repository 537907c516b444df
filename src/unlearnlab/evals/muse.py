"""MUSE's metrics (Shi et al. 2024), as its reference code computes them.

* VerbMem: the model continues each ``verbmem`` prompt greedily; the score is the mean ROUGE-L
  F1 (no stemming) of the continuation against the true one, times 100.
* KnowMem: the model answers each ``knowmem`` question after the few-shot ``_icl`` pairs
  (``Question: ...\\nAnswer: ...`` blocks); the answer is cut at the next blank line or
  "Question"; the score is the mean ROUGE-L F1 against the gold answer, times 100.
* PrivLeak: MUSE scores each text by min-k % (k = 40 %: minus the mean of the 40 % lowest token
  log-probs, a loss) and takes the ROC AUC of forget against holdout texts with forget as the
  positive class, so a model that still knows the forget texts (lower loss) has an AUC near 0.
  ``PrivLeak = (AUC - AUC_retrain) / AUC_retrain * 100``: 0 for a retrained-like model, strongly
  negative for one that has not forgotten, positive for one that forgot too much.

The min-k score itself is ``evals.mia``'s (``lowest_k_mean``; it keeps at least one token where
MUSE's ``int(k n)`` would keep none, i.e. only for texts of fewer than 3 tokens at k = 40 %),
and so is the AUC (``roc_auc``) and the relative leak (``privacy_leak``); only the orientation
is MUSE's: ``evals.mia`` counts the forget texts as recognised when the AUC is high.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from unlearnlab.core.batching import TokenSet, pad_token_id, token_ids
from unlearnlab.evals.memorization import greedy_answers, mean_rouge_l
from unlearnlab.evals.mia import lowest_k_mean, mia_scores, privacy_leak, roc_auc
from unlearnlab.core.timing import in_phase

MIN_K = 0.4
STOP_AT = ("\n\n", "\nQuestion", "Question:")


def verbmem(continuations: Sequence[str], truths: Sequence[str]) -> float:
    """Mean ROUGE-L F1 (unstemmed) of the model's continuations against the true ones, x100."""
    return 100 * mean_rouge_l(continuations, truths, measure="fmeasure", stemmer=False)


def knowmem(answers: Sequence[str], golds: Sequence[str]) -> float:
    """Mean ROUGE-L F1 (unstemmed) of the (cut) answers against the gold answers, x100."""
    return 100 * mean_rouge_l([cut_answer(a) for a in answers], golds, measure="fmeasure", stemmer=False)


def knowmem_prompt(question: str, shots: Sequence[dict] = ()) -> str:
    """The few-shot prompt: each ``_icl`` pair as a block, then the question (MUSE's format,
    trailing space included)."""
    blocks = "".join(f"Question: {s['question']}\nAnswer: {s['answer']}\n\n" for s in shots)
    return f"{blocks}Question: {question}\nAnswer: "


def cut_answer(output: str) -> str:
    """The answer before the model starts a new block (MUSE's stop strings)."""
    for stop in STOP_AT:
        output = output.split(stop)[0]
    return output.strip()


def min_k_scores(token_logprobs: Sequence[torch.Tensor], k: float = MIN_K) -> np.ndarray:
    """Per text, the mean of its ``k`` lowest token log-probs (``evals.mia``'s min-k; higher:
    more familiar). MUSE's score is minus this."""
    width = max((len(t) for t in token_logprobs), default=0)
    values = torch.zeros(len(token_logprobs), width)
    mask = torch.zeros(len(token_logprobs), width, dtype=torch.bool)
    for i, t in enumerate(token_logprobs):
        values[i, : len(t)], mask[i, : len(t)] = t.float(), True
    return lowest_k_mean(values, mask, k).numpy().astype(float)


def privleak_auc(forget_scores: Sequence[float], holdout_scores: Sequence[float]) -> float:
    """MUSE's AUC from min-k scores (higher: familiar): P(a forget text looks less familiar
    than a holdout text), ties counting one half."""
    return roc_auc(-np.asarray(forget_scores, float), -np.asarray(holdout_scores, float))


def privleak(auc: float, auc_retrain: float) -> float:
    """``(AUC - AUC_retrain) / AUC_retrain * 100`` (0: like the retrained model)."""
    return 100 * privacy_leak(auc, auc_retrain)


def text_tokens(tokenizer, texts: Sequence[str]) -> TokenSet:
    """Each text as ``<bos>`` + its tokens, every text token scored (MUSE scores the whole text)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return TokenSet([bos for _ in texts], [token_ids(tokenizer, t) for t in texts], pad_id=pad_token_id(tokenizer))


@in_phase("evaluate")
def model_min_k(model, tokenizer, texts: Sequence[str], k: float = MIN_K, batch_size: int = 16) -> np.ndarray:
    """Min-k scores of ``texts`` under ``model`` (``evals.mia.mia_scores``)."""
    return mia_scores(model, text_tokens(tokenizer, texts), k=k, batch_size=batch_size)["min_k"]


def model_privleak_auc(model, tokenizer, forget_texts: Sequence[str], holdout_texts: Sequence[str],
                       k: float = MIN_K, batch_size: int = 16) -> float:
    """MUSE's forget-vs-holdout AUC for ``model``; pass it and the retrained model's to ``privleak``."""
    return privleak_auc(model_min_k(model, tokenizer, forget_texts, k, batch_size),
                        model_min_k(model, tokenizer, holdout_texts, k, batch_size))


@in_phase("evaluate")
def model_knowmem(model, tokenizer, qa: Sequence[dict], shots: Sequence[dict] = (), max_new_tokens: int = 32) -> float:
    """KnowMem of ``model`` on ``qa`` rows (question, answer) with ``shots`` in the prompt."""
    outputs = greedy_answers(model, tokenizer, [knowmem_prompt(r["question"], shots) for r in qa], max_new_tokens)
    return knowmem(outputs, [r["answer"] for r in qa])


@in_phase("evaluate")
def model_verbmem(model, tokenizer, rows: Sequence[dict], max_new_tokens: int = 128) -> float:
    """VerbMem of ``model`` on ``verbmem`` rows (prompt, gt)."""
    outputs = greedy_answers(model, tokenizer, [r["prompt"] for r in rows], max_new_tokens)
    return verbmem(outputs, [r["gt"] for r in rows])
