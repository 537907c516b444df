"""Sparse autoencoders: the model, its training, its features and the edits made through it.

The SAE clamp method built from these is ``methods.sae_clamp``; the question suite and the score
it is judged by are ``evals.mcq`` and ``evals.unlearning_score``.

>>> from unlearnlab.sae import SAEConfig, SAETrainConfig, sae_for, importance_scores, clamp
"""

from unlearnlab.sae.features import (RULES, FeatureStats, attribution_scores, feature_stats, importance_scores,
                                     importance_scores_per_retain, kl_scores, select_features)
from unlearnlab.sae.hooks import attach, collect_activations, intervene, site_output
from unlearnlab.sae.interventions import ablate_directions, clamp, splice
from unlearnlab.sae.model import KINDS, SAEConfig, SparseAutoencoder
from unlearnlab.sae.train import (SAETrainConfig, SAETrainLog, delta_loss, fit_sae, reconstruction_metrics, sae_for,
                                  train_sae)

__all__ = ["KINDS", "RULES", "FeatureStats", "SAEConfig", "SAETrainConfig", "SAETrainLog", "SparseAutoencoder",
           "ablate_directions", "attach", "attribution_scores", "clamp", "collect_activations", "delta_loss",
           "feature_stats", "fit_sae", "importance_scores", "importance_scores_per_retain", "intervene", "kl_scores",
           "reconstruction_metrics", "sae_for", "select_features", "site_output", "splice", "train_sae"]
