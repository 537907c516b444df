"""A figure drawn through ``reporting.figures.draw`` is re-drawn by ``pipeline --figure NAME`` from
its stored recipe alone: the same files, byte for byte, with no notebook run."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from unlearnlab import pipeline
from unlearnlab.core.paths import Paths
from unlearnlab.reporting import figures

pytestmark = pytest.mark.unit


def tiny_bars(table: pd.DataFrame, title: str = ""):
    """A stand-in for a study's plot function: a module-level function of stored results."""
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar(table["method"], table["acc"])
    ax.set_title(title)
    return fig


def test_redraw_from_the_recipe_gives_identical_files(tmp_path, capsys):
    paths = Paths.at(tmp_path).ensure()
    table = pd.DataFrame({"method": ["base", "GradDiff"], "acc": [0.9, 0.2]})
    figures.draw(paths, "tiny_bars", tiny_bars, table, title="n = 1")
    files = [paths.figures / "tiny_bars.pdf", paths.figures / "tiny_bars.png"]
    first = [f.read_bytes() for f in files]
    for f in files:
        f.unlink()

    assert figures.available(paths) == ["tiny_bars"]
    assert pipeline.main(["--output-root", str(tmp_path), "--figure", "tiny_bars"]) == 0
    assert [f.read_bytes() for f in files] == first
    assert "tiny_bars.png" in capsys.readouterr().out


def test_a_lambda_cannot_be_a_recipe(tmp_path):
    with pytest.raises(ValueError, match="not importable"):
        figures.draw(Paths.at(tmp_path), "x", lambda: plt.figure())
