"""The paper numbers of the fact rewrite (notebook 32) and masked LoRA (notebook 33): every macro
that restates a table cell prints what the cell prints, and the comparison words follow their
written rules."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from unlearnlab.core.paths import Paths
from unlearnlab.data import concepts as cx
from unlearnlab.experiments.concept import numbers as cnum
from unlearnlab.experiments.concept import tables as ctab
from unlearnlab.experiments.concept.config import ConceptConfig
from unlearnlab.experiments.rewrite import numbers as rnum
from unlearnlab.experiments.rewrite import report as rrep
from unlearnlab.experiments.rewrite.config import RewriteConfig
from unlearnlab.reporting import numbers as paper_numbers

pytestmark = pytest.mark.unit


def _as_cell(tex: str) -> str:
    """A macro's LaTeX as a table cell prints it (the macro adds the unit, the cell does not)."""
    return tex.replace(r"\ensuremath{\pm}", r"$\pm$").replace(r"\,\%", "")


# ---------------------------------------------------------------------------- rewrite


def _rewrite_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for target in ("France->Lyon", "Japan->Osaka", "Kenya->Mombasa"):
        base = {c: rng.random() for c in rrep.COLUMNS}
        rows.append({"target": target, "variant": "base", "seed": -1, "known": True, **base})
        for variant in ("ia3_two_stage", "ia3_random", "full_ft"):
            for seed in (0, 1):
                scores = {c: float(rng.integers(0, 5)) / 4 for c in rrep.COLUMNS}
                if variant == "full_ft":
                    scores["control_test"] = 0.0  # ours keeps every control better than full fine-tuning
                if variant == "ia3_two_stage":
                    scores["control_test"] = 1.0
                rows.append({"target": target, "variant": variant, "seed": seed, "known": True, **scores})
    return pd.DataFrame(rows)


def _curves() -> pd.DataFrame:
    return pd.DataFrame([{"target": t, "variant": v, "seed": 0, "lr": 1e-5, "step": step, "logprob": -3.0 + step,
                          "exact": exact}
                         for t in ("a", "b", "c") for v in ("ia3_two_stage", "full_ft")
                         for step, exact in ((0, 0.0), (4, 0.5 if t != "c" else 1.0))])


def test_rewrite_macros_restate_the_table_cells():
    df = _rewrite_frame()
    n = rnum.paper_numbers(df, _curves(), RewriteConfig())
    tex = {k: v["tex"] for k, v in n.entries.items()}
    table = rrep.table(df).set_index("variant")
    for variant, label in rrep.VARIANT_LABELS.items():
        if variant not in set(df.variant):
            continue
        for col, title in rrep.COLUMNS.items():
            macro = "rewrite" + rnum.VARIANT_NAMES[variant] + rnum.COLUMN_NAMES[col]
            assert _as_cell(tex[macro]) == table.loc[label, title], macro
    assert tex["rewriteTargets"] == "3" and tex["rewriteSeeds"] == "1" and tex["rewriteRuns"] == "6"
    assert tex["rewriteTopK"] == str(RewriteConfig().k)
    assert tex["rewriteKnownTargets"] == "3" and tex["rewriteUnknownTargets"] == "none"


def test_rewrite_paired_comparison_words_follow_the_interval():
    n = rnum.paper_numbers(_rewrite_frame(), _curves(), RewriteConfig())
    assert n.entries["rewriteOursVsFullFtControlWord"]["tex"] == "higher than"
    assert n.entries["rewriteOursVsFullFtControl"]["tex"].startswith("100.0")
    assert n.entries["rewritePairs"]["tex"] == "6"
    assert rnum.direction(-0.2, 0.1, 5) == "lower than"
    assert rnum.direction(0.05, 0.1, 5) == "not distinguishable from"
    assert rnum.direction(0.5, 0.0, 1) == "not distinguishable from"  # one pair: no interval, no claim


def test_rewrite_relearning_before_and_after():
    tex = {k: v["tex"] for k, v in rnum.paper_numbers(_rewrite_frame(), _curves(), RewriteConfig()).entries.items()}
    assert tex["rewriteOursRelearnBefore"].startswith("0.0")
    assert tex["rewriteFullFtRelearnAfter"].startswith("66.7 ")


def test_rewrite_numbers_write_only_for_the_paper(tmp_path):
    session = SimpleNamespace(paths=Paths.at(tmp_path))
    rnum.write_numbers(_rewrite_frame(), _curves(), RewriteConfig(), session, write=False)
    assert not (tmp_path / "paper" / "numbers" / "rewrite.tex").exists()
    rnum.write_numbers(_rewrite_frame(), _curves(), RewriteConfig(), session)
    assert "rewriteOursNewAcc" in paper_numbers.defined_macros(tmp_path / "paper" / "numbers")


# ---------------------------------------------------------------------------- concept


def _concept_frames():
    rng = np.random.default_rng(1)
    rows = [{"variant": "base", "seed": 0, **{c: 0.5 for c in ctab.HEADLINE}}]
    for variant, keylogp in (("masked:fisher", -4.2), ("lora", -4.25), ("NPO", -6.0)):
        for seed in range(3):
            row = {c: float(rng.random()) for c in ctab.HEADLINE}
            row["adversarial_keylogp"] = keylogp + 0.01 * seed
            row["all_degenerate"] = 0.1 if variant == "NPO" else 0.0
            rows.append({"variant": variant, "seed": seed, **row})
    rows[0]["adversarial_keylogp"] = -4.0
    table = ctab.summary(pd.DataFrame(rows))
    curves = pd.DataFrame([{"variant": v, "seed": s, "step": step, "logprob": -10.0 + step + 0.1 * s}
                           for v in ("base", "masked:fisher", "lora") for s in ((0,) if v == "base" else (0, 1, 2))
                           for step in range(5)])
    knowledge = pd.DataFrame([{"kind": k, "prompts": 6, "name_free": 3, "base_names": 0, "fact_free": 5,
                               "base_correct": 1} for k in cx.KINDS]).set_index("kind")
    return table, ctab.relearn_summary(curves), knowledge


def test_concept_macros_restate_the_table_cells():
    table, relearn, knowledge = _concept_frames()
    tex = {k: v["tex"] for k, v in cnum.paper_numbers(table, relearn, knowledge, ConceptConfig()).entries.items()}
    for frame, columns in ((ctab.paper_table(table, relearn), {**ctab.SUPPRESSION_COLUMNS, **ctab.RELEARN_COLUMNS}),
                           (ctab.side_table(table), ctab.SIDE_COLUMNS)):
        for _, row in frame.iterrows():
            for col, title in columns.items():
                if row[title] == "--":  # a variant that was not attacked: no macro
                    continue
                macro = "concept" + cnum.variant_part(row["variant"]) + cnum.COLUMN_NAMES[col]
                assert _as_cell(tex[macro]) == row[title], macro
    assert tex["conceptAdversarialNamed"] == "3" and tex["conceptBaseAdversarialNames"] == "0"
    assert tex["conceptSeeds"] == "3" and tex["conceptMaskBudget"] == r"0.5\,\%"
    assert tex["conceptBaseShown"] == "3" and tex["conceptBaseShowable"] == "18"  # 0 + 3 × 1; 3 + 3 × 5


def test_concept_comparison_words_follow_the_written_rules():
    table, relearn, knowledge = _concept_frames()
    tex = {k: v["tex"] for k, v in cnum.paper_numbers(table, relearn, knowledge, ConceptConfig()).entries.items()}
    assert tex["conceptMaskedFisherVsLoraAdvKeyLogp"] == "higher than"  # -4.19 ± 0.02 vs -4.24 ± 0.02
    assert tex["conceptNPOVsBaseAdvKeyLogp"] == "lower than"
    assert tex["conceptLowestKeyLogp"] == "NPO" and tex["conceptLargestNeighbourKl"] in set(cnum.PAPER_NAMES.values())
    assert tex["conceptLowestKeyLogpApart"] == "beyond the CIs of every other variant"
    assert tex["conceptDegenerateVariants"] == "NPO"
    assert "worse on adversarial key-answer log-probability" in tex["conceptMaskedFisherVsLoraSummary"]
    t = table.set_index("variant")
    assert cnum.compare(t, "masked:fisher", "masked:fisher", "general_ce") == "same"


def test_concept_settings_and_probe_facts():
    n = paper_numbers.Numbers("concept")
    cnum.add_settings(n, ConceptConfig(), ConceptConfig(seeds=(0, 1, 2, 3, 4), steps=16))
    tex = {k: v["tex"] for k, v in n.entries.items()}
    assert tex["conceptMaskedFisherLr"] == r"\ensuremath{10^{-2}}"
    assert tex["conceptLoraLr"] == r"\ensuremath{3\times10^{-3}}"
    assert tex["conceptGpuSeeds"] == "5" and tex["conceptGpuSteps"] == "16"
    spec = cx.CONCEPTS["Inception"]
    forms = cnum.named_forms(cx.concept_probes(spec), spec)
    assert "multiple_choice" in forms and "indirect" not in forms


def test_a_smaller_grid_defines_the_same_macros_as_n_a():
    """The smoke grid runs fewer variants: the prose must still build, so every macro is there."""
    df = _rewrite_frame()
    full = rnum.paper_numbers(df, _curves(), RewriteConfig()).entries
    small = rnum.paper_numbers(df[df.variant != "ia3_random"], _curves(), RewriteConfig()).entries
    assert set(small) == set(full) and small["rewriteRandomModulesControl"]["tex"] == "n/a"
    assert small["rewriteOursVsRandomModulesControlWord"]["tex"] == "n/a"
    table, relearn, knowledge = _concept_frames()
    full = cnum.paper_numbers(table, relearn, knowledge, ConceptConfig()).entries
    small = cnum.paper_numbers(table[table.variant != "NPO"], relearn, knowledge, ConceptConfig()).entries
    assert set(small) == set(full) and small["conceptNPOAdvKeyLogp"]["tex"] == "n/a"
