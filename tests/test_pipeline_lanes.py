"""Notebooks that need nothing from each other run side by side (pipeline lanes), and the run
record still says which notebook wrote which file."""

from __future__ import annotations

import json

import pytest

from unlearnlab import pipeline

pytestmark = pytest.mark.integration


NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "smoke"
output_root = ""
overrides = {}

# %%
import time
from pathlib import Path
from unlearnlab.reporting import manifest
start = time.time()
time.sleep(3)
out = Path(output_root) / "figures" / "NAME.png"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text("x")
manifest.log_written(out)
(Path(output_root) / "NAME.times").write_text(f"{start} {time.time()}")
'''


def test_independent_notebooks_run_side_by_side_and_keep_their_own_files(tmp_path, monkeypatch):
    """Two notebooks that need nothing run in two spawned lanes at once; the manifest still
    says which of them wrote which figure, and each gets its own phase record."""
    folder = tmp_path / "nb"
    folder.mkdir()
    notebooks = []
    for name in ("32_rewrite_ia3", "33_masked_lora"):
        path = folder / f"{name}.py"
        path.write_text(NOTEBOOK.replace("NAME", name))
        notebooks.append(path)
    monkeypatch.setattr(pipeline, "notebook_paths", lambda only=None: notebooks)
    root = tmp_path / "root"
    pipeline.run("smoke", str(root), lanes=2)
    (a0, a1), (b0, b1) = ([float(x) for x in (root / f"{n}.times").read_text().split()]
                          for n in ("32_rewrite_ia3", "33_masked_lora"))
    assert a0 < b1 and b0 < a1  # the two sleeps overlapped
    record = json.loads((root / "outputs" / "manifest_smoke.json").read_text())
    by_notebooks = {f: nb for f, nb in record["written_by"].items() if nb != "pipeline"}
    assert by_notebooks == {"figures/32_rewrite_ia3.png": "32_rewrite_ia3",
                            "figures/33_masked_lora.png": "33_masked_lora"}
    assert record["written_by"]["paper/numbers/run.tex"] == "pipeline"  # the reproducibility appendix
    assert record["lanes"] == 2 and record["wall_seconds"] > 0
    assert "other" in record["notebook_runs"]["32_rewrite_ia3"]["phase_cpu_s"]
