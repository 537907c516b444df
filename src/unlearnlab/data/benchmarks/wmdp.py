"""WMDP (Li et al. 2024): hazardous-knowledge multiple-choice questions and their corpora.

Questions: ``cais/wmdp``, one config per domain (``wmdp-bio``, ``wmdp-chem``, ``wmdp-cyber``),
split ``test``, stored as ``wmdp-<domain>/test-00000-of-00001.parquet`` with ``question``,
``choices`` (4) and ``answer`` (0-3) (checked against the dataset's commits on the hub). Rows come
back in the schema ``evals.mcq`` scores (``data.questions.validate_rows``).

Corpora: ``cais/wmdp-corpora`` (``bio-retain-corpus``, ``cyber-forget-corpus``,
``cyber-retain-corpus``; parquet ``<name>/train-*.parquet`` with ``text``) or the JSON-lines files
the WMDP/RMU code reads, ``data/<name>.jsonl`` (one ``{"text": ...}`` per line; RMU reads the
lines of every corpus but ``bio-forget-corpus`` as raw text, so a line that is not a JSON object
is kept as it is). ``bio-forget-corpus`` is released only on request (a form on the dataset card).
"""

from __future__ import annotations

import json
from pathlib import Path

from unlearnlab.data.benchmarks.files import find, hub_records, load_source
from unlearnlab.data.questions import validate_rows

REPO = "cais/wmdp"
CORPUS_REPO = "cais/wmdp-corpora"
DOMAINS = {"bio": "biology", "chem": "chemistry", "cyber": "computer security"}
CORPORA = ("bio-forget-corpus", "bio-retain-corpus", "cyber-forget-corpus", "cyber-retain-corpus")


def load_wmdp(domain: str, source: str | Path = REPO) -> list[dict]:
    """WMDP test questions of ``domain`` (bio, chem, cyber) with ``domain``/``subject`` labels."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown WMDP domain {domain!r}; known: {', '.join(DOMAINS)}")
    config = f"wmdp-{domain}"
    patterns = [f"{config}/test-*.parquet", f"{config}.parquet"]
    records, where = load_source(source, f"WMDP {config}", patterns, REPO,
                                 f"{config}/test-00000-of-00001.parquet",
                                 lambda: hub_records(REPO, config, ["test"]))
    return [{**r, "domain": config, "subject": DOMAINS[domain]} for r in validate_rows(records, where)]


def _corpus_text(line: str) -> str | None:
    """The document of one JSON-lines record: its ``text``, a JSON string, or the raw line."""
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return line.rstrip("\n")
    if isinstance(value, dict):
        return str(value["text"])
    return value if isinstance(value, str) else line.rstrip("\n")


def load_wmdp_corpus(name: str, source: str | Path = CORPUS_REPO) -> list[dict]:
    """Documents of a WMDP corpus as ``{"text": ...}`` rows, from ``<name>.jsonl`` (or
    ``data/<name>.jsonl``, or the hub layout's parquet) under ``source``, or from the hub."""
    if name not in CORPORA:
        raise ValueError(f"unknown WMDP corpus {name!r}; known: {', '.join(CORPORA)}")
    path = Path(source)
    jsonl = [path] if path.is_file() and path.suffix == ".jsonl" else (
        find(path, [f"{name}.jsonl", f"data/{name}.jsonl"]) if path.is_dir() else [])
    if jsonl:
        with open(jsonl[0], encoding="utf-8") as fh:
            return [{"text": t} for t in map(_corpus_text, fh) if t is not None]
    note = " (bio-forget-corpus is released on request: see the cais/wmdp-corpora card)" if "bio-forget" in name else ""
    records, _ = load_source(source, f"WMDP {name}", [f"{name}/train-*.parquet", f"{name}.jsonl"], CORPUS_REPO,
                             f"{name}/train-00000-of-00001.parquet",
                             lambda: hub_records(CORPUS_REPO, name, ["train"]), note)
    return [{"text": str(r["text"] if isinstance(r, dict) else r)} for r in records]
