"""The SAE study over independently pretrained models: every seed's runs scored against its own
model and its own suite (``experiments.sae.per_model``), and one pretrained model per seed."""

import pandas as pd
import pytest
import torch

from unlearnlab.evals import unlearning_score as us
from unlearnlab.experiments.sae import per_model

pytestmark = pytest.mark.unit


def _acc(hits):
    return [h.count("1") / len(h) if h else float("nan") for h in hits]


def sweep(forget_hits, side_hits, seed, variant="RMU", val_forget=None, val_side=None):
    """Baseline-like run rows of one seed from per-question hit strings: test hits, and validation
    hits (default: the same as test)."""
    val_forget, val_side = val_forget or forget_hits, val_side or side_hits
    return pd.DataFrame({"method": variant, "seed": seed, "forget_hits": forget_hits, "side_hits": side_hits,
                         "forget_acc": _acc(forget_hits), "side_acc": _acc(side_hits),
                         "val_forget_hits": val_forget, "val_side_hits": val_side,
                         "val_forget_acc": _acc(val_forget), "val_side_acc": _acc(val_side)})


def evals(**side_hits):
    """The unmodified models' evaluations (validation side-effect hits the same as test)."""
    return {int(k[1:]): {"side_acc": h.count("1") / len(h), "side_hits": h,
                         "val_side_acc": h.count("1") / len(h), "val_side_hits": h} for k, h in side_hits.items()}


def test_pooled_bootstrap_resamples_the_test_questions_of_the_configuration_chosen_on_validation():
    base = "1" * 20
    run = sweep(["1" * 10 + "0" * 10, "1" * 20], [base, "0" * 20], seed=0)  # 2nd config loses every side question
    low, high = per_model.pooled_bootstrap({0: run}, evals(s0=base))
    assert 0.2 < low < 0.5 < high < 0.8
    # validation prefers the configuration that forgets nothing on test: the interval is then [0, 0]
    run = sweep(["1" * 10 + "0" * 10, "1" * 20], [base, base], seed=0, val_forget=["11", "00"], val_side=[base, base])
    assert per_model.pooled_bootstrap({0: run}, evals(s0=base)) == (0.0, 0.0)


def test_each_model_is_scored_against_its_own_unmodified_model():
    runs = us.runs_frame(pd.DataFrame(), pd.concat([sweep(["0" * 4], ["1" * 9 + "0"], 0),
                                                    sweep(["0" * 4], ["1" * 9 + "0"], 1)]))
    base = evals(s0="1" * 10, s1="1" * 9 + "0")  # model 1 itself gets one side question wrong
    scores = per_model.score_rows(runs, base).set_index("seed")["score"]
    assert scores[0] == 0.0 and scores[1] == 1.0  # 0.9 < 0.99 × 1.0, but ≥ 0.99 × 0.9
    matched = per_model.matched_table(runs, base).iloc[0]
    assert matched[f"{us.forget_col(0.99)}_mean"] == pytest.approx(0.5)


def test_evidence_counts_questions_per_model_on_its_own_suite():
    """A small suite (4 questions, 2 forgotten) and a large one (40, none forgotten): a pooled
    'score × mean suite size' would call it 5.5 questions per seed; per model it is 1."""
    small, large = sweep(["0011"], ["1" * 10], 0), sweep(["1" * 40], ["1" * 10], 1)
    runs = us.runs_frame(pd.DataFrame(), pd.concat([small, large]))
    base = evals(s0="1" * 10, s1="1" * 10)
    keys = {0: ["a", "b", "c", "d"], 1: [f"q{i}" for i in range(40)]}
    stats = per_model.question_stats(runs, base, keys).iloc[0]
    assert stats["forgotten_per_model"] == pytest.approx(1.0) and stats["n_forgotten"] == 2
    assert stats["questions_per_model"] == 22
    table = per_model.mark_evidence(us.score_table(per_model.score_rows(runs, base), pd.DataFrame([stats])))
    row = table.iloc[0]
    assert row["score_mean"] * stats["questions_per_model"] > 2  # what a shared-suite rule would read
    assert not row["significant"]
    assert not per_model.is_evidence(2, 1.0, 0.1, 2, 0.25, 0.1)
    assert per_model.is_evidence(4, 2.0, 0.1, 2, 0.5, 0.1) and not per_model.is_evidence(4, 2.0, 0.0, 2, 0.5, 0.1)


def test_distinct_questions_are_question_identities_across_models():
    """Two models forget question 'x', stored at different positions of their suites: one question."""
    runs = us.runs_frame(pd.DataFrame(), pd.concat([sweep(["011"], ["1" * 5], 0), sweep(["1101"], ["1" * 5], 1)]))
    base = evals(s0="1" * 5, s1="1" * 5)
    stats = per_model.question_stats(runs, base, {0: ["x", "y", "z"], 1: ["u", "v", "x", "w"]}).iloc[0]
    assert stats["n_forgotten"] == 1 and stats["forgotten_per_model"] == pytest.approx(1.0)


def test_a_model_without_forget_questions_leaves_the_mean():
    runs = us.runs_frame(pd.DataFrame(), pd.concat([sweep(["01"], ["11"], 0), sweep([""], ["11"], 1)]))
    base = evals(s0="11", s1="11")
    stats = per_model.question_stats(runs, base, {0: ["a", "b"], 1: []}).iloc[0]
    assert stats["forgotten_per_model"] == pytest.approx(1.0)
    low, high = per_model.pooled_bootstrap({s: g for s, g in runs.groupby("seed")}, base)
    assert 0.0 <= low <= 0.5 <= high <= 1.0


@pytest.mark.integration
def test_every_seed_pretrains_its_own_model_and_its_jobs_start_from_it(tmp_path):
    from unlearnlab.core.artifacts import read_json
    from unlearnlab.core.models import load_model
    from unlearnlab.core.parallel import SerialPool
    from unlearnlab.core.paths import Paths
    from unlearnlab.experiments.sae import run as xs
    from unlearnlab.experiments.sae.synthetic import build_world
    from unlearnlab.experiments.session import Session
    from unlearnlab.profiles import get_profile

    profile = get_profile("smoke", {"sae.seeds": (0, 1), "sae.kinds": ("relu-untrained",),
                                    "sae.methods": ("GradDiff",), "sae.pretrain_steps": 4})
    session = Session(profile, Paths.at(tmp_path).ensure())
    world = xs._world(str(build_world(session)))
    base_dirs, sae_dirs, baseline_dirs = xs._train(session, world, SerialPool())
    assert sorted(base_dirs) == [0, 1] and base_dirs[0] != base_dirs[1]
    a, b = (load_model(base_dirs[s], "cpu").state_dict() for s in (0, 1))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # different init and data order
    assert read_json(base_dirs[1] / "config.json")  # a saved model
    for (kind, seed), directory in sae_dirs.items():
        assert read_json(directory / "config.json")["base"] == base_dirs[seed].name
    for (method, lr, seed), directory in baseline_dirs.items():  # a few steps away from its own model
        tuned = load_model(directory, "cpu").state_dict()
        own, other = (load_model(base_dirs[s], "cpu").state_dict() for s in (seed, 1 - seed))
        distance = lambda ref: sum(float((tuned[k] - ref[k]).norm()) for k in tuned)  # noqa: E731
        assert distance(own) < distance(other)


def test_score_and_matched_levels_choose_on_validation_and_report_test():
    """Validation says configuration B forgets most (and keeps side effects); test says A. The
    score reports B's test forget accuracy; reading test to choose would report A's."""
    a_test, b_test = "0000", "1110"  # test forget hits: A forgets all four, B one
    runs = us.runs_frame(pd.DataFrame(), sweep([a_test, b_test], ["1" * 10, "1" * 10], 0,
                                               val_forget=["1111", "0000"], val_side=["1" * 10, "1" * 10]))
    row = per_model.score_rows(runs, evals(s0="1" * 10)).iloc[0]
    assert row["score"] == pytest.approx(0.25) and row["forget_acc"] == pytest.approx(0.75)
    assert row[f"val_{us.forget_col(0.99)}"] == 0.0
    matched = per_model.matched_table(runs, evals(s0="1" * 10)).iloc[0]
    assert matched[f"{us.forget_col(0.9)}_mean"] == pytest.approx(0.75)
    stats = per_model.question_stats(runs, evals(s0="1" * 10), {0: ["a", "b", "c", "d"]}).iloc[0]
    assert stats["n_forgotten"] == 1 and stats["forgotten_per_model"] == pytest.approx(1.0)  # B's one, not A's four


def test_side_effects_qualify_a_configuration_on_validation_only():
    """A keeps every validation side question but loses test ones; B the reverse: A qualifies."""
    runs = us.runs_frame(pd.DataFrame(), sweep(["0000", "0011"], ["0" * 10, "1" * 10], 0,
                                               val_forget=["0011", "0000"], val_side=["1" * 10, "0" * 10]))
    assert per_model.score_rows(runs, evals(s0="1" * 10)).iloc[0]["score"] == 1.0
    assert per_model.choose(runs, 1.0)["val_side_acc"] == 1.0


def test_the_split_rule_is_fixed_disjoint_and_keeps_attack_entities_out_of_validation():
    from unlearnlab.experiments.sae import validation

    forget = [{"domain": "hazard", "entity": f"e{i}", "relation": "host", "split": "attack" if i < 2 else "eval"}
              for i in range(12)]
    side = [{"domain": "towns", "entity": f"t{i}", "relation": "river", "split": "eval"} for i in range(9)]
    parts = validation.parts(forget, side)
    assert parts == validation.parts(list(reversed(forget)), side)  # order of the rows does not matter
    assert all(parts[f"hazard/e{i}/host"] == "test" for i in range(2))  # the attacker's entities
    held = [parts[f"hazard/e{i}/host"] for i in range(2, 12)]
    assert held.count("val") == held.count("test") == 5
    assert [parts[f"towns/t{i}/river"] for i in range(9)].count("val") == 4
    row = {"forget_hits": "".join("1" if i % 2 else "0" for i in range(12)), "side_hits": "1" * 9, "acc_towns": 1.0}
    where = ([parts[f"hazard/e{i}/host"] for i in range(12)], [parts[f"towns/t{i}/river"] for i in range(9)])
    out = validation.split_eval(row, *where)
    assert len(out["forget_hits"]) == 7 and len(out["val_forget_hits"]) == 5 and "acc_towns" not in out
    assert out["val_side_acc"] == 1.0 and len(out["val_side_hits"]) == 4
    with pytest.raises(ValueError, match="hits"):
        validation.split_eval({"forget_hits": "1", "side_hits": "1"}, *where)


def test_attack_stopping_point_is_chosen_on_validation():
    from unlearnlab.experiments.sae.attack import attack_summary

    curve = [{"lr": 1e-3, "step": 0, "forget_acc": 0.2, "val_forget_acc": 0.2},
             {"lr": 1e-3, "step": 10, "forget_acc": 0.9, "val_forget_acc": 0.3},
             {"lr": 1e-3, "step": 20, "forget_acc": 0.4, "val_forget_acc": 0.8}]
    base = [{**r, "forget_acc": 1.0, "val_forget_acc": 1.0} for r in curve]
    attacks = pd.DataFrame([{"label": "RMU", "variant": "RMU", "seed": 0, "curve": curve, "before": 0.2,
                             "post_attack_forget_acc": 0.4},
                            {"label": "base", "variant": "base", "seed": 0, "curve": base, "before": 1.0,
                             "post_attack_forget_acc": 1.0}])
    row = attack_summary(attacks).set_index("label").loc["RMU"]
    assert row["best_step"] == 20 and row["recovered"] == 0.4  # test says step 10 (0.9)
