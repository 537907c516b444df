"""Independent base/oracle pairs and the extended global UNDO: the selection and decision logic
on hand-made result frames (no training)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from unlearnlab.core.training import TrainConfig, lr_at
from unlearnlab.experiments.arithmetic.config import ArithmeticConfig
from unlearnlab.experiments.arithmetic.report import with_model_counts
from unlearnlab.experiments.arithmetic.run import global_runs, warmup_fraction
from unlearnlab.experiments.arithmetic.selection import reported_global, select_lr
from unlearnlab.experiments.targeted import global_undo
from unlearnlab.experiments.targeted.report import steps_ratio

pytestmark = pytest.mark.unit


def test_cap_is_the_pretraining_compute_in_distillation_steps():
    cfg = ArithmeticConfig(pretrain_steps=1500, pretrain_batch_size=128, batch_size=32, extend_eval_every=50,
                           extend_budgets=(800, 1600, 9000))
    assert cfg.distill_cap() == 6000  # 1500 x 128 sequences at 32 per step
    assert cfg.extend_snapshots() == (800, 1600, 6000)  # budgets beyond the cap are dropped
    assert all(b % cfg.extend_eval_every == 0 for b in cfg.extend_snapshots())


@pytest.mark.parametrize("steps", [10, 400, 999, 6000, 12000])
def test_fixed_warmup_makes_a_long_run_start_like_a_short_one(steps):
    short = TrainConfig(steps=400, lr=1e-3, schedule="constant", warmup_frac=warmup_fraction(8, 400))
    long = TrainConfig(steps=steps, lr=1e-3, schedule="constant", warmup_frac=warmup_fraction(8, steps))
    assert [lr_at(s, long) for s in range(min(steps, 400))] == [lr_at(s, short) for s in range(min(steps, 400))]


def test_alpha_one_is_full_distillation():
    assert global_runs((0.6, 1.0)) == [("UNDO α=0.6", "UNDO", 0.6), ("Distill (α=1)", "Distill", 1.0)]


def _row(label, seed, budget, post, rec_step, extended=False, method="UNDO", alpha=0.6):
    return {"label": label, "method": method, "alpha": alpha, "seed": seed, "budget": budget, "extended": extended,
            "post_attack_forget_acc": post, "post_attack_val_forget_acc": post, "recovered_step": rec_step,
            "retain_acc": 0.9,
            "distill_steps": int(budget) if budget != "recovered" else rec_step, "base_model": f"base_{seed}"}


def test_reported_global_prefers_the_extended_run():
    g = pd.DataFrame([_row("UNDO α=0.6", s, "400", 0.03, None) for s in (0, 1)]
                     + [_row("UNDO α=0.6", s, b, 0.05, 1200.0, True) for s in (0, 1) for b in ("800", "recovered")])
    rows, note = reported_global(g)
    assert note == "" and set(rows["budget"]) == {"recovered"} and rows["extended"].all()
    rows, note = reported_global(g[~g["extended"]])
    assert note == "not recovered in 400 steps, not extended" and set(rows["budget"]) == {"400"}


def _targeted(label, source, budget, posts, recovered=True, test_posts=None):
    """Targeted-UNDO rows: ``posts`` on validation items (what decisions read), ``test_posts`` on
    test items (default: the same)."""
    tests = test_posts or posts
    return [{"label": label, "mask_source": source, "mask_budget": budget, "seed": s, "post_attack_val_forget_acc": p,
             "post_attack_forget_acc": t, "recovered": recovered, "steps_to_recover": 50.0 if recovered else math.nan}
            for s, (p, t) in enumerate(zip(posts, tests))]


def test_target_is_the_lower_of_best_and_fisher_per_seed():
    t = pd.DataFrame(_targeted("fisher 5%", "fisher", 0.05, [0.08, 0.06])
                     + _targeted("semi 20%", "semi_nmf", 0.2, [0.05, 0.07])
                     + _targeted("random 20%", "random", 0.2, [0.01, 0.01], recovered=False))
    assert global_undo.best_mask(t) == "semi 20%"  # unrecovered masks never count as best
    assert global_undo.targets(t).to_dict() == {0: 0.05, 1: 0.06}


def test_best_mask_and_targets_read_validation_items():
    t = pd.DataFrame(_targeted("fisher 5%", "fisher", 0.05, [0.08, 0.06], test_posts=[0.0, 0.0])
                     + _targeted("semi 20%", "semi_nmf", 0.2, [0.05, 0.07], test_posts=[0.5, 0.5]))
    assert global_undo.best_mask(t) == "semi 20%"  # the test columns would pick fisher
    assert global_undo.targets(t).to_dict() == {0: 0.05, 1: 0.06}


def test_reached_needs_a_recovered_global_run_on_each_seed():
    points = pd.DataFrame([{"seed": 0, "recovered": True, "post_attack_val_forget_acc": 0.04},
                           {"seed": 1, "recovered": False, "post_attack_val_forget_acc": 0.01},
                           {"seed": 1, "recovered": True, "post_attack_val_forget_acc": 0.2}])
    done = global_undo.reached(points, pd.Series({0: 0.05, 1: 0.06}))
    assert done.to_dict() == {0: True, 1: False}


def test_global_points_take_recovery_of_the_extended_run():
    att = pd.DataFrame([_row("UNDO α=0.6", 0, "400", 0.02, None), _row("UNDO α=0.6", 0, "800", 0.04, 1000.0, True),
                        _row("UNDO α=0.6", 0, "recovered", 0.05, 1000.0, True),
                        _row("UNDO α=0.3", 0, "recovered", 0.3, 275.0, alpha=0.3),
                        _row("UNDO α=0.3", 0, "400", 0.25, 275.0, alpha=0.3)])
    pts = global_undo.global_points(att).set_index("label")
    assert pts.loc["UNDO α=0.6", "steps_to_recover"] == 1000.0 and pts.loc["UNDO α=0.6", "recovered"]
    assert pts.loc["UNDO α=0.3", "post_attack_forget_acc"] == 0.3


def test_ratio_is_measured_once_global_undo_brackets_the_target():
    front = pd.DataFrame([
        {"family": "global UNDO", "label": "UNDO α=0.3", "seed": 0, "recovered": True, "steps_to_recover": 275.0,
         "post_attack_forget_acc": 0.30},
        {"family": "global UNDO", "label": "UNDO α=0.6", "seed": 0, "recovered": True, "steps_to_recover": 1275.0,
         "post_attack_forget_acc": 0.05},
        {"family": "Targeted-UNDO", "label": "fisher 5%", "seed": 0, "recovered": True, "steps_to_recover": 50.0,
         "post_attack_forget_acc": 0.08}])
    r = steps_ratio(front, 6000).iloc[0]
    assert r["bound"] == "=" and r["ratio"] == pytest.approx(50.0 / (1275.0 - 1000.0 * 0.03 / 0.25))


def test_tables_count_independent_models_not_rows():
    rows = pd.DataFrame({"label": ["base", "base", "base", "MaxEnt", "MaxEnt"],
                         "base_model": ["b0", "b1", "b2", "b0", "b0"]})
    table = pd.DataFrame({"label": ["base", "MaxEnt"], "seeds": [3, 2]})
    out = with_model_counts(table, rows)
    assert "seeds" not in out and out["models"].tolist() == [3, 1]


class _Session:
    """Just enough of a Session for ``global_undo.extend``: a profile with the ladder."""

    def __init__(self, alphas):
        self.profile = type("P", (), {"arithmetic": ArithmeticConfig(seeds=(0, 1), extend_alphas=alphas)})()


def _ladder(monkeypatch, outcomes: dict[float, list[tuple[float | None, float]]], alphas=(0.6, 0.8, 1.0)):
    """Run ``extend`` with fake runs: ``outcomes[α]`` = per seed (recovered step or None, post-attack forget)."""
    rows = [_row("UNDO α=0.3", s, "recovered", 0.3, 275.0, alpha=0.3) for s in (0, 1)]
    ran = []

    def run_undo(session, world, base_dirs, teacher, alphas, extended):
        (a,) = alphas
        ran.append(a)
        label = "Distill (α=1)" if a >= 1 else f"UNDO α={a:g}"
        for seed, (step, post) in enumerate(outcomes[a]):
            rows.append(_row(label, seed, "recovered" if step else "1000", post, step, True, alpha=a))
        return [{"seed": s, "recovered_step": step, "steps": step or 1000, "wall_s": 1.0}
                for s, (step, _) in enumerate(outcomes[a])]

    monkeypatch.setattr(global_undo.arith, "run_undo", run_undo)
    monkeypatch.setattr(global_undo, "_attack_extended", lambda session, world: None)
    monkeypatch.setattr(global_undo.selection, "attacked", lambda session: pd.DataFrame(rows))
    front = pd.DataFrame(_targeted("fisher 5%", "fisher", 0.05, [0.08, 0.06])).assign(family="Targeted-UNDO")
    log = global_undo.extend(_Session(alphas), None, {}, front)
    return ran, log


def test_ladder_stops_once_every_seed_is_reached(monkeypatch):
    ran, _ = _ladder(monkeypatch, {0.6: [(1000.0, 0.2), (900.0, 0.04)], 0.8: [(2000.0, 0.05), (1500.0, 0.03)],
                                   1.0: [(None, 0.0), (None, 0.0)]})
    assert ran == [0.6, 0.8]  # 0.6 reached seed 1 only; 0.8 reached both; full distillation not needed


def test_ladder_stops_when_an_alpha_recovers_nowhere(monkeypatch):
    ran, log = _ladder(monkeypatch, {0.6: [(None, 0.01), (None, 0.01)], 0.8: [], 1.0: []})
    assert ran == [0.6] and log[0]["recovered_seeds"] == []


def test_baseline_learning_rate_is_chosen_on_validation_items_only():
    """The rate with the lowest validation forget accuracy among those keeping validation retain
    accuracy is chosen, whatever the test columns say (they favour the other rate)."""
    rows = [(1e-4, 0.2, 0.95, 0.6), (1e-3, 0.5, 0.95, 0.0), (1e-2, 0.0, 0.40, 0.0)]
    runs = pd.DataFrame([{"method": "GradDiff", "lr": lr, "val_forget_acc": vf, "val_retain_acc": vr,
                          "forget_acc": tf, "retain_acc": 0.95} for lr, vf, vr, tf in rows])
    assert select_lr(runs, "GradDiff", base_retain=1.0) == 1e-4
