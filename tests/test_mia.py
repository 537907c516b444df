"""Membership inference: scores against naive per-example references, AUC edge cases, AUC 0.5
when members and non-members are identically distributed, 1.0 on a planted memorised set."""

import math
import random
import zlib

import numpy as np
import pytest
import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.evals.mia import ATTACKS, lowest_k_mean, mia_auc, mia_scores, privacy_leak, roc_auc
from unlearnlab.core.models import ModelSize, build_llama
from unlearnlab.core.training import TrainConfig, train

pytestmark = pytest.mark.unit


def random_set(n: int, length: int, vocab: int, seed: int) -> TokenSet:
    """Plain-text-like rows: BOS, then ``length`` random tokens (ids 4.. vocab) as the answer."""
    rng = random.Random(seed)
    answers = [[rng.randrange(4, vocab) for _ in range(length)] for _ in range(n)]
    return TokenSet([[1] for _ in range(n)], answers, ["x"] * n, pad_id=0)


def test_roc_auc_edge_cases():
    assert roc_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert roc_auc([0, 1], [5, 6]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5
    assert roc_auc([2, 0], [1]) == 0.5
    assert math.isnan(roc_auc([], [1.0]))
    assert privacy_leak(0.75, 0.5) == pytest.approx(0.5)
    assert privacy_leak(0.5, 0.5) == 0.0


def test_lowest_k_mean_matches_sorting_by_hand():
    values = torch.tensor([[5.0, 1.0, 3.0, 2.0, 9.0], [4.0, -1.0, 0.0, 7.0, 7.0]])
    mask = torch.tensor([[True, True, True, True, False], [True, True, True, False, False]])
    got = lowest_k_mean(values, mask, 0.5)  # 2 of 4 values, then max(1, floor(1.5)) = 1 of 3
    torch.testing.assert_close(got, torch.tensor([1.5, -1.0]))


def test_scores_match_a_naive_per_example_computation():
    torch.manual_seed(0)
    model = build_llama(ModelSize(d_model=16, n_layers=1, n_heads=2, d_mlp=32, max_len=32), 40, seed=0)
    data = TokenSet([[1], [1, 5]], [[7, 8, 9, 10, 11, 2], [6, 6, 2]], ["a", "b"], pad_id=0)
    texts = ["seven eight nine", "six six"]
    got = mia_scores(model, data, texts, k=0.4)
    for i in range(len(data)):
        ids = torch.tensor([data.prompts[i] + data.answers[i]])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
        start = len(data.prompts[i]) - 1  # positions predicting answer tokens
        targets = ids[0, 1:]
        lp = torch.stack([logp[t, targets[t]] for t in range(start, len(targets))])
        mu = torch.stack([(logp[t].exp() * logp[t]).sum() for t in range(start, len(targets))])
        var = torch.stack([(logp[t].exp() * logp[t] ** 2).sum() for t in range(start, len(targets))]) - mu ** 2
        z = (lp - mu) / var.sqrt()
        n_k = max(1, int(0.4 * len(lp)))
        assert got["loss"][i] == pytest.approx(float(lp.mean()), abs=1e-5)
        assert got["min_k"][i] == pytest.approx(float(lp.sort().values[:n_k].mean()), abs=1e-5)
        assert got["min_k_plus_plus"][i] == pytest.approx(float(z.sort().values[:n_k].mean()), abs=1e-4)
        assert got["zlib"][i] == pytest.approx(float(lp.mean()) / len(zlib.compress(texts[i].encode())), abs=1e-6)


def test_auc_is_chance_on_identically_distributed_members_and_nonmembers():
    model = build_llama(ModelSize(d_model=16, n_layers=1, n_heads=2, d_mlp=32, max_len=32), 60, seed=0)
    aucs = mia_auc(model, random_set(300, 12, 60, seed=1), random_set(300, 12, 60, seed=2))
    assert set(aucs) == set(ATTACKS)
    for name, auc in aucs.items():
        assert abs(auc - 0.5) < 0.08, (name, auc)


def test_auc_is_one_on_a_planted_memorised_set():
    torch.manual_seed(0)
    vocab = 60
    model = build_llama(ModelSize(d_model=48, n_layers=2, n_heads=2, d_mlp=96, max_len=32), vocab, seed=0)
    members, nonmembers = random_set(16, 10, vocab, seed=3), random_set(16, 10, vocab, seed=4)
    batch = members.batch(range(len(members)))
    train(model, lambda fwd, step: (nll(logits_of(fwd, batch), batch), 0), TrainConfig(steps=150, lr=1e-2))
    aucs = mia_auc(model, members, nonmembers)
    assert aucs["loss"] == 1.0 and aucs["zlib"] == 1.0
    assert aucs["min_k"] == 1.0 and aucs["min_k_plus_plus"] > 0.95, aucs
    assert np.all(np.isfinite(mia_scores(model, nonmembers)["min_k_plus_plus"]))
