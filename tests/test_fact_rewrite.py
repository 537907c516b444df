"""The fact-rewrite experiment's bookkeeping: targets, control choice, paired differences and
the generated interpretation (the model-side pieces are tested in test_rewrite.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from unlearnlab.experiments.rewrite import report
from unlearnlab.experiments.rewrite import run as fr
from unlearnlab.experiments.rewrite.config import RewriteConfig

pytestmark = pytest.mark.unit


def test_target_looks_up_known_facts_and_accepts_new_ones():
    assert fr.Target("France", "capital", "Lyon").fact().object == "Paris"
    custom = fr.Target("Atlantis", "capital", "Poseidonia", old_object="Atlantis City").fact()
    assert (custom.subject, custom.object) == ("Atlantis", "Atlantis City")
    with pytest.raises(ValueError, match="give old_object"):
        fr.Target("Atlantis", "capital", "Poseidonia").fact()
    with pytest.raises(ValueError, match="unknown relation"):
        fr.Target("France", "flag", "red").fact()


def test_controls_are_known_other_subjects_without_f1_or_f2_objects():
    probe = pd.DataFrame([
        {"subject": "France", "relation": "capital", "object": "Paris", "known": True},
        {"subject": "Japan", "relation": "capital", "object": "Tokyo", "known": True},
        {"subject": "Italy", "relation": "capital", "object": "Rome", "known": False},
        {"subject": "Germany", "relation": "capital", "object": "Berlin", "known": True},
        {"subject": "gold", "relation": "symbol", "object": "Au", "known": True},
        {"subject": "iron", "relation": "symbol", "object": "Fe", "known": True},
    ])
    controls = fr.choose_controls(fr.Target("France", "capital", "Tokyo"), probe, n_same=2, n_other=1)
    assert [c.subject for c in controls] == ["Germany", "gold"]  # not France, not unknown Italy, not Tokyo


def _runs() -> pd.DataFrame:
    rows = []
    for target, (ours, full) in {"a": (0.9, 0.5), "b": (0.8, 0.45), "c": (1.0, 0.55)}.items():
        for variant, control in (("base", 1.0), ("ia3_two_stage", ours), ("full_ft", full)):
            rows.append({"target": target, "variant": variant, "seed": -1 if variant == "base" else 0,
                         "known": True, "f2_test": 1.0, "f2_train": 1.0, "f1_forget_test": 1.0,
                         "f1_forget_train": 1.0, "control_test": control, "control_train": control,
                         "f1_preferred": 0.5, "f1_rank": 0.5, "f1_minus_f2_logprob": 0.0})
    return pd.DataFrame(rows)


def test_paired_difference_is_the_mean_of_per_rewrite_differences():
    mean, ci, n = report.paired_difference(_runs(), "control_test", "ia3_two_stage", "full_ft")
    assert n == 3
    assert mean == pytest.approx(((0.9 - 0.5) + (0.8 - 0.45) + (1.0 - 0.55)) / 3)
    assert ci > 0


def test_table_and_description_follow_the_numbers():
    df = _runs()
    table = report.table(df)
    assert list(table.variant) == [report.VARIANT_LABELS[v] for v in ("base", "ia3_two_stage", "full_ft")]
    grid = RewriteConfig(targets=(), variants=("ia3_two_stage", "full_ft"), k=10, steps=8, batch_size=4)
    text = report.describe(df, pd.DataFrame(), grid)
    assert "beats direct full fine-tuning: +40.0" in text
    worse = df.assign(control_test=df.control_test.where(df.variant != "ia3_two_stage", 0.1))
    assert "is worse than direct full fine-tuning" in report.describe(worse, pd.DataFrame(), grid)
