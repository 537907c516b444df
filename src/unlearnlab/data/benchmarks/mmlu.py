"""MMLU (Hendrycks et al. 2021) by subject, and the four subjects SAEBench keeps as side effects.

Two layouts: the hub's ``cais/mmlu`` (``<subject>/<split>-00000-of-00001.parquet`` with
``question``, ``subject``, ``choices``, ``answer`` 0-3) and the original release's CSV files
(``data/<split>/<subject>_<split>.csv``, no header: question, A, B, C, D, answer letter).
Rows come back in the schema ``evals.mcq`` scores, labelled as ``data.questions.load_mmlu``
labels them (``domain`` = subject id, ``subject`` = its words, for the prompt).
"""

from __future__ import annotations

from pathlib import Path

from unlearnlab.data.benchmarks.files import find, hub_records, load_source
from unlearnlab.data.questions import LETTERS, validate_rows

REPO = "cais/mmlu"
# SAEBench's unlearning eval: "We want to unlearn wmdp-bio while retaining knowledge in other
# datasets", dataset_names = wmdp-bio + these four (UnlearningEvalConfig.dataset_names in
# sae_bench/evals/unlearning/eval_config.py; read in the zachmccrth/SAEBench copy of SAEBench).
SAEBENCH_SIDE_SUBJECTS = ("high_school_us_history", "college_computer_science", "high_school_geography",
                          "human_aging")
CSV_COLUMNS = ("question", "A", "B", "C", "D", "answer")


def read_csv(path: Path) -> list[dict]:
    """Rows of an original MMLU CSV (no header; the answer is a letter A-D)."""
    import pandas as pd

    frame = pd.read_csv(path, header=None, names=list(CSV_COLUMNS), dtype=str, keep_default_na=False)
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        letter = rec["answer"].strip()
        if letter not in LETTERS:
            raise ValueError(f"{path}: row {i} has answer {letter!r}, expected one of {LETTERS}")
        rows.append({"question": rec["question"], "choices": [rec[c] for c in LETTERS],
                     "answer": LETTERS.index(letter)})
    return rows


def load_mmlu(subject: str, source: str | Path = REPO, split: str = "test") -> list[dict]:
    """MMLU questions of one subject (``high_school_us_history``) and split (test, validation,
    dev; the CSV release calls validation ``val``)."""
    path = Path(source)
    csv_split = "val" if split == "validation" else split
    csv = [path] if path.suffix == ".csv" and path.is_file() else (
        find(path, [f"data/{csv_split}/{subject}_{csv_split}.csv", f"{csv_split}/{subject}_{csv_split}.csv",
                    f"{subject}_{csv_split}.csv"]) if path.is_dir() else [])
    if csv:
        records, where = read_csv(csv[0]), str(csv[0])
    else:
        records, where = load_source(source, f"MMLU {subject} ({split})", [f"{subject}/{split}-*.parquet"], REPO,
                                     f"{subject}/{split}-00000-of-00001.parquet",
                                     lambda: hub_records(REPO, subject, [split]))
    return [{**r, "domain": subject, "subject": subject.replace("_", " ")} for r in validate_rows(records, where)]


def load_saebench_side_effects(source: str | Path = REPO, split: str = "test") -> list[dict]:
    """The questions of SAEBench's four side-effect subjects, in its order, labelled by subject."""
    return [row for subject in SAEBENCH_SIDE_SUBJECTS for row in load_mmlu(subject, source, split)]
