"""The arithmetic world: operand ranges, splits disjoint, forget really is x/÷."""

import dataclasses
import random

import pytest

from unlearnlab.data import arithmetic as arith
from unlearnlab.data import english
from unlearnlab.data.world import generate_splits
from unlearnlab.profiles import get_profile

pytestmark = pytest.mark.unit


def test_fact_ranges_and_exactness():
    assert len(arith.facts("add")) == 50 * 50
    assert len(arith.facts("mul")) == 20 * 20
    assert all(f.c >= 0 for f in arith.facts("sub"))
    assert all(f.a == f.b * f.c and 1 <= f.b <= 20 and 1 <= f.c <= 20 for f in arith.facts("div"))
    assert all(1 <= f.a <= 50 and 1 <= f.b <= 50 for f in arith.facts("add"))
    with pytest.raises(ValueError):
        arith.facts("pow")


def test_operand_ranges_are_parameters():
    assert len(arith.facts("add", (1, 99))) == 99 * 99
    assert all(1 <= f.b <= 5 and 1 <= f.c <= 5 for f in arith.facts("div", (1, 5)))
    assert arith.facts("mul") == arith.facts("mul", arith.FORGET_RANGE)
    with pytest.raises(ValueError, match="positive and ordered"):
        arith.facts("add", (10, 2))


def test_prompts_state_the_operation():
    rng = random.Random(0)
    for op in arith.ALL_OPS:
        for row in arith.items(arith.facts(op)[:5], rng, 2):
            if row["format"] == "equation":
                assert f" {arith.SYMBOL[op]} " in row["prompt"] and row["prompt"].endswith("=")
            assert row["answer"].isdigit()


@pytest.fixture(scope="module")
def splits():
    return generate_splits(get_profile("smoke").arithmetic.world())


def test_train_eval_and_validation_facts_are_disjoint(splits):
    def facts_of(rows):
        return {(r["op"], r["a"], r["b"]) for r in rows}

    train = facts_of(splits["forget_train"]) | facts_of(splits["retain_train"])
    held, val = facts_of(splits["eval"]), facts_of(splits["val"])
    assert train and held and val and not (train & held) and not (train & val) and not (held & val)
    assert {r["op"] for r in splits["val"]} == set(arith.ALL_OPS)  # every operation has validation items
    assert facts_of(splits["pretrain"]) == train | held | val
    assert not set(r["text"] for r in splits["english_train"]) & set(r["text"] for r in splits["english_eval"]) \
        or len(splits["english_eval"]) < 5  # sentences may repeat by chance only in tiny corpora


def test_the_test_facts_do_not_depend_on_the_validation_share():
    with_val = arith.split_facts("mul", 0.1, 0, None, val_fraction=0.2)
    without = arith.split_facts("mul", 0.1, 0, None)
    assert with_val[1] == without[1] and not without[2] and len(with_val[2]) == round(0.2 * len(arith.facts("mul")))
    with pytest.raises(ValueError, match="val_fraction"):
        arith.split_facts("mul", 0.5, 0, None, val_fraction=0.5)


def test_forget_split_is_multiplication_and_division_only(splits):
    assert {r["op"] for r in splits["forget_train"]} == set(arith.FORGET_OPS)
    assert {r["op"] for r in splits["retain_train"]} == set(arith.RETAIN_OPS)
    assert all(any(s in r["prompt"] for s in ("*", "/", "bags", "rows", "shares", "packed"))
               for r in splits["forget_train"])


def test_generation_is_deterministic():
    cfg = dataclasses.replace(get_profile("smoke").arithmetic.world(), seed=3)
    assert generate_splits(cfg) == generate_splits(cfg)
    assert english.corpus(20, 1) == english.corpus(20, 1) != english.corpus(20, 2)
