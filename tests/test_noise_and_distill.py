"""UNDO's noise formula, masked noise, and distillation bookkeeping."""

import pytest
import torch
from torch.testing import assert_close

from unlearnlab.methods import apply_undo_noise, get_method
from unlearnlab.methods.base import UnlearnData
from unlearnlab.core.models import fresh_copy

pytestmark = pytest.mark.unit


def test_noise_formula_matches_reference(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.named_parameters()}
    alpha, beta = 0.3, 0.7
    apply_undo_noise(tiny_model, alpha, beta, torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)  # same draws, in the same parameter order
    for name, p in tiny_model.named_parameters():
        if p.dim() >= 2:
            noise = torch.empty(p.shape)
            torch.nn.init.xavier_uniform_(noise, generator=gen)
            assert_close(p, (1 - alpha) * before[name] + alpha * beta * noise)
        else:
            assert_close(p, (1 - alpha) * before[name])


def test_alpha_zero_is_identity_and_alpha_range_checked(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.named_parameters()}
    apply_undo_noise(tiny_model, 0.0, 1.0, torch.Generator().manual_seed(0))
    for name, p in tiny_model.named_parameters():
        assert torch.equal(p, before[name])
    with pytest.raises(ValueError):
        apply_undo_noise(tiny_model, 1.5)


def test_masked_noise_touches_exactly_the_masked_entries(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.named_parameters()}
    name = "model.layers.0.mlp.up_proj.weight"
    mask = torch.zeros_like(before[name], dtype=torch.bool)
    mask[::3, 1::2] = True
    apply_undo_noise(tiny_model, 0.5, 1.0, torch.Generator().manual_seed(0), mask={name: mask})
    for n, p in tiny_model.named_parameters():
        if n == name:
            assert torch.equal(p[~mask], before[n][~mask])
            assert (p[mask] != before[n][mask]).all()
        else:
            assert torch.equal(p, before[n])


def test_distillation_snapshots_and_recovery(tiny_model, tokens):
    retain = tokens.where(["add", "sub"])
    data = UnlearnData(forget=tokens.where(["mul", "div"]), retain=retain,
                       generator=torch.Generator().manual_seed(0), retain_eval=retain)
    teacher = fresh_copy(tiny_model)
    undo = get_method("UNDO", alpha=0.2, steps=6, lr=1e-3, batch_size=4, eval_every=2,
                      snapshot_steps=(2, 6), stop_on_recovery=False, retain_threshold=1.0)
    result = undo.distill(teacher, data)
    assert result.log.steps == 6
    assert result.recovered_step == 2  # threshold 1.0: recovered at the first check
    assert set(result.snapshots) == {2, 6}
    assert [s for s, _ in result.retain_curve] == [2, 4, 6]
    for k, v in teacher.state_dict().items():  # the teacher is never trained
        assert torch.equal(v, tiny_model.state_dict()[k])
    with pytest.raises(ValueError):
        get_method("UNDO", steps=6, eval_every=4, snapshot_steps=(6,)).distill(teacher, data)
