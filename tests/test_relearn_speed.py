"""The relearning attack's evaluation schedule (issue 16, speed): a sweep measures step 0 once, and
``relearning_attack`` measures validation items only at the curve's two ends. Every number a reader
takes from the rows is the one the old loop (frozen below) produced, bit for bit."""

import pytest
import torch

from unlearnlab.attacks.relearn import (RelearnConfig, forget_accuracy, lm_loss, relearn, relearn_sweep,
                                        relearning_attack, sampled_batches, worst_case)
from unlearnlab.data.arithmetic import FORGET_OPS
from unlearnlab.evals.exact_match import cross_entropy
from unlearnlab.experiments.private.evaluate import attack_summary

pytestmark = pytest.mark.integration


def _old_sweep(model, make_batches, metric, cfg):
    """``relearn_sweep`` as it was before this change (frozen copy): every learning rate measures
    its own step 0 on its own fresh copy, and ``metric`` runs at every evaluation point."""
    from unlearnlab.core.models import fresh_copy
    from unlearnlab.core.training import TrainConfig, train

    rows = []
    for lr in cfg.lrs:
        batches, attacked = make_batches(), fresh_copy(model).eval()
        curve = [{"lr": lr, "step": 0, **metric(attacked)}]

        def step_loss(fwd, step, batches=batches):
            batch = next(batches)
            return lm_loss(fwd, batch), int(batch["attention_mask"].sum())

        def on_eval(step, m, lr=lr, curve=curve):
            curve.append({"lr": lr, "step": step, **metric(m)})
            return False

        train(attacked, step_loss, TrainConfig(steps=cfg.steps, lr=lr, batch_size=cfg.batch_size, warmup_frac=0.0,
                                               schedule="constant", eval_every=cfg.eval_every), on_eval=on_eval)
        rows += curve
    return rows


def _old_attack_rows(model, attack, test, val, cfg, seed):
    """The old ``relearning_attack``: test and validation accuracy at every evaluation point."""
    both = [forget_accuracy(test), forget_accuracy(val, "val_forget_acc")]
    metric = lambda m: {k: v for each in both for k, v in each(m).items()}  # noqa: E731
    return _old_sweep(model, sampled_batches(attack, cfg.batch_size, seed), metric, cfg)


def _split(tokens):
    forget = tokens.where(FORGET_OPS)
    idx = range(len(forget))
    return (forget.subset([i for i in idx if i % 3 == 0]), forget.subset([i for i in idx if i % 3 == 1]),
            forget.subset([i for i in idx if i % 3 == 2]))


def _counting(metric):
    calls: list[int] = []

    def counted(m):
        calls.append(1)
        return metric(m)

    return counted, calls


def test_sweep_measures_step_zero_once_and_its_rows_equal_the_old_loop_bitwise(tiny_model, tokens):
    attack, held_out, _ = _split(tokens)
    # a float metric (mean NLL), so equal rows mean bitwise-equal step-0 measurements on every copy
    metric = lambda m: {"nll": cross_entropy(m, held_out), **forget_accuracy(held_out)(m)}  # noqa: E731
    cfg = RelearnConfig(lrs=(3e-3, 1e-2, 3e-2), steps=6, eval_every=3, batch_size=4)
    new_metric, new_calls = _counting(metric)
    old_metric, old_calls = _counting(metric)
    new = relearn_sweep(tiny_model, sampled_batches(attack, 4, seed=1), new_metric, cfg)
    old = _old_sweep(tiny_model, sampled_batches(attack, 4, seed=1), old_metric, cfg)
    assert new == old and len(new) == 3 * 3
    starts = [r for r in old if r["step"] == 0]
    assert all(r["nll"] == starts[0]["nll"] for r in starts)  # the old loop measured the same value thrice
    assert starts[0]["nll"] != next(r for r in old if r["step"] == 6)["nll"]  # and training moves it
    assert (len(old_calls), len(new_calls)) == (9, 7)


def test_attack_measures_validation_at_the_ends_only_and_every_read_value_is_the_old_one(tiny_model, tokens):
    attack, test, val = _split(tokens)
    cfg = RelearnConfig(lrs=(3e-3, 3e-2), steps=60, eval_every=20, batch_size=8)
    new = relearning_attack(tiny_model, attack, test, FORGET_OPS, cfg, seed=2, forget_val=val)
    old = _old_attack_rows(tiny_model, attack, test, val, cfg, seed=2)
    assert [(r["lr"], r["step"], r["forget_acc"]) for r in new] == [(r["lr"], r["step"], r["forget_acc"]) for r in old]
    for n, o in zip(new, old):
        assert n == (o if n["step"] in (0, cfg.steps) else {k: v for k, v in o.items() if k != "val_forget_acc"})
    assert sum("val_forget_acc" in r for r in new) == 2 * 2  # step 0 and step 60 of each learning rate
    assert worst_case(new, select_key="val_forget_acc") == worst_case(old, select_key="val_forget_acc")
    assert attack_summary(new) == attack_summary(old)  # the private-records reader: step 0 and the last step
    assert len({r["val_forget_acc"] for r in old}) > 1  # the validation curve moves: the comparison can fail


def test_attack_with_eval_every_zero_keeps_validation_at_its_only_step(tiny_model, tokens):
    attack, test, val = _split(tokens)
    cfg = RelearnConfig(lrs=(1e-2, 3e-2), steps=3, eval_every=0, batch_size=4)
    new = relearning_attack(tiny_model, attack, test, FORGET_OPS, cfg, seed=0, forget_val=val)
    assert new == _old_attack_rows(tiny_model, attack, test, val, cfg, seed=0)
    assert [r["step"] for r in new] == [0, 0] and all("val_forget_acc" in r for r in new)


def test_relearn_alone_keeps_its_behaviour_and_start_skips_the_step_zero_measurement(tiny_model, tokens):
    attack, held_out, _ = _split(tokens)
    cfg = RelearnConfig(lrs=(1e-2,), steps=4, eval_every=2, batch_size=4)
    metric, calls = _counting(forget_accuracy(held_out))
    rows = relearn(tiny_model, sampled_batches(attack, 4, 0)(), metric, cfg)
    assert rows == _old_sweep(tiny_model, sampled_batches(attack, 4, 0), forget_accuracy(held_out), cfg)
    assert len(calls) == 3
    given = relearn(tiny_model, sampled_batches(attack, 4, 0)(), metric, cfg, start={"forget_acc": -1.0})
    assert given[0] == {"lr": 1e-2, "step": 0, "forget_acc": -1.0} and given[1:] == rows[1:] and len(calls) == 5


def test_attack_leaves_the_model_untouched(tiny_model, tokens):
    attack, test, val = _split(tokens)
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    relearning_attack(tiny_model, attack, test, FORGET_OPS, RelearnConfig(lrs=(1e-2, 3e-2), steps=2, eval_every=1,
                                                                           batch_size=4), forget_val=val)
    assert all(torch.equal(v, before[k]) for k, v in tiny_model.state_dict().items())
