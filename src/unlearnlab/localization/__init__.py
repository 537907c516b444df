"""Localization: where does the forget knowledge live? Scores over components, and masks.

Weight-space methods (weight difference, gradient norms, Fisher ratio), the component lists
(layer, matrix, MLP neuron, attention head, parameter) and the ``Mask``; activation-space methods
(magnitude, exact and attribution patching, through a TransformerLens bridge) score the same
component names; semi-NMF (``semi_nmf_scores``) scores MLP neurons by the forget-selective
features of their activations.
"""

from unlearnlab.localization.activations import (
    activation_magnitude,
    activation_patching,
    answer_metric,
    attribution_patching,
    bridge,
    patch_with,
    site_activations,
)
from unlearnlab.localization.causal import ablate, ablation_effect, causal_validation
from unlearnlab.localization.components import Component, component_scores_from_parameters, iter_components
from unlearnlab.localization.mask import (
    GRANULARITIES,
    Mask,
    mask_from_component_scores,
    mask_from_parameter_scores,
    random_mask,
)
from unlearnlab.localization.nmf import semi_nmf, semi_nmf_scores
from unlearnlab.localization.registry import LOCALIZERS, Localization, LocalizationData, localize, localizer
from unlearnlab.localization.weights import fisher_ratio_scores, gradient_norm_scores, weight_diff_scores

__all__ = ["GRANULARITIES", "LOCALIZERS", "Localization", "LocalizationData", "ablate", "ablation_effect",
           "causal_validation", "localize", "localizer", "Component", "Mask", "activation_magnitude", "activation_patching", "answer_metric",
           "attribution_patching", "bridge", "component_scores_from_parameters", "fisher_ratio_scores",
           "gradient_norm_scores", "iter_components", "mask_from_component_scores", "mask_from_parameter_scores",
           "patch_with", "random_mask", "semi_nmf", "semi_nmf_scores", "site_activations", "weight_diff_scores"]
