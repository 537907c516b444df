"""Which files paper/ needs from the pipeline: generated tables and figures, not its own sections."""

from pathlib import Path

import pytest

from unlearnlab.reporting.paper_refs import missing_references, referenced_files

pytestmark = pytest.mark.unit


def _paper(tmp_path: Path) -> Path:
    paper = tmp_path / "paper"
    (paper / "tables").mkdir(parents=True)
    (paper / "main.tex").write_text("\\input{sec_a}\n\\input{tables/t1}\n% \\input{tables/commented}\n")
    (paper / "sec_a.tex").write_text("\\includegraphics[width=1cm]{../figures/f1.pdf}\n\\input{tables/t2}\n")
    (paper / "tables" / "t1.tex").write_text("\\input{ignored}\n")  # generated: never scanned
    return paper


def test_sections_are_scanned_not_required(tmp_path):
    refs = referenced_files(_paper(tmp_path))
    assert sorted(map(str, refs)) == ["figures/f1.pdf", "paper/tables/t1.tex", "paper/tables/t2.tex"]


def test_missing_references_reads_the_output_root(tmp_path):
    paper = _paper(tmp_path)
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "f1.pdf").write_bytes(b"%PDF")
    assert sorted(map(str, missing_references(paper, out))) == ["paper/tables/t1.tex", "paper/tables/t2.tex"]
