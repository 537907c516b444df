"""The real tier's bf16 context: it really runs bf16 matrix products, and a training loop or an
in-place weight edit inside it sees the current weights (autocast's weight cache would keep the
first bf16 copies until the outermost context exits)."""

from __future__ import annotations

import pytest
import torch

from unlearnlab.core.precision import bf16_autocast
from unlearnlab.core.training import TrainConfig, train

pytestmark = pytest.mark.unit


def _trained_weights(context, bf16: bool) -> torch.Tensor:
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(16, 16), torch.randn(8, 16)

    def step_loss(model, step):
        return model(x).float().pow(2).mean(), 8

    with context:
        train(layer, step_loss, TrainConfig(steps=4, lr=0.1, batch_size=8, warmup_frac=0.0, bf16=bf16))
    return layer.weight.detach().clone()


@pytest.mark.parametrize("enabled", [True, False])
def test_training_inside_the_context_sees_its_own_updates(enabled):
    from contextlib import nullcontext

    outside = _trained_weights(nullcontext(), bf16=True)
    inside = _trained_weights(bf16_autocast(enabled), bf16=True)
    torch.testing.assert_close(inside, outside, rtol=0, atol=0)


def test_plain_autocast_would_train_on_stale_weights():
    """Why the context has no weight cache: the same loop inside a cached autocast differs."""
    from contextlib import nullcontext

    outside = _trained_weights(nullcontext(), bf16=True)
    stale = _trained_weights(torch.autocast("cpu", dtype=torch.bfloat16), bf16=True)
    assert not torch.equal(stale, outside)


@torch.no_grad()
def test_forward_runs_in_bf16_and_sees_in_place_edits():
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(16, 16), torch.randn(4, 16)
    with bf16_autocast(True):
        first = layer(x)
        layer.weight.zero_()
        layer.bias.zero_()
        second = layer(x)
    assert first.dtype == torch.bfloat16
    assert float(second.abs().max()) == 0.0
    with bf16_autocast(False):
        assert layer(x).dtype == torch.float32


def test_bf16_training_on_a_cpu_uses_eager_attention_and_restores_the_model(tiny_model, tokens):
    """Under bf16 on a CPU, SDPA's flash-attention backward is ~6x slower than eager attention
    (core.precision.cpu_training_attention); float32 training keeps SDPA; the model's own
    implementation comes back after training either way."""
    from unlearnlab.core.logprobs import logits_of, nll

    seen: list[str] = []
    batch = tokens.packed_batch(list(range(8)), width=48)

    def step_loss(model, step):
        seen.append(model.config._attn_implementation)
        return nll(logits_of(model, batch), batch), 1

    before = tiny_model.config._attn_implementation
    for bf16 in (True, False):
        train(tiny_model, step_loss, TrainConfig(steps=1, lr=1e-4, batch_size=8, bf16=bf16))
        assert tiny_model.config._attn_implementation == before
    assert seen == ["eager", before] and before != "eager"
