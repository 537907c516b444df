"""What notebook 20 shows: score grids for the heatmaps, agreement between the localizers, the
causal validation and the real-model fact in sentences."""

from __future__ import annotations

import pandas as pd
import torch
from scipy.stats import spearmanr

from unlearnlab.experiments.localize.real import FactSpec
from unlearnlab.localization.components import component_grid
from unlearnlab.localization.mask import Mask
from unlearnlab.localization.registry import Localization


HEATMAP_TITLE = "arithmetic base model: forget (x, ÷) vs retain (+, −)"


def granularities(locs: dict[str, Localization]) -> pd.DataFrame:
    """What each localizer scores: single parameters or components (heads, neurons)."""
    return pd.DataFrame({m: {"granularity": loc.granularity} for m, loc in locs.items()}).T


def fact_title(fact: FactSpec) -> str:
    """The real-model heatmap's title: the fact, and that only top neurons were patched."""
    return (f"SmolLM2-135M-Instruct: '{fact.subject}' → '{fact.answer.strip()}' "
            f"(act_patching neurons: only the top {fact.top_neurons} by attribution)")


def heatmap_grids(model: torch.nn.Module, locs: dict[str, Localization]) -> dict[str, dict[str, torch.Tensor]]:
    """method -> {"heads": layers × heads, "neurons": layers × neurons} score grids."""
    cfg = model.config
    grids = {}
    for method, loc in locs.items():
        if method == "random":
            continue
        heads = loc.component_scores(model, "head") if loc.granularity != "neuron" else {}
        grids[method] = {"heads": component_grid(heads, "H", cfg.num_hidden_layers, cfg.num_attention_heads),
                         "neurons": component_grid(loc.component_scores(model, "neuron"), "N",
                                                   cfg.num_hidden_layers, cfg.intermediate_size)}
    return grids


def agreement_tables(model: torch.nn.Module, locs: dict[str, Localization],
                     masks: dict[str, Mask]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Jaccard overlap between the methods' masks, and Spearman rank correlation between their
    head and neuron scores (weight-space scores averaged per component)."""
    names = [m for m in locs if m != "random"]
    jac = pd.DataFrame([[masks[a].jaccard(masks[b]) for b in names] for a in names], index=names, columns=names)
    vectors = {}
    for m in names:
        comp = {**locs[m].component_scores(model, "neuron"),
                **(locs[m].component_scores(model, "head") if locs[m].granularity != "neuron" else {})}
        vectors[m] = comp
    rho = pd.DataFrame(index=names, columns=names, dtype=float)
    for a in names:
        for b in names:
            shared = sorted(set(vectors[a]) & set(vectors[b]))
            rho.loc[a, b] = spearmanr([vectors[a][k] for k in shared], [vectors[b][k] for k in shared]).statistic
    return jac, rho


def describe_causal(rows: pd.DataFrame) -> str:
    """Per method and budget: selectivity of its mask vs the random draws, as sentences."""
    lines = []
    for (method, budget), g in rows.groupby(["method", "budget"], sort=False):
        real = g[~g["control"]].iloc[0]
        ctrl = g[g["control"]]["selectivity"]
        beats = real["selectivity"] > ctrl.max()
        lines.append(f"- **{method} @ {100 * budget:g} %** ({100 * real['fraction']:.1f} % of parameters): "
                     f"forget −{100 * real['forget_drop']:.1f}, retain −{100 * real['retain_drop']:.1f} points, "
                     f"selectivity {100 * real['selectivity']:+.1f} vs random {100 * ctrl.mean():+.1f} "
                     f"[{100 * ctrl.min():+.1f}, {100 * ctrl.max():+.1f}] over {len(ctrl)} draws"
                     + (" — **above every random draw**" if beats else ""))
    return "\n".join(lines)


def describe_fact(scores: dict[str, dict[str, float]], info: dict, fact: FactSpec, top: int = 5) -> str:
    """Whether the model knows the fact, what the corruption does, the top components, and how
    well attribution ranks the exactly patched heads."""

    def best(d: dict[str, float]) -> str:
        return ", ".join(f"{k} ({v:+.2f})" for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top])

    heads = sorted(scores["patching_heads"])  # the exactly patched ones
    rho = spearmanr([scores["patching_heads"][h] for h in heads], [scores["attribution_heads"][h] for h in heads]).statistic
    timing = info["timing_s"]
    return "\n".join([
        f"- Answer rank (0 = greedy) of '{fact.answer.strip()}' on the clean prompts: {info['clean_answer_rank']}; "
        f"with the subject swapped for {', '.join(info['corrupt_subjects'])}: {info['corrupt_answer_rank']}.",
        f"- Top heads by exact patching (Δ log-prob of the answer, summed over the {len(info['corrupt_subjects'])} "
        f"prompts): {best(scores['patching_heads'])}.",
        f"- Top neurons by exact patching (among the {fact.top_neurons} best by attribution): "
        f"{best(scores['patching_top_neurons'])}.",
        f"- Attribution vs exact patching over all {len(heads)} heads: Spearman ρ = {rho:.2f}; "
        f"attribution took {timing['attribution_heads']:.1f} s, exact patching {timing['patching_heads']:.1f} s.",
    ])
