"""Whole MLP neurons (and attention heads) as the unit of localization: their scores and masks.

Weight-space localizers (gradient saliency, Fisher ratio) score single parameter entries. A neuron
owns whole rows of ``gate_proj``/``up_proj`` and a column of ``down_proj``; a head owns rows of
``q/k/v_proj`` and columns of ``o_proj``. Averaging a parameter score over those entries gives one
score per neuron and per head on one per-entry scale, so both can compete on one list. Masked LoRA
needs masks of this shape: a low-rank update can be confined to whole rows and columns, not to
scattered entries.

The localization registry offers ``fisher_neurons`` and ``gradient_norm_neurons`` (registered in
``registry.py``); ``neuron_localization(data, source)`` does the same for any registered source.
"""

from __future__ import annotations

import torch

from unlearnlab.localization.mask import Mask, mask_from_component_scores, random_mask
from unlearnlab.localization.registry import Localization, LocalizationData, localize

UNITS = "head+neuron"  # what a neuron localization scores: heads and neurons, one list


def unit_scores(model: torch.nn.Module, localization: Localization, granularity: str = "neuron") -> dict[str, float]:
    """Scores of whole components (``"neuron"``, ``"head"`` or ``"head+neuron"``) from any
    localization: parameter scores averaged over each component's entries."""
    return {name: score for unit in granularity.split("+")
            for name, score in localization.component_scores(model, unit).items()}


def neuron_localization(data: LocalizationData, source: str) -> Localization:
    """Registry localizer ``source`` averaged into whole heads and neurons (``L{i}.H{h}``,
    ``L{i}.N{j}``), named ``<source>_neurons``."""
    scores = unit_scores(data.model, localize(source, data), UNITS)
    return Localization(f"{source}_neurons", UNITS, scores, {"source": source})


def neuron_mask(model: torch.nn.Module, localization: Localization, budget: float,
                granularity: str = "neuron") -> Mask:
    """The top-scoring whole neurons (and heads, for ``"head+neuron"``) holding at most
    ``budget`` of the parameters."""
    scores = unit_scores(model, localization, granularity)
    return mask_from_component_scores(model, scores, granularity, budget, localization.method)


def random_neuron_mask(model: torch.nn.Module, like: Mask, seed: int) -> Mask:
    """Random components at the granularity and budget of ``like``: its control. Neurons (and
    heads) are equal-sized, so the random mask holds exactly as many parameters."""
    return random_mask(model, like.meta["budget"], like.granularity, torch.Generator().manual_seed(seed))
