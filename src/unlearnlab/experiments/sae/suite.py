"""The question suite of a tier, recorded once with its model: which questions it knows
(``known.json``), so later steps rebuild the suite without the 24-ordering pass."""

from __future__ import annotations

from pathlib import Path

from unlearnlab.core.artifacts import read_json, write_json_atomic
from unlearnlab.data.questions import MCQFormat
from unlearnlab.evals.mcq import MCQSuite


def question_key(row: dict) -> str:
    return f"{row['domain']}/{row['entity']}/{row['relation']}"


def save_known(path: Path, suite: MCQSuite) -> None:
    write_json_atomic(path, {"forget": [question_key(q) for q in suite.forget_rows],
                             "side": [question_key(q) for q in suite.side_rows]})


def known_suite(path: Path, forget_rows: list[dict], side_rows: list[dict], tokenizer,
                fmt: MCQFormat = MCQFormat()) -> MCQSuite:
    """The suite of the questions ``save_known`` recorded at ``path``, tokenized."""
    known = read_json(Path(path))
    forget = [q for q in forget_rows if question_key(q) in set(known["forget"])]
    side = [q for q in side_rows if question_key(q) in set(known["side"])]
    return MCQSuite.of(forget, side, tokenizer, fmt)
