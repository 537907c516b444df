"""Build the paper from a pipeline run's outputs and read LaTeX's log for what a reviewer would see:
undefined references or citations, and boxes that run into the margin.

The paper's hand-written sources (``paper/*.tex``, ``references.bib``) are copied next to the run's
generated ``paper/tables`` and ``paper/numbers`` under the run's root (``figures/`` sits beside
``paper/`` there, as in the repository), and ``latexmk`` builds ``main.pdf``. Used by the smoke
test (on the smoke run's outputs) and by ``./run_all.sh`` (on the repository's).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MAX_OVERFULL_PT = 5.0
LATEXMK = ("latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex")
_UNDEFINED = re.compile(r"LaTeX Warning: (Reference|Citation) `([^']+)'.*undefined")
_OVERFULL = re.compile(r"Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too (?:wide|high)\)(.*)")


@dataclass
class BuildReport:
    pdf: Path | None
    undefined: list[str] = field(default_factory=list)
    overfull: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def clean(self) -> bool:
        return self.pdf is not None and not (self.undefined or self.overfull or self.error)


def latexmk_available() -> bool:
    return shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None


def read_log(log: str) -> tuple[list[str], list[str]]:
    """Undefined references/citations and boxes overfull by more than ``MAX_OVERFULL_PT``, from
    the last pass's log."""
    undefined = sorted({f"{kind} {name}" for kind, name in _UNDEFINED.findall(log)})
    overfull = [f"{float(pt):.1f}pt{where.strip() and ': ' + where.strip()[:60]}" for pt, where in _OVERFULL.findall(log)
                if float(pt) > MAX_OVERFULL_PT]
    return undefined, overfull


def stage_sources(paper_dir: Path, root: Path) -> Path:
    """Copy the hand-written sources into ``root/paper`` (beside the run's tables and numbers)."""
    target = Path(root) / "paper"
    target.mkdir(parents=True, exist_ok=True)
    if target.resolve() != Path(paper_dir).resolve():
        for src in list(Path(paper_dir).glob("*.tex")) + list(Path(paper_dir).glob("*.bib")):
            shutil.copy2(src, target / src.name)
    return target


def build(paper_dir: Path, root: Path, timeout_s: int = 300) -> BuildReport:
    """Build ``main.pdf`` from ``paper_dir``'s sources and ``root``'s generated files."""
    target = stage_sources(paper_dir, root)
    proc = subprocess.run(LATEXMK, cwd=target, capture_output=True, text=True, timeout=timeout_s)
    log_path = target / "main.log"
    log = log_path.read_text(errors="replace") if log_path.is_file() else ""
    undefined, overfull = read_log(log)
    pdf = target / "main.pdf"
    error = "" if proc.returncode == 0 else (_first_error(log) or proc.stdout[-500:] + proc.stderr[-500:])
    return BuildReport(pdf if pdf.is_file() and proc.returncode == 0 else None, undefined, overfull, error)


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            return "\n".join(lines[i:i + 4])
    return ""
