"""The README's generated blocks (issue 16): rewriting from a manifest replaces only the text
between the markers, is idempotent, and the committed README is what its files generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearnlab.core.paths import repo_root
from unlearnlab.reporting import readme

pytestmark = pytest.mark.unit

RUN = {"profile": "default", "git_commit": "abcdef0123", "date": "2026-12-05T10:00:00+00:00"}
MANIFEST = {**RUN, "notebook_seconds": {"00_a": 7.4, "10_b": 472.6, "total": 480.0},
            "notebook_runs": {"00_a": {**RUN, "seconds": 7.4}, "10_b": {**RUN, "seconds": 472.6}}}
MEASURED = {"machine": "test CPU", "entries": [
    {"key": "run_tests", "what": "tests", "command": "./run_tests.sh", "date": "2026-12-02",
     "value": "5 min", "short": "5 min"}]}
BEFORE, BETWEEN, AFTER = "# Title\n\nintro 58 min\n", "\nprose kept | as is\n\n", "\n## End\n"
TEXT = (BEFORE + "<!-- generated:quickstart -->\nold\n<!-- /generated:quickstart -->" + BETWEEN
        + "<!-- generated:timings -->\n| 00 | 1 |\n<!-- /generated:timings -->\n"
        + "<!-- generated:measured -->\n<!-- /generated:measured -->" + AFTER)


def test_rewrite_replaces_only_the_blocks_and_is_idempotent():
    new = readme.rewrite(TEXT, readme.render_blocks(MANIFEST, MEASURED))
    assert new.startswith(BEFORE + "<!-- generated:quickstart -->\n```bash\n")
    assert new.endswith("<!-- /generated:measured -->" + AFTER)
    assert new.split("<!-- /generated:quickstart -->")[1].startswith(BETWEEN + "<!-- generated:timings -->\n")
    assert "old" not in new and "| 00 | 1 |" not in new
    # 7.4 + 472.6 = 480 s = 8 min; each notebook to the second
    assert "| 00_a | 7 |\n| 10_b | 473 |\n| **all notebooks** | **480** (8 min) |" in new
    assert "(one run: 2026-12-05, commit abcdef0)" in new
    assert "(~8 min, last recorded run" in new and "(~5 min on the test CPU, 2026-12-02)" in new
    assert "| tests (`./run_tests.sh`) | 2026-12-02 | 5 min |" in new
    assert readme.rewrite(new, readme.render_blocks(MANIFEST, MEASURED)) == new


def test_each_notebooks_latest_run_counts_and_mixed_runs_are_labelled():
    later = {**RUN, "profile": "default", "git_commit": "9999999aaa", "date": "2026-12-07", "seconds": 100.0}
    gpu = {**RUN, "profile": "gpu", "seconds": 1.0}
    record = {**MANIFEST, "notebook_runs": {**MANIFEST["notebook_runs"], "10_b": later, "20_c": gpu}}
    assert readme.manifest_seconds(record, "default") == {"00_a": 7.4, "10_b": 100.0}
    assert readme.manifest_seconds(record, "gpu") == {"20_c": 1.0}
    table = readme.render_timings(record)
    assert "| 10_b | 100 | 2026-12-07, commit 9999999 |" in table
    assert "| **all notebooks** | **107** (2 min) | |" in table


def test_unknown_or_unpaired_blocks_are_errors():
    blocks = readme.render_blocks(MANIFEST, MEASURED)
    with pytest.raises(ValueError, match="no generator"):
        readme.rewrite("<!-- generated:typo -->\n<!-- /generated:typo -->\n", blocks)
    with pytest.raises(ValueError, match="unpaired"):
        readme.rewrite("<!-- generated:timings -->\nx\n", blocks)


def test_a_gpu_manifest_leaves_the_readme_alone(tmp_path):
    path, measured = tmp_path / "README.md", tmp_path / "measured.json"
    path.write_text(TEXT)
    measured.write_text(json.dumps(MEASURED))
    assert not readme.update_readme(path, {**MANIFEST, "profile": "gpu"}, measured)
    assert path.read_text() == TEXT
    assert readme.update_readme(path, MANIFEST, measured)
    assert not readme.update_readme(path, MANIFEST, measured)  # second pass: nothing to change


def test_the_committed_readme_is_what_its_files_generate():
    """Edit benchmarks/measured_by_hand.json or figures/MANIFEST.json, then rewrite the blocks."""
    text = (repo_root() / "README.md").read_text()
    record = json.loads((repo_root() / "figures" / "MANIFEST.json").read_text())
    assert readme.rewrite(text, readme.render_blocks(record, readme.read_measured())) == text
    assert "~58 min" not in text.replace("(~58 min, last recorded run", "")  # no typed copy left behind
