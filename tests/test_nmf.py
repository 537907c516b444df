"""Semi-NMF localization: the factorization, the feature-to-neuron scores, and the model wrapper."""

import math

import pytest
import torch

from unlearnlab.localization import iter_components, mask_from_component_scores, semi_nmf, semi_nmf_scores
from unlearnlab.localization.nmf import explained_variance, feature_selectivity, neuron_scores_from_factors

pytestmark = pytest.mark.unit


def planted(n=200, d=30, k=4, seed=0):
    """X = G_true F_trueᵀ with G_true ≥ 0 (sparse-ish: squared uniforms) and F_true of any sign."""
    gen = torch.Generator().manual_seed(seed)
    G = torch.rand(n, k, generator=gen, dtype=torch.float64) ** 2
    F = torch.randn(d, k, generator=gen, dtype=torch.float64)
    return G @ F.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_semi_nmf_recovers_an_exact_semi_nonnegative_factorization(seed):
    X = planted(seed=seed)
    G, F = semi_nmf(X, 4, seed=seed)
    assert G.shape == (200, 4) and F.shape == (30, 4)
    assert explained_variance(X, G, F) > 0.99
    torch.testing.assert_close(F.norm(dim=0), torch.ones(4, dtype=torch.float64))  # unit directions


def test_semi_nmf_error_never_increases_and_g_stays_nonnegative():
    X = planted(seed=3) + 0.05 * torch.randn(200, 30, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    history: list[float] = []
    G, F = semi_nmf(X, 3, iters=100, history=history)  # k below the true rank: a real fit, not exact
    assert len(history) == 101
    slack = 1e-9 * float((X * X).sum())
    assert all(b <= a + slack for a, b in zip(history, history[1:]))
    assert history[-1] < 0.5 * history[0]
    assert history[-1] == pytest.approx(float(((X - G @ F.T) ** 2).sum()), rel=1e-6)
    assert bool((G >= 0).all())
    for iters in (0, 1, 5):  # nonnegative from the start, at any stopping point
        assert bool((semi_nmf(X, 3, iters=iters)[0] >= 0).all())


def test_semi_nmf_is_deterministic_given_the_seed_and_works_on_float32():
    X = planted(seed=4).float()
    a, b = semi_nmf(X, 4, iters=20, seed=5), semi_nmf(X, 4, iters=20, seed=5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].dtype == torch.float64
    assert not torch.equal(a[0], semi_nmf(X, 4, iters=20, seed=6)[0])


def test_selectivity_and_neuron_scores_on_planted_factors():
    """Feature 0 fires only on forget rows and lives on neurons 3 and 7; features 1-2 fire on both
    (on neurons 0-2 and 10-12), feature 3 only on retain (on neurons 4-6). The forget-only
    feature's neurons must come first, and neurons of the retain-only feature score 0."""
    gen = torch.Generator().manual_seed(0)
    n_forget, n_retain, d = 50, 80, 16
    G_forget = torch.rand(n_forget, 4, generator=gen, dtype=torch.float64)
    G_retain = torch.rand(n_retain, 4, generator=gen, dtype=torch.float64)
    G_forget[:, 3] = 0
    G_retain[:, 0] = 0
    F = torch.zeros(d, 4, dtype=torch.float64)
    F[[3, 7], 0] = torch.tensor([1.0, -0.8], dtype=torch.float64)
    F[[0, 1, 2], 1] = 1.0
    F[[10, 11, 12], 2] = -1.0
    F[[4, 5, 6], 3] = 2.0
    selectivity = feature_selectivity(G_forget, G_retain)
    assert selectivity[0] == pytest.approx(1.0) and selectivity[3] == 0
    assert bool(((selectivity >= 0) & (selectivity <= 1)).all())
    scores = neuron_scores_from_factors(G_forget, G_retain, F)
    assert set(scores.topk(2).indices.tolist()) == {3, 7}
    assert scores[3] > scores[7] > 0  # in proportion to |F|
    assert bool((scores[[4, 5, 6]] == 0).all())
    assert bool((scores[[8, 9, 13, 14, 15]] == 0).all())  # in no feature
    # invariant to how scale is split between G and F
    scale = torch.tensor([2.0, 0.5, 3.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(neuron_scores_from_factors(G_forget * scale, G_retain * scale, F / scale), scores)


@pytest.fixture(scope="module")
def transformer_lens():
    return pytest.importorskip("transformer_lens")


def test_semi_nmf_scores_on_a_tiny_model(transformer_lens, tiny_model, tokenizer, tokens):
    forget, retain = tokens.subset(range(0, 12)), tokens.subset(range(12, 30))
    scores, details = semi_nmf_scores(tiny_model, forget, retain, k=4, iters=50, tokenizer=tokenizer)
    neurons = list(iter_components(tiny_model, "neuron"))
    assert set(scores) == {c.name for c in neurons}
    assert all(math.isfinite(v) and v >= 0 for v in scores.values())
    assert any(v > 0 for v in scores.values())
    assert sorted(details["layers"]) == [0, 1]
    for layer in details["layers"].values():
        assert len(layer["selectivity"]) == 4 and all(0 <= s <= 1 for s in layer["selectivity"])
        assert 0 < layer["explained_variance"] <= 1
    n_positions = sum(len(a) for a in forget.answers)  # one per answer token, as in activation_magnitude
    assert details["n_forget"] == n_positions
    budget = 0.05
    mask = mask_from_component_scores(tiny_model, scores, "neuron", budget)
    params = dict(tiny_model.named_parameters())
    total = sum(p.numel() for p in params.values())
    size = neurons[0].size(params)
    assert mask.n_selected == (round(budget * total) // size) * size  # as many whole neurons as fit
    assert mask.meta["fraction"] <= budget
    with pytest.raises(ValueError, match="not an MLP site"):
        semi_nmf_scores(tiny_model, forget, retain, site="hook_z", tokenizer=tokenizer)
