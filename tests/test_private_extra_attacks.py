"""Private records, the three attacks without training (experiments/private/attacks_more.py and
report_more.py): which items each reads, that the probe finds a planted attribute and picks its
layer on validation items, that in-context prompts respect the context, and that the tables and
macros restate per-model values with the paired rule against each seed's own oracle."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.models import ModelSize, build_llama
from unlearnlab.core.paths import Paths
from unlearnlab.evals.exact_match import exact_match
from unlearnlab.experiments.private import attacks_more as am
from unlearnlab.experiments.private import numbers as pn
from unlearnlab.experiments.private import report_more as rm
from unlearnlab.profiles import Profile

pytestmark = pytest.mark.unit

VOCAB = 40


def tiny(max_len: int = 64, layers: int = 2):
    torch.manual_seed(0)
    tok = SimpleNamespace(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return build_llama(ModelSize(d_model=32, n_layers=layers, n_heads=2, d_mlp=64, max_len=max_len), VOCAB, tok, 0).eval()


def items(n: int, start: int) -> tuple[TokenSet, list[str]]:
    """Prompts whose last token (10 or 11) decides the label: a random model's residual stream at
    that position carries it, so a linear probe must find it."""
    marker = 30 + start // 100  # one token per set: no prompt is in two sets
    prompts = [[1, marker, 3 + i % 7, 12 + i % 17, 10 + i % 2] for i in range(n)]
    return TokenSet(prompts, [[5, 2]] * n, pad_id=0), ["flu" if p[-1] == 10 else "gout" for p in prompts]


def probe_items(holdout_labels=None) -> am.ProbeItems:
    fit, fit_y = items(40, 0)
    select, select_y = items(20, 100)
    forget, forget_y = items(12, 200)
    holdout, holdout_y = items(12, 300)
    return am.ProbeItems(fit, fit_y, select, select_y, forget, forget_y, holdout, holdout_labels or holdout_y)


def test_the_probe_reads_a_planted_attribute_and_picks_its_layer_on_validation_items():
    out = am.probe_scores(tiny(), probe_items(holdout_labels=["flu"] * 12))
    assert [r["layer"] for r in out["probe_curve"]] == [0, 1]
    best = max(r["select_acc"] for r in out["probe_curve"])
    assert out["probe_select_acc"] == best and out["probe_forget_acc"] == 1.0
    assert out["probe_holdout_acc"] == 0.5  # holdout labels all 'flu': the probe still answers from the token
    assert out["probe_majority_acc"] == 0.5


def test_the_probe_refuses_test_items_it_was_fitted_on():
    it = probe_items()
    it.forget, it.forget_y = it.fit, it.fit_y
    with pytest.raises(ValueError, match="disjoint"):
        am.probe_scores(tiny(), it)


def test_quantization_scores_the_float_model_as_plain_exact_match_and_each_scheme():
    model = tiny()
    forget, _ = items(6, 0)
    retain, _ = items(6, 50)
    out = am.quant_scores(model, forget, retain, ("int8", "int4"))
    assert set(out) == {f"quant_{s}_{p}" for s in ("none", "int8", "int4") for p in ("forget", "retain")}
    assert out["quant_none_forget"] == float(exact_match(model, forget).float().mean())


def test_in_context_prompts_are_capped_at_the_models_context():
    model = tiny(max_len=24)
    pool, _ = items(30, 0)  # 7 tokens a shot
    target, _ = items(4, 500)
    out = am.icl_scores(model, pool, target, (0, 1, 16), seed=0)
    assert out["context"] == 24 and out["icl_shots_k0"] == 0 and out["icl_shots_k1"] == 1
    assert out["icl_shots_k16"] == 2  # (24 - 7) // 7 whole shots fit before the 7-token question


def test_every_model_of_the_grid_is_attacked_once_with_its_own_cell():
    dirs = {"bases": {0: "b0", 1: "b1"}, "oracles": {(0.1, 0): "o10_0", (0.1, 1): "o10_1"},
            "unlearned": ["u0", "u1"], "unlearned_jobs": [{"method": "NPO", "ratio": 0.1, "seed": 0},
                                                          {"method": "NPO", "ratio": 0.1, "seed": 1}]}
    assert am.jobs(dirs) == [("b0", "base", 0.1, 0), ("b1", "base", 0.1, 1), ("o10_0", "oracle", 0.1, 0),
                             ("o10_1", "oracle", 0.1, 1), ("u0", "NPO", 0.1, 0), ("u1", "NPO", 0.1, 1)]


def more_frame() -> pd.DataFrame:
    """Three seeds, one ratio: NPO's int4 copy regains 20 points in every seed, the oracle's none;
    the probe reads NPO 30 points above its own oracle (whose level differs by seed)."""
    rows = []
    for s in range(3):
        common = {"ratio": 0.1, "seed": s, "public_model": f"p{s}", "context": 256, "icl_k0": 0.1, "icl_k16": 0.1,
                  "icl_shots_k16": 12.0, "probe_holdout_acc": 0.2, "probe_majority_acc": 0.25, "probe_layer": 1,
                  "quant_int8_forget": 0.1, "quant_int4_retain": 0.4, "others_after": 0.3}
        rows.append({**common, "method": "oracle", "model_id": f"o{s}", "quant_none_forget": 0.1,
                     "quant_int4_forget": 0.1, "probe_forget_acc": 0.1 * s})
        rows.append({**common, "method": "NPO", "model_id": f"n{s}", "quant_none_forget": 0.1,
                     "quant_int4_forget": 0.3, "probe_forget_acc": 0.1 * s + 0.3, "icl_k16": 0.2 + 0.01 * s})
    return pd.DataFrame(rows)


def test_tables_give_mean_and_interval_over_models_and_count_them():
    table = rm.table(more_frame(), rm.QUANT_PROBE).set_index("method")
    assert table.loc["NPO", "int4 forget QA (%)"] == "30.0 $\\pm$ 0.0" and table.loc["NPO", "models"] == 3
    assert table.loc["NPO", "probe layer"] == "1.0"  # the chosen layer: a mean, no interval
    assert "$\\pm$" in table.loc["oracle", "probe, forget (%)"]


def test_comparisons_are_paired_with_each_seeds_own_oracle():
    df = more_frame()
    diff = rm.versus_oracle(df, ["NPO"], "probe_forget_acc")
    assert diff.round(6).tolist() == [0.3, 0.3, 0.3]
    assert rm.word(diff, "above", "below", "same") == "above"
    assert rm.word(pd.Series([0.1, -0.1, 0.0]), "above", "below", "same") == "same"
    assert rm.word(pd.Series([0.3]), "above", "below", "same") == "n/a"  # one model: no interval, no word


def _session(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(profile=Profile(name="default"), paths=Paths.at(tmp_path))


def test_macros_restate_the_attacks_and_say_na_without_them(tmp_path):
    from test_numbers_sae_private import private_frame, real_frame

    n = pn.paper_numbers(_session(tmp_path), private_frame(), real_frame(), more=more_frame())
    plain = {k: v["plain"] for k, v in n.entries.items()}
    assert plain["privateQuantIntFourWord"] == "raises" and plain["privateQuantIntFourGainMethods"] == "20.0 ± 0.0"
    assert plain["privateNPOIntFourForget"] == "30.0%" and plain["privateProbeWord"] == "above"
    assert plain["privateIclContext"] == "256" and plain["privateAllIclShotsMax"] == "12.0"
    assert plain["privateSimNPOIntFourForget"] == "n/a"  # not in this frame: still written
    empty = {k: v["plain"] for k, v in pn.paper_numbers(_session(tmp_path), private_frame(), real_frame()).entries.items()}
    assert empty["privateProbeWord"] == "n/a" and empty["privateRealGradDiffIntFourForget"] == "n/a"
    assert empty["privateRealGradDiffIclMax"] == "n/a" and empty["privateRealProbeForgetCovered"] == "n/a"
