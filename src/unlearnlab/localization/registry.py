"""One registry of localization methods: each turns a model and its data into scores, and the
scores into a ``Mask`` with a parameter budget.

Weight-space methods score single parameters; activation-space methods score attention heads
and MLP neurons (joined as granularity ``"head+neuron"``, each site's scores divided by its
largest absolute value so heads and neurons rank on one scale). Every method sees the same
``LocalizationData``, so adding one is a decorated function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from unlearnlab.core.batching import Batch, TokenSet
from unlearnlab.localization.mask import Mask, mask_from_component_scores, mask_from_parameter_scores
from unlearnlab.core.timing import in_phase

ATTENTION_SITE, MLP_SITE = "hook_z", "mlp.hook_post"


@dataclass
class LocalizationData:
    """What a localization method may look at.

    ``clean``/``corrupt`` are equal-shape batches for patching (a forget prompt and the same
    prompt with the knowledge-bearing token swapped); ``reference`` is the model after a short
    unlearning run (for the weight difference); ``tokenizer`` builds the TransformerLens bridge.
    """

    model: torch.nn.Module
    forget: TokenSet
    retain: TokenSet
    tokenizer: Any = None
    clean: Batch | None = None
    corrupt: Batch | None = None
    reference: torch.nn.Module | None = None
    batch_size: int = 32
    max_batches: int | None = 8
    seed: int = 0  # for the random control
    patch_layers: tuple[int, ...] | None = None  # guided_patching: layers whose heads are patched (None: all)
    top_neurons: int = 64  # guided_patching: neurons patched exactly, the top ones by attribution
    _bridge: Any = field(default=None, repr=False)

    def bridge(self):
        """The TransformerLens bridge of ``model``, built once and shared by every method."""
        if self._bridge is None:
            from unlearnlab.localization.activations import bridge

            self._bridge = bridge(self.model, self.tokenizer)
        return self._bridge

    def require(self, *names: str) -> None:
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise ValueError(f"this localization method needs LocalizationData.{', '.join(missing)}")


@dataclass
class Localization:
    """Scores of one method: per parameter entry (tensors) or per component (floats)."""

    method: str
    granularity: str  # "parameter", or component granularity such as "head+neuron"
    scores: dict[str, torch.Tensor] | dict[str, float]
    details: dict = field(default_factory=dict)

    def component_scores(self, model: torch.nn.Module, granularity: str) -> dict[str, float]:
        """Scores of ``granularity`` components ("head" or "neuron"): parameter scores averaged
        over each component's entries; component scores filtered to that kind."""
        if self.granularity == "parameter":
            from unlearnlab.localization.components import component_scores_from_parameters

            return component_scores_from_parameters(model, self.scores, granularity)
        unit = {"head": ".H", "neuron": ".N"}[granularity]
        return {k: float(v) for k, v in self.scores.items() if unit in k}

    def mask(self, model: torch.nn.Module, budget: float) -> Mask:
        """The top-scoring entries (or whole components) holding at most ``budget`` of the parameters."""
        if self.granularity == "parameter":
            return mask_from_parameter_scores(model, self.scores, budget, self.method)
        return mask_from_component_scores(model, self.scores, self.granularity, budget, self.method)


Localizer = Callable[[LocalizationData], Localization]
LOCALIZERS: dict[str, Localizer] = {}


def localizer(name: str):
    def wrap(fn: Localizer) -> Localizer:
        if name in LOCALIZERS:
            raise ValueError(f"localization method {name!r} registered twice")
        LOCALIZERS[name] = fn
        return fn
    return wrap


@in_phase("localize")
def localize(name: str, data: LocalizationData) -> Localization:
    if name not in LOCALIZERS:
        raise KeyError(f"unknown localization method {name!r}; registered: {', '.join(sorted(LOCALIZERS))}")
    return LOCALIZERS[name](data)


def normalized(scores: dict[str, float]) -> dict[str, float]:
    """Scores divided by their largest absolute value (so sites on other scales can be joined)."""
    top = max((abs(v) for v in scores.values()), default=0.0) or 1.0
    return {k: v / top for k, v in scores.items()}


def _heads_and_neurons(per_site: Callable[[str], dict[str, float]], method: str) -> Localization:
    heads, neurons = per_site(ATTENTION_SITE), per_site(MLP_SITE)
    return Localization(method, "head+neuron", {**normalized(heads), **normalized(neurons)},
                        {"raw_heads": heads, "raw_neurons": neurons})


@localizer("weight_diff")
def _weight_diff(data: LocalizationData) -> Localization:
    from unlearnlab.localization.weights import weight_diff_scores

    data.require("reference")
    return Localization("weight_diff", "parameter", weight_diff_scores(data.model, data.reference))


@localizer("gradient_norm")
def _gradient_norm(data: LocalizationData) -> Localization:
    from unlearnlab.localization.weights import gradient_norm_scores

    return Localization("gradient_norm", "parameter", gradient_norm_scores(
        data.model, data.forget, batch_size=data.batch_size, max_batches=data.max_batches or 8))


@localizer("fisher")
def _fisher(data: LocalizationData) -> Localization:
    from unlearnlab.localization.weights import fisher_ratio_scores

    return Localization("fisher", "parameter", fisher_ratio_scores(
        data.model, data.forget, data.retain, batch_size=data.batch_size, max_batches=data.max_batches or 8))


@localizer("act_magnitude")
def _magnitude(data: LocalizationData) -> Localization:
    from unlearnlab.localization.activations import activation_magnitude

    return _heads_and_neurons(lambda site: activation_magnitude(
        data.bridge(), data.forget, data.retain, sites=(site,), batch_size=data.batch_size,
        max_batches=data.max_batches), "act_magnitude")


@localizer("act_patching")
def _patching(data: LocalizationData) -> Localization:
    from unlearnlab.localization.activations import activation_patching

    data.require("clean", "corrupt")
    return _heads_and_neurons(lambda site: activation_patching(data.bridge(), data.clean, data.corrupt, site),
                              "act_patching")


@localizer("guided_patching")
def _guided(data: LocalizationData) -> Localization:
    """Exact patching of heads and of the top neurons by attribution (``localization.guided``)."""
    from unlearnlab.localization.guided import guided_patching

    data.require("clean", "corrupt")
    timing: dict[str, float] = {}
    parts = guided_patching(data.bridge(), data.clean, data.corrupt, layers=data.patch_layers,
                            top_neurons=data.top_neurons, timing=timing)
    heads, neurons = parts["patching_heads"], parts["patching_top_neurons"]
    return Localization("guided_patching", "head+neuron", {**normalized(heads), **normalized(neurons)},
                        {**parts, "timing": timing})


@localizer("attribution")
def _attribution(data: LocalizationData) -> Localization:
    from unlearnlab.localization.activations import attribution_patching

    data.require("clean", "corrupt")
    return _heads_and_neurons(lambda site: attribution_patching(data.bridge(), data.clean, data.corrupt, site),
                              "attribution")


@localizer("semi_nmf")
def _semi_nmf(data: LocalizationData) -> Localization:
    from unlearnlab.localization.nmf import semi_nmf_scores

    scores, details = semi_nmf_scores(data.bridge(), data.forget, data.retain, batch_size=data.batch_size,
                                      max_batches=data.max_batches)
    return Localization("semi_nmf", "neuron", scores, {"explained_variance": {
        layer: d["explained_variance"] for layer, d in details["layers"].items()}})


@localizer("random")
def _random(data: LocalizationData) -> Localization:
    """The control: uniformly random scores per parameter entry, so any budget is exact."""
    gen = torch.Generator().manual_seed(data.seed)
    return Localization("random", "parameter", {n: torch.rand(p.shape, generator=gen)
                                                for n, p in data.model.named_parameters()})


@localizer("modules")
def _modules(data: LocalizationData) -> Localization:
    """Whole linear modules, for adapters (localization/modules.py)."""
    from unlearnlab.localization.modules import module_localization

    return module_localization(data)


@localizer("fisher_neurons")
def _fisher_neurons(data: LocalizationData) -> Localization:
    """The Fisher ratio per whole MLP neuron and attention head (masked LoRA's masks)."""
    from unlearnlab.localization.neurons import neuron_localization

    return neuron_localization(data, "fisher")


@localizer("gradient_norm_neurons")
def _gradient_norm_neurons(data: LocalizationData) -> Localization:
    """Gradient saliency per whole MLP neuron and attention head (masked LoRA's masks)."""
    from unlearnlab.localization.neurons import neuron_localization

    return neuron_localization(data, "gradient_norm")
