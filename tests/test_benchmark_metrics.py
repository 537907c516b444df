"""The field's shared metrics against values worked out by hand on tiny cases (TOFU's probability,
ROUGE-L, truth ratio, forget quality, model utility; MUSE's VerbMem, KnowMem, PrivLeak; exact
memorization and extraction strength), and their model-facing inputs on the tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import hmean

from unlearnlab.core.batching import TokenSet
from unlearnlab.evals import muse, tofu
from unlearnlab.evals.memorization import (answer_tokens, exact_memorization, extraction_strength, greedy_answers,
                                           greedy_continuations, memorization_scores, qa_tokens, rouge_l)
from unlearnlab.evals.mia import mia_scores

pytestmark = pytest.mark.unit

LN = math.log


def test_tofu_probability_is_length_normalised():
    # an answer of two tokens with p = 1/2 and 1/8: P = 1/16, P^(1/2) = 1/4
    assert tofu.normalised_probability(torch.tensor([LN(0.5), LN(0.125)])) == pytest.approx(0.25)
    assert tofu.answer_probability([LN(2), LN(4)]) == pytest.approx((0.5 + 0.25) / 2)
    # options: 0.5 / (0.5 + 0.25 + 0.25) and 0.25 / (0.25 + 0.25 + 0.5)
    assert tofu.option_probability([LN(2), LN(4)], [[LN(4), LN(4)], [LN(4), LN(2)]]) == pytest.approx((0.5 + 0.25) / 2)


def test_rouge_l_recall_and_f1():
    ref, pred = "the cat sat on the mat", "the cat ran on mats"
    # stemmed (TOFU): LCS the-cat-on-mat = 4 of the reference's 6 words
    assert rouge_l(pred, ref, "recall", stemmer=True) == pytest.approx(4 / 6)
    # unstemmed (MUSE): LCS the-cat-on = 3; recall 3/6, precision 3/5, F1 = 2 * .5 * .6 / 1.1
    assert rouge_l(pred, ref, "fmeasure", stemmer=False) == pytest.approx(2 * 0.5 * 0.6 / 1.1)
    assert rouge_l(ref, ref) == 1.0 and rouge_l("dog", ref) == 0.0


def test_truth_ratio_by_hand():
    # q1: paraphrase P~ = 1/2, wrong answers 1/4 and 1/16 (geometric mean 1/8): R = (1/8)/(1/2) = 1/4
    # q2: paraphrase P~ = 1/4, wrong answers 1/2 and 1/2: R = 2
    ratios = tofu.truth_ratios([LN(2), LN(4)], [[LN(4), LN(16)], [LN(2), LN(2)]])
    np.testing.assert_allclose(ratios, [0.25, 2.0])
    assert tofu.truth_ratio_score(ratios, forget=False) == pytest.approx((0.75 + 0.0) / 2)  # max(0, 1 - R)
    assert tofu.truth_ratio_score(ratios, forget=True) == pytest.approx((0.25 + 0.5) / 2)  # min(R, 1/R)


def test_forget_quality_is_one_for_identical_distributions_and_drops_for_verbatim_answers():
    rng = np.random.default_rng(0)
    retain_model = tofu.TofuLosses(np.zeros(10), rng.uniform(1.5, 2.5, 10), rng.uniform(1.5, 2.5, (10, 3)))
    ratios = retain_model.truth_ratios()
    assert tofu.forget_quality(ratios, ratios) == 1.0
    # a model that answers the forget set verbatim: paraphrase almost certain, wrong answers not
    verbatim = tofu.TofuLosses(np.zeros(10), np.full(10, 0.01), rng.uniform(3.0, 4.0, (10, 3)))
    assert tofu.forget_quality(verbatim.truth_ratios(), ratios) < 1e-4
    # fully separated samples of 5 and 5: D = 1, exact two-sided p = 2 / C(10, 5)
    assert tofu.forget_quality([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)


def test_model_utility_is_the_harmonic_mean_of_nine_numbers():
    scores = {s: {p: 0.5 for p in tofu.UTILITY_PARTS} for s in tofu.UTILITY_SETS}
    scores["world_facts"]["rouge"] = 0.25
    assert tofu.model_utility(scores) == pytest.approx(9 / (8 * 2 + 4))  # = 0.45
    assert tofu.model_utility(scores) == pytest.approx(hmean([0.5] * 8 + [0.25]))
    scores["retain"]["truth_ratio"] = 0.0
    assert tofu.model_utility(scores) == 0.0
    del scores["real_authors"]["probability"]
    with pytest.raises(ValueError, match="real_authors.probability"):
        tofu.model_utility(scores)


def test_split_scores_pick_the_probability_of_their_split():
    losses = tofu.TofuLosses(np.array([LN(2)]), np.array([LN(2)]), np.array([[LN(4), LN(16)]]))
    assert tofu.split_scores(losses, 0.3, options=False) == pytest.approx(
        {"probability": 0.5, "rouge": 0.3, "truth_ratio": 0.75})
    assert tofu.split_scores(losses, 0.3, options=True, forget=True)["probability"] == pytest.approx(
        0.5 / (0.5 + 0.25 + 1 / 16))


def test_muse_verbmem_and_knowmem():
    ref = "the cat sat on the mat"
    assert muse.verbmem([ref, "the cat ran on mats"], [ref, ref]) == pytest.approx(100 * (1 + 2 * 0.5 * 0.6 / 1.1) / 2)
    assert muse.cut_answer(" Paris\n\nQuestion: what next?") == "Paris"
    assert muse.knowmem(["Paris\nQuestion: x", "Lyon is"], ["Paris", "Paris"]) == pytest.approx(50.0)
    prompt = muse.knowmem_prompt("Q2?", [{"question": "Q1?", "answer": "A1"}])
    assert prompt == "Question: Q1?\nAnswer: A1\n\nQuestion: Q2?\nAnswer: "


def test_muse_privleak_at_min_k_40_percent():
    # 40 % of 5 tokens = the 2 lowest, -5 and -4; of 2 tokens, floor(0.8) = 0 -> at least one
    scores = muse.min_k_scores([torch.tensor([-1.0, -5.0, -2.0, -4.0, -3.0]), torch.tensor([-0.5, -0.7])])
    np.testing.assert_allclose(scores, [-4.5, -0.7])
    # MUSE's AUC: P(forget less familiar than holdout); of 4 pairs only (-2 vs -1.5) counts
    auc = muse.privleak_auc([-1.0, -2.0], [-3.0, -1.5])
    assert auc == pytest.approx(0.25)
    assert muse.privleak(auc, 0.5) == pytest.approx(-50.0)  # (0.25 - 0.5) / 0.5 * 100
    assert muse.privleak_auc([-0.1, -0.2], [-3.0, -4.0]) == 0.0  # remembered forget texts: AUC 0
    assert muse.privleak(0.0, 0.5) == -100.0


def test_exact_memorization_and_extraction_strength_by_hand():
    gold = [5, 6, 7, 8]
    assert exact_memorization([5, 9, 7, 8], gold) == 0.75
    assert extraction_strength([5, 9, 7, 8], gold) == 0.5  # needs the prefix 5 6: k = 2 of 4
    assert extraction_strength([9, 6, 7, 8], gold) == 0.75
    assert extraction_strength(gold, gold) == 1.0
    assert extraction_strength([5, 6, 7, 0], gold) == 0.0 and exact_memorization([5, 6, 7, 0], gold) == 0.75
    with pytest.raises(ValueError):
        exact_memorization([1, 2], [1, 2, 3])


def _naive_mean_loss(model, prompt_ids: list[int], answer_ids: list[int]) -> float:
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    n = len(prompt_ids)
    return -float(sum(logp[n + j - 1, a] for j, a in enumerate(answer_ids)) / len(answer_ids))


def test_model_inputs_on_the_tiny_model(tiny_model, tokenizer):
    model = tiny_model.eval()
    questions, answers = ["12 + 7 =", "3 * 4 ="], ["19", "12"]
    losses = tofu.mean_losses(model, tokenizer, questions, answers, prompt="{question}")
    data = qa_tokens(tokenizer, questions, [" " + a for a in answers])
    naive = [_naive_mean_loss(model, p, a) for p, a in zip(data.prompts, data.answers)]
    np.testing.assert_allclose(losses, naive, rtol=1e-5)
    rows = [{"question": q, "answer": a, "paraphrased_answer": a, "perturbed_answer": ["1", "2 2"]}
            for q, a in zip(questions, answers)]
    split = tofu.tofu_losses(model, tokenizer, rows, prompt="{question}")
    assert split.perturbed.shape == (2, 2)
    alone = tofu.mean_losses(model, tokenizer, [questions[1]], ["2 2"], "{question}")[0]
    assert split.perturbed[1, 1] == pytest.approx(alone)
    # greedy decoding and teacher forcing agree: the model's own continuation is fully memorized
    prompts = [tofu.PROMPT.format(question=q) for q in questions]
    continuations = greedy_continuations(model, tokenizer, prompts, max_new_tokens=4)
    bos = [tokenizer.bos_token_id]
    own = answer_tokens(model, TokenSet([bos + tokenizer.encode(p, add_special_tokens=False) for p in prompts],
                                        continuations, pad_id=tokenizer.pad_token_id))
    assert [extraction_strength(t.predicted, t.gold) for t in own] == [1.0, 1.0]
    assert [exact_memorization(t.predicted, t.gold) for t in own] == [1.0, 1.0]
    scores = memorization_scores(model, tokenizer, prompts, answers)
    assert 0.0 <= scores["extraction_strength"] <= 1.0 and 0.0 <= scores["exact_memorization"] <= 1.0
    # the decoded greedy answer is its own reference: ROUGE-L recall 1 (the random model's
    # favourite token is <unk>, which decoding drops, so keep special tokens out of its answers)
    model.generation_config.suppress_tokens = list(range(4))
    texts = greedy_answers(model, tokenizer, prompts, max_new_tokens=4)
    assert all(any(c.isalnum() for c in t) for t in texts)
    assert tofu.tofu_rouge(model, tokenizer, [{"question": q, "answer": t} for q, t in zip(questions, texts)],
                           max_new_tokens=4) == pytest.approx(1.0)


def test_batched_greedy_generation_gives_the_one_at_a_time_continuations(tiny_model, tokenizer):
    """Left-padded batches of prompts of different lengths: the same token ids as one prompt at a
    time (the mask hides the padding, positions start at each prompt's first token)."""
    model = tiny_model.eval()
    prompts = [tofu.PROMPT.format(question=q) for q in ("12 + 7 =", "3 * 4 = 12 and 5 * 6 =", "1 =")]
    alone = greedy_continuations(model, tokenizer, prompts, max_new_tokens=6)
    batched = greedy_continuations(model, tokenizer, prompts, max_new_tokens=6, batch_size=3)
    assert batched == alone and len({len(tokenizer.encode(p)) for p in prompts}) == 3


def test_min_k_from_a_model_matches_the_mia_implementation(tiny_model, tokenizer):
    texts = ["the cat sat on the mat", "12 + 7 = 19 and 3 * 4 = 12", "a dog"]
    data = muse.text_tokens(tokenizer, texts)
    by_tokens = muse.min_k_scores([t.logprobs for t in answer_tokens(tiny_model, data)])
    np.testing.assert_allclose(muse.model_min_k(tiny_model, tokenizer, texts), by_tokens, rtol=1e-5)
    np.testing.assert_allclose(mia_scores(tiny_model, data, k=0.4)["min_k"], by_tokens, rtol=1e-5)
    assert muse.model_privleak_auc(tiny_model, tokenizer, texts, texts) == 0.5  # same texts: no leak
