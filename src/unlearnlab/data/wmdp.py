"""A WMDP-bio-style sentence corpus with forget splits, from any local corpus or the hub.

Documents (papers) are split into sentences, each stored in the seed's JSON schema
(``text``, ``source``, ``type``, ``paper_index``, ``sentence_index``); a seeded sample of papers is
taken until ``target_size`` sentences, and forget splits are drawn by *paper* (as the medical
splits are by client), nested across ratios, so that no paper is on both sides of a split.

Inputs: a ``.jsonl`` file (one document per line, text in ``--text-field``), a ``.json`` list of
such objects or strings, a ``.txt`` file (documents separated by blank lines), or a hub dataset
(``cais/wmdp-corpora`` with config ``bio-retain-corpus``) through ``datasets`` when it is reachable.

    python -m unlearnlab.data.wmdp --input corpus.jsonl --target-size 5300 --output-dir data/wmdp
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from unlearnlab.data.medical import FORGET_RATIOS, n_forget, ratio_tag

HUB_DATASET = "cais/wmdp-corpora"
HUB_CONFIG = "bio-retain-corpus"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def split_sentences(text: str, min_chars: int = 20) -> list[str]:
    """Sentences of ``text`` (a split after . ! ? followed by space and a capital, digit or
    bracket; abbreviations such as 'e.g. the' stay joined); shorter ones are dropped."""
    flat = re.sub(r"\s+", " ", text).strip()
    return [s.strip() for s in SENTENCE_END.split(flat) if len(s.strip()) >= min_chars]


def _documents_from_file(path: Path, text_field: str) -> list[str]:
    if path.suffix == ".jsonl":
        with open(path) as fh:
            return [json.loads(line)[text_field] for line in fh if line.strip()]
    if path.suffix == ".json":
        items = json.loads(path.read_text())
        return [item if isinstance(item, str) else item[text_field] for item in items]
    return [doc for doc in re.split(r"\n\s*\n", path.read_text()) if doc.strip()]


def load_documents(source: str | Path, text_field: str = "text", config: str = HUB_CONFIG,
                   split: str = "train") -> list[str]:
    """Documents of a local file, or of a hub dataset (clear error when it cannot be reached)."""
    path = Path(source)
    if path.exists():
        try:
            return _documents_from_file(path, text_field)
        except KeyError as err:
            raise ValueError(f"{path}: records lack the text field {text_field!r}") from err
    if path.suffix in (".jsonl", ".json", ".txt") or path.is_absolute():
        raise FileNotFoundError(f"no corpus file at {path}")
    try:
        import datasets

        dataset = datasets.load_dataset(str(source), config, split=split)
    except Exception as err:  # offline, gated, or unknown: datasets raises many types
        raise RuntimeError(
            f"cannot load the hub dataset {source!r} (config {config!r}): {type(err).__name__}: {err}. "
            "Without network access, pass a local corpus file (.jsonl/.json/.txt) with --input.") from err
    return [row[text_field] for row in dataset]


def prepare(documents: Sequence[str], target_size: int, seed: int = 42, source: str = "wmdp-bio-retain",
            min_chars: int = 20) -> list[dict]:
    """Sentences of seeded-randomly ordered papers until ``target_size`` (whole papers; the last
    one is cut at the target), in the seed's schema; ``paper_index`` is the input position."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    rows: list[dict] = []
    for paper in order:
        for j, sentence in enumerate(split_sentences(documents[paper], min_chars)):
            if len(rows) >= target_size:
                return rows
            rows.append({"text": sentence, "source": source, "type": "paper_sentence", "paper_index": paper,
                         "sentence_index": j})
    return rows


def split_by_paper(rows: Sequence[dict], ratios: Sequence[float] = FORGET_RATIOS, seed: int = 42,
                   prefix: str = "wmdp_bio") -> dict[str, list[dict]]:
    """File name → rows: full, and per ratio forget / full minus forget, split by paper with
    nested forget sets (the papers are shuffled once; ratio r takes the first r of them)."""
    papers = sorted({r["paper_index"] for r in rows})
    random.Random(seed).shuffle(papers)
    files = {f"{prefix}_full.json": list(rows)}
    for ratio in sorted(ratios):
        gone = set(papers[: n_forget(len(papers), ratio)])
        tag = ratio_tag(ratio)
        files[f"{prefix}_forget{tag}.json"] = [r for r in rows if r["paper_index"] in gone]
        files[f"{prefix}_full_minus_forget{tag}.json"] = [r for r in rows if r["paper_index"] not in gone]
    return files


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Sentence-split a corpus (WMDP-bio style) with forget splits.")
    parser.add_argument("--input", default=HUB_DATASET,
                        help=f"local .jsonl/.json/.txt corpus, or a hub dataset name (default {HUB_DATASET})")
    parser.add_argument("--hub-config", default=HUB_CONFIG)
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--target-size", type=int, default=5300, help="sentences to keep")
    parser.add_argument("--output-dir", type=Path, default=Path("data/wmdp"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--forget-ratios", type=float, nargs="+", default=list(FORGET_RATIOS))
    parser.add_argument("--dry-run", action="store_true", help="print samples and sizes; write nothing")
    parser.add_argument("--sample", type=int, default=3)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        documents = load_documents(args.input, args.text_field, args.hub_config)
        rows = prepare(documents, args.target_size, args.seed)
        files = split_by_paper(rows, args.forget_ratios, args.seed)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for row in rows[: args.sample]:
        print(json.dumps(row, ensure_ascii=False))
    for name, part in files.items():
        if not args.dry_run:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            (args.output_dir / name).write_text(json.dumps(part, indent=1, ensure_ascii=False))
        print(f"{'would write' if args.dry_run else 'wrote'} {args.output_dir / name} ({len(part)} sentences)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
