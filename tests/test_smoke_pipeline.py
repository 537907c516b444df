"""Every notebook, top to bottom, in the smoke profile, in order, into one temporary output root
(one test per notebook, so a failure names its notebook); then every file that paper/
references must be there, each attributed to its notebook, and the checkout must be untouched."""

import pytest

from unlearnlab import pipeline
from unlearnlab.core.artifacts import read_json
from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.reporting import manifest
from unlearnlab.reporting.paper_refs import missing_references, referenced_files

pytestmark = [pytest.mark.smoke, pytest.mark.xdist_group("smoke")]  # one process: one pipeline run

NOTEBOOKS = [p.stem for p in pipeline.notebook_paths()]
CHECKOUT = manifest.snapshot(Paths.at(repo_root()))  # taken at collection, before any notebook runs


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs(smoke, notebook):
    assert smoke.require(notebook).is_file()


def test_outputs_cover_the_paper_and_leave_the_checkout_alone(smoke):
    smoke.require(NOTEBOOKS[-1])
    paper = repo_root() / "paper"
    assert referenced_files(paper), "paper/main.tex references nothing"
    assert missing_references(paper, smoke.root) == []
    record = read_json(smoke.root / "outputs" / "manifest_smoke.json")
    assert set(record["notebook_runs"]) == set(NOTEBOOKS)
    unattributed = [f.as_posix() for f in referenced_files(paper) if f.as_posix() not in record["written_by"]]
    assert unattributed == [], "the manifest does not say which notebook wrote these"
    assert manifest.snapshot(Paths.at(repo_root())) == CHECKOUT, "the smoke run modified figures/ or paper/tables/"
    assert not (smoke.root / "figures" / manifest.MANIFEST_NAME).exists()
