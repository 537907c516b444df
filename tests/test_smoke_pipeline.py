"""Every notebook, top to bottom, in the smoke profile, in order, into one temporary output root
(one test per notebook, so a failure names its notebook); then every file that paper/
references must be there, each attributed to its notebook, and the checkout must be untouched."""

import os

import pytest

from unlearnlab import pipeline
from unlearnlab.core.artifacts import read_json
from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.reporting import manifest, numbers, paper_build
from unlearnlab.reporting.paper_refs import missing_references, referenced_files, used_macros

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


def test_every_number_the_paper_uses_is_written_by_the_run(smoke):
    smoke.require(NOTEBOOKS[-1])
    used = used_macros(repo_root() / "paper", tuple(numbers.STUDIES))
    missing = sorted(used - numbers.defined_macros(smoke.root / "paper" / "numbers"))
    assert missing == [], f"the paper uses macros the smoke run did not write: {missing}"


def test_paper_builds_from_the_run_without_undefined_references_or_overfull_boxes(smoke):
    smoke.require(NOTEBOOKS[-1])
    if not paper_build.latexmk_available():
        message = ("latexmk/pdflatex not installed (apt-get install latexmk texlive-latex-recommended "
                   "texlive-latex-extra texlive-fonts-recommended)")
        if os.environ.get("UNLEARNLAB_REQUIRE_LATEX"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    report = paper_build.build(repo_root() / "paper", smoke.root)
    assert report.error == "", report.error
    assert report.undefined == [], f"undefined references or citations: {report.undefined}"
    assert report.overfull == [], f"boxes wider than {paper_build.MAX_OVERFULL_PT} pt: {report.overfull}"
    assert report.pdf is not None and report.pdf.stat().st_size > 10_000
