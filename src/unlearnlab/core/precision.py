"""bf16 autocast for the real model tier's forward passes (scoring, generation, probes, patching).

On a CPU with AMX bf16 units a SmolLM2-135M forward runs ~3x faster under
``torch.autocast(dtype=bfloat16)`` than in float32 (the weights stay float32; matrix products
run in bf16). The tiny synthetic models are left in float32: their matrices are too small for
bf16 to pay.

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

import torch


def bf16_autocast(enabled: bool, device: str | torch.device = "cpu") -> torch.autocast:
    """A bf16 autocast context for ``device`` (a no-op context when not ``enabled``), safe to
    wrap around evaluation that trains or edits weights inside it (no weight cache)."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=enabled, cache_enabled=False)
