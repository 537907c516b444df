"""Bring your own model: the real-tier notebooks (20, 32, 33, 34, 35) run unchanged on a tiny random
Qwen2 and a tiny random Phi-3 checkpoint through ``-p model=DIR`` (smoke profile), name their files
after it, leave the paper's numbers alone, and say that the model looks untrained. The results are
meaningless (random weights); what is tested is that the pipeline completes on other layouts."""

import json

import pytest

from unlearnlab import pipeline
from unlearnlab.core.tiny_checkpoints import save_tiny

pytestmark = pytest.mark.dryrun  # minutes: CI's tier (./run_tests.sh --all)

REAL_TIER = ["20_localize", "32_rewrite_ia3", "33_masked_lora", "34_sae", "35_private_records"]


def _printed(notebook) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/markdown", ""))
                     for cell in cells for out in cell.get("outputs", []))


@pytest.mark.parametrize("arch", ["qwen2", "phi3"])
def test_real_tier_notebooks_run_on_a_tiny_checkpoint(arch, tmp_path):
    model_dir = save_tiny(arch, tmp_path / f"tiny_{arch}")
    root = tmp_path / "run"
    times = pipeline.run("smoke", str(root), only=REAL_TIER, parameters={"model": str(model_dir)})
    assert set(REAL_TIER) <= set(times)

    figures = {p.stem for p in (root / "figures").glob("*.png")}
    slug = f"tiny_{arch}"
    assert f"loc_real_heatmaps_{slug}" in figures and f"private_real_{slug}" in figures
    assert "loc_smollm2_heatmaps" not in figures and "private_real" not in figures
    assert not any((root / "paper" / "numbers").glob("*.tex")), "a model of your own wrote the paper's numbers"
    assert (root / "paper" / "tables" / f"sae_unlearning_{slug}.tex").is_file()

    out = root / "outputs" / "notebooks" / "smoke"
    assert "does not know the fact" in _printed(out / "20_localize.ipynb")
    for notebook in ("32_rewrite_ia3", "33_masked_lora", "35_private_records"):
        assert "looks untrained" in _printed(out / f"{notebook}.ipynb"), notebook
