"""Stage 2 of the concept study: where the concept lives, as whole-neuron (and head) scores, and
the masks masked LoRA trains in.

Each localizer of the config (``fisher``: concept Fisher over retain Fisher; ``gradient_norm``:
mean |∂loss/∂θ| on the concept's training prompts alone) runs through the localization registry
as its neuron version (``localization/neurons.py``), with the base model's own answers as
targets; the scores are cached as grids layers × neurons and layers × heads, for the heatmaps
and the masks. Only localizers named in ``variants`` (``masked:<localizer>``) have their masks
trained; the others are shown.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unlearnlab.core.artifacts import Artifact, write_json_atomic
from unlearnlab.core.timing import timed
from unlearnlab.experiments.concept.setup import ConceptSetup, forget_train, retain_train
from unlearnlab.localization.components import component_grid
from unlearnlab.localization.mask import Mask
from unlearnlab.localization.neurons import UNITS, neuron_mask, random_neuron_mask
from unlearnlab.localization.registry import Localization, LocalizationData, localize

GRIDS = {"neuron": "N", "head": "H"}  # unit → its letter in component names (L{i}.N{j}, L{i}.H{h})


def localize_concept(s: ConceptSetup, method: str) -> Path:
    """Whole-neuron and whole-head scores of ``method`` on the concept (cached): the base's
    answers to the forget training prompts are the forget data, to the retain training prompts
    the retain data."""
    cfg = s.cfg
    key = {"concept": s.concept, "model": cfg.model, "method": method, "train_kinds": cfg.train_kinds,
           "batches": cfg.localize_batches, "max_new_tokens": cfg.max_new_tokens, "bf16": s.bf16}

    def make(tmp: Path) -> None:
        info = {"method": method}
        data = LocalizationData(s.model, s.tokens(forget_train(s)), s.tokens(retain_train(s)), s.tokenizer,
                                batch_size=8, max_batches=cfg.localize_batches)
        with timed(info, "localize"), s.precision():
            scores = localize(f"{method}_neurons", data)
            c = s.model.config
            widths = {"neuron": c.intermediate_size, "head": c.num_attention_heads}
            grids = {unit: component_grid(scores.component_scores(s.model, unit), letter, c.num_hidden_layers,
                                          widths[unit]) for unit, letter in GRIDS.items()}
            save_file({k: v.contiguous() for k, v in grids.items()}, str(tmp / "scores.safetensors"))
        write_json_atomic(tmp / "info.json", info)

    return Artifact(s.root, "concept_localize", f"{s.concept.name}_{method}", key).build(make)


def saliency_grid(s: ConceptSetup, method: str, unit: str = "neuron") -> torch.Tensor:
    """Scores of ``method`` as a (layers × neurons) or (layers × heads) grid, for a heatmap."""
    return load_file(str(localize_concept(s, method) / "scores.safetensors"))[unit]


def heatmap_grids(s: ConceptSetup, log: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """``{localizer: {"heads": grid, "neurons": grid}}`` for ``plots.localize.score_heatmaps``;
    with ``log``, nonnegative grids in decades above 1e-4 of the grid's maximum (0 to 4):
    neuron scores are so heavy-tailed that on a linear scale all but a few pixels are dark."""
    return {m: {"heads": _display(saliency_grid(s, m, "head"), log),
                "neurons": _display(saliency_grid(s, m, "neuron"), log)} for m in s.cfg.localizers}


def _display(grid: torch.Tensor, log: bool) -> torch.Tensor:
    finite = grid[torch.isfinite(grid)]
    if not log or not finite.numel() or float(finite.min()) < 0 or float(finite.max()) <= 0:
        return grid
    top = float(finite.max())
    return torch.log10(grid.clamp_min(1e-4 * top) / top) + 4  # 0..4: decades above the floor


def _grid_scores(grid: torch.Tensor, letter: str) -> dict[str, float]:
    """The inverse of ``component_grid``: ``{"L{i}.{letter}{j}": score}``."""
    return {f"L{i}.{letter}{j}": float(v) for (i, j), v in zip(torch.cartesian_prod(
        torch.arange(grid.shape[0]), torch.arange(grid.shape[1])).tolist(), grid.flatten().tolist())}


def concept_mask(s: ConceptSetup, source: str, seed: int = 0) -> Mask:
    """The mask of ``source`` at the configured granularity and budget: a localizer's top
    components, or for ``"random"`` as many components as the reference localizer's mask, drawn
    with ``seed``."""
    cfg = s.cfg
    if source == "random":
        return random_neuron_mask(s.model, concept_mask(s, cfg.reference_localizer), seed)
    key = ("mask", source)
    if key not in s.cache:
        scores = {name: value for unit, letter in GRIDS.items()
                  for name, value in _grid_scores(saliency_grid(s, source, unit), letter).items()}
        s.cache[key] = neuron_mask(s.model, Localization(source, UNITS, scores), cfg.budget, cfg.granularity)
    return s.cache[key]
