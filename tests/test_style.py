"""One palette: every colour in ``src/`` lives in ``plots/style.py``, every method has one."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from unlearnlab.localization import LOCALIZERS
from unlearnlab.methods import available
from unlearnlab.plots import style

pytestmark = pytest.mark.unit

SRC = Path(style.__file__).resolve().parents[1]
HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b(?![0-9a-fA-F])")


def test_no_hex_colour_outside_the_style_module():
    stray = [f"{path.relative_to(SRC)}:{i}" for path in sorted(SRC.rglob("*.py")) if path.name != "style.py"
             for i, line in enumerate(path.read_text().splitlines(), 1) if HEX.search(line.split("  # ")[0])]
    assert not stray, f"hex colours outside plots/style.py: {stray}"


def test_every_registered_method_and_localizer_has_a_colour_and_a_marker():
    for name in [*available(), *LOCALIZERS, "base", "oracle", "masked:fisher", "masked:gradient_norm", "masked:random"]:
        assert style.color(name).startswith("#") and style.marker(name)


def test_colours_are_distinct_and_every_name_has_a_marker():
    assert len(set(style.COLORS.values())) == len(style.COLORS)
    assert set(style.MARKERS) == set(style.COLORS)
    assert all(target in style.COLORS for target in style.ALIASES.values())


def test_labels_resolve_to_their_method_and_levels_to_shades():
    assert style.color("UNDO α=1 (retain 93 %)") == style.color("UNDO")
    assert style.color("UNDO α=0.1") != style.color("UNDO α=0.6") != style.color("UNDO")
    assert style.color("Targeted-UNDO") == style.color("TargetedUNDO")
    assert style.color("weight_diff 5%") == style.color("weight_diff")
    assert style.marker("global UNDO") == style.marker("UNDO")


def test_an_unknown_name_is_an_error_that_lists_the_known_ones():
    with pytest.raises(KeyError, match="GradDiff"):
        style.color("GradDif")


def test_save_figure_writes_pdf_and_png(tmp_path):
    style.apply_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color=style.color("GradDiff"), marker=style.marker("GradDiff"))
    paths = style.save_figure(fig, tmp_path / "figs", "demo")
    assert [p.name for p in paths] == ["demo.pdf", "demo.png"] and all(p.stat().st_size for p in paths)


def test_no_module_selects_a_matplotlib_backend():
    """``matplotlib.use("Agg")`` on import hid every figure in the executed notebooks."""
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "matplotlib.use(" in p.read_text()]
    assert not offenders


def test_roles_are_no_method_colour():
    """A data split or SAE kind never borrows a method's colour (it would look like that method)."""
    assert not set(style.ROLES.values()) & set(style.COLORS.values())
    assert style.role_color("forget-leaning") != style.role_color("retain-leaning")


def test_noise_levels_are_told_apart_at_print_size():
    """UNDO α = 0.1, 0.3, 0.6 and 1: neighbouring shades differ by at least 0.13 in some RGB channel."""
    import matplotlib.colors

    shades = [matplotlib.colors.to_rgb(style.color(f"UNDO α={a}")) for a in (0.1, 0.3, 0.6, 1)]
    assert all(max(abs(x - y) for x, y in zip(a, b)) >= 0.13 for a, b in zip(shades, shades[1:]))
