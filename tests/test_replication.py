"""The replication check: cells matched by their row labels, outside means beyond sqrt(CI1²+CI2²)."""

import pandas as pd
import pytest

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
