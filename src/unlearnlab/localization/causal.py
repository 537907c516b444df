"""Causal validation of a mask: ablating the localized parameters should hurt forget accuracy
more than retain accuracy, and more than ablating random parameters of the same size.

A localization that only finds "important" weights (those whose removal breaks everything)
fails this test as clearly as one that finds nothing: the score is the *difference* between the
forget drop and the retain drop, compared against random masks of the same granularity and size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from unlearnlab.localization.mask import Mask, random_mask
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.timing import in_phase

Evaluate = Callable[[torch.nn.Module], tuple[float, float]]  # model -> (forget acc, retain acc)


@torch.no_grad()
def ablate(model: torch.nn.Module, mask: Mask) -> torch.nn.Module:
    """A copy of ``model`` with the masked entries set to zero (the original is untouched)."""
    out = fresh_copy(model)
    for name, p in out.named_parameters():
        if name in mask.entries:
            p.masked_fill_(mask.entries[name].to(p.device), 0.0)
    return out


def ablation_effect(model: torch.nn.Module, mask: Mask, evaluate: Evaluate,
                    before: tuple[float, float] | None = None) -> dict:
    """Forget and retain accuracy drops when ``mask`` is zeroed, and their difference."""
    forget0, retain0 = before if before is not None else evaluate(model)
    forget1, retain1 = evaluate(ablate(model, mask))
    return {"forget_drop": forget0 - forget1, "retain_drop": retain0 - retain1,
            "selectivity": (forget0 - forget1) - (retain0 - retain1), "fraction": mask.fraction(model)}


@in_phase("localize")
def causal_validation(model: torch.nn.Module, masks: dict[str, Mask], evaluate: Evaluate,
                      n_random: int = 5, seed: int = 0) -> list[dict]:
    """One row per localized mask and per random control draw (same granularity, same budget).

    Random masks are drawn with the localized mask's *achieved* fraction of parameters, so a
    component mask that could not fill its budget is compared with random masks as small.
    """
    before = evaluate(model)
    rows = []
    for label, mask in masks.items():
        rows.append({"mask": label, "source": mask.source, "control": False, "draw": 0,
                     **ablation_effect(model, mask, evaluate, before)})
        fraction = mask.fraction(model)
        for draw in range(n_random):
            gen = torch.Generator().manual_seed(seed * 10_007 + draw)
            control = random_mask(model, fraction, mask.granularity, gen)
            rows.append({"mask": label, "source": "random", "control": True, "draw": draw,
                         **ablation_effect(model, control, evaluate, before)})
    return rows
