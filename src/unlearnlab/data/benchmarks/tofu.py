"""TOFU (Maini et al. 2024): question-answer pairs about 200 fictitious authors.

Published at ``locuslab/TOFU`` as one file per split in the repository root, each named
``<split>.json`` but holding JSON lines (checked against the dataset card's ``configs`` and the
file listing of the hub repository). Every row has ``question`` and ``answer``; the
``*_perturbed`` files add ``paraphrased_answer``, ``perturbed_answer`` (a list of wrong answers
in the answer's style) and, for the forget and retain sets, ``paraphrased_question``.

Forget ``forgetXX`` pairs with retain ``retain{100-XX}`` (its complement in ``full``) and with
``holdoutXX`` (questions about authors never trained on, the same size as the forget set).
"""

from __future__ import annotations

from pathlib import Path

from unlearnlab.data.benchmarks.files import hub_records, load_source, require_fields

REPO = "locuslab/TOFU"
FORGET = ("forget01", "forget05", "forget10")
SPLITS: tuple[str, ...] = (
    "full", *FORGET, "retain90", "retain95", "retain99", "holdout01", "holdout05", "holdout10",
    *(f"{f}_perturbed" for f in FORGET), "retain_perturbed",
    "real_authors", "real_authors_perturbed", "world_facts", "world_facts_perturbed",
)
RETAIN_OF = {"forget01": "retain99", "forget05": "retain95", "forget10": "retain90"}
HOLDOUT_OF = {"forget01": "holdout01", "forget05": "holdout05", "forget10": "holdout10"}
QA_FIELDS = ("question", "answer")
PERTURBED_FIELDS = ("paraphrased_answer", "perturbed_answer")


def _row(record: dict, perturbed: bool, where: str, index: int) -> dict:
    """The record as a plain row (extra fields kept), with the fields its split must have."""
    require_fields(record, QA_FIELDS + (PERTURBED_FIELDS if perturbed else ()), where, index)
    row = {**record, "question": str(record["question"]), "answer": str(record["answer"])}
    if perturbed:
        wrong = record["perturbed_answer"]
        wrong = [wrong] if isinstance(wrong, str) else [str(w) for w in wrong]
        if not wrong:
            raise ValueError(f"{where}: row {index} has no perturbed answer")
        row.update(perturbed_answer=wrong, paraphrased_answer=str(record["paraphrased_answer"]))
    return row


def load_tofu(split: str, source: str | Path = REPO) -> list[dict]:
    """Rows of one TOFU split: ``source`` is a folder holding ``<split>.json`` (or that file,
    or the hub name). Rows are dicts with ``question``, ``answer`` (and the perturbed fields)."""
    if split not in SPLITS:
        raise ValueError(f"unknown TOFU split {split!r}; known: {', '.join(SPLITS)}")
    filename = f"{split}.json"

    records, where = load_source(source, f"TOFU {split}", [filename], REPO, filename,
                                 lambda: hub_records(REPO, split, ["train"]))
    perturbed = split.endswith("_perturbed")
    return [_row(r, perturbed, where, i) for i, r in enumerate(records)]
