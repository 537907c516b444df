"""Method base classes and the registry.

A method subclass overrides only its loss (open-unlearning style: ``NPO(GradDiff)``); configs
inherit too. ``UnlearningMethod.run`` trains a model in place and returns its ``TrainLog``.

The contract every registered method keeps (``tests/test_methods_contract.py`` checks it on a
tiny model, two steps, for every name in ``available()``):

* ``trainable_parameters(model)`` declares the parameters of ``model`` that ``run(model, data)``
  may change: all that require grad by default; RMU its MLPs; a method that trains an adapter
  returns the adapter's. It may be called on a copy of the model (the test does), so side
  effects there must not matter to the caller.
* ``run`` changes nothing else, keeps the model's parameter names (an adapter method runs on the
  wrapped model; merging is the caller's step), and two runs from the same model, data and
  seeds give bitwise-equal parameters.
* ``example(tiny)`` returns the ``ContractCase`` the test runs: the method configured for two
  steps, the model it runs on and its data, built from a ``TinySetup`` (a tiny Llama, its
  tokenizer, forget / retain / held-out retain sets, a scratch directory). The default fits any
  method that runs on a plain model with ``UnlearnData``; a method that needs more (an adapter
  applied first, a saved mask, an SAE) overrides it, naming modules through ``core.anatomy`` so
  the example runs on every architecture (``tests/test_architectures.py``), e.g.::

      @classmethod
      def example(cls, tiny: TinySetup) -> ContractCase:
          case = super().example(tiny)
          return dataclasses.replace(case, model=apply_lora(tiny.model, anatomy.linear_modules(tiny.model)[:1]))

A new method: subclass, ``@register("Name")``, import its module in ``methods/__init__.py``
(``_MODULES``), add its colour and marker to ``plots/style.py``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
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


@dataclass
class TinySetup:
    """What the contract test offers a method's ``example``: a tiny Llama (a few thousand
    parameters), its tokenizer, forget / retain / held-out retain examples, a scratch directory."""

    model: torch.nn.Module
    tokenizer: object
    forget: TokenSet
    retain: TokenSet
    retain_eval: TokenSet
    directory: Path
    seed: int = 0
    device: str = "cpu"

    def data(self) -> UnlearnData:
        """Fresh ``UnlearnData`` (a new seeded generator on every call)."""
        return UnlearnData(self.forget, self.retain, torch.Generator().manual_seed(self.seed), self.device,
                           retain_eval=self.retain_eval)


@dataclass
class ContractCase:
    """One contract run: ``method.run(model, data)``."""

    method: "UnlearningMethod"
    model: torch.nn.Module
    data: UnlearnData


def available() -> list[str]:
    """Every registered method name, sorted."""
    return sorted(METHODS)


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

    def trainable_parameters(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        """The parameters of ``model`` that ``run`` may change (default: all that require grad)."""
        return [p for p in model.parameters() if p.requires_grad]

    def trainable_names(self, model: torch.nn.Module) -> set[str]:
        """Names (in ``model.named_parameters()``) of the declared trainable parameters, found on
        a copy so that whatever ``trainable_parameters`` attaches (hooks, frozen flags) stays there."""
        twin = copy.deepcopy(model)
        declared = {id(p) for p in self.trainable_parameters(twin)}
        return {name for name, p in twin.named_parameters() if id(p) in declared}

    @classmethod
    def example(cls, tiny: TinySetup) -> ContractCase:
        """The method at its defaults for two steps of batch 4 on the tiny model (see the module
        docstring); override when the method needs more than a plain model and ``UnlearnData``."""
        config = dataclasses.replace(cls.Config(), steps=2, batch_size=4)
        return ContractCase(cls(config), tiny.model, tiny.data())

    def run(self, model: torch.nn.Module, data: UnlearnData, **hardware) -> TrainLog:  # pragma: no cover
        raise NotImplementedError


class LossMethod(UnlearningMethod):
    """Methods defined by a loss on one forget batch and one retain batch per step."""

    def setup(self, model: torch.nn.Module, data: UnlearnData) -> None:
        """Hook for methods that need state before training (a frozen reference, say)."""

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
