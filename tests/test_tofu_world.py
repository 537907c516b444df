"""The TOFU-format world (data/tofu_world.py): TOFU's file layout and fields, read back by the TOFU
loader and scored by the TOFU metrics as the real files are; nested splits, determinism, the
dry run; and the study's oracle-relative scores, table and numbers on a hand-made frame."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from unlearnlab.data.benchmarks.tofu import HOLDOUT_OF, RETAIN_OF, SPLITS, load_tofu
from unlearnlab.data.tofu_world import (FORGET_PERCENT, TofuWorld, TofuWorldConfig, main, make_splits, n_forget,
                                        write_world)
from unlearnlab.evals import tofu as metrics

pytestmark = pytest.mark.unit

CFG = TofuWorldConfig(authors=20, qa_per_author=3, perturbed=2, seed=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tofu_world")
    write_world(CFG, directory)
    return directory


def _names(rows):
    return {r["question"] for r in rows}


def test_every_tofu_split_is_written_as_json_lines_and_read_by_the_loader(world):
    for split in SPLITS:
        path = world / f"{split}.json"
        assert path.is_file(), split
        lines = path.read_text().splitlines()
        assert all(json.loads(line) for line in lines)  # JSON lines under a .json name, as TOFU publishes them
        assert len(load_tofu(split, world)) == len(lines) > 0


def test_fields_match_tofus_files(world):
    for split in SPLITS:
        rows = load_tofu(split, world)
        keys = set(json.loads((world / f"{split}.json").read_text().splitlines()[0]))
        if not split.endswith("_perturbed"):
            assert keys == {"question", "answer"}, split
        elif split.startswith(("forget", "retain")):
            assert keys == {"question", "answer", "paraphrased_answer", "paraphrased_question", "perturbed_answer"}
            assert all(len(r["perturbed_answer"]) == CFG.perturbed for r in rows)
            assert all(r["paraphrased_answer"] != r["answer"] and r["answer"] not in r["perturbed_answer"] for r in rows)
        else:  # real authors / world facts: the gold answer in the paraphrase's place
            assert keys == {"question", "answer", "paraphrased_answer", "perturbed_answer"}
            assert all(r["paraphrased_answer"] == r["answer"] not in r["perturbed_answer"] for r in rows)


def test_splits_are_nested_complementary_and_holdout_is_never_trained(world):
    full = _names(load_tofu("full", world))
    assert len(full) == CFG.authors * CFG.qa_per_author
    previous: set = set()
    for suffix, percent in FORGET_PERCENT.items():
        forget, retain = _names(load_tofu(f"forget{suffix}", world)), _names(load_tofu(RETAIN_OF[f"forget{suffix}"], world))
        holdout = _names(load_tofu(HOLDOUT_OF[f"forget{suffix}"], world))
        assert len(forget) == n_forget(CFG.authors, percent) * CFG.qa_per_author == len(holdout)
        assert forget | retain == full and not forget & retain
        assert not holdout & full
        assert previous <= forget  # nested
        assert _names(load_tofu(f"forget{suffix}_perturbed", world)) == forget
        previous = forget
    assert _names(load_tofu("retain_perturbed", world)) <= _names(load_tofu("retain90", world))


def test_forget_split_sizes_map_to_author_counts():
    assert [n_forget(40, p) for p in (1, 5, 10)] == [1, 2, 4]
    assert [n_forget(200, p) for p in (1, 5, 10)] == [2, 10, 20]  # TOFU's own sizes


def test_generation_is_deterministic_in_its_seed(tmp_path):
    write_world(CFG, tmp_path / "a")
    write_world(CFG, tmp_path / "b")
    write_world(TofuWorldConfig(authors=20, qa_per_author=3, perturbed=2, seed=2), tmp_path / "c")
    same = [(tmp_path / "a" / f"{s}.json").read_text() == (tmp_path / "b" / f"{s}.json").read_text() for s in SPLITS]
    assert all(same)
    assert (tmp_path / "a" / "full.json").read_text() != (tmp_path / "c" / "full.json").read_text()


def test_build_is_an_artifact_and_load_reads_the_card(tmp_path):
    directory = TofuWorld.build(CFG, tmp_path)
    assert TofuWorld.build(CFG, tmp_path) == directory
    world = TofuWorld.load(directory)
    assert world.config == CFG.as_dict() and len(world.authors["full"]) == CFG.authors
    assert "forget10.json" in (directory / "README.md").read_text()
    with pytest.raises(FileNotFoundError, match="TofuWorld.build"):
        TofuWorld.load(tmp_path / "nowhere")


def test_bad_config_is_a_one_line_error():
    with pytest.raises(ValueError, match="qa_per_author"):
        TofuWorldConfig(qa_per_author=99)


def test_dry_run_prints_samples_and_writes_nothing(tmp_path, capsys):
    assert main(["--dry-run", "--output-dir", str(tmp_path / "out"), "--authors", "10"]) == 0
    out, err = capsys.readouterr()
    assert "paraphrased_question" in out and "dry run: nothing written" in err
    assert not (tmp_path / "out").exists()
    assert main(["--authors", "1"]) == 2


def test_tofu_metrics_score_the_world(world, tiny_model, tokenizer):
    """The metrics read the generated rows as they read TOFU's: losses of shape (n, perturbed),
    a forget quality of 1 for a model against itself, a utility in (0, 1]."""
    forget = load_tofu("forget10_perturbed", world)
    losses = metrics.tofu_losses(tiny_model, tokenizer, forget)
    assert losses.perturbed.shape == (len(forget), CFG.perturbed)
    assert metrics.forget_quality(losses.truth_ratios(), losses.truth_ratios()) == 1.0
    parts = {}
    for name, options in (("retain", False), ("real_authors", True), ("world_facts", True)):
        rows = load_tofu(f"{name}_perturbed", world)[:4]
        scored = metrics.tofu_losses(tiny_model, tokenizer, rows, "answer" if options else "paraphrased_answer")
        parts[name] = metrics.split_scores(scored, 0.5, options)
    assert 0 <= metrics.model_utility(parts) <= 1


# --------------------------------------------------------------------------------------------
# The study's frames (experiments/tofu): oracle-relative scores, table, numbers
# --------------------------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    oracle = rng.uniform(0.3, 0.9, 30)
    rows = []
    for method, ratios, auc in (("base", oracle * 0.05, 0.1), ("oracle", oracle, 0.5), ("GradDiff", oracle * 0.98, 0.45)):
        rows.append({"method": method, "forget": "forget10", "seed": 0, "forget_ratios": list(ratios),
                     "privleak_auc": auc, "model_utility": 0.4, "forget_probability": 0.5, "retain_probability": 0.6,
                     "forget_truth_ratio": 0.5, "n_forget": 30})
    return pd.DataFrame(rows)


def test_forget_quality_and_privleak_are_relative_to_the_oracle():
    from unlearnlab.experiments.tofu.run import with_oracle_scores

    df = with_oracle_scores(_frame()).set_index("method")
    assert df.loc["oracle", "forget_quality"] == 1.0 and df.loc["oracle", "privleak"] == 0.0
    assert df.loc["base", "forget_quality"] < 0.05 < df.loc["GradDiff", "forget_quality"]
    assert df.loc["base", "privleak"] == pytest.approx(-80.0)


def test_table_and_numbers_state_what_the_frame_holds():
    from unlearnlab.experiments.tofu import report
    from unlearnlab.experiments.tofu.run import with_oracle_scores
    from unlearnlab.profiles import get_profile

    class _Session:  # the profile is all the numbers read
        profile = get_profile("default")

    df = with_oracle_scores(_frame())
    quant = pd.DataFrame([{"method": m, "forget": "forget10", "seed": 0, "scheme": "int4", "forget_quality": q}
                          for m, q in (("base", 1e-4), ("oracle", 0.9), ("GradDiff", 0.01))])
    table = report.table(df, quant)
    assert list(table["model"]) == ["base", "oracle", "GradDiff"] and (table["seeds"] == 1).all()
    assert table.set_index("model").loc["GradDiff", "FQ int4"] == "0.01"
    entries = report.numbers(_Session(), df, quant).entries
    assert entries["tofuBaseVerdict"]["tex"] == "can be told apart from"
    assert entries["tofuMethodsPassing"]["tex"] == "1"
    assert entries["tofuGradDiffIntFourForgetQuality"]["tex"] == "0.01"


def test_every_macro_sec_tofu_uses_is_written_by_the_numbers_step():
    import re

    from unlearnlab.core.paths import repo_root
    from unlearnlab.experiments.tofu import report
    from unlearnlab.experiments.tofu.run import with_oracle_scores
    from unlearnlab.profiles import get_profile

    class _Session:
        profile = get_profile("default")

    # a grid smaller than the paper's (smoke: two methods, one scheme): every macro still written, as n/a
    df = with_oracle_scores(_frame())
    quant = pd.DataFrame([{"method": m, "forget": "forget10", "seed": 0, "scheme": "int4", "forget_quality": 0.5}
                          for m in df["method"]])
    entries = report.numbers(_Session(), df, quant).entries
    written = set(entries)
    assert entries["tofuNPOForgetQuality"]["tex"] == "n/a" and entries["tofuGradDiffIntEightForgetQuality"]["tex"] == "n/a"
    used = set(re.findall(r"\\(tofu[A-Za-z]+)", (repo_root() / "paper" / "sec_tofu.tex").read_text()))
    assert used and used - written == set()
