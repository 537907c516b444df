"""Sparse autoencoders and feature-level unlearning, evaluated as SAEBench's unlearning eval.

>>> from unlearnlab.sae import SAEConfig, SAETrainConfig, sae_for, importance_scores, build_suite, sweep
"""

from unlearnlab.sae.features import (RULES, FeatureStats, attribution_scores, feature_stats, importance_scores,
                                     importance_scores_per_retain, kl_scores, select_features)
from unlearnlab.sae.hooks import attach, collect_activations, intervene, site_module, site_output
from unlearnlab.sae.interventions import ablate_directions, clamp, splice
from unlearnlab.sae.model import KINDS, SITES, SAEConfig, SparseAutoencoder
from unlearnlab.sae.train import SAETrainConfig, SAETrainLog, delta_loss, reconstruction_metrics, sae_for, train_sae
from unlearnlab.sae.unlearning import MCQSuite, SweepGrid, build_suite, sweep

__all__ = ["KINDS", "RULES", "SITES", "FeatureStats", "MCQSuite", "SAEConfig", "SAETrainConfig", "SAETrainLog",
           "SparseAutoencoder", "SweepGrid", "ablate_directions", "attach", "attribution_scores", "build_suite",
           "clamp", "collect_activations", "delta_loss", "feature_stats", "importance_scores",
           "importance_scores_per_retain", "intervene",
           "kl_scores", "reconstruction_metrics", "sae_for", "select_features", "site_module", "site_output",
           "splice", "sweep", "train_sae"]
