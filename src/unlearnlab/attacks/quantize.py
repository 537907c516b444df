"""The quantization attack: does a forgotten answer come back when the weights are rounded?

Unlearning by fine-tuning often moves the weights by less than one quantization step, so
rounding the unlearned model to 8 or 4 bits can land it back on (nearly) the original model's
grid point, and the forgotten answers return (Zhang et al. 2024, "Catastrophic failure of LLM
unlearning via quantization"). A model that never learned the answers (the oracle) has nothing
to return to; quantize it the same way as the reference.

The scheme (what a deployment with round-to-nearest weight-only quantization does):

* **Which parameters**: the weight matrix of every ``nn.Linear`` inside the decoder layers
  (attention q/k/v/o and MLP gate/up/down projections). Embeddings, norms, biases and the
  unembedding are kept in float (the unembedding is tied to the embedding in this repository's
  models, and bitsandbytes / GPTQ keep ``lm_head`` in full precision too). A peft adapter is
  merged into the weights first: quantization acts on the deployed model.
* **Grid**: symmetric, per output channel (one row of the ``(out, in)`` weight): with
  ``qmax = 2**(bits-1) - 1`` (127 for int8, 7 for int4) the row's scale is
  ``max|w_row| / qmax`` and each entry becomes ``clamp(round(w / scale), -qmax, qmax)``, so the
  grid is symmetric (−128 and −8 are never used) and zero stays exactly zero. ``round`` is
  ``torch.round`` (half to even). A row of zeros gets scale 1 (every entry rounds to 0).
* **Dequantized**: the copy holds ``q * scale`` in the weight's own dtype, so every evaluation
  runs unchanged on it; each entry is off by at most ``scale / 2``.

>>> rows = quantization_attack(model, forget_accuracy(held_out))
>>> # [{"scheme": "none", "bits": 32, "forget_acc": ...}, {"scheme": "int8", ...}, {"scheme": "int4", ...}]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from unlearnlab.core.anatomy import decoder_layers
from unlearnlab.core.models import fresh_copy

Metric = Callable[[torch.nn.Module], dict[str, float]]

SCHEMES: dict[str, int] = {"int8": 8, "int4": 4}  # scheme name -> bits per weight


def qmax(bits: int) -> int:
    """The largest grid level of a symmetric ``bits``-bit grid (127 for 8, 7 for 4)."""
    if bits < 2:
        raise ValueError(f"a symmetric grid needs at least 2 bits, got {bits}")
    return 2 ** (bits - 1) - 1


def channel_scales(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """One scale per output channel (row) of a ``(out, in)`` weight: ``max|row| / qmax``, shape
    ``(out, 1)``, in float32; an all-zero row gets 1 so that dividing by it is safe."""
    absmax = weight.detach().float().abs().amax(dim=1, keepdim=True)
    return torch.where(absmax > 0, absmax / qmax(bits), torch.ones_like(absmax))


def to_grid(weight: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """The integer levels ``clamp(round(w / scale), -qmax, qmax)`` (as float32 values)."""
    limit = qmax(bits)
    return torch.round(weight.detach().float() / scale).clamp(-limit, limit)


def fake_quantize(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """``weight`` rounded to its per-channel ``bits``-bit grid and dequantized, in its dtype."""
    if weight.dim() != 2:
        raise ValueError(f"per-channel quantization needs a 2-D (out, in) weight, got shape {tuple(weight.shape)}")
    scale = channel_scales(weight, bits)
    return (to_grid(weight, scale, bits) * scale).to(weight.dtype)


def quantized_linears(model: torch.nn.Module) -> list[tuple[str, torch.nn.Linear]]:
    """The ``(name, module)`` of every linear layer the scheme quantizes (inside decoder layers)."""
    return [(name, m) for name, m in decoder_layers(model).named_modules() if isinstance(m, torch.nn.Linear)]


@torch.no_grad()
def quantized_copy(model: torch.nn.Module, bits: int) -> torch.nn.Module:
    """A deep copy of ``model`` (merged if it carries a peft adapter) whose decoder-layer linear
    weights are rounded to ``bits`` bits and dequantized; ``model`` itself is left untouched."""
    copy = fresh_copy(getattr(model, "_orig_mod", model))
    if hasattr(copy, "merge_and_unload"):
        copy = copy.merge_and_unload()
    for _, linear in quantized_linears(copy):
        linear.weight.copy_(fake_quantize(linear.weight, bits))
    return copy.eval()


def quantization_attack(model: torch.nn.Module, metric: Metric,
                        schemes: Sequence[str] = tuple(SCHEMES)) -> list[dict]:
    """``metric`` on ``model`` as it is (scheme ``"none"``, bits of its float dtype) and on a
    quantized copy per scheme: rows ``{"scheme", "bits", **metric(m)}``, like ``relearn``'s."""
    unknown = [s for s in schemes if s not in SCHEMES]
    if unknown:
        raise ValueError(f"unknown quantization scheme(s) {unknown}; choose from {list(SCHEMES)}")
    float_bits = torch.finfo(next(model.parameters()).dtype).bits
    rows = [{"scheme": "none", "bits": float_bits, **metric(model)}]
    for scheme in schemes:
        quantized = quantized_copy(model, SCHEMES[scheme])
        rows.append({"scheme": scheme, "bits": SCHEMES[scheme], **metric(quantized)})
        del quantized
    return rows
