"""Profiles pick sizes, steps, seeds and sweeps: ``smoke`` (a minute, tests), ``default`` (every
figure of the paper on a 2-core CPU) and ``gpu`` (larger models and more seeds on one GPU).

A profile is one nested config per study (``profile.concept.steps``). The default values live in
each study's ``experiments/<study>/config.py``; ``smoke.py`` and ``gpu.py`` here are overrides of
the default, grouped by study; ``apply_overrides`` changes single fields from the command line
(``python -m unlearnlab.pipeline --set concept.steps=4``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from unlearnlab.core.job_args import shaped_like  # a JSON value shaped like the field it replaces
from unlearnlab.experiments.arithmetic.config import ArithmeticConfig
from unlearnlab.experiments.concept.config import ConceptConfig
from unlearnlab.experiments.localize.config import LocalizeConfig
from unlearnlab.experiments.private.config import PrivateConfig
from unlearnlab.experiments.rewrite.config import RewriteConfig
from unlearnlab.experiments.sae.config import SAEStudyConfig
from unlearnlab.experiments.targeted.config import TargetedConfig
from unlearnlab.experiments.tofu.config import TofuConfig

PROFILE_NAMES = ("smoke", "default", "gpu")
HARDWARE_FIELDS = ("device", "bf16", "compile", "real_bf16", "accelerate_config")


@dataclass(frozen=True)
class Profile:
    """Hardware settings and one config per study. Notebooks read one of these, nothing else."""

    name: str
    device: str = "cpu"
    # bf16 autocast for training the synthetic tier's tiny models (evaluation stays float32). With
    # eager attention under autocast (core.precision.cpu_training_attention) their training steps
    # are ~1.7x faster on the reference CPU's AMX units (benchmarks/compare_commits.py)
    bf16: bool = True
    compile: bool = False
    # bf16 autocast for the real model tier (SmolLM2: training and every evaluation forward;
    # core.precision). ~3x faster forwards on a CPU with AMX; the tiny synthetic models stay in
    # float32 (bf16 was slower for them). False: the whole real tier in float32.
    real_bf16: bool = True
    # An `accelerate` config file: the real tier's training jobs (core.jobs) then run under
    # `accelerate launch --config_file ...` (DDP / FSDP2 over its processes); empty: in the
    # notebook's own process, as always (docs/several_gpus.md)
    accelerate_config: str = ""
    arithmetic: ArithmeticConfig = field(default_factory=ArithmeticConfig)
    localize: LocalizeConfig = field(default_factory=LocalizeConfig)
    targeted: TargetedConfig = field(default_factory=TargetedConfig)
    rewrite: RewriteConfig = field(default_factory=RewriteConfig)
    concept: ConceptConfig = field(default_factory=ConceptConfig)
    sae: SAEStudyConfig = field(default_factory=SAEStudyConfig)
    private: PrivateConfig = field(default_factory=PrivateConfig)
    tofu: TofuConfig = field(default_factory=TofuConfig)

    @property
    def train_kwargs(self) -> dict:
        """Hardware settings every TrainConfig of this profile shares."""
        return {"bf16": self.bf16, "compile": self.compile}


STUDIES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Profile) if f.name not in ("name", *HARDWARE_FIELDS))


def _build(name: str, hardware: Mapping[str, object], studies: Mapping[str, Mapping[str, object]]) -> Profile:
    """The default profile with ``hardware`` fields and per-study field overrides applied."""
    profile = replace(Profile(name=name), **hardware)
    return replace(profile, **{study: replace(getattr(profile, study), **fields) for study, fields in studies.items()})


def _profiles() -> dict[str, Profile]:
    from unlearnlab.profiles import gpu, smoke

    return {"default": Profile(name="default"),
            "smoke": _build("smoke", smoke.HARDWARE, smoke.STUDIES),
            "gpu": _build("gpu", gpu.HARDWARE, gpu.STUDIES)}


def valid_fields(profile: Profile) -> list[str]:
    """Every ``study.field`` (and hardware field) that ``apply_overrides`` accepts."""
    names = list(HARDWARE_FIELDS)
    for study in STUDIES:
        names += [f"{study}.{f.name}" for f in dataclasses.fields(getattr(profile, study))]
    return names


def apply_overrides(profile: Profile, overrides: Mapping[str, object] | None) -> Profile:
    """``profile`` with ``{"concept.steps": 4, "arithmetic.seeds": [0, 1], "bf16": True}`` applied.

    Raises ValueError naming an unknown field and listing the valid ones, before changing anything.
    """
    if not overrides:
        return profile
    valid = valid_fields(profile)
    unknown = [key for key in overrides if key not in valid]
    if unknown:
        raise ValueError(f"unknown profile field(s) {', '.join(unknown)}; valid fields: {', '.join(valid)}")
    for key, value in overrides.items():
        study, _, name = key.rpartition(".")
        if not study:
            profile = replace(profile, **{name: shaped_like(value, getattr(profile, name))})
            continue
        section = getattr(profile, study)
        section = replace(section, **{name: shaped_like(value, getattr(section, name))})
        profile = replace(profile, **{study: section})
    return profile


def seed_fields(profile: Profile) -> dict[str, tuple[int, ...]]:
    """Every seed field of ``profile`` (each study's ``seeds`` and ``*_seeds``) and its seeds."""
    out = {}
    for key in valid_fields(profile):
        study, _, name = key.rpartition(".")
        if name == "seeds" or name.endswith("_seeds"):
            out[key] = tuple(getattr(getattr(profile, study) if study else profile, name))
    return out


def disjoint_seeds(profile: Profile, seeds: Sequence[int]) -> dict[str, list[int]]:
    """Overrides giving every seed field of ``profile`` as many of ``seeds`` as it has now, none of
    them one it already uses: an independent replication of the same design.

    Why the same count: a replication with more models than the run it is compared with would
    compare intervals of different widths (and multiply the cost of single-seed real-tier studies).
    Raises ValueError when ``seeds`` overlap a field's seeds or are too few for it.
    """
    overrides = {}
    for key, current in seed_fields(profile).items():
        if set(seeds) & set(current):
            raise ValueError(f"seeds {list(seeds)} overlap {key}={list(current)}; pass seeds disjoint from it")
        if len(seeds) < len(current):
            raise ValueError(f"{key} has {len(current)} seeds; pass at least {len(current)}")
        overrides[key] = list(seeds[: len(current)])
    return overrides


def parse_set(items: Iterable[str]) -> dict[str, object]:
    """``["concept.steps=4", "arithmetic.seeds=[0,1]"]`` as overrides: VALUE is JSON when it parses
    as JSON, else a string."""
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r} is not FIELD=VALUE (e.g. --set concept.steps=4)")
        try:
            overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key.strip()] = raw
    return overrides


def get_profile(name: str, overrides: Mapping[str, object] | None = None) -> Profile:
    """The named profile, with ``study.field`` overrides applied (see ``apply_overrides``)."""
    profiles = _profiles()
    if name not in profiles:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    return apply_overrides(profiles[name], overrides)
