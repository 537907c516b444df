"""The linear-probe attack (issue 19, item 5): a label planted in the hidden states is read back
at every layer, random labels stay at chance, train and test items must be disjoint, and the
activations are the ones ``core.anatomy`` reads."""

import random

import pytest
import torch

from unlearnlab.attacks.probe import (answer_states, check_disjoint, first_answer_token, fit_logistic,
                                      probe_attack, probe_layers)
from unlearnlab.core import anatomy
from unlearnlab.core.batching import TokenSet

pytestmark = pytest.mark.unit

MARKERS = [10, 11, 12, 13]  # the last prompt token of an item of class c is MARKERS[c]
ANSWERS = [20, 21, 22, 23]  # its answer's first token is ANSWERS[c]


def _items(n: int, seed: int) -> tuple[TokenSet, TokenSet]:
    """``n`` train and ``n`` test items ``<bos> noise… marker_c`` → ``answer_c <eos>``, all prompts distinct."""
    rng = random.Random(seed)
    prompts: dict[tuple[int, ...], int] = {}
    while len(prompts) < 2 * n:
        c = rng.randrange(len(MARKERS))
        prompts[(1, *(rng.randrange(30, 200) for _ in range(rng.randint(3, 6))), MARKERS[c])] = c
    keys = list(prompts)
    data = TokenSet([list(p) for p in keys], [[ANSWERS[prompts[p]], 2] for p in keys], pad_id=0)
    return data.subset(range(n)), data.subset(range(n, 2 * n))


def _plant(model: torch.nn.Module, strength: float) -> None:
    """Give every marker the same embedding, plus ``strength`` times a direction of its own: with
    strength 0 the markers are indistinguishable, so only the planted direction can carry the label."""
    directions = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(3)))[0]
    with torch.no_grad():
        embed = model.model.embed_tokens.weight
        for c, marker in enumerate(MARKERS):
            embed[marker] = embed[MARKERS[0]] + strength * directions[c]


def test_a_planted_label_is_read_at_every_layer(tiny_model):
    train, test = _items(120, seed=0)
    _plant(tiny_model, 0.0)
    control = probe_attack(tiny_model, train, first_answer_token(train), test, first_answer_token(test))
    _plant(tiny_model, 0.5)
    rows = probe_attack(tiny_model, train, first_answer_token(train), test, first_answer_token(test))
    assert [r["layer"] for r in rows] == [0, 1]
    assert all(r["probe_acc"] >= 0.95 for r in rows), rows
    assert all(r["probe_acc"] < 0.45 and r["majority_acc"] < 0.35 for r in control), control  # four classes


def test_random_labels_stay_near_chance(tiny_model):
    rng = random.Random(1)
    prompts = list(dict.fromkeys((1, *(rng.randrange(4, 200) for _ in range(5))) for _ in range(400)))
    data = TokenSet([list(p) for p in prompts], [[20, 2] for _ in prompts], pad_id=0)
    labels = [rng.randrange(2) for _ in prompts]
    rows = probe_attack(tiny_model, data.subset(range(200)), labels[:200], data.subset(range(200, 400)), labels[200:])
    assert all(abs(r["probe_acc"] - 0.5) < 0.12 for r in rows), rows
    assert all(r["train_acc"] > r["probe_acc"] for r in rows), rows  # it fits noise, which does not transfer


def test_train_and_test_must_be_disjoint(tiny_model):
    train, test = _items(20, seed=0)
    overlapping = test.concat(train.subset([3]))
    with pytest.raises(ValueError, match="disjoint: 1 prompt"):
        probe_attack(tiny_model, train, first_answer_token(train), overlapping, first_answer_token(overlapping))
    check_disjoint(train, test)
    with pytest.raises(ValueError, match="one label per item"):
        probe_attack(tiny_model, train, [0], test, first_answer_token(test))


def test_states_are_anatomy_reads_at_the_last_prompt_token(tiny_model, tokens):
    data = tokens.subset(range(0, 40, 5))
    states = answer_states(tiny_model, data, batch_size=3)
    assert len(states) == 2 and states[1].shape == (8, 16)
    prompts = TokenSet(data.prompts, [[] for _ in data.prompts], pad_id=data.pad_id)
    for layer in (0, 1):
        read = anatomy.read(tiny_model, prompts.batch(range(8)), "resid_post", layer)
        expected = torch.stack([read[i, len(p) - 1] for i, p in enumerate(data.prompts)])
        assert torch.allclose(states[layer], expected, atol=1e-6)


def test_logistic_fit_and_baselines_by_hand():
    x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]])
    predict = fit_logistic(x, torch.tensor([0, 0, 1, 1]), 2)
    assert predict(torch.tensor([[-5.0], [-0.5], [0.5], [5.0]])).tolist() == [0, 0, 1, 1]
    # trained on -2, -1 -> a and 1 -> b; tested on -2, -1, 1, 2 labelled a, a, c, b: the predictions
    # a, a, b, b hit 3 of 4 ("c" was never seen, a miss); always "a" (the train majority) hits 2 of 4
    rows = probe_layers([x[:3]], ["a", "a", "b"], [x], ["a", "a", "c", "b"])
    assert rows == [{"layer": 0, "probe_acc": 0.75, "train_acc": 1.0, "majority_acc": 0.5}]
