"""Artifacts keyed by config: ``artifacts/<stage>/<readable>_<hash8>/`` with ``config.json`` and a
``.done`` marker written last. Work whose ``.done`` exists is skipped; a run killed mid-write
leaves no ``.done`` and is redone. Results are one JSON file per run, read back as a table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

DONE = ".done"


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return obj


def config_hash(config: Any) -> str:
    """First 8 hex digits of the SHA-256 of the config's canonical JSON."""
    text = json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def readable(name: str) -> str:
    """A file-system-safe version of a human-readable name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(_jsonable(obj), fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"missing file {path}; rerun the notebook that writes it") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and rerun") from err


class Artifact:
    """One config-keyed output directory."""

    def __init__(self, root: Path, stage: str, name: str, config: Any):
        self.config = _jsonable(config)
        self.hash = config_hash(self.config)
        self.path = Path(root) / readable(stage) / f"{readable(name)}_{self.hash}"

    @property
    def done(self) -> bool:
        return (self.path / DONE).is_file()

    @contextmanager
    def writing(self) -> Iterator[Path]:
        """Build the artifact in a temporary sibling directory, then move it into place.

        The ``.done`` marker is written last, after the move; an exception (or a kill) before
        that leaves no ``.done``, so the work is redone next time, and an existing complete
        artifact is never damaged by a failed rewrite.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.tmp*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.tmp"))
        try:
            write_json_atomic(tmp / "config.json", self.config)
            yield tmp
            if self.path.exists():
                shutil.rmtree(self.path)
            os.replace(tmp, self.path)
            (self.path / DONE).write_text("ok\n")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def build(self, make: Callable[[Path], None]) -> Path:
        """Run ``make(directory)`` unless the artifact is already done; return its path."""
        if not self.done:
            with self.writing() as tmp:
                make(tmp)
        return self.path


class ResultsStore:
    """One row per run (setting, method, seed, hyperparameters, metrics, compute) as JSON files.

    Rows are keyed by their identifying fields, so rerunning a cell overwrites its own rows and
    never duplicates them; each file is written atomically.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _file(self, table: str, key: dict) -> Path:
        return self.directory / readable(table) / f"{config_hash(key)}.json"

    def has(self, table: str, key: dict) -> bool:
        return self._file(table, key).is_file()

    def put(self, table: str, key: dict, values: dict) -> None:
        overlap = set(key) & set(values)
        if overlap:
            raise ValueError(f"fields {sorted(overlap)} are both key and value")
        write_json_atomic(self._file(table, key), {**key, **values})

    def get(self, table: str, key: dict) -> dict:
        return read_json(self._file(table, key))

    def table(self, table: str) -> pd.DataFrame:
        """All rows of ``table`` as a DataFrame (empty if none)."""
        files = sorted((self.directory / readable(table)).glob("*.json"))
        return pd.DataFrame([read_json(f) for f in files])
