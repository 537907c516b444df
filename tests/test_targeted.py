"""Targeted-UNDO, the localization registry, causal ablation and the frontier arithmetic."""

import math

import pandas as pd
import pytest
import torch

from unlearnlab.experiments.targeted.report import global_steps_at, steps_ratio
from unlearnlab.localization import LOCALIZERS, LocalizationData, ablate, causal_validation, localize, random_mask
from unlearnlab.localization.components import component_grid
from unlearnlab.methods import get_method
from unlearnlab.methods.base import UnlearnData
from unlearnlab.core.models import fresh_copy

pytestmark = pytest.mark.unit


def _mask(model, budget=0.1, seed=0):
    return random_mask(model, budget, "parameter", torch.Generator().manual_seed(seed))


def test_targeted_undo_noises_exactly_the_mask(tiny_model, tmp_path):
    mask = _mask(tiny_model)
    mask.save(tmp_path / "m")
    student = get_method("TargetedUNDO", mask_path=str(tmp_path / "m"), alpha=1.0).init_student(tiny_model)
    for name, p in student.named_parameters():
        before = dict(tiny_model.named_parameters())[name]
        inside = mask.entries.get(name, torch.zeros_like(p, dtype=torch.bool))
        assert torch.equal(p[~inside], before[~inside])
        assert (p[inside] != before[inside]).all()


def test_train_only_masked_leaves_the_rest_unchanged(tiny_model, tokens, tmp_path):
    mask = _mask(tiny_model, 0.2)
    mask.save(tmp_path / "m")
    data = UnlearnData(forget=tokens.where(["mul"]), retain=tokens.where(["add"]),
                       generator=torch.Generator().manual_seed(0), retain_eval=tokens.where(["add"]))
    teacher = fresh_copy(tiny_model)
    result = get_method("TargetedUNDO", mask_path=str(tmp_path / "m"), alpha=0.5, train_only_masked=True, steps=4,
                        lr=1e-2, batch_size=4, eval_every=2, stop_on_recovery=False).distill(teacher, data)
    noised = get_method("TargetedUNDO", mask_path=str(tmp_path / "m"), alpha=0.5).init_student(teacher)
    moved = 0
    for name, p in result.student.named_parameters():
        inside = mask.entries.get(name, torch.zeros_like(p, dtype=torch.bool))
        assert torch.equal(p[~inside], dict(teacher.named_parameters())[name][~inside])
        moved += int((p[inside] != dict(noised.named_parameters())[name][inside]).sum())
        assert p.requires_grad  # hooks and freezing released after training
    assert moved > 0


def test_targeted_undo_requires_a_mask():
    with pytest.raises(ValueError, match="mask_path"):
        get_method("TargetedUNDO")


def test_every_localizer_scores_the_tiny_model_and_masks_respect_budget(tiny_model, tokens, tokenizer):
    from unlearnlab.experiments.localize.run import CORRUPT_OP  # noqa: F401  (module imports cleanly)

    clean = tokens.where(["mul"]).batch(range(4))
    corrupt = dict(clean)
    data = LocalizationData(tiny_model, tokens.where(["mul"]), tokens.where(["add"]), tokenizer, clean=clean,
                            corrupt=corrupt, reference=fresh_copy(tiny_model), batch_size=8, max_batches=2)
    total = sum(p.numel() for p in tiny_model.parameters())
    for name in LOCALIZERS:
        loc = localize(name, data)
        assert loc.scores, name
        mask = loc.mask(tiny_model, 0.1)
        assert mask.n_selected <= round(0.1 * total)
        if loc.granularity == "parameter":
            assert mask.n_selected == round(0.1 * total)


def test_ablate_zeroes_exactly_the_mask_and_keeps_the_original(tiny_model):
    mask = _mask(tiny_model, 0.3)
    before = {k: v.clone() for k, v in tiny_model.named_parameters()}
    out = ablate(tiny_model, mask)
    for name, p in out.named_parameters():
        inside = mask.entries.get(name, torch.zeros_like(p, dtype=torch.bool))
        assert (p[inside] == 0).all() and torch.equal(p[~inside], before[name][~inside])
        assert torch.equal(dict(tiny_model.named_parameters())[name], before[name])


def test_causal_validation_compares_with_random_draws(tiny_model):
    calls = []

    def evaluate(model):
        calls.append(1)
        w = model.model.layers[0].mlp.up_proj.weight
        return float(w.detach().abs().mean()), 1.0  # "forget" lives in one matrix, retain is untouched

    name = "model.layers.0.mlp.up_proj.weight"
    target = torch.zeros_like(dict(tiny_model.named_parameters())[name], dtype=torch.bool)
    target[:, :] = True
    from unlearnlab.localization.mask import Mask

    rows = causal_validation(tiny_model, {"up": Mask({name: target})}, evaluate, n_random=3)
    assert len(rows) == 4 and len(calls) == 5
    real, controls = rows[0], rows[1:]
    assert real["retain_drop"] == 0 and real["forget_drop"] > max(c["forget_drop"] for c in controls)


def test_component_grid_places_scores():
    grid = component_grid({"L1.H0": 2.0, "L0.N3": 5.0, "L0.H1": 1.0}, "H", 2, 2)
    assert grid[1, 0] == 2.0 and grid[0, 1] == 1.0 and math.isnan(grid[0, 0])


def test_global_steps_interpolation_and_bounds():
    curve = pd.DataFrame({"steps_to_recover": [100.0, 300.0, float("nan")], "post_attack_forget_acc": [0.6, 0.2, 0.05]})
    assert global_steps_at(0.4, curve, 400) == (200.0, "=")
    assert global_steps_at(0.1, curve, 400) == (400.0, ">=")  # global never got this robust
    assert global_steps_at(0.9, curve, 400) == (100.0, "<=")


def test_steps_ratio_per_seed():
    front = pd.DataFrame([
        {"family": "global UNDO", "label": "UNDO α=0.1", "seed": 0, "recovered": True, "steps_to_recover": 100.0,
         "post_attack_forget_acc": 0.6},
        {"family": "global UNDO", "label": "UNDO α=0.3", "seed": 0, "recovered": True, "steps_to_recover": 300.0,
         "post_attack_forget_acc": 0.2},
        {"family": "Targeted-UNDO", "label": "t", "seed": 0, "recovered": True, "steps_to_recover": 50.0,
         "post_attack_forget_acc": 0.4},
        {"family": "Targeted-UNDO", "label": "u", "seed": 0, "recovered": False, "steps_to_recover": float("nan"),
         "post_attack_forget_acc": 0.1}])
    r = steps_ratio(front, 400).set_index("label")
    assert r.loc["t", "ratio"] == pytest.approx(0.25) and r.loc["t", "bound"] == "="
    assert math.isnan(r.loc["u", "ratio"]) and r.loc["u", "bound"] == "not recovered"
