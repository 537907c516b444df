"""SAE feature clamping, SAEBench's unlearning intervention, as a method of the registry.

``SAEClamp.run(model, data)``: train the SAE the model carries (``prepare`` attaches a fresh one
at the config's site and layer) on the model's activations over forget and retain text; score
its features by one rule against the two corpora (``sae.features``); keep the top
``n_features`` whose firing frequency on retain text stays below ``retain_threshold``; and attach
the edit as a forward hook: the selected features set to ``-multiplier`` wherever they fire,
error term kept (``intervention="clamp"``), or their decoder directions projected out
(``"ablate"``). The model's own weights never change: the SAE rides on the model as a submodule
of its site, and its parameters are the method's trainable ones, as an adapter's are.

The SAE study (``experiments.sae``) takes the same steps with more measurements, one SAE per
kind and seed, and evaluates many selections over one SAE (``sweep``): training an SAE per
configuration would change nothing but the cost.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from unlearnlab.core import anatomy
from unlearnlab.core.training import TrainLog
from unlearnlab.methods.base import ContractCase, MethodConfig, TinySetup, UnlearnData, UnlearningMethod, register
from unlearnlab.sae.features import importance_scores, select_features
from unlearnlab.sae.hooks import Edit, attach, collect_activations, intervene
from unlearnlab.sae.interventions import ablate_directions, clamp
from unlearnlab.sae.model import SAEConfig, SparseAutoencoder
from unlearnlab.sae.train import SAETrainConfig, fit_sae

INTERVENTIONS = ("clamp", "ablate")
Evaluate = Callable[[torch.nn.Module], dict]


@dataclass(frozen=True)
class SAEClampConfig(MethodConfig):
    """``steps``, ``lr``, ``batch_size`` (activation vectors) and ``warmup_frac`` train the SAE."""

    site: str = "resid_post"
    layer: int = 0
    kind: str = "topk"
    expansion: int = 8  # SAE width as a multiple of the model's
    k: int = 16
    l1_coef: float = 3e-3
    rule: str = "frequency"  # sae.features.RULES
    retain_threshold: float = 0.01
    n_features: int = 10
    multiplier: float = 20.0
    intervention: str = "clamp"
    special_ids: tuple[int, ...] = ()  # tokens never counted in feature statistics (EOS, pad)
    seed: int = 0


def edit_for(sae: SparseAutoencoder, intervention: str, features: Sequence[int], multiplier: float | None) -> Edit:
    """The edit of one configuration: clamp the features, or ablate their decoder directions."""
    if intervention not in INTERVENTIONS:
        raise ValueError(f"unknown SAE intervention {intervention!r}; choose from {INTERVENTIONS}")
    return clamp(sae, features, multiplier) if intervention == "clamp" else ablate_directions(sae, features)


def carried_sae(model: torch.nn.Module, site: str, layer: int) -> SparseAutoencoder | None:
    """The SAE ``prepare`` attached to the site's module, if any."""
    return getattr(anatomy.site_module(model, site, layer), "sae", None)


@register("SAEClamp")
class SAEClamp(UnlearningMethod):
    Config = SAEClampConfig

    def sae_config(self, model: torch.nn.Module) -> SAEConfig:
        c = self.config
        d = anatomy.hidden_size(model)
        return SAEConfig(d_in=d, d_sae=c.expansion * d, kind=c.kind, k=c.k, l1_coef=c.l1_coef, site=c.site,
                         layer=c.layer)

    def prepare(self, model: torch.nn.Module) -> SparseAutoencoder:
        """Attach a fresh SAE to the site (the caller's step, as applying an adapter is)."""
        device = next(model.parameters()).device
        sae = SparseAutoencoder(self.sae_config(model), self.config.seed).to(device)
        anatomy.site_module(model, self.config.site, self.config.layer).add_module("sae", sae)
        return sae

    def _sae(self, model: torch.nn.Module) -> SparseAutoencoder:
        sae = carried_sae(model, self.config.site, self.config.layer)
        if sae is None:
            raise ValueError("SAEClamp runs on a model that carries an SAE: call method.prepare(model) first")
        return sae

    def trainable_parameters(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        return list(self._sae(model).parameters())

    def run(self, model: torch.nn.Module, data: UnlearnData, **hardware) -> TrainLog:
        """Train the carried SAE, select features, attach the edit (``self.features``, ``self.handle``)."""
        c = self.config
        sae = self._sae(model)
        acts = collect_activations(model, data.forget.concat(data.retain), c.site, c.layer, special_ids=c.special_ids)
        train_cfg = SAETrainConfig(steps=c.steps, lr=c.lr, batch_size=c.batch_size, warmup_frac=c.warmup_frac)
        log = fit_sae(sae, acts, train_cfg, c.seed, **hardware)
        scores, _, on_retain = importance_scores(model, sae, data.forget, data.retain, (c.rule,), c.special_ids)
        self.features = select_features(scores[c.rule], on_retain.freq, c.retain_threshold, c.n_features)
        self.handle = attach(model, c.site, c.layer, edit_for(sae, c.intervention, self.features, c.multiplier))
        return TrainLog(steps=log.steps, tokens=log.steps * c.batch_size, wall_s=log.wall_s)

    @classmethod
    def example(cls, tiny: TinySetup) -> ContractCase:
        """Two SAE steps on the tiny model, which first carries the SAE."""
        method = cls(dataclasses.replace(cls.Config(), steps=2, batch_size=4, expansion=2, k=4))
        method.prepare(tiny.model)
        return ContractCase(method, tiny.model, tiny.data())


@dataclass(frozen=True)
class SweepGrid:
    """SAEBench's hyperparameters (their defaults: thresholds 0.001/0.01, 10/20 features,
    multipliers 25–200 in Gemma's activation units; ours are set per model)."""

    retain_thresholds: tuple[float, ...] = (0.001, 0.01)
    n_features: tuple[int, ...] = (10, 20)
    multipliers: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0)
    ablate_directions: bool = True  # also evaluate decoder-direction ablation of each selection


def sweep(model: torch.nn.Module, sae: SparseAutoencoder, evaluate: Evaluate, scores: dict[str, torch.Tensor],
          retain_freq: torch.Tensor, grid: SweepGrid = SweepGrid()) -> pd.DataFrame:
    """One row per (rule, threshold, n_features, intervention, multiplier): the selected features
    and ``evaluate(model)`` under the edit. Identical edits (two thresholds selecting the same
    features) are evaluated once."""
    cache: dict[tuple, dict] = {}
    rows = []
    for rule, threshold, n in itertools.product(scores, grid.retain_thresholds, grid.n_features):
        features = select_features(scores[rule], retain_freq, threshold, n)
        settings = [("clamp", m) for m in grid.multipliers] + ([("ablate", None)] if grid.ablate_directions else [])
        for intervention, multiplier in settings:
            key = (intervention, tuple(features), multiplier)
            if key not in cache:
                with intervene(model, sae.cfg.site, sae.cfg.layer, edit_for(sae, intervention, features, multiplier)):
                    cache[key] = evaluate(model)
            rows.append({"rule": rule, "retain_threshold": threshold, "n_features": n, "n_selected": len(features),
                         "intervention": intervention, "multiplier": multiplier, "features": features, **cache[key]})
    return pd.DataFrame(rows)
