"""The real-tier studies' protocols (notebooks 20, 32, 33): choices made on validation items read
only validation columns, and each notebook's protocol text states the profile's settings."""

from types import SimpleNamespace

import pandas as pd
import pytest

from unlearnlab.experiments.concept import protocol as concept_protocol
from unlearnlab.experiments.localize import protocol as loc_protocol
from unlearnlab.experiments.localize import report as loc_report
from unlearnlab.experiments.rewrite import numbers as rnum
from unlearnlab.experiments.rewrite import protocol as rewrite_protocol
from unlearnlab.profiles import get_profile
from unlearnlab.reporting.numbers import Numbers

pytestmark = pytest.mark.unit


def _causal(method: str, test_sel: float, val_sel: float, budget: float = 0.05) -> list[dict]:
    """One localized mask (test and validation selectivity) and two random draws below both."""
    real = {"method": method, "budget": budget, "control": False, "selectivity": test_sel, "val_selectivity": val_sel,
            "forget_drop": test_sel, "retain_drop": 0.0}
    draws = [{"method": method, "budget": budget, "control": True, "selectivity": -0.1, "val_selectivity": -0.1,
              "forget_drop": 0.0, "retain_drop": 0.1} for _ in range(2)]
    return [real, *draws]


def test_most_selective_mask_is_named_on_validation_and_reported_on_test():
    """fisher is best on test (0.5) but worst on validation; attribution is named, and its test
    selectivity (0.1) is what the paper prints."""
    causal = pd.DataFrame(_causal("fisher", 0.5, 0.0) + _causal("attribution", 0.1, 0.3))
    best = loc_report.most_selective(loc_report.above_random(causal), 0.05)
    assert best["method"] == "attribution" and best["selectivity"] == pytest.approx(0.1)
    n = Numbers("loc")
    loc_report.causal_numbers(n, causal, 0.05)
    assert n.entries["locBestMethod"]["tex"] == "attribution"
    assert n.entries["locBestSelectivity"]["tex"].startswith("10.0")


def _finals(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """Relearning curves of one variant: (target, lr, final exact), with step 0 at 0."""
    return pd.DataFrame([{"target": t, "variant": "full_ft", "seed": 0, "lr": lr, "step": step, "logprob": 0.0,
                          "exact": exact if step else 0.0} for t, lr, exact in rows for step in (0, 4)])


def test_attack_learning_rate_of_a_rewrite_ignores_that_rewrite():
    """On rewrite a, lr 1e-5 brings F1 back fully and 3e-5 not at all; the other rewrites say
    3e-5, so a is reported at 3e-5 (0.0), not at its own best (which would report 1.0)."""
    curves = _finals([("a", 1e-5, 1.0), ("a", 3e-5, 0.0), ("b", 1e-5, 0.0), ("b", 3e-5, 0.5),
                      ("c", 1e-5, 0.0), ("c", 3e-5, 0.5)])
    assert rnum.attack_lrs(curves[curves.step == 4]) == {"a": 3e-5, "b": 1e-5, "c": 1e-5}
    ends = rnum.relearn_ends(curves).iloc[0]
    assert ends["after_mean"] == pytest.approx((0.0 + 0.0 + 0.0) / 3) and ends["lr"] == "1e-05/3e-05"


def test_one_rewrite_or_one_rate_takes_the_first_rate():
    one = _finals([("a", 1e-5, 0.0), ("a", 3e-5, 1.0)])
    assert rnum.attack_lrs(one[one.step == 4]) == {"a": 1e-5}
    single = _finals([("a", 1e-5, 0.2), ("b", 1e-5, 0.8)])
    assert rnum.relearn_ends(single).iloc[0]["after_mean"] == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["smoke", "default", "gpu"])
def test_protocols_state_the_profile_settings(name):
    session = SimpleNamespace(profile=get_profile(name))
    p = session.profile
    loc = loc_protocol.protocol(session, 0.05)
    assert "validation items" in loc and f"{p.localize.reference_lr:g}" in loc
    rewrite = rewrite_protocol.protocol(session)
    assert f"top {p.rewrite.k} modules" in rewrite and all(f"{lr:g}" in rewrite for lr in p.rewrite.relearn_lrs)
    assert ("leave one rewrite out" in rewrite) == (len(p.rewrite.relearn_lrs) > 1)
    concept = concept_protocol.protocol(session)
    assert f"{p.concept.relearn_lr:g}" in concept and f"budget of {100 * p.concept.budget:g} %" in concept
