"""The SAE and private-records studies' paper numbers (experiments/{sae,private}/numbers.py) on
small hand-made results: a macro restating a table cell has that cell's text, comparison words
follow their rule, every macro the two paper sections use is written, and a grid without a
method still writes every macro ('n/a')."""

import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.evals import unlearning_score as us
from unlearnlab.experiments.private import numbers as pn
from unlearnlab.experiments.private import report as private_report
from unlearnlab.experiments.sae import numbers as sn
from unlearnlab.experiments.sae import per_model
from unlearnlab.experiments.sae import report as sae_report
from unlearnlab.experiments.sae.config import SAEStudyConfig
from unlearnlab.experiments.sae.run import RealResults, SAEResults
from unlearnlab.profiles import Profile
from unlearnlab.reporting.numbers import defined_macros

pytestmark = pytest.mark.unit

PAPER = repo_root() / "paper"
SEEDS = (0, 1, 2)


def _session(tmp_path: Path | None = None, counts: tuple | None = None) -> SimpleNamespace:
    """The default profile with the SAE suite's fixed sizes ``counts`` (val forget, test forget, val
    side, test side; None: every known question, sizes vary by model as in the hand-made results)."""
    c = counts or (None, None, None, None)
    sae = replace(SAEStudyConfig(), n_val_forget=c[0], n_test_forget=c[1], n_val_side=c[2], n_test_side=c[3])
    return SimpleNamespace(profile=Profile(name="default", sae=sae), paths=Paths.at(tmp_path) if tmp_path else None)


def _hits(acc: float, n: int = 4) -> str:
    k = round(acc * n)
    return "1" * k + "0" * (n - k)


def _sweep_row(seed: int, kind: str, rule: str, retain: str, forget: float, side: float, selected: int = 5) -> dict:
    return {"kind": kind, "seed": seed, "retain": retain, "rule": rule, "intervention": "clamp", "forget_acc": forget,
            "side_acc": side, "n_selected": selected, "forget_hits": _hits(forget), "side_hits": _hits(side),
            "features": [1, 2], "multiplier": 10.0}


def _with_val(frame: pd.DataFrame) -> pd.DataFrame:
    """Validation columns equal to the test ones (these tests are about the numbers, not the split)."""
    return frame.assign(**{f"val_{c}": frame[c] for c in ("forget_acc", "side_acc", "forget_hits", "side_hits")})


def sae_results() -> SAEResults:
    """Three models; TopK clamp forgets one of four questions at full side effects and more below;
    RMU and GradDiff barely move; an untrained SAE selects nothing."""
    sweeps, baselines = [], []
    for s in SEEDS:
        sweeps += [_sweep_row(s, "topk", "kl", "text", 0.75, 1.0), _sweep_row(s, "topk", "kl", "text", 0.25, 0.75),
                   _sweep_row(s, "topk", "kl", "text+mcq", 0.5 if s else 0.75, 1.0),
                   _sweep_row(s, "relu", "frequency", "text", 1.0, 1.0),
                   _sweep_row(s, "relu-untrained", "frequency", "text", 1.0, 1.0, selected=0)]
        baselines += [{"method": m, "lr": 1e-3, "seed": s, "model_dir": f"/m{s}", "forget_acc": 1.0, "side_acc": 1.0,
                       "forget_hits": "1111", "side_hits": "1111"} for m in ("RMU", "GradDiff")]
    sweeps, baselines = _with_val(pd.DataFrame(sweeps)), _with_val(pd.DataFrame(baselines))
    runs = us.runs_frame(sweeps, baselines)
    base_evals = {s: {"side_acc": 1.0, "side_hits": "1111", "val_side_acc": 1.0, "val_side_hits": "1111"} for s in SEEDS}
    keys = {s: ["a", "b", "c", "d"] for s in SEEDS}
    bases = pd.DataFrame([{"seed": s, "n_known_forget": 8, "n_known_side": 8 + s, "n_asked": {"hazard": 8, "x": 12},
                           "n_test_forget": 4, "n_val_forget": 4, "n_test_side": 4 + s, "n_val_side": 4}
                          for s in SEEDS])
    saes = pd.DataFrame([{"kind": k, "seed": s, "mse": 1.0, "explained_variance": 0.9 + 0.01 * s, "l0": 16.0,
                          "dead_fraction": 0.1, "delta_loss": 0.1} for k in ("topk", "relu", "relu-untrained")
                         for s in SEEDS])
    curve = [{"lr": 1e-3, "step": 0, "forget_acc": 0.5, "val_forget_acc": 0.5},
             {"lr": 1e-3, "step": 3, "forget_acc": 0.75, "val_forget_acc": 0.75}]
    attacks = pd.DataFrame([{"label": label, "variant": variant, "seed": s, "curve": curve, "before": 0.5,
                             "post_attack_forget_acc": 0.7}
                            for s in SEEDS for label, variant in (("base", "base"),
                                                                   ("SAE-clamp", "SAE-topk kl clamp | retain text"))])
    return SAEResults({s: Path(f"/b{s}") for s in SEEDS}, bases, base_evals, saes, pd.DataFrame(), sweeps, baselines,
                      runs, per_model.score_rows(runs, base_evals), per_model.question_stats(runs, base_evals, keys,
                                                                                               n_boot=200),
                      attacks, {}, {})


def real_results() -> RealResults:
    sweeps = pd.DataFrame([_sweep_row(0, "topk", r, "text", f, s) for r in ("kl", "frequency")
                           for f, s in ((1.0, 1.0), (0.5, 0.96))])
    baselines = pd.DataFrame([{"method": m, "lr": 1e-4, "seed": 0, "model_dir": "/r", "forget_acc": 1.0,
                               "side_acc": 1.0, "forget_hits": "1111", "side_hits": "1111"} for m in ("RMU", "GradDiff")])
    runs = us.runs_frame(sweeps, baselines)
    base_eval = {"side_acc": 1.0, "side_hits": "1111"}
    suite = {"n_known_forget": 4, "n_known_side": 4, "n_asked": {"capital": 6, "symbol": 6, "author": 6}, "orders": 4}
    return RealResults(suite, base_eval, pd.DataFrame([{"seed": 0, "explained_variance": 0.86, "dead_fraction": 0.44}]),
                       sweeps, baselines, runs, us.score_rows(runs, 1.0), us.question_stats(runs, base_eval, n_boot=200),
                       {})


def _plain(n, name: str) -> str:
    return n.entries[name]["plain"]


def test_sae_macros_restate_their_table_cells():
    results, real = sae_results(), real_results()
    n = sn.paper_numbers(_session(), results, real)
    matched = sae_report.matched_latex(results, real)
    cell = matched[(matched["Tier"] == "synthetic") & (matched["Method"] == "SAE-topk clamp")].iloc[0]
    assert _plain(n, "saeClampAtLow") == cell["side $\\geq$ 0.9"].replace("$\\pm$", "±") + "%"
    assert _plain(n, "saeClampFamily") == "TopK"
    scores = sae_report.latex_table(results, real)
    rmu = scores[(scores["Tier"] == "synthetic") & (scores["Method"] == "RMU")].iloc[0]
    assert _plain(n, "saeRMUScore") + "" == rmu["Score, retain text"].replace("$\\pm$", "±") + "%"
    assert _plain(n, "saeForgetQuestions") == "4" and _plain(n, "saeSideQuestions") == "4--6"
    assert _plain(n, "saeAskedForget") == "8" and _plain(n, "saeAskedSide") == "12"
    assert _plain(n, "saeUntrainedSelected") == "0" and "nothing is selected" in _plain(n, "saeUntrainedWhy")
    assert _plain(n, "saeBestClampVariant") == "TopK SAE, kl rule, retain corpus generic text and questions"
    assert _plain(n, "saeRealClampMid") == "50.0%" and _plain(n, "saeRealClampMidRemoved") == "2"
    assert _plain(n, "saeRealSideRelations") == "2"
    assert _plain(n, "saeRealBestVariant") == "all 4 variants tie"  # every SmolLM2 score is 0: no best to name
    assert _plain(n, "saeScoreRatio") == "0.99" and _plain(n, "saeRatioLow") == "0.90"
    assert _plain(n, "saeAttackClampBest") == "75.0 ± 0.0%"  # three identical models: the table's own cell


def test_fixed_suite_sizes_are_one_number_each_and_checked_against_every_model():
    results = sae_results()
    results.bases["n_test_side"] = 4  # every model's suite of the fixed size
    n = sn.paper_numbers(_session(counts=(4, 4, 4, 4)), results, real_results())
    assert [_plain(n, f"sae{k}Questions") for k in ("Forget", "Side", "ValForget", "ValSide")] == ["4"] * 4
    assert "fixed by the profile" in n.entries["saeForgetQuestions"]["about"]
    with pytest.raises(ValueError, match="differ from the profile's fixed 5"):
        sn.paper_numbers(_session(counts=(4, 5, 4, 4)), results, real_results())


def test_paired_word_needs_a_ci_over_models_that_excludes_zero():
    a = pd.Series([0.5, 0.6, 0.55], index=SEEDS)
    assert sn.paired_word(a, a + 0.3) == "lower than"
    assert sn.paired_word(a + 0.3, a) == "higher than"
    assert sn.paired_word(a, pd.Series([0.9, 0.2, 0.6], index=SEEDS)) == "indistinguishable from"
    assert sn.paired_word(a.iloc[:1], a.iloc[:1]) == "not compared (one model)"


def test_sae_comparisons_follow_the_paired_rule():
    n = sn.paper_numbers(_session(), sae_results(), real_results())
    assert _plain(n, "saeClampVsRMU") == "lower than"  # TopK clamp forgets more than RMU on every model
    assert _plain(n, "saeRetainMcqWord") == "higher than"  # text: one config at 0.75 side effects per model


def private_frame() -> pd.DataFrame:
    """Two ratios, three seeds; RMU at 10 % looks like the oracle, GradDiff keeps answering."""
    rows = []
    for ratio in (0.1, 0.2):
        for s in SEEDS:
            def row(method, qa, auc, leak, before, after, mid=None):
                return {"ratio": ratio, "method": method, "seed": s, "model_id": mid or f"{method}{ratio}{s}",
                        "public_model": f"p{s}", "forget_qa_acc": qa, "retain_qa_acc": 0.4, "forget_verbatim": 0.7,
                        "auc_min_k": auc, "leak_min_k": leak, "others_before": before, "others_after": after,
                        "n_forget": 10 * ratio * 10, "n_forget_questions": 40 * ratio * 10, "n_relearned": 1,
                        "n_others": 1}
            rows += [row("base", 0.5 + 0.01 * s, 1.0, 0.5, None, None), row("oracle", 0.1, 0.6 + 0.01 * s, 0.0, 0.1, 0.1),
                     row("GradDiff", 0.4 + 0.02 * s, 0.9, 0.5 + 0.01 * s, 0.3, 0.35 + 0.01 * s),
                     row("RMU", 0.1 + (0.05 * (s - 1) if ratio == 0.1 else 0.3), 0.6, [-0.2, 0.1, 0.2][s] if ratio == 0.1
                         else 0.4 + 0.01 * s, 0.1, 0.1 + 0.1 * (s - 1))]
    return pd.DataFrame(rows)


def real_frame() -> pd.DataFrame:
    rows = [{"method": "base", "seed": 0, "ratio": 0.2, "model_id": "b", "forget_qa_acc": 1.0, "retain_qa_acc": 0.9,
             "auc_min_k": 1.0, "leak_min_k": 3.27, "n_forget": 4, "n_forget_questions": 8}]
    rows += [{"method": m, "seed": 0, "ratio": 0.2, "model_id": m, "forget_qa_acc": qa, "retain_qa_acc": 0.66,
              "auc_min_k": auc, "leak_min_k": leak, "others_before": 0.25, "others_after": 0.25, "n_forget": 4,
              "n_forget_questions": 8, "n_relearned": 2, "n_others": 2}
             for m, qa, auc, leak in (("oracle", 0.0, 0.23, 0.0), ("GradDiff", 0.25, 0.4, 0.691), ("NPO", 0.375, 0.4, 0.703))]
    return pd.DataFrame(rows)


def test_private_macros_restate_their_table_cells_and_verdicts():
    df, real = private_frame(), real_frame()
    n = pn.paper_numbers(_session(), df, real)
    table = private_report.table(real)
    cell = table[table["method"] == "GradDiff"].iloc[0]
    assert _plain(n, "privateRealGradDiffForgetQa") == cell["forget QA (%)"] + "%" == "25.0%"
    assert _plain(n, "privateRealNPOLeak") == "70.3%" and _plain(n, "privateRealOracleAuc") == "0.23"
    assert _plain(n, "privateBaseForgetQa") == "51.0%"  # one mean, equal at both ratios
    assert _plain(n, "privateRMUForgetQa") == "10.0% to 40.0%".replace("% to", " to")
    assert _plain(n, "privateCleanCells") == "1" and "RMU at 10" in _plain(n, "privateCleanList")
    synthetic = private_report.table(df)
    leak = synthetic[(synthetic["method"] == "RMU") & (synthetic["forget %"] == "10")].iloc[0]["privacy leak (%)"]
    assert leak.replace("$\\pm$", "\\ensuremath{\\pm}") in _plain(n, "privateCleanList")
    assert "forget QA above the oracle at 10 and 20" in _plain(n, "privateGradDiffVerdict")
    assert _plain(n, "privateSimNPOForgetQa") == "n/a"  # not in the hand-made grid: still written
    assert _plain(n, "privateRealLr") == "0.003"
    assert n.entries["privateRealLr"]["tex"] == "$3\\cdot 10^{-3}$"


def _used(section: str, prefix: str) -> set[str]:
    text = re.sub(r"(?<!\\)%.*", "", (PAPER / section).read_text())
    return {m for m in re.findall(r"\\([a-z]+[A-Z][A-Za-z]*)", text) if m.startswith(prefix)}


def test_every_macro_of_the_two_sections_is_written(tmp_path):
    sae = sn.write(_session(tmp_path), sae_results(), real_results())
    private = pn.write(_session(tmp_path), private_frame(), real_frame())
    assert sae.parent == private.parent == tmp_path / "paper" / "numbers"
    defined = defined_macros(sae.parent)
    assert _used("sec_sae.tex", "sae") - defined == set()
    assert _used("sec_private.tex", "private") - defined == set()


def test_a_users_real_model_writes_no_paper_numbers(tmp_path):
    assert pn.write(_session(tmp_path), private_frame(), real_frame(), model="/some/model") is None
