"""What notebook 20 shows: score grids for the heatmaps, agreement between the localizers, the
causal validation and the real-model fact in sentences."""

from __future__ import annotations

import pandas as pd
import torch
from scipy.stats import spearmanr

from unlearnlab.core.real_model import model_label
from unlearnlab.experiments.arithmetic import wording
from unlearnlab.experiments.localize.real import FactSpec
from unlearnlab.experiments.session import Session
from unlearnlab.localization.components import component_grid
from unlearnlab.localization.mask import Mask
from unlearnlab.localization.registry import Localization
from unlearnlab.reporting import tables
from unlearnlab.reporting.numbers import Numbers


HEATMAP_TITLE = "arithmetic base model: forget (x, ÷) vs retain (+, −)"


def granularities(locs: dict[str, Localization]) -> pd.DataFrame:
    """What each localizer scores: single parameters or components (heads, neurons)."""
    return pd.DataFrame({m: {"granularity": loc.granularity} for m, loc in locs.items()}).T


def fact_title(fact: FactSpec) -> str:
    """The real-model heatmap's title: the fact, and that only top neurons were patched."""
    return (f"{model_label(fact.model)}: '{fact.subject}' → '{fact.answer.strip()}' "
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
    greedy = sum(rank == 0 for rank in info["clean_answer_rank"])
    unknown = ([f"- **{model_label(fact.model)} does not know the fact** (greedy on {greedy} of "
                f"{len(info['clean_answer_rank'])} prompts; an untrained-looking model): the scores below "
                "localize nothing."] if greedy == 0 else [])
    return "\n".join(unknown + [
        f"- Answer rank (0 = greedy) of '{fact.answer.strip()}' on the clean prompts: {info['clean_answer_rank']}; "
        f"with the subject swapped for {', '.join(info['corrupt_subjects'])}: {info['corrupt_answer_rank']}.",
        f"- Top heads by exact patching (Δ log-prob of the answer, summed over the {len(info['corrupt_subjects'])} "
        f"prompts): {best(scores['patching_heads'])}.",
        f"- Top neurons by exact patching (among the {fact.top_neurons} best by attribution): "
        f"{best(scores['patching_top_neurons'])}.",
        f"- Attribution vs exact patching over all {len(heads)} heads: Spearman ρ = {rho:.2f}; "
        f"attribution took {timing['attribution_heads']:.1f} s, exact patching {timing['patching_heads']:.1f} s.",
    ])


# ---- the paper's numbers (paper/numbers/loc.tex) -------------------------------------------------

def above_random(causal: pd.DataFrame) -> pd.DataFrame:
    """Per (method, budget): the mask's selectivity (test items; ``val_selectivity`` on validation
    items), the random draws' mean and maximum, and whether the mask is above every draw (the
    figure's and ``describe_causal``'s rule, on test items)."""
    rows = []
    for (method, budget), g in causal.groupby(["method", "budget"], sort=False):
        real, ctrl = g[~g["control"]].iloc[0], g[g["control"]]["selectivity"]
        rows.append({"method": method, "budget": float(budget), "selectivity": float(real["selectivity"]),
                     "val_selectivity": float(real.get("val_selectivity", float("nan"))),
                     "forget_drop": float(real["forget_drop"]), "retain_drop": float(real["retain_drop"]),
                     "random_mean": float(ctrl.mean()), "random_max": float(ctrl.max()),
                     "above": bool(real["selectivity"] > ctrl.max())})
    return pd.DataFrame(rows)


def off_diagonal(matrix: pd.DataFrame) -> pd.Series:
    """The pairs (a, b), a before b, of a symmetric method × method table."""
    names = list(matrix.index)
    return pd.Series({(a, b): float(matrix.loc[a, b]) for i, a in enumerate(names) for b in names[i + 1:]})


def _name(method: str) -> str:
    return tables.latex_text(method)


def most_selective(above: pd.DataFrame, budget: float) -> pd.Series | None:
    """The row of ``above_random`` at ``budget`` whose selectivity on the validation items is
    highest (ties: the first method of the profile's list); its test columns are what is
    reported, so naming it never reads the reported items."""
    at = above[above["budget"] == budget]
    return at.loc[at["val_selectivity"].idxmax()] if not at.empty and at["val_selectivity"].notna().any() else None


def causal_numbers(n: Numbers, causal: pd.DataFrame, budget: float) -> None:
    """How many masks beat every random draw, which methods do at every budget, and the most
    selective mask at ``budget`` (selectivity: forget drop minus retain drop, in points; named on
    the validation items by ``most_selective``, reported on the test items)."""
    a = above_random(causal)
    n.count("masks", len(a), "localized masks validated (methods × budgets)")
    n.count("aboveRandom", int(a["above"].sum()), "masks more selective than every random mask of their size")
    always = [m for m, g in a.groupby("method", sort=False) if g["above"].all()]
    never = [m for m, g in a.groupby("method", sort=False) if not g["above"].any()]
    n.text("alwaysAbove", wording.join([_name(m) for m in always]), "methods above every random draw at every budget")
    n.text("neverAbove", wording.join([_name(m) for m in never]), "methods above every random draw at no budget")
    best = most_selective(a, budget)
    n.text("bestMethod", _name(best["method"]) if best is not None else "n/a",
           "most selective method at the agreement budget, by its selectivity on the validation items")
    for key, about in (("selectivity", "selectivity"), ("random_mean", "random masks' mean selectivity")):
        part = "best" + "".join(w.capitalize() for w in key.split("_"))
        n.value(part, 100 * best[key] if best is not None else float("nan"),
                f"most selective mask at the agreement budget: {about} on the test items (points)", digits=1)
    for key, name in (("forget_drop", "bestForgetChange"), ("retain_drop", "bestRetainChange")):
        change = -100 * best[key] if best is not None else float("nan")
        n.text(name, "n/a" if change != change else f"${change:+.1f}$",
               f"most selective mask at the agreement budget: {key.split('_')[0]} accuracy change when zeroed, "
               "test items (points)",
               "n/a" if change != change else f"{change:+.1f}")


def agreement_numbers(n: Numbers, jaccard: pd.DataFrame, spearman: pd.DataFrame) -> None:
    """Mean pairwise agreement between the methods, and the pair that agrees most."""
    jac, rho = off_diagonal(jaccard), off_diagonal(spearman.astype(float))
    n.value("meanJaccard", float(jac.mean()), "mean Jaccard overlap of two methods' masks")
    top = jac.idxmax()
    n.text("topPair", f"{_name(top[0])} and {_name(top[1])}", "the two methods whose masks overlap most")
    n.value("topJaccard", float(jac.max()), "their Jaccard overlap")
    n.value("meanSpearman", float(rho.mean()), "mean Spearman correlation of two methods' component scores")


def real_numbers(n: Numbers, scores: dict | None, info: dict | None) -> None:
    """Attribution vs exact patching on the real model's heads (n/a when the notebook skipped it)."""
    if scores is None or info is None:
        rho, heads, t_attr, t_patch = float("nan"), 0, float("nan"), float("nan")
    else:
        names = sorted(scores["patching_heads"])
        rho = float(spearmanr([scores["patching_heads"][h] for h in names],
                              [scores["attribution_heads"][h] for h in names]).statistic)
        heads, t_attr, t_patch = len(names), info["timing_s"]["attribution_heads"], info["timing_s"]["patching_heads"]
    n.value("realRho", rho, "Spearman correlation of attribution and exact patching over the real model's heads")
    n.count("realHeads", heads, "real-model heads patched exactly")
    n.value("realAttributionSeconds", t_attr, "seconds attribution patching took on the real model", digits=1)
    n.value("realPatchingSeconds", t_patch, "seconds exact patching took on the real model", digits=1)


def loc_numbers(session: Session, causal: pd.DataFrame, jaccard: pd.DataFrame, spearman: pd.DataFrame,
                agreement_budget: float, n_models: int, real: tuple[dict, dict] | None = None) -> Numbers:
    """What the localization prose says: the profile's settings, the causal validation and the
    agreement of the ``n_models`` base model(s) the notebook localizes, and the real-model check."""
    p = session.profile.localize
    n = Numbers("loc")
    n.count("methods", len([m for m in p.localizers if m != "random"]), "localization methods (random excluded)")
    n.text("budgets", wording.join([wording.percent_text(b) for b in p.mask_budgets]), "mask budgets")
    n.count("randomDraws", p.causal_random_draws, "random masks per localized mask")
    n.count("items", p.items, "forget and retain examples each for activation and gradient scores")
    n.count("patchingItems", p.patching_items, "clean/corrupt equation pairs for patching")
    n.text("referenceLr", wording.number_list([p.reference_lr]), "learning rate of the short GradDiff reference")
    n.count("models", n_models, "base models the localization is validated on")
    n.text("agreementBudget", wording.percent_text(agreement_budget), "mask budget of the agreement figure")
    causal_numbers(n, causal, agreement_budget)
    agreement_numbers(n, jaccard, spearman)
    real_numbers(n, *(real or (None, None)))
    return wording.with_plain_forms(n)


def write_numbers(session: Session, causal: pd.DataFrame, jaccard: pd.DataFrame, spearman: pd.DataFrame,
                  agreement_budget: float, n_models: int, real: tuple[dict, dict] | None = None) -> Numbers:
    """``paper/numbers/loc.tex`` (notebook 20, after its figures)."""
    n = loc_numbers(session, causal, jaccard, spearman, agreement_budget, n_models, real)
    n.write(session.paths)
    return n
