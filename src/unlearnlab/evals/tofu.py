"""TOFU's metrics (Maini et al. 2024), computed as the TOFU code computes them.

Inputs are per-question mean losses: the negative log-likelihood of an answer averaged over its
tokens, so ``exp(-loss) = P(a|q)^(1/|a|)``, the length-normalised probability TOFU uses
throughout (``evals.memorization.answer_tokens`` gives them for a model).

* Probability: on forget/retain, the mean of ``exp(-loss)`` of the gold answer; on real authors
  and world facts, the gold answer's normalised probability divided by the sum over the gold
  and the perturbed (wrong) answers.
* ROUGE: mean ROUGE-L recall of the greedy answer against the gold one (stemmed).
* Truth ratio per question, ``R = exp(-mean perturbed loss) / exp(-paraphrased loss)``: the
  geometric-mean normalised probability of the wrong answers over that of the paraphrased right
  one (on real authors / world facts the gold answer stands in for the paraphrase). Reported as
  ``mean(max(0, 1 - R))`` on retain-side sets (1: the truth is preferred) and as
  ``mean(min(R, 1/R))`` on the forget set.
* Forget quality: the p-value of a two-sample Kolmogorov-Smirnov test between the forget-set
  truth ratios of the unlearned model and of a model trained on the retain set only (1.0 for
  identical distributions; small when the two are told apart).
* Model utility: the harmonic mean of the nine retain-side numbers (probability, ROUGE, truth
  ratio on retain, real authors and world facts); any zero makes it zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import ks_2samp

from unlearnlab.evals.memorization import answer_tokens, greedy_answers, mean_rouge_l, qa_tokens

PROMPT = "Question: {question}\nAnswer:"
UTILITY_SETS = ("retain", "real_authors", "world_facts")
UTILITY_PARTS = ("probability", "rouge", "truth_ratio")


def normalised_probability(token_logprobs: torch.Tensor) -> float:
    """``P(a|q)^(1/|a|)`` from an answer's token log-probs: the geometric mean token probability."""
    return float(token_logprobs.float().mean().exp())


def answer_probability(losses: Sequence[float]) -> float:
    """Forget/retain probability: the mean normalised probability of the gold answers."""
    return float(np.mean(np.exp(-np.asarray(losses, dtype=float))))


def option_probability(losses: Sequence[float], perturbed_losses: Sequence[Sequence[float]]) -> float:
    """Real-authors / world-facts probability: gold over gold plus wrong options, averaged."""
    gold = np.exp(-np.asarray(losses, dtype=float))
    wrong = np.exp(-np.asarray(perturbed_losses, dtype=float)).sum(-1)
    return float(np.mean(gold / (gold + wrong)))


def truth_ratios(paraphrased_losses: Sequence[float], perturbed_losses: Sequence[Sequence[float]]) -> np.ndarray:
    """Per question, ``R = exp(paraphrased loss - mean perturbed loss)``."""
    para = np.asarray(paraphrased_losses, dtype=float)
    wrong = np.asarray(perturbed_losses, dtype=float)
    if wrong.ndim != 2 or len(wrong) != len(para):
        raise ValueError(f"need one row of perturbed losses per question, got {wrong.shape} for {para.shape}")
    return np.exp(para - wrong.mean(-1))


def truth_ratio_score(ratios: Sequence[float], forget: bool) -> float:
    """TOFU's reported truth ratio: ``mean(min(R, 1/R))`` (forget) or ``mean(max(0, 1 - R))``."""
    r = np.asarray(ratios, dtype=float)
    return float(np.mean(np.minimum(r, 1 / r)) if forget else np.mean(np.maximum(0.0, 1 - r)))


def forget_quality(unlearned_ratios: Sequence[float], retain_model_ratios: Sequence[float]) -> float:
    """KS-test p-value between the two models' forget-set truth-ratio distributions."""
    return float(ks_2samp(np.asarray(unlearned_ratios, float), np.asarray(retain_model_ratios, float)).pvalue)


def harmonic_mean(values: Sequence[float]) -> float:
    """``n / sum(1/x)``; 0 when any value is 0 (scipy's ``hmean`` convention), NaN for none."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan")
    if (x < 0).any():
        raise ValueError("a harmonic mean of negative values is not a utility")
    return 0.0 if (x == 0).any() else float(x.size / np.sum(1.0 / x))


def model_utility(scores: Mapping[str, Mapping[str, float]]) -> float:
    """Harmonic mean of probability, ROUGE and truth ratio on retain, real authors, world facts."""
    missing = [f"{s}.{p}" for s in UTILITY_SETS for p in UTILITY_PARTS if p not in scores.get(s, {})]
    if missing:
        raise ValueError(f"model utility needs {', '.join(missing)}")
    return harmonic_mean([scores[s][p] for s in UTILITY_SETS for p in UTILITY_PARTS])


@dataclass
class TofuLosses:
    """Per-question mean losses of one split: gold answer, paraphrased answer, wrong answers."""

    answer: np.ndarray  # (n,)
    paraphrased: np.ndarray  # (n,)
    perturbed: np.ndarray  # (n, m)

    def truth_ratios(self) -> np.ndarray:
        return truth_ratios(self.paraphrased, self.perturbed)


def split_scores(losses: TofuLosses, rouge: float, options: bool, forget: bool = False) -> dict[str, float]:
    """Probability, ROUGE and truth ratio of one split, as TOFU reports them."""
    prob = option_probability(losses.answer, losses.perturbed) if options else answer_probability(losses.answer)
    return {"probability": prob, "rouge": rouge, "truth_ratio": truth_ratio_score(losses.truth_ratios(), forget)}


def mean_losses(model, tokenizer, questions: Sequence[str], answers: Sequence[str], prompt: str = PROMPT,
                batch_size: int = 32) -> np.ndarray:
    """Per question, the mean NLL of the answer tokens (end token included) after the prompt."""
    data = qa_tokens(tokenizer, [prompt.format(question=q) for q in questions], [" " + a for a in answers])
    return np.array([t.mean_loss for t in answer_tokens(model, data, batch_size)])


def tofu_losses(model, tokenizer, rows: Sequence[dict], paraphrase_key: str = "paraphrased_answer",
                prompt: str = PROMPT, batch_size: int = 32) -> TofuLosses:
    """The losses of a perturbed split's rows; on real authors / world facts pass
    ``paraphrase_key="answer"`` (TOFU scores the gold answer in the paraphrase's place there)."""
    counts = {len(r["perturbed_answer"]) for r in rows}
    if len(counts) != 1:
        raise ValueError(f"rows have different numbers of perturbed answers: {sorted(counts)}")
    questions = [r["question"] for r in rows]
    wrong_q = [r["question"] for r in rows for _ in r["perturbed_answer"]]
    wrong_a = [a for r in rows for a in r["perturbed_answer"]]
    return TofuLosses(mean_losses(model, tokenizer, questions, [r["answer"] for r in rows], prompt, batch_size),
                      mean_losses(model, tokenizer, questions, [r[paraphrase_key] for r in rows], prompt, batch_size),
                      mean_losses(model, tokenizer, wrong_q, wrong_a, prompt, batch_size).reshape(len(rows), -1))


def tofu_rouge(model, tokenizer, rows: Sequence[dict], prompt: str = PROMPT, max_new_tokens: int = 32,
               batch_size: int = 16) -> float:
    """Mean ROUGE-L recall of the greedy answers against the gold ones (generated in left-padded
    batches: per-token generation one question at a time was most of a model's evaluation)."""
    outputs = greedy_answers(model, tokenizer, [prompt.format(question=r["question"]) for r in rows], max_new_tokens,
                             batch_size)
    return mean_rouge_l(outputs, [r["answer"] for r in rows], measure="recall", stemmer=True)
