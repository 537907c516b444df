"""The replication check: cells matched by their row labels, outside means beyond sqrt(CI1²+CI2²)."""

import pandas as pd
import pytest

from unlearnlab.profiles import disjoint_seeds, get_profile
from unlearnlab.reporting import replication

pytestmark = pytest.mark.unit


def _table(rows):
    return pd.DataFrame(rows, columns=["forget %", "method", "forget QA (%)", "AUC", "seeds"]).astype(str)


def test_counts_cells_outside_the_combined_interval_only():
    first = _table([[1, "GradDiff", "10.0 $\\pm$ 3.0", "0.50 $\\pm$ 0.10", 3],
                    [5, "GradDiff", "20.0 $\\pm$ 3.0", "0.90", 3],
                    [5, "NPO", "30.0 $\\pm$ 1.0", "0.40 $\\pm$ 0.01", 3]])
    second = _table([[5, "NPO", "36.0 $\\pm$ 4.0", "0.41 $\\pm$ 0.01", 3],   # |6| > 4.12: outside
                     [1, "GradDiff", "14.0 $\\pm$ 3.0", "0.50 $\\pm$ 0.10", 3],  # |4| <= 4.24: inside
                     [5, "GradDiff", "20.0 $\\pm$ 3.0", "0.10", 3]])             # "0.90": no CI, skipped
    diffs = replication.compare_tables("t", first, second)
    outside = {(d.row, d.column) for d in diffs if d.outside}
    assert len(diffs) == 5
    assert outside == {("5 | NPO", "forget QA (%)")}
    summary = replication.summary(diffs).set_index("table")
    assert summary.loc["all", "outside"] == 1 and summary.loc["all", "outside %"] == 20.0


def test_parses_only_mean_ci_cells():
    assert replication.mean_ci("-4.18 $\\pm$ 0.35") == (-4.18, 0.35)
    assert replication.mean_ci("93.4 ± 1.2") == (93.4, 1.2)
    assert replication.mean_ci("--") is None and replication.mean_ci("0.90") is None


def test_a_replication_gets_as_many_disjoint_seeds_as_each_field_has():
    profile = get_profile("default", {"rewrite.seeds": [0], "arithmetic.seeds": [0, 1, 2]})
    chosen = disjoint_seeds(profile, [3, 4, 5])
    assert chosen["arithmetic.seeds"] == [3, 4, 5] and chosen["rewrite.seeds"] == [3]
    assert "sae.real_seeds" in chosen and "private.seeds" in chosen
    with pytest.raises(ValueError, match="overlap arithmetic.seeds"):
        disjoint_seeds(profile, [2, 3, 4])
    with pytest.raises(ValueError, match="pass at least 3"):
        disjoint_seeds(profile, [7])


def test_the_recorded_replication_becomes_the_papers_numbers():
    from unlearnlab.reporting.reproducibility import replication_numbers
    first = _table([[5, "NPO", "30.0 $\\pm$ 1.0", "0.40 $\\pm$ 0.01", 3]])
    second = _table([[5, "NPO", "36.0 $\\pm$ 4.0", "0.40 $\\pm$ 0.01", 3]])
    diffs = replication.compare_tables("t", first, second)
    rec = replication.record(diffs, {"arithmetic.seeds": [3, 4, 5], "rewrite.seeds": [3]}, "abcdef123", "0123456789",
                             "2026-12-03", {})
    entries = replication_numbers(rec).entries
    assert entries["replicationOutside"]["plain"] == "1" and entries["replicationCells"]["plain"] == "2"
    assert entries["replicationOutsidePercent"]["plain"] == "50.0%"
    assert entries["replicationSeeds"]["plain"] == "3, 4, 5" and entries["replicationAgainst"]["plain"] == "abcdef1"
    assert rec["outside"][0]["column"] == "forget QA (%)"
    assert list(replication.summary_table(rec)["outside %"]) == ["50.0", "50.0"]
    assert replication_numbers(None).entries["replicationOutsidePercent"]["plain"] == "n/a"


def test_tables_the_replication_did_not_write_are_named_except_the_appendix_ones(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    for name in ("arith_main", "sae_matched", "run_seconds", "replication"):
        (first / f"{name}.csv").write_text("x\n1\n")
    (second / "arith_main.csv").write_text("x\n1\n")
    assert replication.missing_tables(first, second) == ["sae_matched"]
