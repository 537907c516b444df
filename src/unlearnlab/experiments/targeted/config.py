"""TargetedConfig: the targeted study's settings in a profile. Targeted-UNDO: UNDO's noise confined to a localization mask (notebook 41)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TargetedConfig:
    """Targeted-UNDO: UNDO's noise confined to a localization mask (notebook 41)."""

    sources: tuple[str, ...] = ("weight_diff", "fisher", "attribution", "semi_nmf", "random")
    budgets: tuple[float, ...] = (0.05, 0.2)
    alphas: tuple[float, ...] = (1.0,)
    train_only: tuple[bool, ...] = (False,)
