"""The arithmetic, localization and Targeted-UNDO paper numbers restate their tables: on small
hand-made results, each macro equals the table cell it stands for, and the generated words follow
their stated rules (wording.compare, bounds, cheaper)."""

import numpy as np
import pandas as pd
import pytest

from unlearnlab.core.paths import Paths
from unlearnlab.experiments.arithmetic import report, wording
from unlearnlab.experiments.localize import report as lreport
from unlearnlab.experiments.session import Session
from unlearnlab.experiments.targeted import report as treport
from unlearnlab.profiles import get_profile

pytestmark = pytest.mark.unit

SEEDS = (0, 1, 2)


def session(tmp_path) -> Session:
    return Session(get_profile("default"), Paths.at(tmp_path))


def plain(numbers, name: str) -> str:
    return numbers.entries[name]["plain"]


def cell(text: str) -> str:
    """A table cell as the numbers' README form prints it ('86.8 $\\pm$ 3.3' -> '86.8 ± 3.3')."""
    return text.replace("$\\pm$", "±")


# ---- wording --------------------------------------------------------------------------------------

def test_spelled_names_hold_letters_only():
    assert [wording.spell(k) for k in (0, 5, 20, 42, 115)] == ["Zero", "Five", "Twenty", "FortyTwo",
                                                              "OneHundredFifteen"]
    assert wording.budget_name(0.05) == "Five" and wording.budget_name(0.2) == "Twenty"
    assert wording.budget_name(0.005) == "PointFive"


def test_compare_decides_on_the_per_model_interval():
    assert wording.compare([0.30, 0.32, 0.31]) == "higher"
    assert wording.compare([-0.30, -0.32, -0.31]) == "lower"
    assert wording.compare([0.30, -0.2, 0.1]) == "indistinguishable"
    assert wording.compare([0.5]) == "indistinguishable"  # one model: no interval, no claim


def test_bounds_are_said_in_words():
    assert wording.bound_phrase(["<=", "<=", "<="]).startswith("an upper bound")
    assert wording.bound_word(["<=", "<="]) == "at most" and wording.bound_word(["=", "<="]) == ""
    mixed = wording.bound_phrase(["=", "<=", "<="])
    assert "interpolated" in mixed and "on 1 model" in mixed and "on 2 models" in mixed
    assert wording.number_list([1e-4, 3e-4, 1e-3]) == r"$10^{-4}$, $3\times10^{-4}$ and $10^{-3}$"


# ---- pretraining ---------------------------------------------------------------------------------

def pretrained_frame() -> pd.DataFrame:
    rows = []
    for method, forget in (("base", 0.95), ("oracle", 0.01)):
        for s in SEEDS:
            rows.append({"method": method, "seed": s, "acc_add": 0.99 - 0.01 * s, "acc_sub": 0.97, "acc_mul": forget,
                         "acc_div": forget + 0.01 * s, "english_ce": 1.0, "n_params": 12345, "steps": 3000,
                         "tokens": 1, "wall_s": 1.0})
    return pd.DataFrame(rows).set_index(["method", "seed"]).sort_index()


def test_pretrain_numbers_count_models_and_restate_accuracies(tmp_path):
    pre = pretrained_frame()
    n = report.pretrain_numbers(session(tmp_path), pre)
    assert plain(n, "pretrainModels") == "6" and plain(n, "pretrainBaseModels") == "3"
    assert plain(n, "pretrainParams") == "12,345"
    assert plain(n, "pretrainForgetRange") == "1-20" and plain(n, "pretrainRetainRange") == "1-50"
    assert plain(n, "pretrainBaseAdd") == "98.0 ± 2.5%"  # 0.99, 0.98, 0.97
    assert plain(n, "pretrainBaseMinAcc") == "95.0%"
    assert n.entries["pretrainBaseAdd"]["tex"] == r"98.0 \ensuremath{\pm} 2.5\,\%"


# ---- the main table ------------------------------------------------------------------------------

def attacked_frame() -> pd.DataFrame:
    """base, oracle, three baselines, UNDO at two α (0.1 recovers, 0.6 does not) and Distill."""
    rng = np.random.default_rng(0)
    rows = []

    def add(method, s, after, retain=0.95, forget=0.0, **extra):
        rows.append({"method": method, "seed": s, "label": method, "retain_acc": retain, "forget_acc": forget,
                     "post_attack_forget_acc": after, "post_attack_val_forget_acc": after, "base_model": f"base_{s}", "steps": 100, "alpha": np.nan,
                     "budget": np.nan, "extended": False, "distill_steps": np.nan, "recovered_step": np.nan,
                     **extra})

    for s in SEEDS:
        add("base", s, 0.95 + 0.01 * s, forget=0.99)
        rows[-1]["base_model"] = f"base_{s}"
        add("oracle", s, 0.04 + 0.01 * s, forget=0.01)
        rows[-1]["base_model"] = f"oracle_{s}"
        add("GradDiff", s, 0.80 + 0.02 * s)
        add("MaxEnt", s, 0.60 + 0.02 * s)
        add("RMU", s, 0.05 + rng.uniform(-0.03, 0.03))
        for budget in ("50", "400", "recovered"):
            step = 150 if budget == "recovered" else int(budget)
            add("UNDO", s, 0.30 - 0.0002 * step, alpha=0.1, budget=budget, distill_steps=step, recovered_step=150,
                label="UNDO α=0.1")
            if budget != "recovered":
                add("UNDO", s, 0.02, retain=0.05, alpha=0.6, budget=budget, distill_steps=step, recovered_step=np.nan,
                    label="UNDO α=0.6")
                add("Distill", s, 0.01, retain=0.02, alpha=1.0, budget=budget, distill_steps=step,
                    recovered_step=np.nan, label="Distill (α=1)")
    return pd.DataFrame(rows)


def test_arith_numbers_restate_the_main_table(tmp_path):
    s = session(tmp_path)
    att = attacked_frame()
    rows = report.table_rows(att)
    table = report.write_main_table(rows, s.paths, "default").set_index("method")
    n = report.arith_numbers(s, att, rows)
    for method, part in (("base", "Base"), ("oracle", "Oracle"), ("GradDiff", "GradDiff"), ("RMU", "Rmu")):
        assert plain(n, f"arith{part}AfterAttack") == cell(table.loc[method, "forget after attack (\\%)"]) + "%"
        assert plain(n, f"arith{part}Retain") == cell(table.loc[method, "retain acc. (\\%)"]) + "%"
    assert plain(n, "arithModels") == str(table["models"].min()) == "3"
    assert plain(n, "arithGradDiffVsOracle") == "above the oracle"
    assert plain(n, "arithBestBaseline") == "RMU"
    assert plain(n, "arithUndoBestAlpha") == "0.1" and plain(n, "arithUndoBestSteps") == "150 ± 0"
    assert plain(n, "arithUndoBestAfterAttack") == cell(table.loc["UNDO α=0.1", "forget after attack (\\%)"]) + "%"
    assert plain(n, "arithUnrecoveredName") == "full distillation"  # α = 1, the most noise
    assert plain(n, "arithMaxEntRetain") in plain(n, "arithUnrecoveredNote")
    recovery = n.entries["arithUndoRecovery"]["tex"]
    assert "at $\\alpha$ = 0.1" in recovery and "not at $\\alpha$ = 0.6 (within 400 steps)" in recovery
    assert "full distillation from a random initialisation did not recover within 400 steps" in recovery
    assert "α = 0.1" in plain(n, "arithUndoRecovery")  # the README form has no LaTeX
    assert plain(n, "arithAttackItems") == str(s.profile.arithmetic.attack_train_items)
    assert plain(n, "arithDistillCap") == f"{s.profile.arithmetic.distill_cap():,}"


# ---- Targeted-UNDO -------------------------------------------------------------------------------

def frontier_frame() -> pd.DataFrame:
    """Global UNDO (two α, recovered) and Targeted-UNDO masks: fisher 5 % robust and cheap,
    random 5 % as robust as global α=0.1."""
    rows = []

    def add(family, label, s, steps, after, source=np.nan, budget=np.nan, method="TargetedUNDO", alpha=1.0):
        rows.append({"family": family, "label": label, "method": method, "seed": s, "alpha": alpha,
                     "mask_source": source, "mask_budget": budget, "recovered": steps == steps,
                     "steps_to_recover": steps, "distill_steps": steps, "distill_flops": 1.0, "retain_acc": 0.9,
                     "forget_acc": 0.0, "post_attack_forget_acc": after, "post_attack_val_forget_acc": after, "base_model": f"base_{s}", "run_steps": steps})

    for s in SEEDS:
        add("global UNDO", "UNDO α=0.1", s, 50.0, 0.60 + 0.01 * s, method="UNDO", alpha=0.1)
        add("global UNDO", "UNDO α=0.3", s, 300.0, 0.20 + 0.01 * s, method="UNDO", alpha=0.3)
        add("Targeted-UNDO", "fisher 5%", s, 50.0 + 5 * s, 0.10, "fisher", 0.05)
        add("Targeted-UNDO", "random 5%", s, 100.0, 0.40 + 0.02 * s, "random", 0.05)
        add("Targeted-UNDO", "random 20%", s, np.nan, 0.05, "random", 0.2)
    return pd.DataFrame(rows)


def test_targeted_numbers_restate_the_frontier_table(tmp_path):
    s = session(tmp_path)
    front = frontier_frame()
    result = {"best_mask": "fisher 5%", "reached_seeds": 0, "seeds": 3, "all_reached": False, "reaching": [],
              "cap": 12000, "max_steps_run": 400, "target": {}}
    ratios = treport.steps_ratio(front, result["max_steps_run"])
    table = treport.frontier_table(front, ratios).set_index("configuration")
    n = treport.targeted_numbers(s, front, ratios, result)
    fisher = table.loc["fisher 5%"]
    # fisher is more robust than every global run on every model: its ratio is an upper bound
    assert cell(fisher["steps ratio vs global"]) == plain(n, "targetedFisherFiveStepsRatio") + " (<=)"
    assert plain(n, "targetedFisherFiveRatioBoundWord") == "at most"
    assert plain(n, "targetedFisherFiveRatioBound").startswith("an upper bound")
    assert cell(fisher["steps to recover"]) == plain(n, "targetedFisherFiveSteps")
    assert cell(fisher["post-attack forget (%)"]) + "%" == plain(n, "targetedFisherFiveAfterAttack")
    assert plain(n, "targetedFisherFiveVsRandom") == "lower than"
    assert plain(n, "targetedRandomFiveStepsRatio") == cell(table.loc["random 5%", "steps ratio vs global"])
    assert plain(n, "targetedBestMask") == "fisher 5%" and n.entries["targetedBestMask"]["tex"] == r"fisher 5\%"
    assert plain(n, "targetedConfigs") == "3" and plain(n, "targetedRecoveredConfigs") == "2"
    assert plain(n, "targetedModels") == "3"
    # both ratios lie below 1 with their whole interval, neither is a lower bound anywhere
    assert plain(n, "targetedCheaper") == "fisher 5% and random 5%"
    assert plain(n, "targetedGlobalReach").startswith("reached that robustness on none of the 3 models")


def test_targeted_numbers_say_na_for_a_mask_the_grid_lacks(tmp_path):
    front = frontier_frame()
    front = front[front["mask_source"] != "fisher"]
    result = {"best_mask": None, "reached_seeds": 0, "seeds": 0, "all_reached": False, "reaching": [],
              "cap": 12000, "max_steps_run": 400, "target": {}}
    n = treport.targeted_numbers(session(tmp_path), front, treport.steps_ratio(front, 400), result)
    assert plain(n, "targetedFisherFiveStepsRatio") == "n/a" and plain(n, "targetedFisherFiveVsRandom") == "n/a"
    assert plain(n, "targetedBestMask") == "n/a"


# ---- localization --------------------------------------------------------------------------------

def test_loc_numbers_count_masks_above_every_random_draw(tmp_path):
    rows = []
    for method, sel in (("fisher", 0.5), ("attribution", 0.01)):
        for budget in (0.05, 0.2):
            rows.append({"method": method, "budget": budget, "control": False, "selectivity": sel,
                         "forget_drop": sel + 0.1, "retain_drop": 0.1, "fraction": budget,
                         "val_selectivity": sel, "val_forget_drop": sel + 0.1, "val_retain_drop": 0.1})
            for draw in (0.02, 0.05):
                rows.append({"method": method, "budget": budget, "control": True, "selectivity": draw,
                             "forget_drop": draw, "retain_drop": 0.0, "fraction": budget,
                             "val_selectivity": draw, "val_forget_drop": draw, "val_retain_drop": 0.0})
    causal = pd.DataFrame(rows)
    names = ["fisher", "attribution", "semi_nmf"]
    jac = pd.DataFrame([[1, 0.2, 0.1], [0.2, 1, 0.6], [0.1, 0.6, 1]], index=names, columns=names)
    n = lreport.loc_numbers(session(tmp_path), causal, jac, jac, 0.05, n_models=1)
    assert plain(n, "locMasks") == "4" and plain(n, "locAboveRandom") == "2"
    assert plain(n, "locAlwaysAbove") == "fisher" and plain(n, "locNeverAbove") == "attribution"
    assert plain(n, "locBestMethod") == "fisher" and plain(n, "locBestSelectivity") == "50.0"
    assert n.entries["locTopPair"]["tex"] == r"attribution and semi\_nmf" and plain(n, "locMeanJaccard") == "0.30"
    assert plain(n, "locModels") == "1" and plain(n, "locRealRho") == "n/a"
