"""Module scores: which linear modules of a decoder carry a fact, for placing an adapter there.

An adapter such as (IA)³ or LoRA is attached to whole linear modules (``q_proj`` … ``down_proj``),
so this localizer scores modules, not parameters or neurons. Three views, rank-averaged:

* ``attribution``: attribution patching (clean − corrupt) · ∂log p(answer)/∂activation, |·|
  summed over the heads of ``hook_z`` (→ that layer's q/k/v/o_proj), the neurons of
  ``mlp.hook_pre`` (the gate output → gate_proj, up_proj) and of ``mlp.hook_post`` (down_proj's
  input → down_proj); each site divided by its largest layer so the three share a scale.
  Absolute values, because a module that pushes the answer down matters as much as one pushing
  it up.
* ``magnitude``: mean |activation| on forget prompts over that on retain prompts, per layer's
  attention (``hook_z`` → q/k/v/o_proj) and MLP (``hook_post`` → gate/up/down_proj).
* ``gradient``: mean |∂ forget loss / ∂W| over the module's weight entries (per entry, so large
  MLP matrices are not favoured for their size).

Attribution and magnitude are per layer and block, so they tie the modules of a block; the
gradient separates them. Reached as ``localize("modules", data)``; ``chosen_modules(localization,
k)`` picks the adapter's modules. Modules are named as in
the Hugging Face model (``model.layers.12.self_attn.o_proj``), so the names work for peft, the
tiny Llama models and SmolLM2 alike.
"""

from __future__ import annotations

import random

import torch

from unlearnlab.core import anatomy
from unlearnlab.localization.registry import Localization, LocalizationData

ATTENTION_ROLES = ("attn_in", "attn_out")  # core.anatomy.module_role's roles of attention projections
# Which patching site scores which projections: the heads' outputs (hook_z) every attention
# projection, the MLP's pre-activation its input projections, its post-activation its output one.
PATCHING_SITES = (("hook_z", ATTENTION_ROLES), ("mlp.hook_pre", ("mlp_in",)), ("mlp.hook_post", ("mlp_out",)))


def linear_modules(model: torch.nn.Module) -> list[str]:
    """Names of the linear layers inside the decoder blocks (attention and MLP projections; the
    embedding and unembedding are not candidates), in model order."""
    return anatomy.linear_modules(model)


def layer_modules(model: torch.nn.Module) -> dict[tuple[int, str], list[str]]:
    """(layer, role) → module names (``core.anatomy.module_role``: q/k/v are one ``attn_in``)."""
    out: dict[tuple[int, str], list[str]] = {}
    for name in linear_modules(model):
        out.setdefault(anatomy.module_role(model, name), []).append(name)
    return out


def top_modules(scores: dict[str, float], k: int) -> list[str]:
    """The ``k`` best-scoring modules (ties broken by name, so the choice is deterministic)."""
    return [name for name, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def random_modules(model: torch.nn.Module, k: int, seed: int = 0) -> list[str]:
    """``k`` linear modules drawn uniformly at random: the control for localization."""
    names = linear_modules(model)
    if k > len(names):
        raise ValueError(f"asked for {k} modules, the model has {len(names)} linear modules")
    return random.Random(seed).sample(names, k)


def combine_ranks(components: dict[str, dict[str, float]],
                  weights: dict[str, float] | None = None) -> dict[str, float]:
    """Rank-average: each component's scores become percentiles in (0, 1] (ties share their
    average rank), averaged with ``weights`` (default equal). Ranks, because the components live
    on unrelated scales (log-prob × activation, activation ratios, gradients) and a single
    outlier should not decide the choice."""
    from scipy.stats import rankdata

    weights = weights or dict.fromkeys(components, 1.0)
    names = sorted(next(iter(components.values())))
    total = dict.fromkeys(names, 0.0)
    for component, scores in components.items():
        ranks = rankdata([scores[n] for n in names], method="average") / len(names)
        for name, rank in zip(names, ranks):
            total[name] += weights[component] * float(rank)
    norm = sum(weights.values())
    return {name: value / norm for name, value in total.items()}


def _attribution(data: LocalizationData, blocks: dict[tuple[int, str], list[str]]) -> dict[str, float]:
    from unlearnlab.localization.activations import attribution_patching

    out: dict[str, float] = {}
    for site, projections in PATCHING_SITES:
        per_layer: dict[int, float] = {}
        for name, value in attribution_patching(data.bridge(), data.clean, data.corrupt, site).items():
            layer = int(name.split(".")[0][1:])
            per_layer[layer] = per_layer.get(layer, 0.0) + abs(value)
        top = max(per_layer.values()) or 1.0
        for (layer, role), names in blocks.items():
            if role in projections:
                out.update(dict.fromkeys(names, per_layer[layer] / top))
    return out


def _magnitude(data: LocalizationData, blocks: dict[tuple[int, str], list[str]]) -> dict[str, float]:
    from unlearnlab.localization.activations import activation_magnitude

    per_block = activation_magnitude(data.bridge(), data.forget, data.retain, sites=("hook_z", "mlp.hook_post"),
                                     granularity="layer", mode="ratio", batch_size=data.batch_size)
    return {name: per_block[f"L{layer}.{'attn' if role in ATTENTION_ROLES else 'mlp'}"]
            for (layer, role), names in blocks.items() for name in names}


def _gradient(data: LocalizationData) -> dict[str, float]:
    from unlearnlab.localization.weights import gradient_norm_scores

    grads = gradient_norm_scores(data.model, data.forget, batch_size=data.batch_size,
                                 max_batches=data.max_batches or 8)
    return {name: float(grads[f"{name}.weight"].mean()) for name in linear_modules(data.model)}


def module_components(data: LocalizationData) -> dict[str, dict[str, float]]:
    """The three views (module docstring) per linear module of ``data.model``; needs
    ``clean``/``corrupt`` (patching), ``forget``/``retain`` and the ``tokenizer`` (the bridge)."""
    data.require("clean", "corrupt", "tokenizer")
    blocks = layer_modules(data.model)
    attribution = _attribution(data, blocks)
    return {"attribution": attribution, "magnitude": _magnitude(data, blocks), "gradient": _gradient(data)}


def module_localization(data: LocalizationData) -> Localization:
    """The ``"modules"`` localizer: ``combine_ranks`` of ``module_components``, one score per
    module's weight matrix (granularity ``"matrix"``, so ``mask`` works as for any localizer);
    the components are kept in ``details["components"]``."""
    components = module_components(data)
    scores = {f"{name}.weight": score for name, score in combine_ranks(components).items()}
    return Localization("modules", "matrix", scores, {"components": components})


def chosen_modules(localization: Localization, k: int) -> list[str]:
    """The ``k`` top modules of a ``"modules"`` localization, as module names for an adapter."""
    return top_modules({name.removesuffix(".weight"): s for name, s in localization.scores.items()}, k)
