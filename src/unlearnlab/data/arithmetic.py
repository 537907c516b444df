"""The arithmetic world: forget multiplication/division, retain addition/subtraction.

Built like UNDO's arithmetic setting: every fact ``a op b = c`` appears as a bare equation and
as a word problem. Operands are 1-50 for + and - (subtraction non-negative) and 1-20 for x
and / (exact division). Evaluation items are held-out operand pairs, never seen in training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

RETAIN_OPS: tuple[str, ...] = ("add", "sub")
FORGET_OPS: tuple[str, ...] = ("mul", "div")
ALL_OPS: tuple[str, ...] = RETAIN_OPS + FORGET_OPS
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}

NAMES = ["Anna", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Juno", "Kai", "Lena"]
OBJECTS = ["apples", "coins", "stamps", "marbles", "books", "shells", "cards", "pens"]

# Word-problem templates; {c} is never in the prompt, the answer follows the prompt.
WORD_TEMPLATES: dict[str, list[str]] = {
    "add": [
        "{n} has {a} {o} and gets {b} more . How many {o} does {n} have ?",
        "There are {a} {o} in a box and {b} {o} on a shelf . How many {o} in total ?",
    ],
    "sub": [
        "{n} has {a} {o} and gives away {b} . How many {o} are left ?",
        "A box holds {a} {o} . {b} {o} are taken out . How many {o} remain ?",
    ],
    "mul": [
        "{n} has {a} bags with {b} {o} each . How many {o} in all ?",
        "There are {a} rows of {b} {o} . How many {o} are there ?",
    ],
    "div": [
        "{n} shares {a} {o} equally among {b} friends . How many {o} does each get ?",
        "{a} {o} are packed into {b} equal boxes . How many {o} per box ?",
    ],
}


@dataclass(frozen=True)
class Fact:
    """One arithmetic fact: ``a op b = c``."""

    op: str
    a: int
    b: int
    c: int


def facts(op: str) -> list[Fact]:
    """Every fact of one operation over its operand range (deterministic order)."""
    if op == "add":
        return [Fact(op, a, b, a + b) for a in range(1, 51) for b in range(1, 51)]
    if op == "sub":
        return [Fact(op, a, b, a - b) for a in range(1, 51) for b in range(1, 51) if a >= b]
    if op == "mul":
        return [Fact(op, a, b, a * b) for a in range(1, 21) for b in range(1, 21)]
    if op == "div":
        return [Fact(op, a * b, b, a) for a in range(1, 21) for b in range(1, 21)]
    raise ValueError(f"unknown operation {op!r}; expected one of {ALL_OPS}")


def equation(f: Fact) -> tuple[str, str]:
    """(prompt, answer) of the bare-equation form, e.g. ('12 * 7 =', '84')."""
    return f"{f.a} {SYMBOL[f.op]} {f.b} =", str(f.c)


def word_problem(f: Fact, rng: random.Random) -> tuple[str, str]:
    """(prompt, answer) of a word problem stating the same fact."""
    template = rng.choice(WORD_TEMPLATES[f.op])
    prompt = template.format(n=rng.choice(NAMES), o=rng.choice(OBJECTS), a=f.a, b=f.b)
    return prompt, str(f.c)


def split_facts(op: str, eval_fraction: float, seed: int) -> tuple[list[Fact], list[Fact]]:
    """Split one operation's facts into disjoint (train, eval) by operand pair."""
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
    all_facts = facts(op)
    rng = random.Random(f"{seed}-{op}")
    order = list(range(len(all_facts)))
    rng.shuffle(order)
    n_eval = max(1, round(eval_fraction * len(all_facts)))
    eval_idx = set(order[:n_eval])
    train = [f for i, f in enumerate(all_facts) if i not in eval_idx]
    held = [f for i, f in enumerate(all_facts) if i in eval_idx]
    return train, held


def items(fact_list: list[Fact], rng: random.Random, word_problems_per_fact: int = 1) -> list[dict]:
    """Rows (prompt, answer, op, format, a, b) for each fact: one equation + word problems."""
    rows: list[dict] = []
    for f in fact_list:
        forms = [("equation", equation(f))]
        forms += [("word", word_problem(f, rng)) for _ in range(word_problems_per_fact)]
        for fmt, (prompt, answer) in forms:
            rows.append({"prompt": prompt, "answer": answer, "op": f.op, "format": fmt,
                         "a": f.a, "b": f.b})
    return rows
