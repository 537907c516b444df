"""What ``paper/`` needs from the pipeline: every ``\\includegraphics`` and ``\\input`` target."""

from __future__ import annotations

import re
from pathlib import Path

_REF = re.compile(r"\\(includegraphics|input|include)\s*(?:\[[^\]]*\])?\{([^}]+)\}")


def _sources(paper_dir: Path) -> list[Path]:
    """The hand-written ``.tex`` files (everything but the generated ``tables/``)."""
    return [t for t in sorted(Path(paper_dir).glob("**/*.tex")) if "tables" not in t.relative_to(paper_dir).parts]


def referenced_files(paper_dir: Path) -> list[Path]:
    """Repository-relative paths of the files that ``paper/*.tex`` include (with extension) and
    the pipeline must produce: sections ``\\input`` from another hand-written file are sources,
    scanned themselves, and not listed."""
    sources = _sources(paper_dir)
    source_paths = {Path("paper") / t.relative_to(paper_dir) for t in sources}
    refs: list[Path] = []
    for tex in sources:
        source = re.sub(r"(?<!\\)%.*", "", tex.read_text())
        for kind, name in _REF.findall(source):
            rel = (Path("paper") / name)
            parts: list[str] = []
            for part in rel.parts:  # resolve '..' without touching the file system
                if part == "..":
                    parts.pop()
                else:
                    parts.append(part)
            path = Path(*parts)
            if not path.suffix:
                path = path.with_suffix(".tex" if kind != "includegraphics" else ".pdf")
            if path not in source_paths:
                refs.append(path)
    return refs


def missing_references(paper_dir: Path, output_root: Path) -> list[Path]:
    """Referenced files absent under ``output_root`` (a pipeline run's root)."""
    return [p for p in referenced_files(paper_dir) if not (Path(output_root) / p).is_file()]
