"""What ``paper/`` needs from the pipeline (every ``\\includegraphics`` and ``\\input`` target), and
what its prose may not contain (typed result numbers) or must find (every generated number it uses)."""

from __future__ import annotations

import re
from pathlib import Path

_REF = re.compile(r"\\(includegraphics|input|include)\s*(?:\[[^\]]*\])?\{([^}]+)\}")


def _sources(paper_dir: Path) -> list[Path]:
    """The hand-written ``.tex`` files (everything but the generated ``tables/`` and ``numbers/``)."""
    generated = {"tables", "numbers"}
    return [t for t in sorted(Path(paper_dir).glob("**/*.tex")) if not generated & set(t.relative_to(paper_dir).parts)]


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


# A result typed into the prose: a decimal (not a length such as 0.49\linewidth, not part of a
# name such as Llama-3.1), a percentage, or a ± interval. Results come from paper/numbers/ macros.
_TYPED = re.compile(r"(?<![A-Za-z\-\\.\d])\d+\.\d+(?!\d)(?!\s*\\?(?:linewidth|textwidth|cm|pt|in|em)\b)"
                    r"|\d+\s*(?:\\,|~|\s)?\\%|\\pm(?![A-Za-z])|±")
_MACRO = re.compile(r"\\([a-z]+[A-Z][A-Za-z]*)")


def _prose(tex: Path) -> list[str]:
    """Lines of ``tex`` without comments, the preamble before ``\\begin{document}`` (lengths,
    package options) blanked so line numbers stay right."""
    lines = [re.sub(r"(?<!\\)%.*", "", line) for line in tex.read_text().splitlines()]
    if any(r"\begin{document}" in line for line in lines):
        start = next(i for i, line in enumerate(lines) if r"\begin{document}" in line)
        lines = [""] * start + lines[start:]
    return lines


def typed_numbers(paper_dir: Path) -> list[str]:
    """'file:line: text' for every typed decimal, percentage or ± in the paper's prose."""
    hits = []
    for tex in _sources(paper_dir):
        for i, line in enumerate(_prose(tex), 1):
            for match in _TYPED.finditer(line):
                hits.append(f"{tex.relative_to(paper_dir)}:{i}: {match.group(0)!r} in {line.strip()[:80]!r}")
    return hits


def used_macros(paper_dir: Path, prefixes: tuple[str, ...]) -> set[str]:
    """Macros of the paper's prose that name a generated number (start with a study prefix)."""
    used = {m for tex in _sources(paper_dir) for line in _prose(tex) for m in _MACRO.findall(line)}
    return {m for m in used if any(m.startswith(p) and m[len(p):][:1].isupper() for p in prefixes)}
