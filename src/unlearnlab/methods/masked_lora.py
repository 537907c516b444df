"""Masked LoRA: a LoRA adapter whose update is confined to the neurons (and heads) of a ``Mask``.

A plain LoRA on a linear layer adds ``ΔW = s · B A`` (B: out × r, A: r × in). A neuron mask
selects whole rows of ``gate_proj``/``up_proj`` (the neuron's output) and whole columns of
``down_proj`` (its input); a head mask selects rows of ``q/k/v_proj`` and columns of ``o_proj``.
Any such mask is, per matrix, an outer product ``rows ⊗ cols``, and masked LoRA trains

    ΔW = s · diag(rows) · B · A · diag(cols)

so every entry outside the mask is an exact zero: entry (i, j) is a sum of products each of
which has a factor ``rows[i] = 0`` or ``cols[j] = 0``. Two mechanisms keep it so:

* in the forward pass, hooks multiply ``lora_A``'s input by ``cols`` and ``lora_B``'s output by
  ``rows`` — the update is masked whatever values the factors hold, and the gradients of the
  factor entries outside the mask are exactly zero;
* the factors themselves are projected (A's columns and B's rows outside the mask zeroed) when the
  adapter is made, saved and merged, so peft's own ``get_delta_weight``, ``merge_and_unload`` and
  ``save_pretrained`` see the masked update.

The result is an ordinary peft LoRA adapter (it saves, loads and merges like any adapter; its
factors just hold zeros outside the mask). The per-module row/column masks are saved next to it
(``masked_lora_factors.safetensors``) so a loaded adapter can be trained on under the same mask.

Masks come from the localization library (``localization/neurons.py``: any localizer's scores
as whole neurons, and optionally heads, within a parameter budget). The registered method
``MaskedLoRA`` trains such an adapter with the ``RefusalKL`` objective; its ``mask`` field names
the localizer the mask comes from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unlearnlab.localization.mask import Mask, random_mask
from unlearnlab.methods.adapters import apply_lora, merge
from unlearnlab.methods.base import ContractCase, TinySetup, register
from unlearnlab.methods.refusal import RefusalKL, RefusalKLConfig

FACTORS_FILE = "masked_lora_factors.safetensors"
ADAPTER = "default"


# --------------------------------------------------------------------------------------------
# Masks per matrix: rows ⊗ columns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorMask:
    """The rows (outputs) and columns (inputs) of one weight matrix an update may touch."""

    rows: torch.Tensor  # bool, (out_features,)
    cols: torch.Tensor  # bool, (in_features,)

    @property
    def size(self) -> int:
        """Entries of the matrix inside the mask."""
        return int(self.rows.sum()) * int(self.cols.sum())


def factor_masks(model: torch.nn.Module, mask: Mask) -> dict[str, FactorMask]:
    """Per linear module (named as in ``model``) with selected entries, its mask as rows ⊗ cols.

    Raises for a mask that selects anything but weight matrices of linear layers, or selects a
    pattern that is not an outer product (a parameter-granularity mask): a low-rank update cannot
    be confined to an arbitrary set of entries without materialising ΔW.
    """
    linear = {f"{name}.weight": name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    out = {}
    for param, selected in mask.entries.items():
        if not selected.any():
            continue
        if param not in linear or selected.dim() != 2:
            raise ValueError(f"masked LoRA adapts linear weights only; the mask selects {param}")
        rows, cols = selected.any(1), selected.any(0)
        if not torch.equal(selected, rows[:, None] & cols[None, :]):
            raise ValueError(f"the mask of {param} is not whole rows/columns; use a neuron or head mask")
        out[linear[param]] = FactorMask(rows, cols)
    if not out:
        raise ValueError("the mask selects nothing")
    return out


def masked_modules(model: torch.nn.Module, mask: Mask) -> list[str]:
    """The linear modules a mask touches (the plain-LoRA baseline adapts the same ones)."""
    return list(factor_masks(model, mask))


# --------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------


def _mask_input(module: torch.nn.Module, args: tuple) -> tuple:
    """Forward pre-hook of ``lora_A``: only the masked input columns reach the update."""
    return (args[0] * module.lora_mask, *args[1:])


def _mask_output(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook of ``lora_B``: only the masked output rows receive the update."""
    return output * module.lora_mask


def _constrain(linear: torch.nn.Linear, keep: torch.Tensor, side: str) -> None:
    """Attach ``keep`` (a 0/1 vector) to a LoRA factor as a non-persistent buffer (so it moves
    with the module and is copied with it, but is not part of the adapter's weights) and hook it
    into the forward pass."""
    param = linear.weight
    linear.register_buffer("lora_mask", keep.to(device=param.device, dtype=param.dtype), persistent=False)
    if side == "in":
        linear.register_forward_pre_hook(_mask_input)
    else:
        linear.register_forward_hook(_mask_output)


def _lora_layers(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Module]]:
    """(original module name, peft LoRA layer) of a peft-wrapped model."""
    from peft.tuners.lora import LoraLayer

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    for name, module in inner.named_modules():
        if isinstance(module, LoraLayer):
            yield name, module


def constrain(model: torch.nn.Module, factors: dict[str, FactorMask]) -> torch.nn.Module:
    """Confine the LoRA layers of peft ``model`` to ``factors`` (in place) and project them."""
    layers = dict(_lora_layers(model))
    missing = set(factors) - set(layers)
    if missing:
        raise ValueError(f"no LoRA layer on {sorted(missing)[:3]}")
    for name, fm in factors.items():
        layer = layers[name]
        if not fm.cols.all():
            _constrain(layer.lora_A[ADAPTER], fm.cols, "in")
        if not fm.rows.all():
            _constrain(layer.lora_B[ADAPTER], fm.rows, "out")
    project_(model)
    return model


def apply_masked_lora(model: torch.nn.Module, mask: Mask, r: int = 8, alpha: int = 16) -> torch.nn.Module:
    """``model`` (modified in place) wrapped with a fresh LoRA on the modules ``mask`` touches,
    each confined to the mask's rows and columns; trainable parameters are the LoRA factors."""
    factors = factor_masks(model, mask)
    return constrain(apply_lora(model, list(factors), r, alpha), factors)


@torch.no_grad()
def project_(model: torch.nn.Module) -> None:
    """Zero the factor entries outside the mask (A's columns, B's rows), so the stored factors
    equal the update the hooks let through; idempotent."""
    for _, layer in _lora_layers(model):
        a, b = layer.lora_A[ADAPTER], layer.lora_B[ADAPTER]
        if hasattr(a, "lora_mask"):
            a.weight.mul_(a.lora_mask[None, :])
        if hasattr(b, "lora_mask"):
            b.weight.mul_(b.lora_mask[:, None])


def adapter_factors(model: torch.nn.Module) -> dict[str, FactorMask]:
    """The row/column masks attached to a peft ``model``'s LoRA layers (all True where free)."""
    out = {}
    for name, layer in _lora_layers(model):
        a, b = layer.lora_A[ADAPTER], layer.lora_B[ADAPTER]
        cols = a.lora_mask.bool() if hasattr(a, "lora_mask") else torch.ones(a.in_features, dtype=torch.bool)
        rows = b.lora_mask.bool() if hasattr(b, "lora_mask") else torch.ones(b.out_features, dtype=torch.bool)
        out[name] = FactorMask(rows.cpu(), cols.cpu())
    return out


def update_size(model: torch.nn.Module) -> int:
    """How many base-weight entries the adapter can change (a plain LoRA: whole matrices)."""
    return sum(fm.size for fm in adapter_factors(model).values())


def merge_adapter(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model with the (projected) adapter folded in: ``adapters.merge`` after
    ``project_``, so weights outside the mask come out exactly as they went in."""
    project_(model)
    return merge(model)


def save_adapter(model: torch.nn.Module, directory: str | Path) -> Path:
    """Save the adapter with peft's ``save_pretrained`` (factors projected first) and, for a
    masked one, its row/column masks next to it."""
    directory = Path(directory)
    project_(model)
    model.save_pretrained(directory)
    factors = {name: fm for name, fm in adapter_factors(model).items() if not (fm.rows.all() and fm.cols.all())}
    if factors:
        tensors = {f"{name}.{side}": getattr(fm, side).to(torch.uint8).contiguous()
                   for name, fm in factors.items() for side in ("rows", "cols")}
        save_file(tensors, str(directory / FACTORS_FILE))
    return directory


def load_adapter(model: torch.nn.Module, directory: str | Path, trainable: bool = False) -> torch.nn.Module:
    """``model`` (modified in place) with the adapter saved in ``directory``; a masked adapter
    gets its masks back, so further training stays inside them."""
    from peft import PeftModel

    directory = Path(directory)
    wrapped = PeftModel.from_pretrained(model, directory, is_trainable=trainable)
    file = directory / FACTORS_FILE
    if file.is_file():
        tensors = load_file(str(file))
        names = {key.rsplit(".", 1)[0] for key in tensors}
        constrain(wrapped, {n: FactorMask(tensors[f"{n}.rows"].bool(), tensors[f"{n}.cols"].bool()) for n in names})
    return wrapped


def plain_lora(model: torch.nn.Module, mask: Mask, r: int = 8, alpha: int = 16) -> torch.nn.Module:
    """The baseline: an unmasked LoRA of the same rank on the same modules as masked LoRA."""
    return apply_lora(model, masked_modules(model, mask), r, alpha)


# --------------------------------------------------------------------------------------------
# The registered method
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskedLoRAConfig(RefusalKLConfig):
    mask: str = "fisher"  # the localizer whose whole-neuron mask confines the update ("random": its control)
    lora_r: int = 8
    lora_alpha: int = 16


@register("MaskedLoRA")
class MaskedLoRA(RefusalKL):
    """``RefusalKL`` trained through a LoRA confined to a neuron mask. ``adapt(model, mask)`` wraps
    the model (the caller builds ``mask`` from the localizer named by ``config.mask``); ``run``
    trains the adapter's factors, the only parameters that require grad; merging is the caller's
    step (``merge_adapter``)."""

    Config = MaskedLoRAConfig

    def adapt(self, model: torch.nn.Module, mask: Mask) -> torch.nn.Module:
        """``model`` (modified in place) wrapped with a fresh masked LoRA of the configured rank."""
        return apply_masked_lora(model, mask, self.config.lora_r, self.config.lora_alpha)

    @classmethod
    def example(cls, tiny: TinySetup) -> ContractCase:
        """Two steps on the tiny model confined to 10 % of its parameters as random whole neurons."""
        method = cls(replace(cls.Config(), steps=2, batch_size=4))
        mask = random_mask(tiny.model, 0.1, "neuron", torch.Generator().manual_seed(tiny.seed))
        return ContractCase(method, method.adapt(tiny.model, mask), tiny.data())
