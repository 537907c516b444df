"""Method base classes and the registry.

A method subclass overrides only its loss (open-unlearning style: ``NPO(GradDiff)``); configs
inherit too. ``UnlearningMethod.run`` trains a model in place and returns its ``TrainLog``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearnlab.core.batching import Batch, TokenSet
from unlearnlab.core.training import TrainConfig, TrainLog, train

METHODS: dict[str, type["UnlearningMethod"]] = {}


@dataclass(frozen=True)
class MethodConfig:
    """Settings every method has."""

    steps: int = 100
    lr: float = 1e-4
    batch_size: int = 32
    warmup_frac: float = 0.1
    grad_clip: float = 1.0
    answer_only: bool = False  # score only answer tokens (True) or every token of the example


@dataclass
class UnlearnData:
    """What a method may use: forget data, retain data, and a generator for batch order."""

    forget: TokenSet
    retain: TokenSet
    generator: torch.Generator
    device: str = "cpu"
    # held-out retain items and the teacher's accuracy on them: UNDO's stopping rule uses them
    retain_eval: TokenSet | None = None


def register(name: str):
    """Class decorator adding a method to the registry under ``name``."""

    def wrap(cls):
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        METHODS[name] = cls
        return cls

    return wrap


def get_method(name: str, **config) -> "UnlearningMethod":
    """Instantiate a registered method with its config fields as keyword arguments."""
    if name not in METHODS:
        raise KeyError(f"unknown unlearning method {name!r}; registered methods: {', '.join(sorted(METHODS))}")
    cls = METHODS[name]
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = set(config) - fields
    if unknown:
        raise TypeError(f"{name} has no config field(s) {sorted(unknown)}; its fields are {sorted(fields)}")
    return cls(cls.Config(**config))


class UnlearningMethod:
    """A method: a config and a way to change a model."""

    name: ClassVar[str] = "?"
    Config: ClassVar[type[MethodConfig]] = MethodConfig

    def __init__(self, config: MethodConfig):
        self.config = config

    def train_config(self, **hardware) -> TrainConfig:
        c = self.config
        return TrainConfig(steps=c.steps, lr=c.lr, batch_size=c.batch_size, warmup_frac=c.warmup_frac,
                           grad_clip=c.grad_clip, **hardware)

    def run(self, model: torch.nn.Module, data: UnlearnData, **hardware) -> TrainLog:  # pragma: no cover
        raise NotImplementedError


class LossMethod(UnlearningMethod):
    """Methods defined by a loss on one forget batch and one retain batch per step."""

    def setup(self, model: torch.nn.Module, data: UnlearnData) -> None:
        """Hook for methods that need state before training (a frozen reference, say)."""

    def trainable_parameters(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        return list(model.parameters())

    def loss(self, model, forget: Batch, retain: Batch) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def run(self, model: torch.nn.Module, data: UnlearnData, **hardware) -> TrainLog:
        bs = self.config.batch_size
        forget_iter = data.forget.sampler(bs, data.generator, data.device)
        retain_iter = data.retain.sampler(bs, data.generator, data.device)
        self.setup(model, data)

        def step_loss(fwd, step):
            f, r = next(forget_iter), next(retain_iter)
            tokens = int(f["attention_mask"].sum() + r["attention_mask"].sum())
            return self.loss(fwd, f, r), tokens

        return train(model, step_loss, self.train_config(**hardware),
                     params=self.trainable_parameters(model), desc=self.name)
