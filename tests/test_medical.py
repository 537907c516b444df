"""Synthetic SOAP notes: valid JSON with every field, deterministic, internally consistent;
splits disjoint by client and nested; probes; the CLI's dry run; the WMDP-style corpus path."""

import json
import re

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from unlearnlab.data import medical as med
from unlearnlab.data import wmdp
from unlearnlab.evals.mia import mia_auc

pytestmark = pytest.mark.integration

CONDITIONS = {c.diagnosis: c for c in med.CONDITIONS}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return med.generate(400, seed=7)


def test_records_are_valid_json_with_every_field(records):
    for record in records:
        back = json.loads(json.dumps(record))
        assert set(back) == set(med.RECORD_FIELDS) | set(med.ANNOTATION_FIELDS)
        assert all(isinstance(back[f], str) and back[f] for f in back)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", back["date_of_birth"]) and back["date_of_birth"] < back["date"]
    assert len({r["client_name"] for r in records}) == len(records)


def test_generation_is_deterministic_for_a_seed(records):
    assert med.generate(400, seed=7) == records
    assert med.generate(400, seed=8) != records


def test_notes_are_consistent_with_the_diagnosis(records):
    for r in records:
        condition = CONDITIONS[r["diagnosis"]]
        assert r["medication"] in {d for d, _ in condition.drugs}
        assert r["medication"] in r["plan"] and r["diagnosis"] in r["assessment"].lower()
        sbp, dbp = map(int, re.search(r"BP (\d+)/(\d+)", r["objective"]).groups())
        temp = float(re.search(r"Temp ([\d.]+) C", r["objective"]).group(1))
        if r["diagnosis"] == "essential hypertension":
            assert sbp >= 146 and dbp >= 92
        else:
            assert sbp <= 132
        assert (temp >= 38.3) == (r["diagnosis"] == "community acquired pneumonia")
    assert len({r["diagnosis"] for r in records}) == len(med.CONDITIONS)  # variety


def test_splits_are_disjoint_by_client_and_nested():
    records = med.generate(300, seed=1)
    records += [{**records[0], "date": "2024-12-30"}]  # a second visit of one client stays with them
    splits = med.split_clients(records, med.FORGET_RATIOS, seed=3, holdout_ratio=0.1)
    assert not set(splits.full) & set(splits.holdout)
    previous: set[str] = set()
    for ratio, forget in splits.forget.items():
        assert set(forget) <= set(splits.full) and previous <= set(forget)
        assert not set(forget) & set(splits.retain(ratio))
        assert set(forget) | set(splits.retain(ratio)) == set(splits.full)
        previous = set(forget)
    assert [len(c) for c in splits.forget.values()] == [3, 14, 27, 54]
    files = med.split_files(records, splits)
    forget = {r["client_name"] for r in files["med_synthetic_forget10.json"]}
    rest = {r["client_name"] for r in files["med_synthetic_full_minus_forget10.json"]}
    assert forget and rest and not forget & rest
    assert len(files["med_synthetic_full.json"]) == len(files["med_synthetic_forget10.json"]) + len(
        files["med_synthetic_full_minus_forget10.json"])


def test_one_paraphrase_per_field_is_held_out(records):
    probes = med.qa_probes(records[0])
    for field in med.QA_FIELDS:
        rows = [q for q in probes if q["field"] == field]
        assert sum(q["held_out"] for q in rows) == 1 and len(rows) == len(med.QA_TEMPLATES[field])
        assert all(q["answer"] == records[0][field] and records[0]["client_name"] in q["prompt"] for q in rows)
    held = {med.held_out_template(r["client_name"], "diagnosis") for r in records}
    assert held == set(range(len(med.QA_TEMPLATES["diagnosis"])))  # every wording is trained for someone
    probe = med.verbatim_probe(records[0])
    assert f"{probe['prompt']} {probe['answer']}" == med.note_text(records[0])


def test_validation_wording_is_a_second_held_out_paraphrase_and_test_is_unchanged(records):
    """The validation paraphrase differs from the test one, neither is trained, and the test
    paraphrase is the same whether a validation one is held out or not."""
    for r in records[:40]:
        plain, with_val = med.qa_probes(r), med.qa_probes(r, val=True)
        assert [q["held_out"] for q in plain] == [q["held_out"] for q in with_val]  # test items unchanged
        for field in med.QA_FIELDS:
            rows = [q for q in with_val if q["field"] == field]
            assert sum(q["val"] for q in rows) == 1 and not any(q["val"] and q["held_out"] for q in rows)
            assert sum(q["trained"] for q in rows) == len(rows) - 2
            assert all(q["trained"] == (not q["held_out"] and not q["val"]) for q in rows)
        assert not any(q["val"] for q in plain) and sum(q["trained"] for q in plain) == len(plain) - len(med.QA_FIELDS)
    vals = {med.val_template(r["client_name"], "diagnosis") for r in records}
    assert vals == set(range(len(med.QA_TEMPLATES["diagnosis"])))  # every wording validates someone


def test_cli_dry_run_prints_three_notes_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "notes.jsonl"
    assert med.main(["--dry-run", "--sample", "3", "--n-records", "50", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    notes = [json.loads(chunk) for chunk in re.split(r"\n(?=\{)", printed.strip())]
    assert len(notes) == 3 and all(set(med.RECORD_FIELDS) <= set(n) for n in notes)
    assert not list(tmp_path.iterdir())


def test_cli_writes_jsonl_splits_and_card(tmp_path, capsys):
    out = tmp_path / "notes.jsonl"
    assert med.main(["--n-records", "60", "--output", str(out), "--sample", "0"]) == 0
    assert len(med.read_jsonl(out)) == 60
    names = {p.name for p in tmp_path.iterdir()}
    assert {"med_synthetic_full.json", "med_synthetic_forget10.json", "med_synthetic_full_minus_forget20.json",
            "med_synthetic_holdout.json", "README.md"} <= names
    assert "| forget 10 %" in (tmp_path / "README.md").read_text()
    assert med.main(["--input-file", str(out), "--output", str(tmp_path / "again" / "x.jsonl"), "--sample", "0"]) == 0


def test_wmdp_corpus_from_a_local_file(tmp_path):
    papers = [f"Paper {i} studies a protein. The assay used cells from donor {i}. Results were significant, "
              f"e.g. in mice. Short. Figure {i} shows the effect." for i in range(20)]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps({"text": p}) for p in papers))
    rows = wmdp.prepare(wmdp.load_documents(path), target_size=50, seed=0)
    assert len(rows) == 50 and set(rows[0]) == {"text", "source", "type", "paper_index", "sentence_index"}
    assert all(len(r["text"]) >= 20 for r in rows) and rows[0]["type"] == "paper_sentence"
    assert any("e.g. in mice" in r["text"] for r in rows)  # no split after an abbreviation
    files = wmdp.split_by_paper(rows, (0.1, 0.2), seed=0)
    gone = {r["paper_index"] for r in files["wmdp_bio_forget10.json"]}
    kept = {r["paper_index"] for r in files["wmdp_bio_full_minus_forget10.json"]}
    assert gone and not gone & kept
    txt = tmp_path / "corpus.txt"
    txt.write_text("\n\n".join(papers))
    assert wmdp.load_documents(txt) == papers
    assert wmdp.main(["--input", str(txt), "--output-dir", str(tmp_path / "out"), "--target-size", "30"]) == 0
    assert (tmp_path / "out" / "wmdp_bio_forget5.json").is_file()


def test_wmdp_hub_path_fails_clearly_offline(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="local corpus file"):
        wmdp.load_documents("cais/wmdp-corpora")
    with pytest.raises(FileNotFoundError):
        wmdp.load_documents("missing_corpus.jsonl")


def test_private_records_world_keeps_heldout_data_out_of_training(tmp_path):
    from unlearnlab.core.paths import Paths
    from unlearnlab.data.medical_world import MedicalWorld
    from unlearnlab.experiments.private import run as pr
    from unlearnlab.experiments.private.evaluate import relearn_split
    from unlearnlab.experiments.session import Session
    from unlearnlab.profiles import get_profile

    session = Session(get_profile("smoke"), Paths.at(tmp_path).ensure())
    world = pr.load_world(session)
    s = world.splits
    assert not set(world.public) & (set(s.full) | set(s.holdout))
    for ratio in session.profile.private.forget_ratios:
        assert len(s.forget[ratio]) >= session.profile.private.min_forget
        train_rows = world.training_rows(s.retain(ratio))
        trained = {r.get("prompt") or r["text"] for r in train_rows}
        assert not any(c in t for t in trained for c in s.forget[ratio] + s.holdout)
        held = {q["prompt"] for c in s.retain(ratio) for q in world.probes(c) if q["held_out"]}
        val = {q["prompt"] for c in s.retain(ratio) for q in world.probes(c) if q["val"]}
        assert held and val and not held & trained and not val & trained and not held & val
        forget_rows = world.training_rows(s.forget[ratio])  # what unlearning and the attack train on
        assert not {q.get("prompt") for q in forget_rows} & {q["prompt"] for c in s.forget[ratio]
                                                             for q in world.probes(c) if not q["trained"]}
        assert len(world.questions(s.forget[ratio], "val")) == len(s.forget[ratio]) * len(med.QA_FIELDS)
        n = session.profile.private.retain_eval_clients  # UNDO's stop reads the validation wording, not the test one
        stop, clients = pr.undo_stop_items(world, ratio, n), world.retain_eval_clients(ratio, n)
        assert stop.prompts == world.questions(clients, "val").prompts != world.questions(clients).prompts
        relearned, others = relearn_split(s.forget[ratio], seed=0)
        assert relearned and others and not set(relearned) & set(others)
        assert set(relearned) | set(others) == set(s.forget[ratio])
    assert MedicalWorld.load(world.directory).splits == s  # reloads identically
    assert MedicalWorld.build(pr.world_config(session), session.paths.data) == world.directory  # built once


def test_real_tier_splits_trains_adapters_and_reports_every_model(tmp_path):
    """The real tier end to end on a tiny local Llama standing in for SmolLM2 (same code path:
    a local model directory, LoRA adapters on its last layers, registry methods on the adapter)."""
    from unlearnlab.experiments.private import real as rr
    from unlearnlab.experiments.private import run as pr
    from unlearnlab.experiments.session import Session
    from unlearnlab.core.models import ModelSize, build_llama, save_model
    from unlearnlab.core.paths import Paths
    from unlearnlab.profiles import get_profile

    session = Session(get_profile("smoke"), Paths.at(tmp_path / "root").ensure())
    world = pr.load_world(session)
    model_dir = tmp_path / "tiny"
    save_model(build_llama(ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64), len(world.tokenizer),
                           world.tokenizer, seed=0), world.tokenizer, model_dir)
    cfg = rr.real_config(session, str(model_dir))
    assert cfg.real_model == str(model_dir) and rr.real_config(session) == session.profile.private
    split = rr.real_split(world, cfg)
    assert len(split.members) == cfg.real_clients and len(split.holdout) == cfg.real_holdout
    assert split.forget and not set(split.forget) & set(split.retain) and not set(split.members) & set(split.holdout)
    oracle_text = " ".join(rr.texts(rr.qa_rows(world, split.retain, cfg, "train")))
    assert not any(c in oracle_text for c in split.forget + split.holdout)
    assert all(r["answer"].startswith(" ") and r["field"] in cfg.real_fields for r in rr.qa_rows(world, split.forget, cfg, "test"))

    assert "RMU" in {m for m, _ in cfg.real_methods} and cfg.real_train_notes  # the smoke grid exercises both paths
    df = rr.run(session, world, str(model_dir))
    methods = [m for m, _ in cfg.real_methods]
    assert len(df) == 1 + len(cfg.real_seeds) * (1 + len(methods))
    assert set(df["method"]) == {"base", "oracle", *methods}
    assert (df["n_forget_questions"] == len(split.forget) * len(cfg.real_fields)).all()
    assert df["forget_qa_acc"].between(0, 1).all() and df["auc_min_k"].between(0, 1).all()
    assert df["auc_note_min_k"].between(0, 1).all() and df["forget_verbatim"].between(0, 1).all()
    assert df.loc[df["method"] != "base", "others_after"].notna().all()
    # the stored AUCs are those of the saved adapters on the right member / non-member texts
    model, tokenizer = rr.load_adapted(session, cfg, artifacts(tmp_path / "root", "medical_real_oracle") / "adapter")
    members, others = (rr.qa_rows(world, c, cfg, "train") for c in (split.forget, split.holdout))
    auc = mia_auc(model, rr.tokens(tokenizer, members), rr.tokens(tokenizer, others), rr.texts(members),
                  rr.texts(others), k=session.profile.private.mia_k)["min_k"]
    assert df.loc[df["method"] == "oracle", "auc_min_k"].iloc[0] == pytest.approx(auc)
    # every method changed the base's adapter (RMU included: its layer lies inside the adapted ones)
    base = load_file(artifacts(tmp_path / "root", "medical_real_base") / "adapter" / "adapter_model.safetensors")
    for method in methods:
        after = load_file(artifacts(tmp_path / "root", f"medical_real_{method}_") / "adapter" / "adapter_model.safetensors")
        assert any(not torch.equal(base[k], after[k]) for k in base), method
    pd.testing.assert_frame_equal(rr.run(session, world, str(model_dir)), df)  # a rerun reads every cached result


def artifacts(root, prefix: str):
    """The one finished artifact directory whose name starts with ``prefix``."""
    found = [d for d in root.glob(f"artifacts/*/{prefix}*") if (d / ".done").is_file()]
    assert len(found) == 1, found
    return found[0]


def test_private_spans_cover_the_client_values_not_the_template(records):
    for r in records[:50]:
        text = med.note_text(r)
        private = "".join(text[a:b] for a, b in med.private_spans(r))
        for value in (r["date_of_birth"], r["date"], r["medication"]):
            assert value in private
        assert r["diagnosis"] in private.lower()
        assert re.search(r"BP (\d+)/(\d+)", text).group(1) in private
        for template in ("Objective:", "Assessment:", "Plan:", "Exam:", "SpO2", " kg", "Follow up"):
            assert template not in private
    cut = med.verbatim_cut(med.note_text(records[0]))
    assert med.note_text(records[0])[cut:] == med.verbatim_probe(records[0])["answer"]


def test_private_token_accuracy_scores_only_private_tokens_after_the_cut():
    """A model that predicts every token perfectly scores 1 on both measures; one that knows
    only the template (its argmax is right exactly off the private spans) scores 0 on private
    tokens and the template share on all tokens; a text without private tokens scores NaN."""
    from unlearnlab.core.tokenizer import train_tokenizer
    from unlearnlab.evals.verbatim import private_token_accuracy

    texts = ["alpha beta 123 gamma delta 456 omega", "alpha beta gamma delta omega"]
    tok = train_tokenizer(texts * 20, 300)
    spans = [[(m.start(), m.end()) for m in re.finditer(r"\d+", t)] for t in texts]
    starts = [len("alpha beta "), len("alpha beta ")]
    encoded = [[tok.bos_token_id] + tok.encode(t, add_special_tokens=False) + [tok.eos_token_id] for t in texts]

    class Oracle(torch.nn.Module):
        """Predicts the gold next token, except at positions listed in ``wrong``."""

        def __init__(self, wrong):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.wrong = wrong

        def forward(self, input_ids, attention_mask=None, **kw):
            logits = torch.zeros(*input_ids.shape, len(tok))
            for row, ids in enumerate(encoded):
                for t in range(len(ids) - 1):
                    target = ids[t + 1] if (row, t) not in self.wrong else (ids[t + 1] + 1) % len(tok)
                    logits[row, t, target] = 1.0
            return type("Out", (), {"logits": logits})()

    perfect, every = private_token_accuracy(Oracle(set()), tok, texts, spans, starts)
    assert perfect[0] == 1.0 and every[0] == 1.0 and torch.isnan(perfect[1]) and every[1] == 1.0
    offsets = tok(texts[0], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    private = {(0, j) for j, (a, b) in enumerate(offsets) if any(a < e and s < b for s, e in spans[0])}
    scored = [j for j, (_, b) in enumerate(offsets) if b > starts[0]]
    priv, every = private_token_accuracy(Oracle(private), tok, texts, spans, starts)
    assert priv[0] == 0.0 and every[0] == pytest.approx(1 - len(private) / len(scored))


def test_one_seed_cells_are_untested_not_clean():
    from unlearnlab.experiments.private import report as pr

    row = {k: False for k in pr.CRITERIA}
    ver = pd.DataFrame([{"method": "GradDiff", "ratio": 0.2, "seeds": 1, **row},
                        {"method": "NPO", "ratio": 0.2, "seeds": 3, **row},
                        {"method": "NPO", "ratio": 0.1, "seeds": 3, **row, next(iter(pr.CRITERIA)): True}])
    text = pr._summary(ver)
    assert "Over all 2 " in text and "every criterion: 1 (1 more cells with one seed: no verdict)" in text
    assert pr._summary(ver.iloc[:1]).startswith("No verdicts")
