"""The arithmetic world: forget multiplication/division, retain addition/subtraction.

Built like UNDO's arithmetic setting: every fact ``a op b = c`` appears as a bare equation and
as a word problem. Operands are drawn from an inclusive range per side, by default 1-50 for + and
- (subtraction non-negative) and 1-20 for x and / (exact division); the world's config may set
others. Evaluation items are held-out operand pairs, never seen in training.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

RETAIN_OPS: tuple[str, ...] = ("add", "sub")
FORGET_OPS: tuple[str, ...] = ("mul", "div")
ALL_OPS: tuple[str, ...] = RETAIN_OPS + FORGET_OPS
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
RETAIN_RANGE: tuple[int, int] = (1, 50)  # default operands of + and - (inclusive)
FORGET_RANGE: tuple[int, int] = (1, 20)  # default operands of x and / (inclusive)

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


def default_range(op: str) -> tuple[int, int]:
    """The operand range ``op`` uses unless a world's config says otherwise."""
    return RETAIN_RANGE if op in RETAIN_OPS else FORGET_RANGE


def facts(op: str, operands: tuple[int, int] | None = None) -> list[Fact]:
    """Every fact of one operation over an inclusive operand range (default ``default_range(op)``),
    in a deterministic order."""
    if op not in ALL_OPS:
        raise ValueError(f"unknown operation {op!r}; expected one of {ALL_OPS}")
    lo, hi = operands or default_range(op)
    if not 0 < lo <= hi:
        raise ValueError(f"operand range of {op!r} must be positive and ordered, got {(lo, hi)}")
    pairs = [(a, b) for a in range(lo, hi + 1) for b in range(lo, hi + 1)]
    if op == "add":
        return [Fact(op, a, b, a + b) for a, b in pairs]
    if op == "sub":
        return [Fact(op, a, b, a - b) for a, b in pairs if a >= b]
    if op == "mul":
        return [Fact(op, a, b, a * b) for a, b in pairs]
    return [Fact(op, a * b, b, a) for a, b in pairs]


def equation(f: Fact) -> tuple[str, str]:
    """(prompt, answer) of the bare-equation form, e.g. ('12 * 7 =', '84')."""
    return f"{f.a} {SYMBOL[f.op]} {f.b} =", str(f.c)


def word_problem(f: Fact, rng: random.Random) -> tuple[str, str]:
    """(prompt, answer) of a word problem stating the same fact."""
    template = rng.choice(WORD_TEMPLATES[f.op])
    prompt = template.format(n=rng.choice(NAMES), o=rng.choice(OBJECTS), a=f.a, b=f.b)
    return prompt, str(f.c)


def split_facts(op: str, eval_fraction: float, seed: int, operands: tuple[int, int] | None = None,
                val_fraction: float = 0.0) -> tuple[list[Fact], list[Fact], list[Fact]]:
    """Split one operation's facts into disjoint (train, eval, val) by operand pair: ``eval``
    (the test items tables report) and ``val`` (the items every choice is made on) are fractions
    of the operation's facts; the eval facts do not depend on ``val_fraction``."""
    if not 0.0 < eval_fraction < 1.0 or not 0.0 <= val_fraction < 1.0 - eval_fraction:
        raise ValueError(f"eval_fraction must be in (0, 1) and val_fraction in [0, 1 - eval_fraction), "
                         f"got {eval_fraction} and {val_fraction}")
    all_facts = facts(op, operands)
    rng = random.Random(f"{seed}-{op}")
    order = list(range(len(all_facts)))
    rng.shuffle(order)
    n_eval = max(1, round(eval_fraction * len(all_facts)))
    n_val = max(1, round(val_fraction * len(all_facts))) if val_fraction > 0 else 0
    eval_idx, val_idx = set(order[:n_eval]), set(order[n_eval:n_eval + n_val])
    train = [f for i, f in enumerate(all_facts) if i not in eval_idx and i not in val_idx]
    return (train, [f for i, f in enumerate(all_facts) if i in eval_idx],
            [f for i, f in enumerate(all_facts) if i in val_idx])


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


@dataclass(frozen=True)
class ArithmeticWorldConfig:
    """What the arithmetic world is generated from (the defaults are the paper's world)."""

    seed: int = 0  # the data seed: fact split, word-problem wording, English sentences
    eval_fraction: float = 0.1
    val_fraction: float = 0.1  # validation facts per operation, disjoint from eval and train
    word_problems_per_fact: int = 1
    n_english: int = 3000
    n_english_eval: int = 500
    vocab_size: int = 400
    retain_range: tuple[int, int] = RETAIN_RANGE  # operands of + and -, inclusive
    forget_range: tuple[int, int] = FORGET_RANGE  # operands of x and /, inclusive

    def operands(self, op: str) -> tuple[int, int]:
        return tuple(self.retain_range if op in RETAIN_OPS else self.forget_range)

    def as_dict(self) -> dict:
        """The config as stored in the world's card and its artifact key."""
        return {"world": "arithmetic", **asdict(self)}
