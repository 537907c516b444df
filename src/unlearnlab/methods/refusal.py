"""Teach a target answer on forget prompts while holding the model to itself on retain prompts.

The forget data carry the answer to learn (a neutral or refusal answer, "I'm sorry, but I don't
know anything about that."), so the forget term is plain supervised NLL on those answers, not
gradient ascent: the model is told what to say instead, which keeps it fluent. The retain term
is KL(p_reference ‖ p_θ) on the retain examples' answer tokens (the model's own answers), against
a frozen copy of the model taken before training: retain behaviour is kept as the model's own
distribution, not as one sampled answer. Answer tokens only by default, because a learned refusal
shows at the start of an answer, and averaging in the prompt positions (which the edit barely
moves) dilutes that signal. Used by masked LoRA (issue 5) with the adapter's parameters as the
only trainable ones; any model works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnlab.core.batching import Batch
from unlearnlab.core.logprobs import forward_kl, logits_of, nll_of
from unlearnlab.methods.base import LossMethod, MethodConfig, register
from unlearnlab.core.models import fresh_copy


@dataclass(frozen=True)
class RefusalKLConfig(MethodConfig):
    retain_weight: float = 1.0
    answer_only: bool = True  # the forget term scores the target answer only, not the prompt
    retain_answer_only: bool = True  # the KL term on retain answers only (False: every token)


@register("RefusalKL")
class RefusalKL(LossMethod):
    """NLL of the forget data's answers + ``retain_weight`` · KL to the frozen reference on retain."""

    Config = RefusalKLConfig

    def setup(self, model, data) -> None:
        self.reference = fresh_copy(model).eval().requires_grad_(False)

    def loss(self, model, forget: Batch, retain: Batch) -> torch.Tensor:
        target = nll_of(model, forget, self.config.answer_only)
        with torch.no_grad():
            reference = logits_of(self.reference, retain)
        kl = forward_kl(reference, logits_of(model, retain), retain, self.config.retain_answer_only)
        return target + self.config.retain_weight * kl
