"""What a reader sees in the executed smoke notebooks: every figure a notebook writes is embedded
once as an image, and no progress bars, library warnings or stray reprs clutter the outputs."""

from __future__ import annotations

import json
import re

import pytest

from unlearnlab import pipeline
from unlearnlab.core.artifacts import read_json
from unlearnlab.reporting.manifest import written_by_notebook

pytestmark = [pytest.mark.smoke, pytest.mark.xdist_group("smoke")]  # one process: one pipeline run

NOTEBOOKS = [p.stem for p in pipeline.notebook_paths()]
MAX_STDERR_LINES = 5
CLUTTER = re.compile(r"PosixPath\(|IProgress|FutureWarning|Loading weights|Writing model shards|\d+%\|")


def _outputs(notebook_path) -> list[dict]:
    cells = json.loads(notebook_path.read_text())["cells"]
    return [out for cell in cells for out in cell.get("outputs", [])]


def _text(output: dict) -> str:
    text = output.get("text") or output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_figures_embedded_once_and_outputs_clean(smoke, notebook):
    outputs = _outputs(smoke.require(notebook))
    written = written_by_notebook(read_json(smoke.root / "outputs" / "manifest_smoke.json")).get(notebook, [])
    figures = [f for f in written if f.endswith(".png")]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == len(figures), f"{len(images)} embedded images for the figures {figures}"
    stderr = "".join(_text(out) for out in outputs if out.get("name") == "stderr")
    assert len(stderr.splitlines()) <= MAX_STDERR_LINES, stderr[-2000:]
    clutter = sorted({m.group(0) for out in outputs for m in CLUTTER.finditer(_text(out))})
    assert clutter == [], f"clutter in the outputs: {clutter}"
