"""The synthetic arithmetic world on disk: data splits (``datasets``), a dataset card and the
locally trained tokenizer, all in one config-keyed directory under ``data/``.

Splits (facts are split by operand pair, per operation):
- ``pretrain``: every fact of every operation (equation + word problems) and English text.
  The oracle's pretraining set is the same without multiplication and division.
- ``forget_train`` / ``retain_train``: x/÷ and +/- rows of the *train* facts; the only data that
  unlearning, distillation and the relearning attack may touch.
- ``eval``: rows of held-out *eval* facts (``eval_fraction`` of each operation), the test items
  every table reports. They are part of the knowledge the base model learns in pretraining, but
  no unlearning, distillation or attack ever trains on them, so forget accuracy there measures
  what is left of the capability, not of the items an unlearning method saw.
- ``val``: rows of other held-out facts (``val_fraction``), in the same role as ``eval`` but for
  choosing: learning rates, UNDO's stopping step, the worst-case attack learning rate and the
  best mask are picked on ``val``; the numbers reported for the pick come from ``eval``.
- ``english_train`` / ``english_eval``: grammar sentences, disjoint.

Everything that shapes the data (its seed, the operand ranges, sizes) is a field of
``ArithmeticWorldConfig``, so the directory is keyed by it: another range or seed is another world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, load_from_disk
from transformers import PreTrainedTokenizerFast

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.models import load_tokenizer
from unlearnlab.core.tokenizer import train_tokenizer
from unlearnlab.data import arithmetic as arith
from unlearnlab.data import english
from unlearnlab.data.arithmetic import ArithmeticWorldConfig

SPLITS = ("pretrain", "forget_train", "retain_train", "eval", "val", "english_train", "english_eval")


def generate_splits(cfg: ArithmeticWorldConfig) -> dict[str, list[dict]]:
    """All splits as lists of rows (pure function of the config)."""
    rng = random.Random(cfg.seed)
    splits: dict[str, list[dict]] = {name: [] for name in SPLITS}
    for op in arith.ALL_OPS:
        train_facts, eval_facts, val_facts = arith.split_facts(op, cfg.eval_fraction, cfg.seed, cfg.operands(op),
                                                               cfg.val_fraction)
        train_rows = arith.items(train_facts, rng, cfg.word_problems_per_fact)
        eval_rows = arith.items(eval_facts, rng, cfg.word_problems_per_fact)
        val_rows = arith.items(val_facts, rng, cfg.word_problems_per_fact)
        splits["pretrain"] += train_rows + eval_rows + val_rows
        splits["forget_train" if op in arith.FORGET_OPS else "retain_train"] += train_rows
        splits["eval"] += eval_rows
        splits["val"] += val_rows
    sentences = english.corpus(cfg.n_english + cfg.n_english_eval, cfg.seed + 1)
    as_rows = [{"prompt": None, "answer": None, "text": s, "op": "english", "format": "sentence",
                "a": 0, "b": 0} for s in sentences]
    splits["english_train"] = as_rows[: cfg.n_english]
    splits["english_eval"] = as_rows[cfg.n_english:]
    return splits


def _row_text(row: dict) -> str:
    return row["text"] if row.get("text") else f"{row['prompt']} {row['answer']}"


def _save(cfg: ArithmeticWorldConfig, directory: Path) -> None:
    """Write the splits, the tokenizer trained on the pretraining text, and the dataset card."""
    splits = generate_splits(cfg)
    for rows in splits.values():
        for row in rows:
            row.setdefault("text", None)
    DatasetDict({k: Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(directory / "splits"))
    texts = [_row_text(r) for r in splits["pretrain"] + splits["english_train"]]
    train_tokenizer(texts, cfg.vocab_size).save_pretrained(directory / "tokenizer")
    (rlo, rhi), (flo, fhi) = cfg.retain_range, cfg.forget_range
    write_json_atomic(directory / "card.json", {
        "name": "arithmetic world", "config": cfg.as_dict(),
        "forget": f"multiplication and division (operands {flo}-{fhi}, exact division)",
        "retain": f"addition and subtraction (operands {rlo}-{rhi}, non-negative results) + English grammar text",
        "sizes": {k: len(v) for k, v in splits.items()},
        "note": "eval (test) and val rows are held out from unlearning, distillation and attacks; "
                "choices are made on val, tables report eval (see module docstring)",
    })


@dataclass
class ArithmeticWorld:
    """Tokenized splits of a saved world, ready for training and evaluation."""

    directory: Path
    tokenizer: PreTrainedTokenizerFast
    splits: DatasetDict
    card: dict

    @classmethod
    def build(cls, config: ArithmeticWorldConfig, data_dir: Path) -> Path:
        """Generate and save the world once under ``data_dir`` (skipped if already done); return
        its directory."""
        artifact = Artifact(data_dir, "worlds", "arithmetic", config.as_dict())
        return artifact.build(lambda tmp: _save(config, tmp))

    @classmethod
    def load(cls, directory: str | Path) -> "ArithmeticWorld":
        directory = Path(directory)
        if not (directory / ".done").is_file():
            raise FileNotFoundError(f"no complete data set at {directory}; run notebooks/00_data.py first")
        return cls(directory, load_tokenizer(directory / "tokenizer"),
                   load_from_disk(str(directory / "splits")), read_json(directory / "card.json"))

    def tokens(self, split: str, ops: tuple[str, ...] | None = None) -> TokenSet:
        """A split as a TokenSet, optionally restricted to some operations."""
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; splits are {list(self.splits)}")
        rows = self.splits[split].to_list()
        if ops is not None:
            rows = [r for r in rows if r["op"] in ops]
        return TokenSet.from_rows(rows, self.tokenizer)

    def pretraining_set(self, include_forget: bool, upsample: dict[str, int] | None = None) -> TokenSet:
        """Base model data (all ops + English) or the oracle's (the same without x/÷); rows of
        an operation are repeated ``upsample[op]`` times (default once)."""
        ops = arith.ALL_OPS if include_forget else arith.RETAIN_OPS
        data = self.tokens("english_train")
        for op in ops:
            rows = self.tokens("pretrain", (op,))
            for _ in range((upsample or {}).get(op, 1)):
                data = data.concat(rows)
        return data

    def retain_set(self) -> TokenSet:
        """Retain training data for unlearning and distillation: +/- train rows and English."""
        return self.tokens("retain_train").concat(self.tokens("english_train"))

    def attack_set(self, n_items: int, seed: int) -> TokenSet:
        """``n_items`` forget-train rows for the relearning attack (disjoint from ``eval``)."""
        forget = self.tokens("forget_train")
        order = random.Random(seed).sample(range(len(forget)), min(n_items, len(forget)))
        return forget.subset(order)
