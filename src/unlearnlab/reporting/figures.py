"""Figures that can be re-drawn from stored results without re-running their notebook.

A notebook draws a figure with ``draw(paths, name, plot_fn, *inputs)``: the plot function is
called, the figure saved as ``figures/<name>.pdf`` and ``.png``, and a *recipe* (the plot
function's import path and its pickled inputs) stored under ``artifacts/figures/<name>.pkl``.
``python -m unlearnlab.pipeline --figure <name>`` then calls ``redraw``: no model is loaded and
nothing is trained, so changing a plot's style costs seconds, not the notebook's run time.

In a notebook, instead of ``fig = plot(table, ...)`` then ``save_figure(fig, ..., name)``::

    fig = figures.draw(session.paths, f"concept_bars{suffix}", concept_plots.variant_bars, table, panels, ncols=5)
    display(fig)  # the figure is closed after saving, so it is embedded exactly once

The plot function must be a module-level function (in ``unlearnlab.plots``) and its inputs
picklable stored results (data frames, dicts, numbers): no models.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from unlearnlab.core.paths import Paths
from unlearnlab.plots.style import save_figure
from unlearnlab.core.timing import in_phase
from unlearnlab.reporting import manifest


def recipe_dir(paths: Paths) -> Path:
    return paths.artifacts / "figures"


def recipe_path(paths: Paths, name: str) -> Path:
    return recipe_dir(paths) / f"{name}.pkl"


def available(paths: Paths) -> list[str]:
    """Names of the figures whose recipes are stored under this output root."""
    return sorted(p.stem for p in recipe_dir(paths).glob("*.pkl"))


def _import_path(plot_fn: Callable) -> str:
    """``module:qualname`` of a module-level function; a lambda or closure cannot be re-imported."""
    target = f"{plot_fn.__module__}:{plot_fn.__qualname__}"
    if "<" in plot_fn.__qualname__ or plot_fn.__module__ == "__main__":
        raise ValueError(f"plot function {target} is not importable: use a function defined in a module")
    return target


def _resolve(target: str) -> Callable:
    module, _, qualname = target.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@in_phase("plot")
def draw(paths: Paths, name: str, plot_fn: Callable[..., Figure], *args, **kwargs) -> Figure:
    """``plot_fn(*args, **kwargs)`` saved as ``<name>.pdf/.png`` under ``paths.figures``, with its
    recipe stored for ``redraw``. Returns the figure (closed, so ``display(fig)`` shows it once)."""
    recipe = {"plot_fn": _import_path(plot_fn), "args": args, "kwargs": kwargs}
    fig = plot_fn(*args, **kwargs)
    manifest.log_written(*save_figure(fig, paths.figures, name))
    path = recipe_path(paths, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(recipe))
    tmp.replace(path)
    return fig


def redraw(paths: Paths, name: str) -> list[Path]:
    """Re-draw a stored figure from its recipe (written by this package under the same output
    root, so unpickling it is as safe as importing the package); return the files written."""
    if not recipe_path(paths, name).is_file():
        known = ", ".join(available(paths)) or "none yet: run the notebooks first"
        raise FileNotFoundError(f"no stored recipe for figure {name!r} under {recipe_dir(paths)}; known: {known}")
    return save_figure(rebuild(paths, name), paths.figures, name)


def rebuild(paths: Paths, name: str) -> Figure:
    """The stored figure drawn again from its recipe, not saved (tests inspect its artists)."""
    recipe = pickle.loads(recipe_path(paths, name).read_bytes())
    return _resolve(recipe["plot_fn"])(*recipe["args"], **recipe["kwargs"])
