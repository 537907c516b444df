"""Quantization, probe and in-context attacks in the arithmetic study (issue 19, items 4-5): the
probe's layer is chosen on validation items even where test items would choose another, folds keep a
fact's forms together, the attacks run on a model and are read back from the store without reloading
it, and the companion table, figure data and paper numbers restate the same cells."""

import math
from collections import defaultdict

import matplotlib
import pandas as pd
import pytest
import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.paths import Paths
from unlearnlab.data.arithmetic import FORGET_OPS
from unlearnlab.experiments.arithmetic import attacks_report, extra_attacks
from unlearnlab.experiments.session import Session
from unlearnlab.plots.arithmetic import probe_by_layer
from unlearnlab.profiles import get_profile
from unlearnlab.reporting.numbers import Numbers

matplotlib.use("Agg")
pytestmark = pytest.mark.unit

SEEDS = (0, 1, 2)


class _Split:
    def __init__(self, rows):
        self.rows = rows

    def to_list(self):
        return list(self.rows)


class FakeWorld:
    """The part of ``ArithmeticWorld`` the attacks read: ``tokens`` and ``splits[...].to_list()``."""

    def __init__(self, tokenizer, splits: dict[str, list[dict]]):
        self.tokenizer, self.splits = tokenizer, {k: _Split(v) for k, v in splits.items()}

    def tokens(self, split, ops=None):
        rows = [r for r in self.splits[split].rows if ops is None or r["op"] in ops]
        return TokenSet.from_rows(rows, self.tokenizer)


def fake_world(rows, tokenizer) -> FakeWorld:
    """Facts (all forms of one operand pair) dealt in turn to val, eval and forget/retain train."""
    facts = defaultdict(list)
    for r in rows:
        facts[(r["op"], r["a"], r["b"])].append(r)
    splits = {"val": [], "eval": [], "forget_train": [], "retain_train": []}
    for i, (key, forms) in enumerate(facts.items()):
        name = ("val", "eval", "train")[i % 3]
        if name == "train":
            name = "forget_train" if key[0] in FORGET_OPS else "retain_train"
        splits[name] += forms
    return FakeWorld(tokenizer, splits)


def session(tmp_path) -> Session:
    return Session(get_profile("default"), Paths.at(tmp_path).ensure())


# ---- the probe's layer: chosen on validation items ------------------------------------------------

def _states(labels, strength: float, seed: int) -> torch.Tensor:
    """Noise features whose first coordinate moves by ``strength`` with the label."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(labels), 4, generator=g)
    x[:, 0] += strength * torch.tensor(labels, dtype=torch.float32)
    return x


def test_the_probe_layer_is_chosen_on_validation_items_not_test_items():
    y_val, y_test = [i % 2 for i in range(80)], [i % 2 for i in range(60)]
    folds = [(i // 2) % 2 for i in range(80)]
    # layer 0 holds the label clearly in the validation states and not at all in the test states;
    # layer 1 weakly in validation, clearly in test: the test items would pick layer 1, the rule
    # must pick layer 0 and report its (chance-level) test accuracy
    train = [_states(y_val, 6.0, 0), _states(y_val, 1.0, 1)]
    test = [_states(y_test, 0.0, 2), _states(y_test, 6.0, 3)]
    out = extra_attacks.probe_summary(train, y_val, test, y_test, folds)
    assert out["best_layer"] == 0
    assert out["layers"][0]["val_cv_acc"] > 0.9 > out["layers"][1]["val_cv_acc"]
    assert out["probe_acc"] == out["layers"][0]["probe_acc"] < 0.75 < out["layers"][1]["probe_acc"]
    assert out["majority_acc"] == 0.5 and out["n_classes"] == 2


def test_cross_validation_needs_two_folds():
    with pytest.raises(ValueError, match="probe_folds"):
        extra_attacks.cross_validated([torch.zeros(4, 2)], [0, 1, 0, 1], [0, 0, 0, 0])


def test_folds_keep_a_facts_forms_together_and_are_fixed(rows, tokenizer):
    world = fake_world(rows, tokenizer)
    folds = extra_attacks.fact_folds(world, "val", 2)
    val = [r for r in world.splits["val"].rows if r["op"] in FORGET_OPS]
    assert len(folds) == len(world.tokens("val", FORGET_OPS)) == len(val)
    by_fact = defaultdict(set)
    for r, f in zip(val, folds):
        by_fact[(r["op"], r["a"], r["b"])].add(f)
    assert all(len(f) == 1 for f in by_fact.values()) and set(folds) == {0, 1}
    assert folds == extra_attacks.fact_folds(world, "val", 2)


def test_bad_settings_fail_with_the_field_to_fix():
    with pytest.raises(ValueError, match="probe_folds"):
        extra_attacks.settings(get_profile("default", {"arithmetic.probe_folds": 1}).arithmetic)


# ---- the three attacks on a model, stored and read back -------------------------------------------

def test_attacks_run_store_and_are_read_back_without_the_model(tmp_path, rows, tokenizer, tiny_model, monkeypatch):
    world = fake_world(rows, tokenizer)
    s = session(tmp_path)
    loads = []
    monkeypatch.setattr(extra_attacks, "load_model", lambda d, device: loads.append(d) or tiny_model)
    key = {"setting": "arithmetic", "method": "base", "seed": 0, "hparam": ""}
    out = extra_attacks.attack_extra(s, world, str(tmp_path / "m"), key, 0)
    assert loads == [str(tmp_path / "m")]
    quant, probe, icl = out["quant"], out["probe"], out["icl"]
    assert [r["scheme"] for r in quant["rows"]] == ["none", "int8", "int4"]
    assert all(0 <= quant[f"{s}_{m}"] <= 1 for s in ("none", "int8", "int4") for m in ("forget_acc", "retain_acc"))
    assert [r["layer"] for r in probe["layers"]] == [0, 1] and probe["best_layer"] in (0, 1)
    assert probe["n_train"] == len(world.tokens("val", FORGET_OPS))
    # k = 0 is plain exact match; every k uses at most k shots and never more than fit 64 tokens
    assert [r["k"] for r in icl["rows"]] == [0, 1, 4, 16] and icl["icl0_shots"] == 0
    assert all(icl[f"icl{k}_shots"] <= k for k in (1, 4, 16)) and icl["max_tokens"] == 64
    again = extra_attacks.attack_extra(s, world, str(tmp_path / "m"), key, 0)
    assert len(loads) == 1 and again["probe"]["probe_acc"] == probe["probe_acc"]
    # another setting is another row: the model is loaded again
    other = Session(get_profile("default", {"arithmetic.icl_ks": [0, 2]}), s.paths)
    extra_attacks.attack_extra(other, world, str(tmp_path / "m"), key, 0)
    assert len(loads) == 2


# ---- table, figure data and numbers from hand-made results ----------------------------------------

def frame(base_collapses: bool = True) -> pd.DataFrame:
    out = []
    for method, forget in (("base", 0.95), ("oracle", 0.02), ("GradDiff", 0.05), ("MaxEnt", 0.04), ("RMU", 0.03)):
        for s in SEEDS:
            keep = (0.1, 0.05, 0.04) if base_collapses else (0.9, 0.8, 0.7)
            icl = {0: forget, **{k: forget * f for k, f in zip((1, 4, 16), keep)}}
            out.append({"label": method, "method": method, "seed": s, "base_model": f"base_{s}",
                        "forget_acc": forget, "post_attack_forget_acc": forget + 0.1, "retain_acc": 0.9,
                        "int8_forget_acc": forget + 0.01 * s, "int8_retain_acc": 0.9,
                        "int4_forget_acc": forget + 0.3 + 0.01 * s, "int4_retain_acc": 0.5,
                        "probe_acc": 0.6 + 0.05 * s if method != "oracle" else 0.3 + 0.01 * s,
                        "majority_acc": 0.25, "best_layer": 2,
                        "probe_layers": [{"layer": i, "probe_acc": 0.2 * i + 0.01 * s, "majority_acc": 0.25}
                                         for i in range(3)],
                        **{f"icl{k}_forget_acc": v for k, v in icl.items()},
                        **{f"icl{k}_shots": min(k, 2.9) for k in icl}})
    return pd.DataFrame(out)


def test_table_states_every_attack_with_models_and_shots(tmp_path):
    rows = frame()
    table = attacks_report.write_table(rows, session(tmp_path), "default")
    assert list(table["method"]) == ["base", "oracle", "GradDiff", "MaxEnt", "RMU"]
    assert list(table["models"]) == [3] * 5
    headers = list(table.columns)
    assert "int4 forget (\\%)" in headers and "probe (\\%)" in headers and "16-shot (\\%), 2.9 fit" in headers
    assert table.set_index("method").loc["oracle", "int4 forget (\\%)"] == "33.0 $\\pm$ 2.5"
    tex = (tmp_path / "paper" / "tables" / "arith_attacks_more.tex").read_text()
    assert "tab:arith-attacks-more" in tex and "chosen layer 2;" in tex and "25.0" in tex


def test_numbers_restate_table_cells_and_say_when_icl_means_nothing(tmp_path):
    rows = frame()
    s = session(tmp_path)
    table = attacks_report.write_table(rows, s, "default").set_index("method")
    n = attacks_report.add_numbers(Numbers("arith"), s, rows)
    plain = {k: v["plain"] for k, v in n.entries.items()}
    assert plain["arithGradDiffIntFour"] == table.loc["GradDiff", "int4 forget (\\%)"].replace("$\\pm$", "±") + "%"
    assert plain["arithGradDiffIntFourVsBefore"] == "higher than"  # +0.30 on every model
    assert plain["arithGradDiffIntEightVsBefore"] == "indistinguishable from"  # +0, +0.01, +0.02
    assert plain["arithRmuProbeVsOracle"] == "above"
    assert plain["arithProbeMajority"] == "25.0%" and plain["arithIclShotsSixteen"] == "2.9"
    note = n.entries["arithIclNote"]["tex"]
    assert "not informative" in note
    assert all(n.entries[f"arithBaseIcl{k}"]["tex"] in note for k in ("Zero", "One", "Sixteen"))
    assert not attacks_report.icl_informative(rows)
    kept = attacks_report.add_numbers(Numbers("arith"), s, frame(base_collapses=False))
    assert attacks_report.icl_informative(frame(base_collapses=False))
    assert "can be read" in kept.entries["arithIclNote"]["tex"]


def test_probe_curves_feed_the_figure():
    curves = attacks_report.probe_curves(frame())
    assert len(curves) == 5 * 3 * 3 and set(curves["layer"]) == {0, 1, 2}
    fig = probe_by_layer(curves)
    ax = fig.axes[0]
    oracle = next(line for line in ax.get_lines() if line.get_label() == "oracle")
    assert oracle.get_linestyle() == "--" and oracle.get_linewidth() > 2
    assert math.isclose(max(oracle.get_ydata()), 100 * (0.4 + 0.01), rel_tol=1e-9)


def test_with_extra_joins_this_settings_rows_and_names_rows_left_out(tmp_path):
    s = session(tmp_path)
    h = extra_attacks.hashes(s.profile.arithmetic)
    rows = pd.DataFrame([{"label": m, "method": m, "hparam": "", "seed": 0, "model_id": f"{m}_0"}
                         for m in ("base", "oracle", "GradDiff")])
    for m in ("base", "oracle"):
        key = {"setting": "arithmetic", "method": m, "seed": 0, "hparam": "", "model_id": f"{m}_0"}
        for name, table in extra_attacks.TABLES.items():
            s.store.put(table, {**key, f"{name}_hash": h[name]}, {f"{name}_value": 1.0, "rows": []})
            s.store.put(table, {**key, f"{name}_hash": "stale"}, {f"{name}_value": 9.0, "rows": []})
    more = attacks_report.with_extra(s, rows)
    assert list(more["label"]) == ["base", "oracle"] and (more["quant_value"] == 1.0).all()
    assert attacks_report.missing(rows, more) == ["GradDiff"]
    with pytest.raises(RuntimeError, match="40_attacks"):
        attacks_report.with_extra(s, rows.assign(model_id="other"))


def test_describe_states_each_row_and_the_icl_caveat():
    text = attacks_report.describe(frame())
    assert "**GradDiff**" in text and "int4 35.0 ± 2.5 %" in text and "not informative" in text
    assert "not informative" not in attacks_report.describe(frame(base_collapses=False))
