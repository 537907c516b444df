"""Reading benchmark files from a local folder, or from the hub when it can be reached.

Every loader in this package takes a ``source``: a local folder (searched for the benchmark's
published file names), a single file, or a hub dataset name (``locuslab/TOFU``). A local path
always wins; a hub name is tried only when no such path exists, through ``datasets`` (which
honours ``HF_HUB_OFFLINE``). When neither gives the data, ``BenchmarkDataMissing`` says in one
line which file is missing and the command that fetches it, so an offline run fails at once
and tells the user what to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class BenchmarkDataMissing(FileNotFoundError):
    """A benchmark file is neither on disk nor reachable on the hub (one-line message)."""


def fetch_command(repo: str, filename: str) -> str:
    """The command that downloads one file of a hub dataset into a folder to pass as ``source``."""
    return f"hf download {repo} {filename} --repo-type dataset --local-dir DIR"


def missing(what: str, where: str, repo: str, filename: str, note: str = "") -> BenchmarkDataMissing:
    """The one-line error: what is missing, where it was looked for, how to get it."""
    how = f"get it with `{fetch_command(repo, filename)}` and pass DIR as source"
    return BenchmarkDataMissing(f"{what}: {where}; {how}{note}")


def is_hub_name(source: str | Path) -> bool:
    """A string shaped like ``owner/name`` that is not an existing path."""
    return isinstance(source, str) and bool(HUB_NAME.match(source)) and not Path(source).exists()


def _json_records(text: str) -> list:
    """A JSON array, or JSON lines (TOFU's ``.json`` files hold one object per line)."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        return json.loads(stripped)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _plain(value):
    """Parquet list columns come back as numpy arrays: make them lists (of plain values)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def read_records(path: Path) -> list:
    """Records of a JSON(-lines) or parquet file: dicts, or strings where the file lists strings."""
    if path.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
    return _json_records(path.read_text(encoding="utf-8"))


def find(root: Path, patterns: Sequence[str]) -> list[Path]:
    """The files of the first pattern (a relative path, globs allowed) that matches under ``root``;
    a glob's matches are sorted, so sharded parquet files (``-00000-of-00002``) come in order."""
    for pattern in patterns:
        hits = sorted(root.glob(pattern)) if any(c in pattern for c in "*?[") else [root / pattern]
        hits = [h for h in hits if h.is_file()]
        if hits:
            return hits
    return []


def hub_records(repo: str, config: str | None, splits: Sequence[str]) -> list[dict]:
    """Rows of ``repo`` (config, first split that loads) through ``datasets``; raises the last error."""
    import datasets

    error: Exception | None = None
    for split in splits:
        try:
            return [{k: _plain(v) for k, v in row.items()} for row in datasets.load_dataset(repo, config, split=split)]
        except Exception as err:  # offline, gated, unknown split: datasets raises many types
            error = err
    raise error if error else ValueError("no split to load")


def first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


def load_source(source: str | Path, what: str, patterns: Sequence[str], repo: str, filename: str,
                hub: Callable[[], list] | None, note: str = "") -> tuple[list, str]:
    """Records for ``what`` and where they came from: ``source`` itself when it is a file, the
    first of ``patterns`` found under it when it is a folder, else the hub (``hub()``) when
    ``source`` is a hub name. ``filename`` is the published file the one-line error tells how to
    fetch; ``note`` is appended to that error."""
    path = Path(source)
    if path.is_file():
        return read_records(path), str(path)
    if path.is_dir():
        files = find(path, patterns)
        if not files:
            others = f" nor {len(patterns) - 1} other published path(s)" if len(patterns) > 1 else ""
            raise missing(what, f"no file {patterns[0]}{others} under {path}", repo, filename, note)
        return [r for f in files for r in read_records(f)], str(files[0])
    if hub is not None and is_hub_name(str(source)):
        try:
            return hub(), f"hub:{source}"
        except Exception as err:  # offline, gated, unknown: any failure is "not available here"
            where = f"no local path {source}, and the hub dataset {source} cannot be reached ({first_line(err)})"
            raise missing(what, where, repo, filename, note) from err
    raise missing(what, f"no file or folder at {path}", repo, filename, note)


def require_fields(record: dict, fields: Sequence[str], where: str, index: int) -> None:
    """Raise a ValueError naming the file, the row and the missing fields."""
    absent = [f for f in fields if f not in record]
    if absent:
        raise ValueError(f"{where}: row {index} lacks field(s) {absent}; expected {list(fields)}")
