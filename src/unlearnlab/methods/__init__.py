"""The unlearning methods registry: one small class per method, a typed config, found by name.

>>> from unlearnlab.methods import get_method
>>> method = get_method("GradDiff", steps=100, lr=1e-4)
"""

from unlearnlab.methods.base import METHODS, MethodConfig, UnlearnData, UnlearningMethod, get_method, register
from unlearnlab.methods import objectives as _objectives  # noqa: F401  (registers the loss-based methods)
from unlearnlab.methods import rmu as _rmu  # noqa: F401
from unlearnlab.methods import distill as _distill  # noqa: F401
from unlearnlab.methods import refusal as _refusal  # noqa: F401
from unlearnlab.methods.distill import DistillResult, apply_undo_noise

__all__ = ["METHODS", "DistillResult", "MethodConfig", "UnlearnData", "UnlearningMethod",
           "apply_undo_noise", "get_method", "register"]
