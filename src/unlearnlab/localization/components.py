"""Components of a Llama-architecture model at several granularities, as parameter entries.

A component is a named set of parameter entries: a whole decoder layer, one weight matrix, one
MLP neuron (its gate/up rows and its down-projection column), one attention head (its query
rows, key/value rows of its KV group, and its output-projection columns), or one parameter.
The same names work for our tiny models and for SmolLM2/Qwen/Llama checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

Index = tuple[slice, ...]


@dataclass(frozen=True)
class Component:
    name: str
    entries: tuple[tuple[str, Index], ...]  # (parameter name, index into it)

    def size(self, params: dict[str, torch.Tensor]) -> int:
        return sum(params[p][idx].numel() for p, idx in self.entries)


def _layers(model) -> int:
    return model.config.num_hidden_layers


def iter_components(model: torch.nn.Module, granularity: str) -> Iterator[Component]:
    """Every component of ``model`` at ``granularity`` (not 'parameter': that is every entry)."""
    params = dict(model.named_parameters())
    cfg = model.config
    prefix = "model.layers"
    if granularity == "matrix":
        for name, p in params.items():
            yield Component(name, ((name, (slice(None),) * p.dim()),))
    elif granularity == "layer":
        for i in range(_layers(model)):
            names = [n for n in params if n.startswith(f"{prefix}.{i}.")]
            yield Component(f"L{i}", tuple((n, (slice(None),) * params[n].dim()) for n in names))
    elif granularity == "neuron":
        for i in range(_layers(model)):
            mlp = f"{prefix}.{i}.mlp"
            for j in range(cfg.intermediate_size):
                row, col = (slice(j, j + 1), slice(None)), (slice(None), slice(j, j + 1))
                yield Component(f"L{i}.N{j}", ((f"{mlp}.gate_proj.weight", row), (f"{mlp}.up_proj.weight", row),
                                               (f"{mlp}.down_proj.weight", col)))
    elif granularity == "head":
        n_heads, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        d_head = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_heads
        for i in range(_layers(model)):
            attn = f"{prefix}.{i}.self_attn"
            for h in range(n_heads):
                g = h // (n_heads // n_kv)
                rows_q, rows_kv = slice(h * d_head, (h + 1) * d_head), slice(g * d_head, (g + 1) * d_head)
                yield Component(f"L{i}.H{h}", (
                    (f"{attn}.q_proj.weight", (rows_q, slice(None))),
                    (f"{attn}.k_proj.weight", (rows_kv, slice(None))),
                    (f"{attn}.v_proj.weight", (rows_kv, slice(None))),
                    (f"{attn}.o_proj.weight", (slice(None), rows_q))))
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
