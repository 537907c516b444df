"""Surgical knowledge rewrite F1 → F2: "unlearn, then learn" with an adapter on chosen modules.

The recipe (issue #4): stage 1 trains an adapter on the chosen modules to answer F1's training
prompts with an uncertainty response ("I am not sure.") and merges it; stage 2 trains a *second*
adapter on the same modules to answer F2 and merges it. Unlearning first removes the competing
answer, so stage 2 does not have to fight it; (IA)³ on a few modules (one scaling vector each)
keeps the edit from spilling over onto unrelated facts.

Registered methods (``get_method(name, **fields)``), one per adapter of ``methods/adapters.py``:
``IA3Rewrite``, ``LoRARewrite`` and ``FullFineTuneRewrite``. Their fields say the schedule:
``stages`` (2: unlearn then learn; 1: learn F2 only, for twice the steps, the same budget),
``modules`` (the localized modules, e.g. ``localization.modules.chosen_modules``) and
``placement`` (``"localized"``: those; ``"all"``: every linear module; ``"random"``: as many
random ones, drawn with ``seed``). ``VARIANTS`` names the comparisons of notebook 32, each one
factor away from ours (``ia3_two_stage``); ``variant(name, modules, **fields)`` builds one.

``run(model, RewriteData(tokenizer, spec))`` trains the plain ``model`` in place (each stage's
adapter is merged into it) and returns a ``StagedLog``; copy the model first to keep it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from unlearnlab.core.logprobs import nll_of
from unlearnlab.core.training import TrainConfig, TrainLog, train
from unlearnlab.data.facts import QA, Fact, RewriteSpec, answer_batches, rewrite_spec
from unlearnlab.localization.modules import linear_modules, random_modules
from unlearnlab.methods.adapters import attach, detach
from unlearnlab.methods.base import ContractCase, MethodConfig, TinySetup, UnlearningMethod, get_method, register

PLACEMENTS = ("localized", "all", "random")


@dataclass(frozen=True)
class RewriteMethodConfig(MethodConfig):
    """The schedule and its budget. ``steps`` is per stage (one stage trains ``2 * steps``, so
    every variant takes the same number of optimizer steps on the same prompts). Learning rates
    differ per adapter because their useful scales do ((IA)³ vectors start at 1 and must move by
    tens of percent, LoRA starts at zero, full fine-tuning moves every weight); each subclass's
    default comes from a pilot on two development rewrites (Greece → Thessaloniki, Sweden →
    Gothenburg; the latter joined the default grid on 2026-12-03, so one reported rewrite was seen
    by the pilot; SmolLM2, 8 steps per stage, lr ×{0.4, 1, 2}):
    below them F2 is barely learned in a short budget (LoRA 1e-3: 0 %), above them control facts
    break ((IA)³ 1e-1: controls 100 → 38-50 %)."""

    steps: int = 100
    lr: float = 5e-2
    batch_size: int = 4
    warmup_frac: float = 0.05
    answer_only: bool = True  # the prompt is context, not a target
    stages: int = 2
    modules: tuple[str, ...] = ()
    placement: str = "localized"
    uncertainty: str = "I am not sure."
    seed: int = 0  # batch order, and the draw of random modules


@dataclass(frozen=True)
class LoRARewriteConfig(RewriteMethodConfig):
    lr: float = 5e-3
    lora_r: int = 8
    lora_alpha: int = 16


@dataclass(frozen=True)
class FullRewriteConfig(RewriteMethodConfig):
    lr: float = 2e-5


@dataclass
class RewriteData:
    """What a rewrite trains on: the spec's F1 training prompts (stage 1, answered with the
    uncertainty response) and its F2 training pairs."""

    tokenizer: Any
    spec: RewriteSpec


@dataclass
class StagedLog(TrainLog):
    """The stages' logs (``stages``) and their sums (the ``TrainLog`` fields)."""

    stages: list[TrainLog] = field(default_factory=list)

    @classmethod
    def of(cls, logs: Sequence[TrainLog]) -> "StagedLog":
        return cls(steps=sum(log.steps for log in logs), tokens=sum(log.tokens for log in logs),
                   losses=[x for log in logs for x in log.losses], wall_s=sum(log.wall_s for log in logs),
                   stages=list(logs))


def train_answers(model: torch.nn.Module, tokenizer, pairs: Sequence[QA], cfg: TrainConfig, *, seed: int = 0,
                  answer_only: bool = True) -> TrainLog:
    """Supervised fine-tuning of ``model``'s trainable parameters (an adapter's, when one is
    attached) on ``pairs``, seeded batches with chat and completion prompts apart
    (``facts.answer_batches``); ``answer_only``: the loss is on the answer tokens only."""
    batches = answer_batches(tokenizer, pairs, cfg.batch_size, seed, next(model.parameters()).device)

    def step_loss(m: torch.nn.Module, step: int) -> tuple[torch.Tensor, int]:
        batch = next(batches)
        return nll_of(m, batch, answer_only=answer_only), int(batch["answer_mask"].sum())

    return train(model, step_loss, cfg, desc="rewrite")


class Rewrite(UnlearningMethod):
    """The schedule for one adapter kind (``ADAPTER``); subclasses only name the kind and its
    config."""

    ADAPTER: ClassVar[str] = "ia3"
    Config = RewriteMethodConfig

    def target_modules(self, model: torch.nn.Module) -> list[str]:
        """The modules the adapter goes on (module docstring: ``placement``)."""
        c = self.config
        if c.placement == "localized":
            return list(c.modules)
        if c.placement == "all":
            return linear_modules(model)
        if c.placement == "random":
            return random_modules(model, len(c.modules), c.seed)
        raise ValueError(f"unknown placement {c.placement!r}; choose from {', '.join(PLACEMENTS)}")

    def trainable_parameters(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        """The weights of the target modules: merging folds each adapter into them."""
        modules = dict(model.named_modules())
        return [modules[name].weight for name in self.target_modules(model)]

    def schedule(self, spec: RewriteSpec) -> list[tuple[Sequence[QA], int]]:
        """(pairs, steps) per stage."""
        c = self.config
        if c.stages == 2:
            return [(spec.unlearn_train(c.uncertainty), c.steps), (spec.f2_train, c.steps)]
        if c.stages == 1:
            return [(spec.f2_train, 2 * c.steps)]
        raise ValueError(f"stages must be 1 (learn F2) or 2 (unlearn F1, then learn F2), got {c.stages}")

    def adapter_options(self) -> dict:
        return {}

    def run(self, model: torch.nn.Module, data: RewriteData, **hardware) -> StagedLog:
        modules = self.target_modules(model)
        logs = []
        for pairs, steps in self.schedule(data.spec):
            wrapped = attach(model, self.ADAPTER, modules, **self.adapter_options())
            cfg = dataclasses.replace(self.train_config(**hardware), steps=steps)
            logs.append(train_answers(wrapped, data.tokenizer, pairs, cfg, seed=self.config.seed,
                                      answer_only=self.config.answer_only))
            detach(wrapped, self.ADAPTER)
        return StagedLog.of(logs)

    @classmethod
    def example(cls, tiny: TinySetup) -> ContractCase:
        """One step per stage on the tiny model, on two of its modules, rewriting France → Lyon."""
        modules = tuple(linear_modules(tiny.model)[:2])
        method = cls(dataclasses.replace(cls.Config(), steps=1, batch_size=2, modules=modules))
        spec = rewrite_spec(Fact("France", "capital", "Paris"), "Lyon", [])
        return ContractCase(method, tiny.model, RewriteData(tiny.tokenizer, spec))


@register("IA3Rewrite")
class IA3Rewrite(Rewrite):
    """(IA)³: one scaling vector per target module (ours, with two stages on localized modules)."""

    ADAPTER = "ia3"


@register("LoRARewrite")
class LoRARewrite(Rewrite):
    """LoRA of rank ``lora_r`` on the target modules."""

    ADAPTER = "lora"
    Config = LoRARewriteConfig

    def adapter_options(self) -> dict:
        return {"lora_r": self.config.lora_r, "lora_alpha": self.config.lora_alpha}


@register("FullFineTuneRewrite")
class FullFineTuneRewrite(Rewrite):
    """Every weight trains (``modules`` and ``placement`` play no part)."""

    ADAPTER = "full"
    Config = FullRewriteConfig

    def target_modules(self, model: torch.nn.Module) -> list[str]:
        return []

    def trainable_parameters(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        return [p for p in model.parameters() if p.requires_grad]


# The comparisons of notebook 32, each one factor away from ours (ia3_two_stage): what is trained
# (LoRA, all weights), where (all modules, random modules), or whether F1 is unlearned first.
VARIANTS: dict[str, tuple[str, dict]] = {
    "ia3_two_stage": ("IA3Rewrite", {}),
    "ia3_one_stage": ("IA3Rewrite", {"stages": 1}),
    "ia3_all": ("IA3Rewrite", {"placement": "all"}),
    "ia3_random": ("IA3Rewrite", {"placement": "random"}),
    "lora_local": ("LoRARewrite", {}),
    "full_ft": ("FullFineTuneRewrite", {"stages": 1}),
}


def variant(name: str, modules: Sequence[str], **fields) -> Rewrite:
    """The registered method behind variant ``name`` of ``VARIANTS``, on the localized
    ``modules``, with ``fields`` (steps, batch_size, seed, ...) set."""
    if name not in VARIANTS:
        raise KeyError(f"unknown rewrite variant {name!r}; choose from {', '.join(VARIANTS)}")
    method, fixed = VARIANTS[name]
    return get_method(method, modules=tuple(modules), **fields, **fixed)
