"""The methods registry's contract, for every registered method (see ``methods/base.py``): two
steps on a tiny model change only the declared trainable parameters, change at least one of
them, and two runs with one seed are bitwise equal."""

from __future__ import annotations

import pytest
import torch

from unlearnlab.core.models import build_llama
from unlearnlab.data.arithmetic import FORGET_OPS, RETAIN_OPS
from unlearnlab.localization.mask import Mask
from unlearnlab.methods import METHODS, ContractCase, TinySetup, available, get_method

from conftest import TINY

pytestmark = pytest.mark.unit


def _case(name: str, tokenizer, tokens, directory) -> ContractCase:
    torch.manual_seed(0)
    retain = tokens.where(RETAIN_OPS)
    tiny = TinySetup(build_llama(TINY, len(tokenizer), tokenizer, seed=0), tokenizer, tokens.where(FORGET_OPS),
                     retain, retain.subset(range(min(16, len(retain)))), directory)
    return METHODS[name].example(tiny)


def _run(case: ContractCase) -> tuple[set[str], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    declared = case.method.trainable_names(case.model)
    before = {n: p.detach().clone() for n, p in case.model.named_parameters()}
    case.method.run(case.model, case.data)
    after = {n: p.detach().clone() for n, p in case.model.named_parameters()}
    return declared, before, after


@pytest.mark.parametrize("name", available())
def test_two_steps_change_only_declared_parameters_and_repeat_bitwise(name, tokenizer, tokens, tmp_path):
    declared, before, after = _run(_case(name, tokenizer, tokens, tmp_path / "a"))
    assert set(after) == set(before), f"{name}.run renamed or added parameters"
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed, f"{name} changed no parameter in two steps"
    assert changed <= declared, f"{name} changed undeclared parameters {sorted(changed - declared)}"
    _, _, again = _run(_case(name, tokenizer, tokens, tmp_path / "b"))
    for n in after:
        assert torch.equal(after[n], again[n]), f"{name}: two runs with one seed differ in {n}"


def test_every_method_is_available_and_has_a_default_example_or_an_override():
    assert {"GradAscent", "GradDiff", "NPO", "SimNPO", "MaxEnt", "RMU", "Distill", "UNDO",
            "TargetedUNDO"} <= set(available())


def test_rmu_declares_only_its_mlps(tokenizer):
    model = build_llama(TINY, len(tokenizer), tokenizer, seed=0)
    names = get_method("RMU", layer=1, n_trained_layers=1).trainable_names(model)
    assert names and all(n.startswith("model.layers.1.mlp.") for n in names)
    assert get_method("GradDiff").trainable_names(model) == {n for n, _ in model.named_parameters()}


def test_trainable_names_leave_the_model_alone(tokenizer, tmp_path):
    model = build_llama(TINY, len(tokenizer), tokenizer, seed=0)
    params = dict(model.named_parameters())
    Mask({"model.layers.0.mlp.up_proj.weight": torch.ones_like(params["model.layers.0.mlp.up_proj.weight"],
                                                                dtype=torch.bool)}).save(tmp_path / "m")
    method = get_method("TargetedUNDO", mask_path=str(tmp_path / "m"), train_only_masked=True)
    assert method.trainable_names(model) == {"model.layers.0.mlp.up_proj.weight"}
    assert all(p.requires_grad for p in model.parameters())  # the freezing happened on a copy
