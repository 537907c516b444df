"""Every notebook, top to bottom, in the smoke profile, into a temporary output root; every file
that paper/ references must be produced there, and the checkout must not be touched."""

import pytest

from unlearnlab import pipeline
from unlearnlab.reporting.paper_refs import missing_references, referenced_files
from unlearnlab.core.paths import repo_root


@pytest.mark.smoke
def test_smoke_pipeline_produces_every_paper_reference(tmp_path):
    root = repo_root()
    committed = {p: p.stat().st_mtime_ns for p in (root / "figures").glob("*") if p.is_file()}
    times = pipeline.run("smoke", str(tmp_path))
    assert set(times) >= {p.stem for p in pipeline.notebook_paths()}
    refs = referenced_files(root / "paper")
    assert refs, "paper/main.tex references nothing"
    assert missing_references(root / "paper", tmp_path) == []
    for path, mtime in committed.items():
        assert path.stat().st_mtime_ns == mtime, f"smoke run modified {path}"
    assert not (tmp_path / "figures" / "MANIFEST.json").exists()
