"""Cheaper training and evaluation steps that compute the same numbers (issue 16): fused AdamW on
the CPU and the output layer on scored positions only (``core.logprobs.nll_of``); greedy answers
(``data.facts.generate``) are charged to the evaluate phase.

``python tests/test_step_speed.py`` measures the answer-only loss on SmolLM2 (CPU seconds, old and
new side by side in one process, and their differences); it is a measurement, not a test.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import pytest
import torch

from conftest import TINY
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.models import build_llama
from unlearnlab.core.logprobs import (logits_of, nll, nll_of, scored_logprobs, sequence_logprob,
                                      sequence_logprob_of, shifted_masks, token_logprobs)
from unlearnlab.core.timing import phase_snapshot
from unlearnlab.core.training import TrainConfig, train
from unlearnlab.data import facts as fx

pytestmark = pytest.mark.unit


def _answer_batch(tokens: TokenSet, n: int = 6) -> dict:
    return tokens.batch(list(range(n)), "cpu")


def test_nll_of_is_nll_of_full_logits_with_the_same_gradient(tiny_model, tokens):
    batch = _answer_batch(tokens)
    for answer_only in (True, False):
        tiny_model.zero_grad()
        full = nll(logits_of(tiny_model, batch), batch, answer_only)
        full.backward()
        want = [p.grad.clone() for p in tiny_model.parameters()]
        tiny_model.zero_grad()
        cheap = nll_of(tiny_model, batch, answer_only)
        cheap.backward()
        torch.testing.assert_close(cheap, full, rtol=1e-6, atol=1e-6)
        for got, ref in zip((p.grad for p in tiny_model.parameters()), want, strict=True):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_scored_logprobs_match_token_logprobs_where_scored_and_are_zero_elsewhere(tiny_model, tokens):
    batch = _answer_batch(tokens)
    with torch.no_grad():
        logp, mask = scored_logprobs(tiny_model, batch, answer_only=True)
        ref = token_logprobs(logits_of(tiny_model, batch), batch)
    assert torch.equal(mask, shifted_masks(batch, answer_only=True))
    assert 0 < int(mask.sum()) < mask.numel()
    torch.testing.assert_close(logp[mask], ref[mask], rtol=1e-6, atol=1e-6)
    assert torch.all(logp[~mask] == 0)
    for normalise in (False, True):
        torch.testing.assert_close(sequence_logprob_of(tiny_model, batch, True, normalise).detach(),
                                   sequence_logprob(logits_of(tiny_model, batch), batch, True, normalise).detach(),
                                   rtol=1e-6, atol=1e-6)


def test_nll_of_runs_the_output_layer_on_scored_positions_only(tiny_model, tokens):
    batch = _answer_batch(tokens)
    rows = []
    hook = tiny_model.lm_head.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[:-1].numel()))
    nll_of(tiny_model, batch, answer_only=True)
    hook.remove()
    assert rows == [int(shifted_masks(batch, answer_only=True).sum())]


def test_packed_batches_score_the_same_through_nll_of(tiny_model, tokens):
    batch = tokens.packed_batch(list(range(8)), 64, "cpu")
    with torch.no_grad():
        torch.testing.assert_close(nll_of(tiny_model, batch, True), nll(logits_of(tiny_model, batch), batch, True),
                                   rtol=1e-6, atol=1e-6)


def _masked_train(model, tokens, weight_decay: float, fused: bool) -> dict[str, torch.Tensor]:
    """Train ``model`` for 3 steps with gradients of half of one matrix zeroed (as TargetedUNDO's
    ``train_only_masked`` does), with ``train``'s optimiser (fused) or the per-tensor loop."""
    name = "model.layers.0.mlp.up_proj.weight"
    param = dict(model.named_parameters())[name]
    keep = torch.rand(param.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    hook = param.register_hook(lambda g: g * keep)
    batch = _answer_batch(tokens)
    cfg = TrainConfig(steps=3, lr=1e-2, weight_decay=weight_decay)
    step_loss = lambda m, step: (nll(logits_of(m, batch), batch), 1)  # noqa: E731
    if fused:
        train(model, step_loss, cfg)
    else:
        original = torch.optim.AdamW
        torch.optim.AdamW = lambda *a, **k: original(*a, **{**k, "fused": False, "foreach": False})
        try:
            train(model, step_loss, cfg)
        finally:
            torch.optim.AdamW = original
    hook.remove()
    return {"param": param.detach().clone(), "keep": keep}


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_fused_adamw_updates_like_the_loop_and_keeps_zero_gradient_entries(tokenizer, tokens, weight_decay):
    before = build_llama(TINY, len(tokenizer), tokenizer, seed=0).model.layers[0].mlp.up_proj.weight.detach().clone()
    fused = _masked_train(build_llama(TINY, len(tokenizer), tokenizer, seed=0), tokens, weight_decay, fused=True)
    loop = _masked_train(build_llama(TINY, len(tokenizer), tokenizer, seed=0), tokens, weight_decay, fused=False)
    torch.testing.assert_close(fused["param"], loop["param"], rtol=0, atol=1e-6)
    frozen = ~fused["keep"]
    assert not torch.equal(fused["param"][fused["keep"]], before[fused["keep"]])
    if weight_decay == 0:  # zero gradient, zero moments: the entry does not move in either implementation
        assert torch.equal(fused["param"][frozen], before[frozen])
    else:  # decoupled decay shrinks it alike in both
        torch.testing.assert_close(fused["param"][frozen], loop["param"][frozen], rtol=0, atol=1e-7)
        assert not torch.equal(fused["param"][frozen], before[frozen])


def test_generate_is_charged_to_the_evaluate_phase_and_restores_padding(tiny_model, tokenizer):
    pairs = [fx.QA(f"{i} + 1 =", " 1", ("1",), chat=False) for i in range(3)]
    tokenizer.padding_side = "right"
    before = phase_snapshot()["calls"].get("evaluate", 0)
    out = fx.generate(tiny_model, tokenizer, pairs, max_new_tokens=2, batch_size=2)
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    assert phase_snapshot()["calls"].get("evaluate", 0) == before + 1
    assert tokenizer.padding_side == "right"


def _cpu(fn, repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats


def measure(repeats: int = 5) -> None:
    """CPU seconds of one fwd+bwd answer-only loss step on SmolLM2 (4 chat prompts of a rewrite, as
    notebook 32 batches them), full logits vs ``nll_of``, 1 thread; and the differences."""
    from unlearnlab.core.real_model import load_real_model

    torch.set_num_threads(1)
    model, tokenizer = load_real_model("smollm2")
    model.train()
    fact = next(f for f in fx.FACTS if f.relation == "capital" and f.subject == "France")
    spec = fx.rewrite_spec(fact, "Lyon", ())
    pairs = [dataclasses.replace(p, answer="The capital of France is Lyon.") for p in spec.f2_train if p.chat][:4]
    batch = fx.to_tokens(tokenizer, pairs).batch(list(range(4)), "cpu")
    print(f"batch {tuple(batch['input_ids'].shape)}, {int(shifted_masks(batch, True).sum())} answer tokens")
    old = lambda: nll(logits_of(model, batch), batch, True)  # noqa: E731
    new = lambda: nll_of(model, batch, True)  # noqa: E731
    grads = {}
    for name, loss_fn in (("full", old), ("nll_of", new)):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        grads[name] = (float(loss.detach()), [p.grad.clone() for p in model.parameters() if p.grad is not None])
    diff = max(float((a - b).abs().max()) for a, b in zip(grads["full"][1], grads["nll_of"][1], strict=True))
    print(f"loss full {grads['full'][0]:.8f} nll_of {grads['nll_of'][0]:.8f}, max |grad diff| {diff:.2e}")
    for name, loss_fn in (("full", old), ("nll_of", new)) * 2:
        step = lambda: (model.zero_grad(), loss_fn().backward())  # noqa: E731
        print(f"{name:7s} fwd+bwd {_cpu(step, repeats):.3f} CPU s/step")
    with torch.no_grad():
        for name, loss_fn in (("full", old), ("nll_of", new)) * 2:
            print(f"{name:7s} fwd only {_cpu(loss_fn, repeats):.3f} CPU s/step")


if __name__ == "__main__":
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
