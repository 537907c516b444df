"""bf16 autocast for the real model tier's forward passes (scoring, generation, probes, patching).

On a CPU with AMX bf16 units a SmolLM2-135M forward runs ~3x faster under
``torch.autocast(dtype=bfloat16)`` than in float32 (the weights stay float32; matrix products
run in bf16). Training the tiny synthetic models under autocast pays too, but only with the
eager attention implementation (``cpu_training_attention``).

Two pitfalls decide how the context is built:

* **No weight cache.** ``torch.autocast`` caches its bf16 copies of the weights until the
  *outermost* autocast context exits. A training loop that opens its own autocast inside this
  one (``core.training.train`` does, per step) would keep using the copies of the first step's
  weights, and so would any code that edits weights in place inside the context. The cache is
  therefore off (``cache_enabled=False``); on this CPU that cost nothing measurable for
  forwards or generation (tests/test_precision.py checks that training inside the context
  matches training outside it).
* **Training runs its own switch.** ``train`` opens ``torch.autocast(enabled=cfg.bf16)`` per
  step, and a disabled inner context switches autocast *off*: inside ``bf16_autocast`` a
  ``TrainConfig(bf16=False)`` still trains in float32. Studies pass the same switch to both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def bf16_autocast(enabled: bool, device: str | torch.device = "cpu") -> torch.autocast:
    """A bf16 autocast context for ``device`` (a no-op context when not ``enabled``), safe to
    wrap around evaluation that trains or edits weights inside it (no weight cache)."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=enabled, cache_enabled=False)


@contextmanager
def cpu_training_attention(model: torch.nn.Module, bf16: bool, device: torch.device) -> Iterator[None]:
    """Train with the eager attention implementation while bf16 autocast runs on a CPU.

    Why (measured on the reference CPU, one thread, tiny arithmetic model, 128 x 64 tokens): bf16
    matrix products run at ~400 GFLOP/s against ~75 in float32, but SDPA's CPU flash-attention
    backward in bf16 is ~6x slower than in float32, which ate the whole gain (0.44 s per step
    against 0.39 s in float32). The eager implementation (plain matmuls + softmax) under autocast
    takes 0.25 s; SmolLM2 training steps are ~5 % faster with it too. Both implementations compute
    the same function (``logprobs.attention_bias`` gives them the same mask), so outside bf16 on
    a CPU nothing changes. The previous implementation is restored afterwards.
    """
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    swap = bf16 and device.type == "cpu" and previous not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if swap:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if swap:
            model.set_attn_implementation(previous)
