"""Components of a causal LM at several granularities, as parameter entries.

A component is a named set of parameter entries: a whole decoder layer, one weight matrix, one
MLP neuron (its gate/up rows and its down-projection column), one attention head (its query
rows, key/value rows of its KV group, and its output-projection columns), or one parameter.
The same names work for our tiny models and for every family ``core.anatomy`` knows (where a
neuron's and a head's entries are, fused projections included, is the anatomy's business).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from unlearnlab.core import anatomy
from unlearnlab.core.anatomy import Index


@dataclass(frozen=True)
class Component:
    name: str
    entries: tuple[tuple[str, Index], ...]  # (parameter name, index into it)

    def size(self, params: dict[str, torch.Tensor]) -> int:
        return sum(params[p][idx].numel() for p, idx in self.entries)


def _layers(model) -> int:
    return anatomy.n_layers(model)


def iter_components(model: torch.nn.Module, granularity: str) -> Iterator[Component]:
    """Every component of ``model`` at ``granularity`` (not 'parameter': that is every entry)."""
    params = dict(model.named_parameters())
    if granularity == "matrix":
        for name, p in params.items():
            yield Component(name, ((name, (slice(None),) * p.dim()),))
    elif granularity == "layer":
        for i in range(_layers(model)):
            names = [n for n in params if n.startswith(f"{anatomy.layer_prefix(model, i)}.")]
            yield Component(f"L{i}", tuple((n, (slice(None),) * params[n].dim()) for n in names))
    elif granularity == "neuron":
        for i in range(_layers(model)):
            for j in range(anatomy.d_mlp(model)):
                yield Component(f"L{i}.N{j}", anatomy.neuron_entries(model, i, j))
    elif granularity == "head":
        for i in range(_layers(model)):
            for h in range(anatomy.n_heads(model)):
                yield Component(f"L{i}.H{h}", anatomy.head_entries(model, i, h))
    else:
        raise ValueError(f"granularity {granularity!r} has no component list; use matrix, layer, neuron or head")


def component_scores_from_parameters(model: torch.nn.Module, scores: dict[str, torch.Tensor],
                                     granularity: str) -> dict[str, float]:
    """Mean per-entry score of each component (for weight-space scores such as gradients)."""
    out = {}
    for comp in iter_components(model, granularity):
        vals = [scores[p][idx].reshape(-1) for p, idx in comp.entries if p in scores]
        out[comp.name] = float(torch.cat(vals).float().mean()) if vals else 0.0
    return out


def component_grid(scores: dict[str, float], unit: str, n_layers: int, width: int) -> torch.Tensor:
    """Scores of ``L{i}.H{h}`` (``unit='H'``) or ``L{i}.N{j}`` (``unit='N'``) components as a
    (layers × width) tensor for heatmaps; components without a score are NaN."""
    grid = torch.full((n_layers, width), float("nan"))
    for name, value in scores.items():
        layer, _, rest = name.partition(".")
        if rest.startswith(unit) and rest[1:].isdigit():
            grid[int(layer[1:]), int(rest[1:])] = float(value)
    return grid
