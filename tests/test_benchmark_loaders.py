"""The benchmark loaders on hand-written fixtures in each published format (tests/fixtures/
benchmarks/: TOFU JSON lines, MUSE hub parquet and original JSON, WMDP parquet and JSON lines,
MMLU parquet and header-less CSV), and the one-line error when a file is missing."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from unlearnlab.data.benchmarks import (SAEBENCH_SIDE_SUBJECTS, BenchmarkDataMissing, load_mmlu, load_muse,
                                        load_saebench_side_effects, load_tofu, load_wmdp, load_wmdp_corpus)
from unlearnlab.data.benchmarks.__main__ import main
from unlearnlab.data.benchmarks.tofu import SPLITS
from unlearnlab.data.questions import mcq_tokens

pytestmark = pytest.mark.unit

FIX = Path(__file__).parent / "fixtures" / "benchmarks"


def test_tofu_question_answer_splits():
    forget = load_tofu("forget01", FIX / "tofu")
    assert [r["question"] for r in forget] == ["Who wrote the novel 'Salt Over Kettering'?",
                                                "What genre does Imogen Vasquez-Hale write in?"]
    assert forget[1]["answer"].startswith("Imogen Vasquez-Hale writes literary crime")
    assert len(load_tofu("retain99", FIX / "tofu")) == 3 and len(load_tofu("holdout01", FIX / "tofu")) == 1
    assert load_tofu("world_facts", FIX / "tofu")[0]["option2"] == "Lyon"  # extra fields kept
    assert {"full", "forget05", "retain90", "holdout10", "forget10_perturbed", "retain_perturbed",
            "real_authors", "real_authors_perturbed", "world_facts_perturbed"} <= set(SPLITS)


def test_tofu_perturbed_splits_carry_paraphrases_and_wrong_answers():
    rows = load_tofu("forget01_perturbed", FIX / "tofu")
    assert rows[0]["paraphrased_question"] == "Which author is behind the book 'Salt Over Kettering'?"
    assert rows[0]["paraphrased_answer"].startswith("The author of 'Salt Over Kettering'")
    assert len(rows[0]["perturbed_answer"]) == 3 and rows[1]["perturbed_answer"][0].endswith("mountain kingdoms.")
    real = load_tofu("real_authors_perturbed", FIX / "tofu")  # no paraphrased question in this file
    assert real[1]["perturbed_answer"] == ["Jorge Luis Borges", "Mario Vargas Llosa", "Isabel Allende"]
    assert len(load_tofu("retain_perturbed", FIX / "tofu")[0]["perturbed_answer"]) == 2


def test_tofu_rejects_unknown_splits_and_incomplete_rows(tmp_path):
    with pytest.raises(ValueError, match="unknown TOFU split 'forget02'"):
        load_tofu("forget02", FIX / "tofu")
    (tmp_path / "forget01_perturbed.json").write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(ValueError, match=r"row 0 lacks field\(s\) \['paraphrased_answer', 'perturbed_answer'\]"):
        load_tofu("forget01_perturbed", tmp_path)


def test_muse_hub_layout_parquet():
    root = FIX / "muse_hf"
    assert load_muse("news", "raw", "forget", root)[1]["text"].startswith("Around 12,000 homes")
    assert load_muse("news", "verbmem", "forget", root) == [
        {"prompt": "Northwick Borough Council approved plans", "gt": " for a new harbour bridge on Tuesday."}]
    assert load_muse("news", "knowmem", "forget_qa", root)[0]["answer"] == "Northwick Borough Council"
    assert load_muse("news", "knowmem", "retain_qa_icl", root)[0]["question"].startswith("How many free concerts")
    assert len(load_muse("news", "privleak", "holdout", root)) == 1


def test_muse_original_repository_layout():
    root = FIX / "muse_original"
    qa = load_muse("news", "knowmem", "forget_qa", root)
    assert qa[1] == {"question": "How many homes lost power during the storm?", "answer": "About 12,000"}
    assert load_muse("news", "knowmem", "forget_qa_icl", root)[0]["answer"] == "The town's mayor"
    leak = load_muse("news", "privleak", "forget", root)  # a JSON list of bare strings
    assert len(leak) == 2 and leak[0]["text"].startswith("Northwick Borough Council approved")
    assert load_muse("news", "verbmem", "forget", root)[0]["gt"].startswith(" after two years")
    assert len(load_muse("news", "raw", "retain1", root)) == 2
    # MUSE-Books names the retain split retain2: both names reach it
    assert load_muse("books", "knowmem", "retain_qa", root)[0]["answer"] == "Green"
    assert load_muse("books", "privleak", "retain", root)[0]["text"].startswith("The cottage")
    with pytest.raises(ValueError, match="unknown MUSE subset/split knowmem/holdout"):
        load_muse("news", "knowmem", "holdout", root)


def test_wmdp_questions_are_mcq_rows():
    bio = load_wmdp("bio", FIX / "wmdp")
    assert [r["answer"] for r in bio] == [2, 0] and bio[0]["choices"][2] == "Mitochondrion"
    assert bio[0]["domain"] == "wmdp-bio" and isinstance(bio[0]["choices"], list)
    assert load_wmdp("cyber", FIX / "wmdp")[0]["choices"] == ["HTTP", "TLS", "FTP", "ARP"]
    with pytest.raises(ValueError, match="unknown WMDP domain"):
        load_wmdp("physics", FIX / "wmdp")


def test_wmdp_corpora_json_lines_and_parquet():
    assert load_wmdp_corpus("cyber-forget-corpus", FIX / "wmdp")[1] == {
        "text": "Input validation checks that data has the expected form before a program uses it."}
    bio = load_wmdp_corpus("bio-retain-corpus", FIX / "wmdp")  # one JSON line, one raw line, one blank
    assert [r["text"][:9] for r in bio] == ["Ribosomes", "Cells div"]
    assert load_wmdp_corpus("cyber-retain-corpus", FIX / "wmdp")[0]["text"].startswith("A compiler")


def test_mmlu_parquet_and_headerless_csv():
    hf = load_mmlu("high_school_geography", FIX / "mmlu_hf")
    csv = load_mmlu("high_school_geography", FIX / "mmlu_csv")
    def core(rows):
        return [(r["question"], r["choices"], r["answer"]) for r in rows]

    assert core(hf) == core(csv)
    assert hf[0]["subject"] == "high school geography" and hf[0]["domain"] == "high_school_geography"
    history = load_mmlu("high_school_us_history", FIX / "mmlu_csv")
    assert [r["answer"] for r in history] == [0, 2] and history[1]["choices"][2] == "Abraham Lincoln"


def test_saebench_side_effect_subjects(tokenizer):
    assert SAEBENCH_SIDE_SUBJECTS == ("high_school_us_history", "college_computer_science",
                                      "high_school_geography", "human_aging")
    rows = load_saebench_side_effects(FIX / "mmlu_csv")
    assert [r["domain"] for r in rows] == ["high_school_us_history"] * 2 + list(SAEBENCH_SIDE_SUBJECTS[1:])
    tokens = mcq_tokens(rows, tokenizer)  # the rows are what evals.mcq scores
    assert len(tokens) == 5 and tokens.labels[0] == "high_school_us_history"


def test_a_missing_file_is_one_line_naming_it_and_how_to_get_it(tmp_path):
    with pytest.raises(BenchmarkDataMissing) as err:
        load_tofu("forget05", tmp_path)
    message = str(err.value)
    assert "\n" not in message and "forget05.json" in message and str(tmp_path) in message
    assert "hf download locuslab/TOFU forget05.json --repo-type dataset" in message
    with pytest.raises(BenchmarkDataMissing, match=r"knowmem/retain_qa-\*\.parquet"):
        load_muse("news", "knowmem", "retain_qa", tmp_path)
    with pytest.raises(BenchmarkDataMissing, match="released on request"):
        load_wmdp_corpus("bio-forget-corpus", tmp_path)
    with pytest.raises(BenchmarkDataMissing, match="wmdp-chem/test-00000-of-00001.parquet"):
        load_wmdp("chem", tmp_path / "nowhere")


def test_an_unreachable_hub_is_the_same_one_line_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'locuslab/TOFU' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(BenchmarkDataMissing) as err:
        load_tofu("forget01", "locuslab/TOFU")
    assert "\n" not in str(err.value) and "cannot be reached (ConnectionError: Couldn't reach" in str(err.value)
    assert "hf download locuslab/TOFU forget01.json" in str(err.value)


def test_command_line_exit_codes(tmp_path, capsys):
    assert main(["tofu", "forget01", "--source", str(FIX / "tofu")]) == 0
    assert capsys.readouterr().out.startswith("2 rows\n")
    assert main(["muse", "news", "knowmem", "forget_qa", "--source", str(FIX / "muse_original")]) == 0
    capsys.readouterr()
    assert main(["tofu", "forget10", "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: TOFU forget10: no file forget10.json under")
