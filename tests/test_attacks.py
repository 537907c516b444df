"""The relearning attack trains on forget data only, and restores forget accuracy."""

import pytest
import torch

from unlearnlab.attacks import relearn as attacks
from unlearnlab.attacks.relearn import RelearnConfig, relearning_attack, worst_case
from unlearnlab.data.arithmetic import FORGET_OPS


def test_attack_refuses_retain_data(tiny_model, tokens):
    cfg = RelearnConfig(lrs=(1e-3,), steps=2, eval_every=1, batch_size=4)
    with pytest.raises(ValueError, match="forget data only"):
        relearning_attack(tiny_model, tokens.where(["add", "mul"]), tokens.where(FORGET_OPS), FORGET_OPS, cfg)


def test_attack_trains_on_the_forget_examples_it_is_given(tiny_model, tokens, monkeypatch):
    seen: list[set[int]] = []
    real_sampler = type(tokens).sampler

    def spy(self, batch_size, generator, device="cpu"):
        for batch in real_sampler(self, batch_size, generator, device):
            seen.append(set(batch["input_ids"][:, 1:4].flatten().tolist()))
            yield batch

    monkeypatch.setattr(type(tokens), "sampler", spy)
    forget = tokens.where(FORGET_OPS)
    cfg = RelearnConfig(lrs=(1e-3, 1e-2), steps=3, eval_every=1, batch_size=4)
    rows = relearning_attack(tiny_model, forget, forget, FORGET_OPS, cfg)
    forget_prefix_tokens = {t for p in forget.prompts for t in p[1:4]}
    assert len(seen) == 6 and all(s <= forget_prefix_tokens for s in seen)
    assert {r["lr"] for r in rows} == {1e-3, 1e-2} and len(rows) == 2 * 4


def test_relearning_restores_forget_accuracy_and_leaves_model_untouched(tiny_model, tokens):
    forget = tokens.where(FORGET_OPS)
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    cfg = RelearnConfig(lrs=(1e-2,), steps=150, eval_every=50, batch_size=8)
    rows = relearning_attack(tiny_model, forget, forget, FORGET_OPS, cfg)
    assert rows[-1]["forget_acc"] > rows[0]["forget_acc"]
    assert worst_case(rows)["post_attack_forget_acc"] == rows[-1]["forget_acc"]
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, before[k])


def test_world_attack_set_is_forget_only(tmp_path):
    from unlearnlab.data.world import ArithmeticWorld, build_world
    from unlearnlab.profiles import get_profile

    world = ArithmeticWorld.load(build_world(get_profile("smoke"), tmp_path))
    attack = world.attack_set(32, seed=0)
    assert len(attack) == 32 and set(attack.labels) <= set(FORGET_OPS)
    attacks.check_forget_only(attack, FORGET_OPS)
