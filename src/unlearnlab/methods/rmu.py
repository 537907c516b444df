"""RMU (Li et al. 2024, WMDP): push hidden states at one layer on forget tokens towards a fixed,
scaled random direction, and keep them equal to a frozen copy's on retain tokens. Only the MLPs
of a few layers up to that one are trained."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnlab.core import anatomy
from unlearnlab.core.batching import Batch
from unlearnlab.core.logprobs import masked_mean
from unlearnlab.methods.base import LossMethod, MethodConfig, register
from unlearnlab.core.models import fresh_copy


@dataclass(frozen=True)
class RMUConfig(MethodConfig):
    layer: int = -1  # residual stream after this decoder layer; -1: the middle layer
    n_trained_layers: int = 3  # MLPs of layers (layer - n + 1) .. layer are trained
    steering_scale: float = 2.0  # |c u| as a multiple of the frozen model's mean hidden norm
    retain_weight: float = 100.0
    seed: int = 0


def hidden_at(model, batch: Batch, layer: int) -> torch.Tensor:
    """Residual stream (B, T, d) after decoder layer ``layer`` (``anatomy.read`` at ``resid_post``;
    the pass stops there). After the last layer it is taken through the final norm, as Hugging
    Face's ``hidden_states[layer + 1]`` (which RMU read before) reports it: the numbers stay."""
    h = anatomy.read(model, batch, "resid_post", layer)
    if layer == anatomy.n_layers(model) - 1:
        h = anatomy.final_norm(model)(h)
    return h.float()


def predicting_answer(batch: Batch) -> torch.Tensor:
    """Positions whose next-token prediction is an answer token (the last prompt token and
    every answer token but the last): where the answer is computed."""
    mask = torch.zeros_like(batch["answer_mask"])
    mask[:, :-1] = batch["answer_mask"][:, 1:]
    return mask


@register("RMU")
class RMU(LossMethod):
    Config = RMUConfig

    def resolved_layer(self, model) -> int:
        n = anatomy.n_layers(model)
        layer = self.config.layer if self.config.layer >= 0 else n // 2
        if not 0 <= layer < n:
            raise ValueError(f"RMU layer {layer} outside the model's {n} layers")
        return layer

    def trainable_parameters(self, model) -> list[torch.nn.Parameter]:
        """The MLP parameters of the trained layers that may change: all of them in a plain
        model, only the adapter's under a peft adapter (whose base weights are frozen)."""
        layer = self.resolved_layer(model)
        first = max(0, layer - self.config.n_trained_layers + 1)
        params = [p for i in range(first, layer + 1) for p in anatomy.mlp(model, i).parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"RMU: no trainable MLP parameter in layers {first}..{layer}; with an adapter on "
                             "other layers, set the config's `layer` inside the adapted ones")
        return params

    def setup(self, model, data) -> None:
        self.layer = self.resolved_layer(model)
        self.frozen = fresh_copy(model).eval().requires_grad_(False)
        gen = torch.Generator().manual_seed(self.config.seed)
        u = torch.rand(anatomy.hidden_size(model), generator=gen)
        with torch.no_grad():
            probe = data.forget.batch(range(min(len(data.forget), 64)), data.device)
            h = hidden_at(self.frozen, probe, self.layer)
            mean_norm = h.norm(dim=-1)[probe["attention_mask"].bool()].mean()
        self.control = (u / u.norm()).to(data.device) * self.config.steering_scale * mean_norm

    def loss(self, model, forget: Batch, retain: Batch) -> torch.Tensor:
        fmask = predicting_answer(forget) if self.config.answer_only else forget["attention_mask"]
        h_forget = hidden_at(model, forget, self.layer)
        forget_term = masked_mean(((h_forget - self.control) ** 2).mean(-1), fmask.bool())
        h_retain = hidden_at(model, retain, self.layer)
        with torch.no_grad():
            h_ref = hidden_at(self.frozen, retain, self.layer)
        retain_term = masked_mean(((h_retain - h_ref) ** 2).mean(-1), retain["attention_mask"].bool())
        return forget_term + self.config.retain_weight * retain_term
