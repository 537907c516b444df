"""Private records, real tier: in-context relearning on the SmolLM2 adapters
(``attacks_more.real_icl`` / ``real_icl_run``, ``report_more.write_real_icl_table``). Which items
the attack reads (the relearning split: shots from the relearned clients' trained pairs, questions
about the other forget clients), that k = 0 is plain exact match, that every model (base and
oracle per seed, each unlearned model) gets a cached row, and that the table, caption and
sentence restate the rows (what capped the shots: the context or the pool)."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from unlearnlab.core.paths import Paths
from unlearnlab.experiments.private import attacks_more as am
from unlearnlab.experiments.private import report_more as rm
from unlearnlab.experiments.private.attacks_more import MoreAttacksConfig
from unlearnlab.profiles import Profile


def icl_frame(shots16=(8.0, 8.0, 8.0), pool=8) -> pd.DataFrame:
    """One seed of the real tier: base, oracle, GradDiff; four questions, eight pairs in the pool."""
    rows = []
    for (method, k0, k16), shots in zip((("base", 0.75, 1.0), ("oracle", 0.0, 0.25), ("GradDiff", 0.0, 0.5)), shots16):
        rows.append({"method": method, "seed": 0, "ratio": 0.2, "model_id": method, "context": 8192, "n_pool": pool,
                     "n_target": 4, "n_others": 2, "icl_k0": k0, "icl_k1": k0, "icl_k4": k16, "icl_k16": k16,
                     "icl_shots_k0": 0.0, "icl_shots_k1": 1.0, "icl_shots_k4": 4.0, "icl_shots_k16": shots,
                     "others_before": k0, "others_after": None if method == "base" else 0.5})
    return pd.DataFrame(rows)


@pytest.mark.unit
def test_the_shot_cap_names_what_kept_the_prompts_short():
    cap = lambda shots, pool: rm.shot_cap(pd.Series(shots), pd.Series(pool), 16)
    assert cap([8.0, 8.0], [8, 8]) == "the relearned clients' pairs"  # 8 pairs: 8 shots at most
    assert cap([7.5, 8.0], [8, 8]) == "the context"  # one prompt lost a shot it had
    assert cap([12.0], [40]) == "the context"
    assert cap([16.0], [40]) == "nothing"
    assert cap([], []) == "n/a"


@pytest.mark.unit
def test_the_real_icl_table_restates_the_rows_and_its_caption_says_what_it_counts(tmp_path):
    session = SimpleNamespace(profile=Profile(name="default"), paths=Paths.at(tmp_path).ensure())
    out = rm.write_real_icl_table(session, icl_frame()).set_index("method")
    assert out.loc["GradDiff", "k=0 (%)"] == "0.0" and out.loc["GradDiff", "k=16 (%)"] == "50.0"
    assert out.loc["base", "shots at k=16"] == "8.0" and out.loc["oracle", "relearned (%)"] == "50.0"
    assert (out["models"] == 1).all()
    tex = (tmp_path / "paper" / "tables" / "private_icl_real.tex").read_text()
    assert "tab:private-icl-real" in tex and "8 trained question--answer pairs" in tex and "4 test-wording" in tex
    assert "8192 tokens" in tex and "capped it: the relearned clients' pairs" in tex and "by 25.0 points" in tex
    facts = rm.real_icl_facts(icl_frame(shots16=(8.0, 7.0, 8.0)))
    assert facts["cap"] == "the context" and facts["shots"] == "7.7" and facts["runs"] == "3"
    text = rm.describe_real_icl(icl_frame())
    assert "GradDiff: 0.0 % at k = 0, 50.0 % at k = 16 (change +50.0 points, 1 seed)" in text
    assert "4 questions about 2 forget clients, shots from 8 pairs" in text and "one question = 25.0 points" in text
    (tmp_path / "paper" / "tables" / "private_icl_real.tex").unlink()
    rm.write_real_icl_table(session, icl_frame(), model="some/model")  # a user's model: shown, not written
    assert not (tmp_path / "paper" / "tables" / "private_icl_real.tex").exists()


# --------------------------------------------------------------------------------------------
# On the smoke profile's world with a tiny random model in SmolLM2's place
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_real(tmp_path_factory):
    from unlearnlab.core.models import ModelSize, build_llama, save_model
    from unlearnlab.experiments.private import run as pr
    from unlearnlab.experiments.session import start

    root = tmp_path_factory.mktemp("real_icl")
    session = start("smoke", root / "root")
    world = pr.load_world(session)
    model_dir = root / "tiny"
    save_model(build_llama(ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64, max_len=256), len(world.tokenizer),
                           world.tokenizer, seed=0), world.tokenizer, model_dir)
    return session, world, str(model_dir)


@pytest.mark.integration
def test_real_icl_reads_the_relearning_split_and_k0_is_plain_exact_match(tiny_real, monkeypatch):
    from unlearnlab.experiments.private import real
    from unlearnlab.experiments.private.evaluate import relearn_split

    session, world, model = tiny_real
    rc = real.real_config(session, model)
    split = real.real_split(world, rc)
    base_dir = real.finetune(session, world, rc, split, "base")
    row = am.real_icl(session, world, base_dir, "base", 0, model)
    attacked, others = relearn_split(split.forget, 0)
    assert others and row["n_relearned"] == len(attacked) and row["n_others"] == len(others)
    assert row["n_pool"] == len(real.qa_rows(world, attacked, rc, "train")) > 0
    assert row["n_target"] == len(real.qa_rows(world, others, rc, "test")) > 0
    assert row["context"] == 256 and row["icl_shots_k0"] == 0 and row["icl_shots_k1"] == 1
    assert row["icl_shots_k16"] == min(16, row["n_pool"])  # short prompts: only the pool caps the shots
    adapted, tokenizer = real.load_adapted(session, rc, base_dir / "adapter")
    with torch.no_grad(), real.precision(session):
        plain = real._acc(adapted, real.tokens(tokenizer, real.qa_rows(world, others, rc, "test")))
    assert row["icl_k0"] == pytest.approx(plain)
    monkeypatch.setattr(am, "icl_scores", lambda *a, **k: pytest.fail("a stored row was recomputed"))
    assert am.real_icl(session, world, base_dir, "base", 0, model)["icl_k16"] == row["icl_k16"]

    seen = {}
    monkeypatch.setattr(am, "icl_scores", lambda m, pool, target, ks, seed: seen.update(pool=pool, target=target,
                                                                                         ks=ks, seed=seed) or {})
    am.real_icl(session, world, base_dir, "base", 1, model)  # another seed: another row, another split
    attacked, others = relearn_split(split.forget, 1)
    assert seen["pool"].prompts == real.tokens(tokenizer, real.qa_rows(world, attacked, rc, "train")).prompts
    assert seen["target"].prompts == real.tokens(tokenizer, real.qa_rows(world, others, rc, "test")).prompts
    assert seen["ks"] == MoreAttacksConfig().ks and seen["seed"] == 1
    facts = {(r["client"], r["answer"]) for r in real.qa_rows(world, others, rc, "test")}
    assert not facts & {(r["client"], r["answer"]) for r in real.qa_rows(world, attacked, rc, "train")}


@pytest.mark.integration
def test_every_real_model_gets_an_icl_row_with_its_relearning_beside_it(tiny_real):
    from unlearnlab.experiments.private import real

    session, world, model = tiny_real
    rc = real.real_config(session, model)
    labels = [real._label(rc, m, lr) for m, lr in rc.real_methods]
    real_df = pd.DataFrame([{"method": m, "seed": s, "others_before": 0.1, "others_after": 0.9}
                            for s in rc.real_seeds for m in ("oracle", *labels)])
    out = am.real_icl_run(session, world, real_df, model)
    expected = {("base", s) for s in rc.real_seeds} | {("oracle", s) for s in rc.real_seeds}
    expected |= {(m, s) for s in rc.real_seeds for m in labels}
    assert set(zip(out["method"], out["seed"])) == expected and len(out) == len(expected)
    assert out.set_index("method").loc["oracle", "others_after"] == 0.9
    assert pd.isna(out.set_index("method").loc["base", "others_after"])  # the base is not relearned
    assert out["model_id"].nunique() == len(out)  # one adapter each (one seed in the smoke grid)
    table = rm.write_real_icl_table(session, out)
    assert list(table["method"]) == list(out["method"])
    assert (session.paths.tables / "private_icl_real.tex").is_file()


@pytest.mark.integration
def test_the_probe_coverage_counts_the_diagnoses_a_retain_fitted_probe_could_name(tiny_real):
    from unlearnlab.experiments.private import real

    session, world, model = tiny_real
    split = real.real_split(world, real.real_config(session, model))
    out = am.real_probe_coverage(session, world, model)
    seen = [world.records[c]["diagnosis"] for c in split.retain]  # one validation question per client
    assert out["val_items"] == len(split.retain) and out["val_classes"] == len(set(seen))
    assert out["val_repeated"] == sum(seen.count(d) >= 2 for d in seen)
    assert out["forget_items"] == len(split.forget)
    assert out["forget_covered"] == sum(world.records[c]["diagnosis"] in seen for c in split.forget)
    assert out["holdout_covered"] == sum(world.records[c]["diagnosis"] in seen for c in split.holdout)
