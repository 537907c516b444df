"""A ``Mask`` selects parameters of a model: which entries of which weight matrices.

Localization methods produce scores over components (layers, heads, MLP neurons, whole
matrices or single parameters); ``Mask.from_scores`` turns scores into a mask with a budget given
as a fraction of the model's parameters. Masks combine (union, intersection), compare (Jaccard),
save/load, and are applied by Targeted-UNDO as noise restricted to the masked entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unlearnlab.core.artifacts import read_json, write_json_atomic

GRANULARITIES = ("parameter", "matrix", "neuron", "head", "layer")


@dataclass
class Mask:
    """Boolean tensors keyed by parameter name (absent names: nothing selected)."""

    entries: dict[str, torch.Tensor]
    granularity: str = "parameter"
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if any(g not in GRANULARITIES for g in self.granularity.split("+")):
            raise ValueError(f"unknown granularity {self.granularity!r}; choose from {GRANULARITIES} "
                             "or join component granularities with '+' (e.g. 'head+neuron')")
        self.entries = {k: v.bool() for k, v in self.entries.items()}

    @property
    def n_selected(self) -> int:
        return int(sum(int(v.sum()) for v in self.entries.values()))

    def fraction(self, model: torch.nn.Module) -> float:
        total = sum(p.numel() for p in model.parameters())
        return self.n_selected / total

    def _combine(self, other: "Mask", op) -> "Mask":
        names = set(self.entries) | set(other.entries)
        out = {}
        for n in names:
            a, b = self.entries.get(n), other.entries.get(n)
            if a is None or b is None:
                ref = a if a is not None else b
                a = a if a is not None else torch.zeros_like(ref)
                b = b if b is not None else torch.zeros_like(ref)
            out[n] = op(a, b)
        return Mask(out, "parameter", f"({self.source} {op.__name__} {other.source})")

    def union(self, other: "Mask") -> "Mask":
        return self._combine(other, torch.logical_or)

    def intersection(self, other: "Mask") -> "Mask":
        return self._combine(other, torch.logical_and)

    def jaccard(self, other: "Mask") -> float:
        """|A ∩ B| / |A ∪ B| over selected parameter entries (1.0 for two empty masks)."""
        union = self.union(other).n_selected
        return 1.0 if union == 0 else self.intersection(other).n_selected / union

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.to(torch.uint8).contiguous() for k, v in self.entries.items()}, str(directory / "mask.safetensors"))
        write_json_atomic(directory / "mask.json", {"granularity": self.granularity, "source": self.source,
                                                    "meta": self.meta, "n_selected": self.n_selected})

    @classmethod
    def load(cls, directory: str | Path) -> "Mask":
        directory = Path(directory)
        info = read_json(directory / "mask.json")
        entries = load_file(str(directory / "mask.safetensors"))
        return cls(entries, info["granularity"], info["source"], info.get("meta", {}))


def _empty(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: torch.zeros(p.shape, dtype=torch.bool) for n, p in model.named_parameters()}


def mask_from_parameter_scores(model: torch.nn.Module, scores: dict[str, torch.Tensor], budget: float,
                               source: str = "") -> Mask:
    """The top ``round(budget * n_params)`` entries by score: the budget is exact."""
    if not 0.0 <= budget <= 1.0:
        raise ValueError(f"budget is a fraction of parameters in [0, 1], got {budget}")
    params = dict(model.named_parameters())
    missing = set(params) - set(scores)
    names = list(params)
    flat = torch.cat([(scores[n] if n not in missing else torch.full(params[n].shape, -float("inf"))).reshape(-1).float()
                      for n in names])
    k = round(budget * flat.numel())
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    if k:
        chosen[torch.topk(flat, k, sorted=False).indices] = True
    entries, start = {}, 0
    for n in names:
        size = params[n].numel()
        part = chosen[start: start + size].reshape(params[n].shape)
        if part.any():
            entries[n] = part
        start += size
    return Mask(entries, "parameter", source, {"budget": budget})


def mask_from_component_scores(model: torch.nn.Module, scores: dict[str, float], granularity: str,
                               budget: float, source: str = "") -> Mask:
    """Highest-scoring components, added while the selected parameters stay within the budget.

    ``granularity`` may join component kinds with '+' ("head+neuron"): they compete on one list.

    Components are indivisible, so the mask holds at most ``budget`` of the parameters (it is
    exact only at parameter granularity); ``meta['fraction']`` records what it holds.
    """
    from unlearnlab.localization.components import iter_components

    params = dict(model.named_parameters())
    limit = round(budget * sum(p.numel() for p in params.values()))
    comps = {c.name: c for g in granularity.split("+") for c in iter_components(model, g)}
    unknown = set(scores) - set(comps)
    if unknown:
        raise KeyError(f"scores for unknown {granularity} components: {sorted(unknown)[:5]}")
    entries = _empty(model)
    used = 0
    chosen = []
    for name in sorted(scores, key=lambda c: -scores[c]):
        comp = comps[name]
        new = sum(int((~entries[p][idx]).sum()) for p, idx in comp.entries)
        if used + new > limit:
            continue
        for p, idx in comp.entries:
            entries[p][idx] = True
        used += new
        chosen.append(name)
    total = sum(p.numel() for p in params.values())
    return Mask({n: m for n, m in entries.items() if m.any()}, granularity, source,
                {"budget": budget, "fraction": used / total, "components": chosen})


def random_mask(model: torch.nn.Module, budget: float, granularity: str = "parameter",
                generator: torch.Generator | None = None) -> Mask:
    """A mask of the same budget with random scores: the control for every localization."""
    gen = generator or torch.Generator().manual_seed(0)
    if granularity == "parameter":
        scores = {n: torch.rand(p.shape, generator=gen) for n, p in model.named_parameters()}
        return mask_from_parameter_scores(model, scores, budget, "random")
    from unlearnlab.localization.components import iter_components

    names = [c.name for g in granularity.split("+") for c in iter_components(model, g)]
    values = torch.rand(len(names), generator=gen).tolist()
    return mask_from_component_scores(model, dict(zip(names, values)), granularity, budget, "random")
