"""LocalizeConfig: the localize study's settings in a profile. Localization on the arithmetic model and on SmolLM2 (notebook 20)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LocalizeConfig:
    """Localization on the arithmetic model and on SmolLM2 (notebook 20)."""

    # localization (20_localize) and Targeted-UNDO (41_targeted_undo)
    localizers: tuple[str, ...] = ("weight_diff", "gradient_norm", "fisher", "act_magnitude", "act_patching",
                                   "attribution", "semi_nmf", "random")
    items: int = 256  # forget and retain examples each for activation/gradient scores
    patching_items: int = 64  # clean/corrupt equation pairs
    reference_lr: float = 1e-4  # the short GradDiff run behind the weight difference
    mask_budgets: tuple[float, ...] = (0.01, 0.05, 0.2, 0.5)
    causal_random_draws: int = 5
    real_patch_layers: tuple[int, ...] | None = None  # SmolLM2 layers patched exactly (None: all 30)
