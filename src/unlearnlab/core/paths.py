"""Where things are written. Every output path is derived from one *output root*.

The default root is the repository itself, so a full run updates the committed ``figures/`` and
``paper/tables/``. Smoke and test runs pass a temporary root and never touch the checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def repo_root() -> Path:
    """The repository root: the first parent of this file that holds ``pyproject.toml``."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "unlearnlab").is_dir():
            return parent
    raise RuntimeError(
        f"cannot find the unlearnlab repository root above {here}; "
        "install the package in editable mode from a checkout (pip install -e .)"
    )


@dataclass(frozen=True)
class Paths:
    """All output locations under one root (the repository root unless told otherwise)."""

    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None) -> "Paths":
        """Paths under ``root``; ``None`` or an empty string means the repository root."""
        return cls(Path(root).resolve() if root else repo_root())

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def tables(self) -> Path:
        return self.root / "paper" / "tables"

    @property
    def numbers(self) -> Path:
        """The paper's generated numbers (one LaTeX macro file per study, reporting/numbers.py)."""
        return self.root / "paper" / "numbers"

    @property
    def executed_notebooks(self) -> Path:
        return self.root / "outputs" / "notebooks"

    @property
    def results(self) -> Path:
        return self.artifacts / "results"

    def ensure(self) -> "Paths":
        """Create every output directory (idempotent)."""
        for d in (self.data, self.artifacts, self.figures, self.tables, self.numbers, self.executed_notebooks):
            d.mkdir(parents=True, exist_ok=True)
        return self
