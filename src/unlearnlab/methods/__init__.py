"""The unlearning methods registry: one small class per method, a typed config, found by name.

>>> from unlearnlab.methods import available, get_method
>>> method = get_method("GradDiff", steps=100, lr=1e-4)

Importing this package registers every method: a new method's module goes in ``_MODULES``.
"""

import importlib

from unlearnlab.methods.base import (METHODS, ContractCase, MethodConfig, TinySetup, UnlearnData, UnlearningMethod,
                                     available, get_method, register)

# modules whose import registers methods
_MODULES = ("objectives", "rmu", "distill", "refusal", "rewrite", "sae_clamp", "masked_lora")
for _module in _MODULES:
    importlib.import_module(f"unlearnlab.methods.{_module}")

from unlearnlab.methods.distill import DistillResult, apply_undo_noise  # noqa: E402

__all__ = ["METHODS", "ContractCase", "DistillResult", "MethodConfig", "TinySetup", "UnlearnData",
           "UnlearningMethod", "apply_undo_noise", "available", "get_method", "register"]
