"""The relearning attack trains on forget data only, restores forget accuracy, and (``relearn``) is
the one loop every study runs: the old arithmetic numbers come out of it unchanged."""

import pytest
import torch

from unlearnlab.attacks.relearn import (RelearnConfig, answer_loss, check_forget_only, relearn, relearning_attack,
                                        sampled_batches, worst_case)
from unlearnlab.data.arithmetic import FORGET_OPS

pytestmark = pytest.mark.integration


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
    from unlearnlab.data.world import ArithmeticWorld
    from unlearnlab.profiles import get_profile

    world = ArithmeticWorld.load(ArithmeticWorld.build(get_profile("smoke").arithmetic.world(), tmp_path))
    attack = world.attack_set(32, seed=0)
    assert len(attack) == 32 and set(attack.labels) <= set(FORGET_OPS)
    check_forget_only(attack, FORGET_OPS)


# --------------------------------------------------------------------------- the shared relearn API


def _reference_arithmetic_rows(model, attack_data, forget_eval, cfg, seed):
    """The arithmetic study's relearning loop as it was before ``attacks.relearn`` (frozen copy of
    the old ``relearn_curve``): the numbers every table was made with."""
    from unlearnlab.core.logprobs import logits_of, nll
    from unlearnlab.core.models import fresh_copy
    from unlearnlab.core.training import TrainConfig, train
    from unlearnlab.evals.exact_match import exact_match

    rows = []
    for lr in cfg.lrs:
        attacked = fresh_copy(model)
        gen = torch.Generator().manual_seed(seed)
        batches = attack_data.sampler(min(cfg.batch_size, len(attack_data)), gen, "cpu")
        rows.append({"lr": lr, "step": 0, "forget_acc": float(exact_match(attacked, forget_eval).float().mean())})

        def step_loss(fwd, step, batches=batches):
            batch = next(batches)
            return nll(logits_of(fwd, batch), batch), int(batch["attention_mask"].sum())

        def on_eval(step, m, lr=lr):
            rows.append({"lr": lr, "step": step, "forget_acc": float(exact_match(m, forget_eval).float().mean())})
            return False

        train(attacked, step_loss, TrainConfig(steps=cfg.steps, lr=lr, batch_size=cfg.batch_size, warmup_frac=0.0,
                                               schedule="constant", eval_every=cfg.eval_every),
              on_eval=on_eval)
    return rows


def test_relearning_attack_reproduces_the_old_arithmetic_rows_exactly(tiny_model, tokens):
    forget = tokens.where(FORGET_OPS)
    attack, held_out = forget.subset(range(0, len(forget), 2)), forget.subset(range(1, len(forget), 2))
    cfg = RelearnConfig(lrs=(3e-3, 3e-2), steps=12, eval_every=4, batch_size=4)
    assert relearning_attack(tiny_model, attack, held_out, FORGET_OPS, cfg, seed=3) == \
        _reference_arithmetic_rows(tiny_model, attack, held_out, cfg, seed=3)


def test_relearn_trains_only_the_selected_parameters_with_a_custom_loss_and_metric(tiny_model, tokens):
    forget = tokens.where(FORGET_OPS)
    trained: list[dict] = []

    def metric(m):
        trained.append({n: p.detach().clone() for n, p in m.named_parameters()})
        return {"forget_acc": 0.5, "logprob": -1.0}

    cfg = RelearnConfig(lrs=(1e-2,), steps=3, eval_every=2, batch_size=4)
    rows = relearn(tiny_model, sampled_batches(forget, 4, 0)(), metric, cfg, loss=answer_loss,
                   params=lambda m: m.model.layers[0].mlp.parameters())
    assert [r["step"] for r in rows] == [0, 2, 3] and rows[0] == {"lr": 1e-2, "step": 0, "forget_acc": 0.5,
                                                                  "logprob": -1.0}
    changed = {n for n in trained[0] if not torch.equal(trained[0][n], trained[-1][n])}
    assert changed and all(n.startswith("model.layers.0.mlp.") for n in changed)


def test_relearn_needs_one_learning_rate_and_worst_case_reads_either_direction(tiny_model, tokens):
    with pytest.raises(ValueError, match="one learning rate"):
        relearn(tiny_model, iter([]), lambda m: {}, RelearnConfig(lrs=(1e-3, 1e-2)))
    rows = [{"lr": 1.0, "step": 0, "logprob": -9.0}, {"lr": 1.0, "step": 5, "logprob": -3.0},
            {"lr": 2.0, "step": 5, "logprob": -1.0}]
    assert worst_case(rows, "logprob") == {"worst_lr": 2.0, "post_attack_logprob": -1.0}
    assert worst_case(rows, "logprob", higher_is_worse=False) == {"worst_lr": 1.0, "post_attack_logprob": -3.0}


def test_worst_case_picks_the_learning_rate_on_validation_and_reports_test():
    """Validation says lr 1 is the attacker's best; the test number reported is lr 1's, although
    lr 2 has the higher test accuracy (reading test to choose would report 0.9)."""
    rows = [{"lr": 1.0, "step": 5, "forget_acc": 0.4, "val_forget_acc": 0.8},
            {"lr": 2.0, "step": 5, "forget_acc": 0.9, "val_forget_acc": 0.3}]
    assert worst_case(rows, select_key="val_forget_acc") == {
        "worst_lr": 1.0, "post_attack_forget_acc": 0.4, "post_attack_val_forget_acc": 0.8}
