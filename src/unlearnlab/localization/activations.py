"""Activation-space localization: which heads and MLP neurons *carry* the forget knowledge.

Weight-space scores say where unlearning moved the weights; activation-space scores say what the
model computes with when it answers. Three methods, from cheapest to most causal:

* ``activation_magnitude``: mean |activation| on forget prompts minus (or over) retain prompts;
  correlational, one forward pass per batch.
* ``attribution_patching``: the first-order estimate of activation patching, (clean − corrupt) ·
  ∂metric/∂activation, for every component in one forward and one backward pass.
* ``activation_patching``: the exact causal effect of restoring one component's clean activation
  in a corrupted run; one forward pass per component.

Activations are read and edited through a TransformerLens 4 ``TransformerBridge`` around a copy of
the Hugging Face model (see ``bridge``), so hook names are the TransformerLens ones and the same
code runs on our tiny Llama models and on SmolLM2/Qwen/Llama checkpoints. Every function accepts
either a bridge (build it once with ``bridge(model, tokenizer)`` and reuse it) or the HF model
plus ``tokenizer=``.

Component names match ``components.iter_components``: ``L{i}.H{h}`` for attention heads and
``L{i}.N{j}`` for MLP neurons, so scores feed ``mask_from_component_scores`` directly; at
granularity ``"layer"`` a site gives one score per layer, ``L{i}.attn``, ``L{i}.mlp`` or
``L{i}.resid_pre``.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from unlearnlab.core.batching import Batch, TokenSet
from unlearnlab.core.timing import in_phase

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

# Short site name -> hook name inside ``blocks.{i}``.
SITES = {"hook_z": "attn.hook_z", "hook_v": "attn.hook_v", "mlp.hook_pre": "mlp.hook_pre",
         "mlp.hook_post": "mlp.hook_post", "hook_resid_pre": "hook_resid_pre"}
ACTIVATION_GRANULARITIES = ("layer", "head", "neuron")
METRICS = ("logprob", "logit")
_LAYER_SUFFIX = {"attn": "attn", "mlp": "mlp", "hook_resid_pre": "resid_pre"}
_NAME = re.compile(r"^L(\d+)\.(?:H(\d+)|N(\d+)|attn|mlp|resid_pre)$")

Activations = dict[int, torch.Tensor]  # layer -> activation at one site, (batch, pos, ...)


# --------------------------------------------------------------------------- the bridge


def bridge(model: torch.nn.Module, tokenizer: Any) -> TransformerBridge:
    """A TransformerBridge around a deep copy of ``model``, built offline.

    The bridge rewires the modules it wraps (and forces eager attention so attention patterns
    are hookable), so it gets its own copy and ``model`` is left as it was. The copy is handed
    over directly (``hf_model=``) rather than saved and reloaded, so a real checkpoint keeps its
    dtype and device and nothing large is written to disk. Only the tokenizer goes through a
    temporary directory: the bridge reloads it from its ``name_or_path`` to switch on
    ``add_bos_token``, and a tokenizer built in memory has no such path. We always feed token
    ids, so the bridge's tokenizer never touches our inputs.
    """
    os.environ.setdefault("WANDB_MODE", "disabled")  # transformer_lens imports wandb
    from transformers import AutoTokenizer
    from transformer_lens.model_bridge import TransformerBridge

    hf = copy.deepcopy(model).eval()
    param = next(hf.parameters())
    with tempfile.TemporaryDirectory() as directory:
        tokenizer.save_pretrained(directory)
        local_tokenizer = AutoTokenizer.from_pretrained(directory)
        wrapped = TransformerBridge.boot_transformers(directory, hf_model=hf, tokenizer=local_tokenizer,
                                                      dtype=param.dtype, device=str(param.device))
    return wrapped.eval()


def _as_bridge(model: Any, tokenizer: Any = None) -> TransformerBridge:
    if hasattr(model, "run_with_hooks") and hasattr(model, "hook_dict"):
        return model
    if tokenizer is None:
        raise ValueError("activation localization runs on a TransformerBridge: pass bridge(model, tokenizer), "
                         "or the HF model together with tokenizer=")
    return bridge(model, tokenizer)


def _device(br: TransformerBridge) -> torch.device:
    return next(br.parameters()).device


# --------------------------------------------------------------------------- sites and components


def _site(site: str) -> str:
    """Canonical site (hook name inside a block) from a short or full name."""
    if site in SITES:
        return SITES[site]
    if site in SITES.values():
        return site
    raise ValueError(f"unknown site {site!r}; choose from {sorted(SITES)}")


def _hook_name(site: str, layer: int) -> str:
    return f"blocks.{layer}.{site}"


def _kind(site: str) -> str:
    return "attn" if site.startswith("attn.") else "mlp" if site.startswith("mlp.") else site


def _default_granularity(site: str) -> str:
    return {"attn": "head", "mlp": "neuron"}.get(_kind(site), "layer")


@dataclass(frozen=True)
class _Slot:
    """One patchable slice of a site's activation, and the component names it stands for.

    With grouped-query attention ``hook_v`` has one head per KV group; its slot names every query
    head of the group (they share those values), so names always match ``iter_components``.
    """

    names: tuple[str, ...]
    layer: int
    index: tuple  # into a (batch, pos, ...) activation


def _slots(br: TransformerBridge, site: str, layer: int, shape: torch.Size, granularity: str | None) -> list[_Slot]:
    granularity = granularity or _default_granularity(site)
    kind = _kind(site)
    every = (slice(None), slice(None))
    if granularity == "layer":
        return [_Slot((f"L{layer}.{_LAYER_SUFFIX[kind]}",), layer, every)]
    if granularity == "head" and kind == "attn":
        n_heads, n_slices = br.cfg.n_heads, shape[2]
        group = n_heads // n_slices
        return [_Slot(tuple(f"L{layer}.H{h}" for h in range(g * group, (g + 1) * group)), layer, (*every, g))
                for g in range(n_slices)]
    if granularity == "neuron" and kind == "mlp":
        return [_Slot((f"L{layer}.N{j}",), layer, (*every, j)) for j in range(shape[-1])]
    raise ValueError(f"granularity {granularity!r} does not apply to site {site!r}; "
                     f"use 'layer', 'head' (attention sites) or 'neuron' (MLP sites)")


def _granularity_of(name: str) -> str:
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a component name (L<i>.H<h>, L<i>.N<j>, L<i>.attn, L<i>.mlp, L<i>.resid_pre)")
    return "head" if match.group(2) is not None else "neuron" if match.group(3) is not None else "layer"


def _family(name: str) -> str:
    """What a component name is a name of, without its layer: 'H', 'N', 'attn', 'mlp', 'resid_pre'."""
    return re.sub(r"\d+$", "", name.split(".", 1)[1])


def _layers(br: TransformerBridge, layers: Iterable[int] | None) -> list[int]:
    return list(range(br.cfg.n_layers)) if layers is None else sorted(set(layers))


# --------------------------------------------------------------------------- running and the metric


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _logits(br: TransformerBridge, batch: Batch, hooks: Sequence[tuple[str, Any]] = ()) -> torch.Tensor:
    device = _device(br)
    return _float(br.run_with_hooks(batch["input_ids"].to(device), fwd_hooks=list(hooks),
                                    attention_mask=batch["attention_mask"].to(device)))


def answer_positions(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the last prompt position and the first answer token it should predict."""
    answer = batch["answer_mask"].bool()
    if not bool(answer.any(-1).all()):
        raise ValueError("every example in the batch needs an answer (answer_mask is empty for a row)")
    first = answer.int().argmax(-1)
    if bool((first == 0).any()):
        raise ValueError("an answer starts at position 0: no prompt token predicts it")
    return first - 1, batch["input_ids"].gather(1, first[:, None]).squeeze(1)


def answer_metric(logits: torch.Tensor, answers: Batch, metric: str = "logprob") -> torch.Tensor:
    """Sum over the batch of log p(first answer token) at the last prompt position.

    ``metric="logit"`` uses the raw logit instead; it is linear in the final residual stream where
    the log-probability is not (log-softmax), which is what makes the linear-case check of
    attribution patching exact.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {METRICS}")
    position, token = answer_positions(answers)
    rows = torch.arange(len(position), device=logits.device)
    scores = _float(logits)[rows, position.to(logits.device)]
    if metric == "logprob":
        scores = F.log_softmax(scores, dim=-1)
    return scores[rows, token.to(logits.device)].sum()


def _prediction_mask(batch: Batch) -> torch.Tensor:
    """Positions that predict an answer token: the last prompt token and every answer token but the last."""
    answer = batch["answer_mask"].bool()
    out = torch.zeros_like(answer)
    out[:, :-1] = answer[:, 1:]
    return out


# --------------------------------------------------------------------------- reading and patching


@torch.no_grad()
def site_activations(model: Any, batch: Batch, site: str, layers: Iterable[int] | None = None,
                     tokenizer: Any = None) -> Activations:
    """The activation at ``site`` in each layer for ``batch``: {layer: (batch, pos, ...)}."""
    br = _as_bridge(model, tokenizer)
    site = _site(site)
    store: Activations = {}

    def keep(layer: int):
        def hook(tensor: torch.Tensor, hook: Any) -> torch.Tensor:
            store[layer] = tensor.detach().clone()
            return tensor
        return hook

    _logits(br, batch, [(_hook_name(site, layer), keep(layer)) for layer in _layers(br, layers)])
    return store


def _replace(indices: list[tuple], source: torch.Tensor):
    def hook(tensor: torch.Tensor, hook: Any) -> torch.Tensor:
        if tensor.shape != source.shape:
            raise ValueError(f"patch values of shape {tuple(source.shape)} for {hook.name} of shape {tuple(tensor.shape)}")
        out = tensor.clone()
        for index in indices:
            out[index] = source[index].to(device=out.device, dtype=out.dtype)
        return out
    return hook


@torch.no_grad()
def patch_with(model: Any, batch: Batch, site: str, components: Iterable[str] | None, values: Activations, *,
               answers: Batch | None = None, metric: str = "logprob", tokenizer: Any = None) -> float:
    """The metric of ``batch`` run with ``components`` at ``site`` set to their slices of ``values``.

    ``values`` is ``{layer: activation}`` as from ``site_activations`` (any tensors of that shape);
    ``components`` are component names (``None``: every component of every layer in ``values``).
    The answer tokens and positions come from ``answers`` (default ``batch``). Patching a run with
    its own activations must leave the metric unchanged, which is how the hooks are tested.
    """
    br = _as_bridge(model, tokenizer)
    site = _site(site)
    by_layer: dict[int, list[tuple]] = {}
    if components is None:
        for layer in values:
            by_layer[layer] = [(slice(None), slice(None))]
    else:
        wanted = set(components)
        found: set[str] = set()
        for granularity in sorted({_granularity_of(name) for name in wanted}):
            for layer, act in values.items():
                for slot in _slots(br, site, layer, act.shape, granularity):
                    if wanted & set(slot.names):
                        by_layer.setdefault(layer, []).append(slot.index)
                        found |= wanted & set(slot.names)
        if found != wanted:
            raise KeyError(f"no values at {site} for components {sorted(wanted - found)[:5]}")
    hooks = [(_hook_name(site, layer), _replace(indices, values[layer])) for layer, indices in by_layer.items()]
    return float(answer_metric(_logits(br, batch, hooks), answers if answers is not None else batch, metric))


def _check_pair(clean: Batch, corrupt: Batch) -> None:
    if clean["input_ids"].shape != corrupt["input_ids"].shape:
        raise ValueError(f"clean and corrupt batches must have equal shapes, got {tuple(clean['input_ids'].shape)} "
                         f"and {tuple(corrupt['input_ids'].shape)}")


@torch.no_grad()
@in_phase("localize")
def activation_patching(model: Any, clean: Batch, corrupt: Batch, site: str, granularity: str | None = None, *,
                        layers: Iterable[int] | None = None, metric: str = "logprob",
                        only: Iterable[str] | None = None, tokenizer: Any = None) -> dict[str, float]:
    """Exact patching: metric(corrupt run with one component's clean activation) − metric(corrupt).

    Every position is patched; the metric reads the clean batch's first answer token at its last
    prompt position. One forward pass per component, so on a real model restrict it with
    ``layers`` or ``only`` (e.g. the top components by ``attribution_patching``).
    """
    br = _as_bridge(model, tokenizer)
    site = _site(site)
    _check_pair(clean, corrupt)
    clean_acts = site_activations(br, clean, site, layers)
    base = answer_metric(_logits(br, corrupt), clean, metric)
    keep = None if only is None else set(only)
    scores: dict[str, float] = {}
    for layer, act in clean_acts.items():
        for slot in _slots(br, site, layer, act.shape, granularity):
            if keep is not None and not keep & set(slot.names):
                continue
            hook = (_hook_name(site, layer), _replace([slot.index], act))
            effect = float(answer_metric(_logits(br, corrupt, [hook]), clean, metric) - base)
            scores.update(dict.fromkeys(slot.names, effect))
    return scores


@in_phase("localize")
def attribution_patching(model: Any, clean: Batch, corrupt: Batch, site: str, granularity: str | None = None, *,
                         layers: Iterable[int] | None = None, metric: str = "logprob",
                         tokenizer: Any = None) -> dict[str, float]:
    """First-order activation patching: (clean − corrupt) · ∂metric/∂activation at the corrupt run.

    Summed over batch, positions and the component's dimensions; one clean forward pass, then one
    forward and backward pass for all components. Equal to ``activation_patching`` wherever the
    metric is linear in the site, and its first-order term everywhere.
    """
    br = _as_bridge(model, tokenizer)
    site = _site(site)
    _check_pair(clean, corrupt)
    clean_acts = site_activations(br, clean, site, layers)
    corrupt_acts: Activations = {}

    def grab(layer: int):
        def hook(tensor: torch.Tensor, hook: Any) -> torch.Tensor:
            if not tensor.requires_grad:  # frozen weights upstream: nothing upstream to cut
                tensor = tensor.detach().requires_grad_(True)
            corrupt_acts[layer] = tensor
            return tensor
        return hook

    order = list(clean_acts)
    with torch.enable_grad():
        value = answer_metric(_logits(br, corrupt, [(_hook_name(site, layer), grab(layer)) for layer in order]),
                              clean, metric)
        # autograd.grad, not backward(): no .grad left on the bridge's parameters.
        grads = torch.autograd.grad(value, [corrupt_acts[layer] for layer in order], allow_unused=True,
                                    materialize_grads=True)
    scores: dict[str, float] = {}
    for layer, grad in zip(order, grads):
        delta = _float(clean_acts[layer]) - _float(corrupt_acts[layer].detach())
        product = delta * _float(grad)
        for slot in _slots(br, site, layer, product.shape, granularity):
            scores.update(dict.fromkeys(slot.names, float(product[slot.index].sum())))
    return scores


# --------------------------------------------------------------------------- magnitude


@torch.no_grad()
def _mean_abs(br: TransformerBridge, data: TokenSet, sites: Sequence[str], granularity: str | None,
              layers: list[int], batch_size: int, max_batches: int | None) -> dict[str, float]:
    """Mean |activation| per component over the answer-predicting positions of ``data``."""
    totals: dict[tuple[str, int], torch.Tensor] = {}
    count = 0
    mask: torch.Tensor | None = None

    def accumulate(site: str, layer: int):
        def hook(tensor: torch.Tensor, hook: Any) -> torch.Tensor:
            summed = _float(tensor.detach()).abs()[mask.to(tensor.device)].sum(0)
            key = (site, layer)
            totals[key] = totals[key] + summed if key in totals else summed
            return tensor
        return hook

    hooks = [(_hook_name(site, layer), accumulate(site, layer)) for site in sites for layer in layers]
    for n, batch in enumerate(data.batches(batch_size), start=1):
        mask = _prediction_mask(batch)
        count += int(mask.sum())
        _logits(br, batch, hooks)
        if max_batches is not None and n >= max_batches:
            break
    if count == 0:
        raise ValueError("no answer-predicting positions in the data")
    scores: dict[str, float] = {}
    for (site, layer), total in totals.items():
        for slot in _slots(br, site, layer, torch.Size((1, 1, *total.shape)), granularity):
            part = total[slot.index[2:]]
            value = float(part.sum()) / (count * part.numel())
            scores.update(dict.fromkeys(slot.names, value))
    return scores


@in_phase("localize")
def activation_magnitude(model: Any, forget: TokenSet, retain: TokenSet,
                         sites: Sequence[str] = ("hook_z", "mlp.hook_post"), granularity: str | None = None, *,
                         layers: Iterable[int] | None = None, mode: str = "diff", eps: float = 1e-6,
                         batch_size: int = 32, max_batches: int | None = None,
                         tokenizer: Any = None) -> dict[str, float]:
    """Per component, mean |activation| on forget prompts minus (``mode="ratio"``: over) retain.

    Averaged over the positions that predict the answer (the last prompt token and the answer
    tokens but the last) and over the component's dimensions. The ratio's denominator has a floor
    of ``eps`` times the largest retain magnitude (activation scales differ between models, so
    the floor is relative, as in ``fisher_ratio_scores``, and per site: heads, neurons and layers
    live on different scales). ``granularity`` ``None`` gives heads
    for attention sites and neurons for MLP sites; two sites that would give the same names (say
    ``hook_z`` and ``hook_v``, both heads) are refused rather than silently overwritten.
    """
    if mode not in ("diff", "ratio"):
        raise ValueError(f"mode is 'diff' or 'ratio', got {mode!r}")
    br = _as_bridge(model, tokenizer)
    canonical = [_site(s) for s in sites]
    named = [(granularity or _default_granularity(s), _kind(s)) for s in canonical]
    if len(set(named)) != len(named):
        raise ValueError(f"sites {list(sites)} give the same component names at granularity {granularity!r}; "
                         "score them in separate calls")
    chosen = _layers(br, layers)
    on_forget = _mean_abs(br, forget, canonical, granularity, chosen, batch_size, max_batches)
    on_retain = _mean_abs(br, retain, canonical, granularity, chosen, batch_size, max_batches)
    if mode == "diff":
        return {name: on_forget[name] - on_retain[name] for name in on_forget}
    largest: dict[str, float] = {}
    for name, value in on_retain.items():
        largest[_family(name)] = max(largest.get(_family(name), 0.0), value)
    return {name: on_forget[name] / (on_retain[name] + eps * largest[_family(name)]) for name in on_forget}
