"""One method, one colour, in every figure that shows it: every figure the smoke pipeline drew is
re-drawn from its stored recipe, and every labelled artist whose label names a method (or
localizer, adapter, reference model) must be drawn in ``plots.style``'s colour for that label."""

from __future__ import annotations

import matplotlib.colors
import matplotlib.pyplot as plt
import pytest

from unlearnlab.core.paths import Paths
from unlearnlab.plots import style
from unlearnlab.reporting import figures

pytestmark = [pytest.mark.smoke, pytest.mark.xdist_group("smoke")]  # one process: one pipeline run


def _first(value):
    """One colour of a getter's answer (a collection answers one colour per element)."""
    if hasattr(value, "ndim") and value.ndim == 2:
        return value[0] if len(value) else None
    return value


def _artist_colour(artist) -> str | None:
    """The colour an artist is drawn in (line colour, patch or collection face), as hex; a hollow
    marker (white or transparent face, e.g. a run that never recovered) by its edge."""
    for getter in ("get_color", "get_facecolor"):
        if hasattr(artist, getter):
            value = _first(getattr(artist, getter)())
            if value is None:
                return None
            rgba = matplotlib.colors.to_rgba(value)
            if (rgba[3] == 0 or rgba[:3] == (1.0, 1.0, 1.0)) and hasattr(artist, "get_edgecolor"):
                edge = _first(artist.get_edgecolor())
                value = edge if edge is not None else value
            return matplotlib.colors.to_hex(value, keep_alpha=False)
    return None


def _labelled_colours(fig) -> list[tuple[str, str]]:
    """(label, colour) of every artist with a legend label, in every axes of ``fig``."""
    found = []
    for ax in fig.axes:
        for artist, label in zip(*ax.get_legend_handles_labels()):
            colour = _artist_colour(artist)
            if colour is not None:
                found.append((label, colour))
    return found


def _expected(label: str) -> str | None:
    try:
        return matplotlib.colors.to_hex(style.color(label), keep_alpha=False)
    except KeyError:  # a label that names no method (a threshold line, a data split)
        return None


def test_every_method_is_drawn_in_its_one_colour_in_every_figure(smoke):
    smoke.require("90_paper")
    paths = Paths.at(smoke.root)
    names = figures.available(paths)
    assert names, "the smoke run stored no figure recipes"
    checked, wrong = 0, []
    for name in names:
        fig = figures.rebuild(paths, name)
        for label, colour in _labelled_colours(fig):
            expected = _expected(label)
            if expected is None:
                continue
            checked += 1
            if colour != expected:
                wrong.append(f"{name}: {label!r} drawn {colour}, style says {expected}")
        plt.close(fig)
    assert checked >= len(names), f"only {checked} method-labelled artists in {len(names)} figures"
    assert wrong == []
