"""figures/MANIFEST.json: a partial run updates only the notebooks it ran."""

from __future__ import annotations

from unlearnlab.core.artifacts import read_json
from unlearnlab.core.paths import Paths
from unlearnlab.pipeline import write_manifest


def test_partial_run_keeps_the_other_notebooks_entries(tmp_path):
    paths = Paths.at(tmp_path).ensure()
    (paths.figures / "a.pdf").write_bytes(b"%PDF")
    write_manifest(paths, "default", "h1", {"00_data": 1.0, "10_pretrain": 2.0, "total": 3.0}, partial=False)
    (paths.figures / "b.pdf").write_bytes(b"%PDF")
    write_manifest(paths, "default", "h2", {"10_pretrain": 5.0, "total": 5.0}, partial=True)

    manifest = read_json(paths.figures / "MANIFEST.json")
    runs = manifest["notebook_runs"]
    assert runs["00_data"]["seconds"] == 1.0 and runs["00_data"]["profile_hash"] == "h1"
    assert runs["10_pretrain"]["seconds"] == 5.0 and runs["10_pretrain"]["profile_hash"] == "h2"
    assert manifest["notebook_seconds"]["total"] == 3.0  # the last full run's totals stay
    assert manifest["figures"] == ["a.pdf", "b.pdf"]
