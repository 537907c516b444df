"""Loss-based unlearning methods: GradAscent, GradDiff, NPO, SimNPO, MaxEnt.

Each overrides only ``loss``; the retain term (language-model loss on retain data) comes from
GradDiff and is inherited.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unlearnlab.core.batching import Batch
from unlearnlab.core.logprobs import logits_of, nll_of, sequence_logprob_of, uniform_cross_entropy
from unlearnlab.methods.base import LossMethod, MethodConfig, register
from unlearnlab.core.models import fresh_copy


@register("GradAscent")
class GradAscent(LossMethod):
    """Maximise the language-model loss on forget data (no retain term)."""

    def forget_loss(self, model, forget: Batch) -> torch.Tensor:
        return -nll_of(model, forget, self.config.answer_only)

    def loss(self, model, forget: Batch, retain: Batch) -> torch.Tensor:
        return self.forget_loss(model, forget)


@dataclass(frozen=True)
class GradDiffConfig(MethodConfig):
    retain_weight: float = 1.0


@register("GradDiff")
class GradDiff(GradAscent):
    """Gradient ascent on forget data plus gradient descent on retain data."""

    Config = GradDiffConfig

    def retain_loss(self, model, retain: Batch) -> torch.Tensor:
        """Language-model loss on retain data, on answers only when the forget term is (for
        plain text the whole text is the answer)."""
        return nll_of(model, retain, self.config.answer_only)

    def loss(self, model, forget: Batch, retain: Batch) -> torch.Tensor:
        return self.forget_loss(model, forget) + self.config.retain_weight * self.retain_loss(model, retain)


@dataclass(frozen=True)
class NPOConfig(GradDiffConfig):
    beta: float = 0.1


@register("NPO")
class NPO(GradDiff):
    """Negative preference optimisation (Zhang et al. 2024) against a frozen reference model:
    ``-(2/beta) log sigmoid(-beta (log p_theta(y|x) - log p_ref(y|x)))`` plus the retain term."""

    Config = NPOConfig

    def setup(self, model, data) -> None:
        self.reference = fresh_copy(model).eval().requires_grad_(False)

    def forget_loss(self, model, forget: Batch) -> torch.Tensor:
        logp = sequence_logprob_of(model, forget, self.config.answer_only)
        with torch.no_grad():
            ref = sequence_logprob_of(self.reference, forget, self.config.answer_only)
        beta = self.config.beta
        return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref)).mean()


@dataclass(frozen=True)
class SimNPOConfig(GradDiffConfig):
    beta: float = 2.5
    gamma: float = 0.0


@register("SimNPO")
class SimNPO(GradDiff):
    """Reference-free NPO with length normalisation (Fan et al. 2024):
    ``-(2/beta) log sigmoid(-(beta/|y|) log p_theta(y|x) - gamma)`` plus the retain term."""

    Config = SimNPOConfig

    def forget_loss(self, model, forget: Batch) -> torch.Tensor:
        mean_logp = sequence_logprob_of(model, forget, self.config.answer_only, normalise=True)
        beta, gamma = self.config.beta, self.config.gamma
        return -(2.0 / beta) * F.logsigmoid(-beta * mean_logp - gamma).mean()


@register("MaxEnt")
class MaxEnt(GradDiff):
    """Push predictions on forget tokens to the uniform distribution, plus the retain term."""

    def forget_loss(self, model, forget: Batch) -> torch.Tensor:
        return uniform_cross_entropy(logits_of(model, forget), forget, self.config.answer_only)
