"""What every synthetic world provides, so experiments treat them alike.

A world is generated from a config (a frozen dataclass or dict of plain values, including its
data seed), saved once into a config-keyed directory under the output root's ``data/`` (an
``core.artifacts.Artifact``: rerunning skips finished work), and loaded from that directory.
Worlds import only ``core`` and other ``data`` modules: they know nothing of profiles, methods or
experiments. Today's worlds: ``arithmetic`` (world.py), ``hazard``, ``medical`` (medical_world.py), ``tofu_world``
(fictitious authors in TOFU's file layout, read by ``data.benchmarks.tofu``); the real-model
probes (``facts``, ``concepts``) are prompt sets, not saved worlds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TypeVar

W = TypeVar("W", bound="World")


class World(Protocol):
    """A saved synthetic world: ``build`` writes it once, ``load`` reads it back."""

    directory: Path

    @classmethod
    def build(cls, config: object, data_dir: Path) -> Path:
        """Generate and save the world for ``config`` under ``data_dir`` (skipped when done)."""
        ...

    @classmethod
    def load(cls: type[W], directory: Path) -> W:
        """The world saved in ``directory``."""
        ...
