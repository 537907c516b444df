"""A study's config dataclass as JSON-able arguments of a training job (``core.jobs``), and back.

Why: a job launched under ``accelerate launch`` receives its arguments as JSON, so a config object
(a notebook's ``replace(session.profile.rewrite, targets=...)``) travels as its fields and every
process rebuilds it. JSON turns tuples into lists and may turn ``1.0`` into ``1``; ``from_args``
shapes them back as the field's default is shaped, and ``as_args`` refuses a config that would not
come back equal (so a launched process never trains on a different config than the notebook keyed).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

C = TypeVar("C")


def shaped_like(value: object, current: object) -> object:
    """A JSON value shaped like the field it replaces: lists become (nested) tuples; an int where the
    field holds a float becomes a float."""
    if isinstance(value, list):
        inner = current[0] if isinstance(current, tuple) and current else None
        return tuple(shaped_like(v, inner) for v in value)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def from_args(cls: type[C], args: dict[str, Any]) -> C:
    """The ``cls`` instance whose fields are ``args`` (as written by ``as_args``)."""
    defaults = {f.name: _default(f) for f in dataclasses.fields(cls)}
    return cls(**{name: _field(value, defaults.get(name)) for name, value in args.items()})


def _default(field: dataclasses.Field) -> object:
    """A field's default value (its factory's product), or None when it has none."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _field(value: object, default: object) -> object:
    """One field back from JSON: a nested config (``PrivateConfig.model``, a ``ModelSize``) from its
    dict, anything else shaped like the default."""
    if dataclasses.is_dataclass(default) and isinstance(value, dict):
        return from_args(type(default), value)
    return shaped_like(value, default)


def as_args(config: Any) -> dict[str, Any]:
    """``config``'s fields as JSON-able job arguments; ValueError (one line) when they would not
    rebuild an equal config (a field JSON cannot carry)."""
    try:
        args = json.loads(json.dumps(dataclasses.asdict(config)))
    except TypeError as err:
        raise ValueError(f"{type(config).__name__} cannot travel to a launched job as JSON ({err}); "
                         "give the job what rebuilds that field instead") from None
    if from_args(type(config), args) != config:
        raise ValueError(f"{type(config).__name__} does not come back equal from JSON; give the job what rebuilds it")
    return args
