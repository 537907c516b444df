"""Masks: exact budgets, set algebra, save/load, component indexing, masked noise."""

import pytest
import torch

from unlearnlab.localization import (
    Mask,
    component_scores_from_parameters,
    fisher_ratio_scores,
    gradient_norm_scores,
    iter_components,
    mask_from_component_scores,
    mask_from_parameter_scores,
    random_mask,
    weight_diff_scores,
)
from unlearnlab.methods import apply_undo_noise
from unlearnlab.core.models import fresh_copy

pytestmark = pytest.mark.unit


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("budget", [0.0, 0.01, 0.05, 0.2, 0.5, 1.0])
def test_parameter_budget_is_exact(tiny_model, budget):
    mask = random_mask(tiny_model, budget)
    assert mask.n_selected == round(budget * n_params(tiny_model))


def test_topk_selects_the_highest_scores(tiny_model):
    scores = {n: torch.zeros(p.shape) for n, p in tiny_model.named_parameters()}
    name = "model.layers.1.mlp.down_proj.weight"
    scores[name][3, :5] = torch.arange(1.0, 6.0)
    mask = mask_from_parameter_scores(tiny_model, scores, 5 / n_params(tiny_model))
    assert list(mask.entries) == [name] and mask.entries[name][3, :5].all() and mask.n_selected == 5


def test_set_algebra_and_jaccard(tiny_model):
    a = random_mask(tiny_model, 0.2, generator=torch.Generator().manual_seed(1))
    b = random_mask(tiny_model, 0.2, generator=torch.Generator().manual_seed(2))
    inter, union = a.intersection(b).n_selected, a.union(b).n_selected
    assert inter + union == a.n_selected + b.n_selected
    assert a.jaccard(b) == pytest.approx(inter / union)
    assert a.jaccard(a) == 1.0
    assert 0.05 < a.jaccard(b) < 0.2  # two random 20 % masks overlap about 0.2 * 0.2 / 0.36


def test_save_load_roundtrip(tiny_model, tmp_path):
    mask = random_mask(tiny_model, 0.1, "neuron")
    mask.save(tmp_path)
    back = Mask.load(tmp_path)
    assert back.granularity == "neuron" and back.n_selected == mask.n_selected
    assert all(torch.equal(back.entries[n], mask.entries[n]) for n in mask.entries)


def test_neuron_and_head_components_index_the_right_entries(tiny_model):
    neuron = {c.name: c for c in iter_components(tiny_model, "neuron")}["L1.N7"]
    mask = mask_from_component_scores(tiny_model, {"L1.N7": 1.0}, "neuron", 1.0)
    mlp = "model.layers.1.mlp"
    assert mask.entries[f"{mlp}.up_proj.weight"][7].all() and mask.entries[f"{mlp}.up_proj.weight"].sum() == 16
    assert mask.entries[f"{mlp}.down_proj.weight"][:, 7].all() and mask.entries[f"{mlp}.down_proj.weight"].sum() == 16
    assert mask.n_selected == neuron.size(dict(tiny_model.named_parameters())) == 3 * 16
    heads = list(iter_components(tiny_model, "head"))
    assert len(heads) == 2 * 2
    head_mask = mask_from_component_scores(tiny_model, {"L0.H1": 1.0}, "head", 1.0)
    q = head_mask.entries["model.layers.0.self_attn.q_proj.weight"]
    assert q[8:].all() and not q[:8].any()


def test_component_budget_never_exceeded(tiny_model):
    names = [c.name for c in iter_components(tiny_model, "neuron")]
    scores = {n: float(i) for i, n in enumerate(names)}
    mask = mask_from_component_scores(tiny_model, scores, "neuron", 0.05)
    assert mask.n_selected <= round(0.05 * n_params(tiny_model))
    assert mask.meta["components"][0] == names[-1]  # highest score first


def test_masked_noise_changes_only_the_mask(tiny_model):
    mask = random_mask(tiny_model, 0.05, "head")
    before = {n: p.clone() for n, p in tiny_model.named_parameters()}
    apply_undo_noise(tiny_model, 0.8, 1.0, torch.Generator().manual_seed(0), mask=mask.entries)
    changed = sum(int((p != before[n]).sum()) for n, p in tiny_model.named_parameters())
    assert changed == mask.n_selected


def test_weight_space_scores(tiny_model, tokens):
    other = fresh_copy(tiny_model)
    with torch.no_grad():
        dict(other.named_parameters())["model.layers.0.mlp.up_proj.weight"][2, 3] += 1.0
    diff = weight_diff_scores(tiny_model, other)
    mask = mask_from_parameter_scores(tiny_model, diff, 1 / n_params(tiny_model))
    assert list(mask.entries) == ["model.layers.0.mlp.up_proj.weight"] and mask.entries["model.layers.0.mlp.up_proj.weight"][2, 3]
    forget, retain = tokens.where(["mul", "div"]), tokens.where(["add", "sub"])
    grads = gradient_norm_scores(tiny_model, forget, batch_size=8, max_batches=2)
    ratio = fisher_ratio_scores(tiny_model, forget, retain, batch_size=8, max_batches=2)
    assert all((v >= 0).all() for v in grads.values()) and all(torch.isfinite(v).all() for v in ratio.values())
    per_layer = component_scores_from_parameters(tiny_model, grads, "layer")
    assert set(per_layer) == {"L0", "L1"} and all(v > 0 for v in per_layer.values())
