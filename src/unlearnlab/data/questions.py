"""Multiple-choice questions in the WMDP / MMLU schema, and the prompt format SAEBench asks them in.

A question is a row ``{"question": str, "choices": [4 str], "answer": int}`` (the schema of
``cais/wmdp`` and ``cais/mmlu``) plus bookkeeping columns (``domain``, ``subject``, ...): checked
by ``validate_rows``, saved and loaded as parquet or JSON, loaded from the hub through ``datasets``
when it is reachable (a clear error otherwise).

Prompt: "The following are multiple choice questions (with answers) about {subject}.\\n{question}
\\nA. ..\\nB. ..\\nC. ..\\nD. ..", then "\\nAnswer:" for a plain model; for a chat model the text is
one user turn and the assistant turn starts with "Answer: (". ``MCQFormat(cloze=True)`` asks the
question without its options, each choice's text being a continuation to score (for models too
small to answer with a letter). ``mcq_tokens`` turns rows into a ``TokenSet`` with the correct
letter (or each choice, cloze) as the answer: the same set trains and evaluates
(``evals.mcq`` reads the scores).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

from unlearnlab.core.batching import TokenSet, pad_token_id

REQUIRED_COLUMNS = ("question", "choices", "answer")


def validate_rows(rows: Sequence[dict], source: str = "rows") -> list[dict]:
    """Check the WMDP schema (question, four choices, answer index in range); return plain dicts."""
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"{source}: row {i} lacks column(s) {missing}; the schema is {list(REQUIRED_COLUMNS)}")
        choices = [str(c) for c in row["choices"]]
        answer = int(row["answer"])
        if len(choices) != 4 or not 0 <= answer < 4:
            raise ValueError(f"{source}: row {i} needs 4 choices and an answer in 0..3, "
                             f"got {len(choices)} choices and answer {answer}")
        out.append({**dict(row), "choices": choices, "answer": answer})
    return out


def save_questions(rows: Sequence[dict], path: str | Path) -> Path:
    """Write questions as parquet (``.parquet``) or JSON lines (anything else)."""
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = validate_rows(rows, str(path))
    if path.suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def load_questions(path: str | Path) -> list[dict]:
    """Questions from a local parquet, JSON-lines or JSON-list file in the WMDP schema."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no question file at {path}")
    if path.suffix == ".parquet":
        rows = pd.read_parquet(path).to_dict("records")
    else:
        text = path.read_text().strip()
        rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    return validate_rows(rows, str(path))


def _from_hub(repo: str, name: str, split: str) -> list[dict]:
    import datasets

    try:
        data = datasets.load_dataset(repo, name, split=split)
    except Exception as err:  # offline, gated or missing: datasets raises many types
        raise RuntimeError(
            f"cannot load {repo}/{name} ({split}) from the Hugging Face hub ({type(err).__name__}: {err}). "
            "Without hub access pass a local parquet/json file with columns question, choices, answer "
            f"(e.g. load_wmdp_bio('wmdp_bio.parquet'))") from err
    return validate_rows(data.to_list(), f"{repo}/{name}")


def load_wmdp_bio(source: str | Path | None = None) -> list[dict]:
    """WMDP-bio test questions: from ``source`` (a local file) or from ``cais/wmdp`` on the hub."""
    rows = load_questions(source) if source is not None else _from_hub("cais/wmdp", "wmdp-bio", "test")
    return [{**r, "domain": "wmdp-bio", "subject": "biology"} for r in rows]


def load_mmlu(subject: str, source: str | Path | None = None) -> list[dict]:
    """MMLU test questions of ``subject`` (e.g. ``high_school_us_history``): from ``source`` or
    from ``cais/mmlu`` on the hub."""
    rows = load_questions(source) if source is not None else _from_hub("cais/mmlu", subject, "test")
    return [{**r, "domain": subject, "subject": subject.replace("_", " ")} for r in rows]


# --------------------------------------------------------------------------------------------
# The prompt format
# --------------------------------------------------------------------------------------------

LETTERS = ("A", "B", "C", "D")
PERMUTATIONS: tuple[tuple[int, ...], ...] = tuple(permutations(range(4)))  # 24, identity first
# the 4 cyclic shifts: every answer lands on every letter once (a cheaper filter for large models on a CPU)
CYCLIC_ORDERS: tuple[tuple[int, ...], ...] = tuple(tuple((i + s) % 4 for i in range(4)) for s in range(4))
PREAMBLE = "The following are multiple choice questions (with answers) about {subject}.\n"


@dataclass(frozen=True)
class MCQFormat:
    """How a question becomes tokens: plain text ending in "Answer:" (our tiny models, base
    models) or a chat user turn followed by "Answer: (" (instruct models, as SAEBench)."""

    chat: bool = False
    cloze: bool = False

    def text(self, row: dict, tokenizer=None) -> str:
        letters = "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, row["choices"]))
        body = PREAMBLE.format(subject=row.get("subject", "general knowledge")) + row["question"] + letters
        if not self.chat:
            return body + "\nAnswer:"
        from unlearnlab.core.real_model import chat_prompt

        return chat_prompt(tokenizer, body) + "Answer: ("

    def cloze_text(self, row: dict, tokenizer=None) -> str:
        """The question without its options; each choice is scored as the continuation."""
        body = PREAMBLE.format(subject=row.get("subject", "general knowledge")) + row["question"]
        if not self.chat:
            return body + "\nAnswer:"
        from unlearnlab.core.real_model import chat_prompt

        return chat_prompt(tokenizer, body)

    def prompt_ids(self, row: dict, tokenizer) -> list[int]:
        """Token ids of the prompt: BOS + text for plain models (as every TokenSet here starts),
        the chat template's own tokens for chat models."""
        text = self.cloze_text(row, tokenizer) if self.cloze else self.text(row, tokenizer)
        ids = tokenizer.encode(text, add_special_tokens=False)
        if not self.chat and tokenizer.bos_token_id is not None:
            ids = [tokenizer.bos_token_id] + ids
        return ids


def letter_token_ids(tokenizer) -> list[list[int]]:
    """Per letter, every single-token spelling of it ("A", " A")."""
    out = []
    for letter in LETTERS:
        ids = {tuple(tokenizer.encode(s, add_special_tokens=False)) for s in (letter, " " + letter)}
        single = sorted(i[0] for i in ids if len(i) == 1)
        if not single:
            raise ValueError(f"the tokenizer has no single token for the letter {letter!r}")
        out.append(single)
    return out


def permuted(row: dict, order: Sequence[int]) -> dict:
    """The row with its choices in ``order`` (new choice j is old choice order[j])."""
    return {**row, "choices": [row["choices"][i] for i in order], "answer": list(order).index(row["answer"])}


def mcq_tokens(rows: Sequence[dict], tokenizer, fmt: MCQFormat = MCQFormat(),
               label_key: str = "domain") -> TokenSet:
    """Prompts with the correct letter as the one-token answer: the same set trains (relearning
    attack) and evaluates (the letter logits at the last prompt position). Cloze format: four
    entries per question, the prompt with each choice as its answer (the correct one for training
    is ``cloze_answers``)."""
    labels = [str(r.get(label_key, "")) for r in rows]
    if fmt.cloze:
        prompts = [fmt.prompt_ids(r, tokenizer) for r in rows]
        answers = [_choice_ids(tokenizer, c, fmt) for r in rows for c in r["choices"]]
        return TokenSet([p for p in prompts for _ in range(4)], answers, [lab for lab in labels for _ in range(4)],
                        pad_id=pad_token_id(tokenizer))
    letters = letter_token_ids(tokenizer)
    return TokenSet([fmt.prompt_ids(r, tokenizer) for r in rows], [[letters[r["answer"]][0]] for r in rows],
                    labels, pad_id=pad_token_id(tokenizer))


def _choice_ids(tokenizer, choice: str, fmt: MCQFormat) -> list[int]:
    return tokenizer.encode(choice if fmt.chat else " " + choice, add_special_tokens=False)
