"""Packed batches compute exactly what padded batches compute: each example's logits, the
language-model loss, the answer-only loss and the token count are the same, on fewer positions."""

from __future__ import annotations

import pytest
import torch

from unlearnlab.core.logprobs import logits_of, nll, shifted_masks

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_each_example_sees_only_itself(tokens, tiny_model, attention):
    """Both attention implementations (eager trains under bf16 on a CPU) block other examples."""
    tiny_model.set_attn_implementation(attention)
    indices = list(range(12))
    padded, packed = tokens.batch(indices), tokens.packed_batch(indices, width=40)
    assert packed["input_ids"].shape[0] < padded["input_ids"].shape[0]  # fewer rows
    assert int(packed["attention_mask"].sum()) == int(padded["attention_mask"].sum())
    with torch.no_grad():
        want, got = logits_of(tiny_model, padded), logits_of(tiny_model, packed)
    example = 0  # packing keeps the order: the k-th segment, row by row, is the k-th example
    for row in range(packed["input_ids"].shape[0]):
        for segment in range(1, int(packed["segment_ids"][row].max()) + 1):
            cols = (packed["segment_ids"][row] == segment).nonzero().squeeze(-1)
            torch.testing.assert_close(got[row, cols], want[example, :len(cols)], atol=1e-5, rtol=1e-5)
            example += 1
    assert example == len(indices)
    tiny_model.set_attn_implementation("sdpa")

@pytest.mark.parametrize("answer_only", [False, True])
def test_losses_and_scored_positions_match_the_padded_batch(tokens, tiny_model, answer_only):
    indices = list(range(3, 20))
    padded, packed = tokens.batch(indices), tokens.packed_batch(indices, width=48)
    assert int(shifted_masks(packed, answer_only).sum()) == int(shifted_masks(padded, answer_only).sum())
    with torch.no_grad():
        want = nll(logits_of(tiny_model, padded), padded, answer_only)
        got = nll(logits_of(tiny_model, packed), packed, answer_only)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_the_sampler_packs_the_same_examples_as_it_would_pad(tokens):
    plain = tokens.sampler(8, torch.Generator().manual_seed(3))
    packed = tokens.sampler(8, torch.Generator().manual_seed(3), pack_width=64)
    for _ in range(3):
        a, b = next(plain), next(packed)
        assert sorted(a["input_ids"][a["attention_mask"].bool()].tolist()) == \
            sorted(b["input_ids"][b["attention_mask"].bool()].tolist())
        assert b["input_ids"].numel() < a["input_ids"].numel()


def test_an_example_longer_than_the_width_gets_a_row_of_its_own(tokens):
    longest = max(range(len(tokens)), key=lambda i: len(tokens.prompts[i]) + len(tokens.answers[i]))
    size = len(tokens.prompts[longest]) + len(tokens.answers[longest])
    batch = tokens.packed_batch([0, longest, 1], width=size - 1)
    assert batch["input_ids"].shape == (3, size)
