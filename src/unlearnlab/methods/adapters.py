"""Adapters on chosen linear modules: full fine-tuning, LoRA and (IA)³, each attached and merged
the same way, so a training stage is ``attach`` → train → ``detach``.

* ``apply_lora(model, modules, r, alpha)``: a fresh LoRA (identity at init, B = 0, no dropout,
  so merged and unmerged outputs agree) on exactly ``modules``; masked LoRA
  (``methods/masked_lora.py``) constrains this adapter to a neuron mask.
* ``apply_ia3(model, modules)``: a fresh (IA)³ adapter (one scaling vector per module,
  initialised to ones: an identity) on exactly ``modules``.
* ``merge(model)``: the adapter folded into the weights (``merge_and_unload``); the result is
  the plain model again, with its original parameter names, every parameter trainable.
* ``attach(model, kind, modules)`` / ``detach(model, kind)``: the three kinds behind one call
  (``"full"`` attaches nothing and trains every weight).

Wrapping modifies ``model`` in place (peft injects its layers into it) and merging restores its
modules in place, so after ``detach(attach(model, ...))`` the caller's object holds the result.
Modules are named as in the Hugging Face model (``localization.modules.linear_modules``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unlearnlab.core import anatomy
from unlearnlab.localization.modules import linear_modules

ADAPTERS = ("full", "lora", "ia3")


def _checked(model: torch.nn.Module, modules: Sequence[str]) -> list[str]:
    """``modules`` as a list, or a ValueError naming those that are not linear modules."""
    known = set(linear_modules(model))
    missing = [m for m in modules if m not in known]
    if missing or not modules:
        raise ValueError(f"not linear modules of the model: {missing[:5] or 'none given'}")
    return list(modules)


def apply_ia3(model: torch.nn.Module, modules: Sequence[str], feedforward: Sequence[str] | None = None):
    """``model`` (modified in place) wrapped with a fresh (IA)³ adapter on ``modules`` only.

    A feed-forward module's vector scales its *input*, others their *output*; by default the MLP
    ``down_proj`` modules are feed-forward, so their vector scales the MLP neurons as in the
    (IA)³ paper and peft's Llama defaults. Module names are passed in full, so peft matches
    exactly those (``IA3Config`` has no ``layers_to_transform``).
    """
    from peft import IA3Config, get_peft_model

    modules = _checked(model, modules)
    feedforward = [m for m in modules if anatomy.is_mlp_out(model, m)] if feedforward is None else list(feedforward)
    config = IA3Config(task_type="CAUSAL_LM", target_modules=modules, feedforward_modules=feedforward,
                       init_ia3_weights=True)
    return get_peft_model(model, config)


def apply_lora(model: torch.nn.Module, modules: Sequence[str], r: int = 8, alpha: int = 16):
    """``model`` (modified in place) wrapped with a fresh LoRA adapter (identity at init, B = 0)
    on ``modules`` only, without dropout (so merged and unmerged outputs agree). A's
    initialisation draws from torch's global generator."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(task_type="CAUSAL_LM", target_modules=_checked(model, modules), r=r, lora_alpha=alpha,
                        lora_dropout=0.0)
    return get_peft_model(model, config)


def merge(model) -> torch.nn.Module:
    """The plain model with the adapter folded into its weights (``merge_and_unload``), every
    parameter trainable again and in eval mode, ready for the next stage."""
    plain = model.merge_and_unload()
    for param in plain.parameters():
        param.requires_grad_(True)
    return plain.eval()


def attach(model: torch.nn.Module, kind: str, modules: Sequence[str], *, lora_r: int = 8,
           lora_alpha: int = 16) -> torch.nn.Module:
    """``model`` ready to train as ``kind`` (one of ``ADAPTERS``): itself for ``"full"``, else
    wrapped with a fresh adapter on ``modules``."""
    if kind == "full":
        return model
    if kind == "ia3":
        return apply_ia3(model, modules)
    if kind == "lora":
        return apply_lora(model, modules, lora_r, lora_alpha)
    raise ValueError(f"unknown adapter {kind!r}; choose from {', '.join(ADAPTERS)}")


def detach(model: torch.nn.Module, kind: str) -> torch.nn.Module:
    """The plain model after training ``attach(…, kind, …)``: merged, in eval mode."""
    return model.eval() if kind == "full" else merge(model)
