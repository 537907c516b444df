"""The private-records world on disk: synthetic SOAP notes, client splits and a tokenizer.

``MedicalWorld.build(config, data_dir)`` generates, once per config, the records of the public
clients (pretraining) and of the private ones (``clients`` members plus ``holdout`` non-members;
nested forget sets per ratio, see ``data.medical.split_clients``), grammar English, and a
tokenizer trained on all of it, in a config-keyed directory under ``data_dir``;
``MedicalWorld.load(directory)`` reads it back and builds every ``TokenSet`` the study trains and
evaluates on. The records' grammar, probes and splits are ``data.medical``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.models import load_tokenizer
from unlearnlab.core.tokenizer import train_tokenizer
from unlearnlab.data import english
from unlearnlab.data import medical as med


@dataclass(frozen=True)
class MedicalWorldConfig:
    """What the world is generated from, its data seed included (the private study builds it
    from its profile section: ``experiments.private.run.world_config``)."""

    public: int  # clients of the public pretraining
    clients: int  # private clients of the base model ("full")
    holdout: int  # never trained: the non-members of membership inference
    ratios: tuple[float, ...]  # forget ratios (nested forget sets)
    min_forget: int  # forget clients per ratio, at least
    n_english: int  # training sentences (a quarter as many more are held out)
    vocab_size: int
    seed: int = 0
    # a second paraphrase per (client, field) kept out of every training set: the validation item
    # every choice of the study reads (the test paraphrase is the same either way)
    val_questions: bool = True

    def as_dict(self) -> dict:
        """The artifact key and the card's config (the world's directory name hashes it)."""
        return {"world": "medical", "seed": self.seed, "public": self.public, "clients": self.clients,
                "holdout": self.holdout, "ratios": list(self.ratios), "min_forget": self.min_forget,
                "n_english": self.n_english, "vocab_size": self.vocab_size, "val_questions": self.val_questions}


def _write(cfg: MedicalWorldConfig, tmp: Path) -> None:
    """Records, splits, English sentences, dataset card and tokenizer into ``tmp``."""
    n_private = cfg.clients + cfg.holdout
    records = med.generate(cfg.public + n_private, cfg.seed)
    public, private = records[: cfg.public], records[cfg.public:]
    splits = med.split_clients(private, cfg.ratios, cfg.seed, cfg.holdout / max(1, n_private), cfg.min_forget)
    med.write_jsonl(tmp / "records.jsonl", records)
    sentences = english.corpus(cfg.n_english + cfg.n_english // 4, cfg.seed + 1)
    texts = [med.note_text(r) for r in records] + sentences
    texts += [f"{q['prompt']} {q['answer']}" for r in records for q in med.qa_probes(r, cfg.seed)]
    train_tokenizer(texts, cfg.vocab_size).save_pretrained(tmp / "tokenizer")
    (tmp / "README.md").write_text(med.dataset_card(private, splits, cfg.as_dict()))
    write_json_atomic(tmp / "card.json", {
        "name": "private records (synthetic SOAP notes)", "config": cfg.as_dict(), "english": sentences,
        "clients": {"public": [r["client_name"] for r in public], "full": splits.full, "holdout": splits.holdout,
                    "forget": {str(r): c for r, c in splits.forget.items()}}})


@dataclass
class MedicalWorld:
    """Records by client, client splits and the tokenizer; builds every TokenSet the
    experiment needs."""

    directory: Path
    tokenizer: PreTrainedTokenizerFast
    records: dict[str, dict]
    public: list[str]
    splits: med.ClientSplits
    english_train: list[str]
    english_eval: list[str]
    seed: int
    val_questions: bool = False

    @classmethod
    def build(cls, config: MedicalWorldConfig, data_dir: Path) -> Path:
        """Generate and save the world once (skipped when done); return its directory."""
        return Artifact(data_dir, "worlds", "medical", config.as_dict()).build(lambda tmp: _write(config, tmp))

    @classmethod
    def load(cls, directory: str | Path) -> "MedicalWorld":
        directory = Path(directory)
        if not (directory / ".done").is_file():
            raise FileNotFoundError(f"no complete medical world at {directory}; MedicalWorld.build() writes it")
        card = read_json(directory / "card.json")
        clients = card["clients"]
        splits = med.ClientSplits(full=clients["full"], holdout=clients["holdout"],
                                  forget={float(r): c for r, c in clients["forget"].items()})
        records = {r["client_name"]: r for r in med.read_jsonl(directory / "records.jsonl")}
        n = card["config"]["n_english"]
        return cls(directory, load_tokenizer(directory / "tokenizer"), records, clients["public"], splits,
                   card["english"][:n], card["english"][n:], card["config"]["seed"],
                   bool(card["config"].get("val_questions", False)))

    def tokens(self, rows: list[dict], label_key: str = "field") -> TokenSet:
        return TokenSet.from_rows(rows, self.tokenizer, label_key=label_key)

    def probes(self, client: str) -> list[dict]:
        """Every question about ``client`` (``med.qa_probes``: trained, test and, in a world with
        ``val_questions``, validation paraphrases)."""
        return med.qa_probes(self.records[client], self.seed, self.val_questions)

    def training_rows(self, clients: Sequence[str], all_paraphrases: bool = False) -> list[dict]:
        """Notes and questions of ``clients``: the trained paraphrases (every paraphrase, test and
        validation ones included, only if ``all_paraphrases``: the public clients, never scored)."""
        rows = []
        for c in clients:
            rows.append({"text": med.note_text(self.records[c]), "field": "note", "client": c})
            rows += [q for q in self.probes(c) if all_paraphrases or q["trained"]]
        return rows

    def corpus(self, clients: Sequence[str], all_paraphrases: bool = False) -> TokenSet:
        """Training data of a model: the clients' rows plus the English sentences."""
        rows = self.training_rows(clients, all_paraphrases) + [{"text": s, "field": "english"}
                                                               for s in self.english_train]
        return self.tokens(rows, "field")

    def records_set(self, clients: Sequence[str], label: str) -> TokenSet:
        """What unlearning and relearning use: the clients' notes and trained questions, every
        row labelled ``label`` ('forget' / 'retain')."""
        return self.tokens([{**r, "split": label} for r in self.training_rows(clients)], "split")

    def retain_set(self, ratio: float) -> TokenSet:
        """Retain data of a split for unlearning: the other clients' records and the English."""
        english_rows = [{"text": s, "split": "retain"} for s in self.english_train]
        return self.records_set(self.splits.retain(ratio), "retain").concat(self.tokens(english_rows, "split"))

    def questions(self, clients: Sequence[str], use: str = "test") -> TokenSet:
        """QA probes (label: field) of ``clients``: ``use`` 'test' (the held-out paraphrase the
        tables report), 'val' (the validation paraphrase choices read) or 'train' (the trained ones)."""
        flag = {"test": "held_out", "val": "val", "train": "trained"}[use]
        rows = [q for c in clients for q in self.probes(c) if q[flag]]
        if not rows and use == "val":
            raise ValueError("this world holds out no validation questions (MedicalWorldConfig.val_questions)")
        return self.tokens(rows, "field")

    def notes(self, clients: Sequence[str]) -> tuple[TokenSet, list[str]]:
        """The clients' whole notes as a TokenSet, and their texts (membership inference)."""
        texts = [med.note_text(self.records[c]) for c in clients]
        return self.tokens([{"text": t} for t in texts], "field"), texts

    def english(self) -> TokenSet:
        """The held-out English sentences (general-text cross-entropy)."""
        return self.tokens([{"text": s} for s in self.english_eval], "field")

    def retain_eval_clients(self, ratio: float, n: int) -> list[str]:
        """A fixed sample of ``n`` retain clients (evaluation cost does not grow with the world)."""
        retain = self.splits.retain(ratio)
        return sorted(random.Random(self.seed).sample(retain, min(n, len(retain))))
