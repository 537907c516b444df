"""The concept study in words: the grid note, the paper's captions, the mask in words, the
figure titles and the verdict (which variant wins where, what relearning shows), all computed
from the config and the tables, so no number in them is typed.
"""

from __future__ import annotations

import pandas as pd

from unlearnlab.core import anatomy
from unlearnlab.data import concepts as cx
from unlearnlab.experiments.concept.config import BASE, ConceptConfig
from unlearnlab.experiments.concept.localize import concept_mask
from unlearnlab.experiments.concept.setup import ConceptSetup
from unlearnlab.experiments.concept.tables import ANSWER_CHARS, HEADLINE, moving_kinds
from unlearnlab.methods import masked_lora as ml
from unlearnlab.reporting.tables import latex_text

MODEL_NAMES = {"smollm2": "SmolLM2-135M-Instruct"}  # a profile's model key → the model's name in the paper
SALIENCY = {"fisher": "concept vs retain", "gradient_norm": "concept only"}  # what each localizer contrasts


def paper_model_name(model: str) -> str:
    """The model as the paper names it (LaTeX-ready): a known key's name, else the path or hub name."""
    return MODEL_NAMES.get(model, latex_text(model))


def file_suffix(default: ConceptConfig, concept: cx.ConceptSpec, model: str, screened: str | None = None) -> str:
    """'' for the profile's own concept (its forced name, else the screen's choice ``screened``)
    and model; else ``_<concept>[_<model>]``: a custom concept or model gets its own figure and
    table names, so the paper's files stay as they are."""
    own = default.name if default.name is not None else screened
    if concept == cx.CONCEPTS.get(own) and (model or default.model) == default.model:
        return ""
    return "_" + "_".join(filter(None, [concept.name, model])).replace("/", "_").replace(" ", "_")


def saliency_title(cfg: ConceptConfig) -> str:
    """The saliency heatmap's title: the concept and what each localizer's scores contrast."""
    scores = ", ".join(f"{m} ({SALIENCY[m]})" if m in SALIENCY else m for m in cfg.localizers)
    return f"{cfg.name}: {scores}; decades above 1e-4 of the maximum"


def _lr_groups(cfg: ConceptConfig) -> str:
    """'0.01 for masked:fisher, masked:random; 0.003 for lora, ...': the learning rates in use."""
    groups: dict[float, list[str]] = {}
    for v in cfg.variants:
        groups.setdefault(cfg.lr_of(v), []).append(v)
    return "; ".join(f"{lr:g} for {', '.join(vs)}" for lr, vs in groups.items())


def captions(cfg: ConceptConfig, profile: str, knowledge: pd.DataFrame) -> dict[str, str]:
    """Captions of the paper's three tables (``suppression``, ``side``, ``answers``), with the
    grid and the base model's knowledge counts filled in from ``base_knowledge``: every number
    the paper states about the base model is in them."""
    k, film, model_name = knowledge, latex_text(cfg.name), paper_model_name(cfg.model)
    seeds = f"{len(cfg.seeds)} seed{'s' if len(cfg.seeds) > 1 else ''}"
    grid = (f"{profile} profile: {seeds}, {cfg.steps} training steps, learning rate {_lr_groups(cfg)} "
            f"(from a pilot), mask {100 * cfg.budget:g}\\,\\% of parameters by {cfg.reference_localizer}")
    suppression = (f"Removing the film {film} from {model_name} ({grid}): suppression on held-out prompts. "
                   f"{_fact_columns_text(k)}; adv.\\ log-p: mean per-token log-prob of the "
                   "adversarial key answers (title or fact); relearn gap: summed key-answer log-prob (mean over held-out "
                   f"concept prompts) after {cfg.relearn_steps} steps of a relearning fine-tune minus the attacked base "
                   "model's (negative: still suppressed); relearn area: that difference averaged over the attack's steps "
                   "(negative: relearns more slowly than the base model). Mean $\\pm$ 95\\,\\% CI over seeds; the base "
                   "model is one model (no interval).")
    nb, un = k.loc["neighbour"], k.loc["unrelated"]
    side = (
        f"Side effects of removing {film} from {model_name} ({grid}), on held-out prompts. neighb.\\ \\%: answers "
        f"still correct, over the {nb['base_correct']} of {nb['prompts']} neighbour-film prompts the base model "
        f"answers correctly; neighb.\\ KL: KL(base $\\|$ model) per token of the base model's neighbour answers; "
        f"unrel.\\ \\%: the same retention over the {un['base_correct']} of {un['prompts']} unrelated-fact prompts "
        "the base model answers correctly; gen.\\ CE: general-text cross-entropy (nats/token); degen.\\ \\%: "
        "degenerate held-out answers. Mean $\\pm$ 95\\,\\% CI over seeds; the base model is one model (no interval).")
    answers = (f"Greedy answers of {model_name} to held-out prompts about {film} and retain prompts, before "
               f"(base) and after unlearning (seed 0), cut at {ANSWER_CHARS} characters; prompts without the film's "
               "name first.")
    return {"suppression": suppression, "side": side, "answers": answers}


_KIND_HEADERS = {"direct": "direct", "paraphrase": "para.", "adversarial": "adv."}
_KIND_WORDS = {"direct": "direct", "paraphrase": "paraphrased", "adversarial": "adversarial"}


def _fact_columns_text(k: pd.DataFrame) -> str:
    """The caption's account of the fact-rate columns: the kinds shown (where the base model states
    a fact on some held-out prompt), their prompt counts, and the kinds left out because the base
    model states none (their rate is 0 for every model)."""
    shown = moving_kinds(k)
    left_out = [kind for kind in cx.FORGET_KINDS if kind not in shown]
    heads = " and ".join(f"{_KIND_HEADERS[kind]}\\ fact \\%" if kind != "direct" else "direct fact \\%"
                         for kind in shown)
    counts = ", ".join(f"{k.loc[kind, 'base_correct']} of {k.loc[kind, 'fact_free']} {_KIND_WORDS[kind]}"
                       for kind in shown)
    text = (f"{heads}: answers stating a film fact (director, actor, plot, or the title where the prompt describes "
            f"the film) that the prompt does not give, over held-out prompts (base model: {counts})") if shown else \
        "no fact-rate column: the base model states a film fact on no held-out prompt"
    if left_out and shown:
        many = len(left_out) > 1
        text += (f"; not shown: the {' and '.join(_KIND_WORDS[kind] for kind in left_out)} fact rate{'s' if many else ''}"
                 f", 0 for the base model (it states no fact there), so {'they' if many else 'it'} could not show "
                 "suppression")
    return text


def grid_note(cfg: ConceptConfig, profile: str) -> str:
    """Which grid produced the numbers (the notebook prints it, the captions quote it), and which
    localizers' masks it leaves untrained (and which profile trains them)."""
    from unlearnlab.profiles import PROFILE_NAMES, get_profile

    lrs = ", ".join(f"{v} {cfg.lr_of(v):g}" for v in cfg.variants)
    shown = [m for m in cfg.localizers if m not in cfg.trained_masks]
    untrained = "".join(
        f"; {m} scores are shown (heatmap) but its mask is not trained in this grid (trained in the "
        f"{', '.join(p for p in PROFILE_NAMES if m in get_profile(p).concept.trained_masks) or 'no'} "
        "profile grid)" for m in shown)
    return (f"{profile} profile grid: concept {cfg.name!r} on {cfg.model}; variants {', '.join(cfg.variants)}; "
            f"seeds {list(cfg.seeds)}; {cfg.steps} steps of {cfg.batch_size} forget + {cfg.batch_size} retain "
            f"prompts (lr {lrs}); LoRA rank {cfg.lora_r}; mask: top {100 * cfg.budget:g} % of parameters as whole "
            f"{cfg.granularity}s by {cfg.reference_localizer}{untrained}; relearning: {cfg.relearn_steps} full "
            f"fine-tuning steps (lr {cfg.relearn_lr:g}, evaluated every {cfg.relearn_eval_every}) on "
            f"{cfg.relearn_items} concept examples, for {', '.join(cfg.relearn_variants)} and the base model.")


def mask_note(s: ConceptSetup) -> str:
    """The reference mask in words: how many neurons and weights, in how many matrices, against
    what a plain LoRA on the same matrices may change."""
    mask = concept_mask(s, s.cfg.reference_localizer)
    modules = dict(s.model.named_modules())
    names = ml.masked_modules(s.model, mask)
    full = sum(modules[n].weight.numel() for n in names)
    layers = sorted({anatomy.module_role(s.model, n)[0] for n in names})
    return (f"{s.cfg.reference_localizer} mask: {mask.n_selected:,} weights ({100 * mask.n_selected / full:.1f} % of "
            f"the {len(names)} matrices it touches, in layers {layers[0]}–{layers[-1]}); masked LoRA can change "
            f"exactly these, plain LoRA all {full:,} entries of the same matrices.")


def verdict(table: pd.DataFrame, relearn: pd.DataFrame, cfg: ConceptConfig, profile: str,
            knowledge: pd.DataFrame | None = None) -> str:
    """The notebook's conclusion, from the numbers: the grid that made them, what the base model
    shows of the concept (``base_knowledge``), which variant wins where (``describe``), variants
    that degenerate, and the relearning comparison (``relearn_summary``)."""
    reference = cfg.reference_variant
    lines = [f"**Grid:** {grid_note(cfg, profile)}", ""]
    if knowledge is not None:
        lines.append(_knowledge_line(knowledge))
    lines.append(describe(table, reference))
    t = table.set_index("variant")
    broken = [v for v in t.index if t.loc[v, "all_degenerate_mean"] > 0]
    lines.append("- degenerate answers: " + (", ".join(f"{v} {100 * t.loc[v, 'all_degenerate_mean']:.0f} %"
                                                        for v in broken) if broken else "none in any variant"))
    if len(relearn):
        lines.append(_relearn_line(relearn, reference))
    return "\n".join(lines)


def _knowledge_line(k: pd.DataFrame) -> str:
    """What there is to remove, from ``base_knowledge``; says so when generated answers cannot
    show suppression because the base model shows nothing in them."""
    adv = k.loc["adversarial"]
    facts = ", ".join(f"{k.loc[kind, 'base_correct']} of {k.loc[kind, 'fact_free']} {kind}" for kind in cx.FORGET_KINDS)
    shown = int(adv["base_names"]) + sum(int(k.loc[kind, "base_correct"]) for kind in cx.FORGET_KINDS)
    line = (f"- what there is to remove: the base model names the film in {adv['base_names']} of the "
            f"{adv['name_free']} held-out adversarial prompts without its name and states a film fact in {facts} "
            "held-out answers that could show one")
    empty = [kind for kind in cx.FORGET_KINDS if int(k.loc[kind, "base_correct"]) == 0]
    if empty and shown:
        line += (f"; on {', '.join(empty)} prompts its answers show nothing to suppress, so only the key-answer "
                 "log-probs can show suppression there")
    return line + ("" if shown else "; nowhere does it show the film in generated answers")


_RELEARN_BETTER = (("gap", min), ("area", min))  # lower log-prob: slower relearning


def _relearn_line(relearn: pd.DataFrame, reference: str, baseline: str = "lora") -> str:
    """The relearning comparison in words: per attacked variant gap and area; ``reference`` vs
    ``baseline`` on each (no difference claimed when the CIs overlap); the variants still below
    the attacked base model beyond the CI."""
    r = relearn.set_index("variant")
    attacked = [v for v in r.index if v != BASE]
    parts = [f"{v}: gap {_fmt(r, v, 'gap')}, area {_fmt(r, v, 'area')} ({int(r.loc[v, 'n'])} seeds)" for v in attacked]
    line = (f"- relearning ({int(r['steps'].max())} steps): key-answer log-prob minus the attacked base model's "
            "after the attack (gap) and averaged over its steps (area; lower: relearns more slowly): "
            + "; ".join(parts))
    if reference in r.index and baseline in r.index:
        line += "".join(f"; {col}: {_compare(r, reference, baseline, col, better)}" for col, better in _RELEARN_BETTER)
    if all(r.loc[v, "n"] < 2 for v in attacked):
        return line + "; one seed per variant: no verdict on what stays suppressed"
    still = [v for v in attacked if r.loc[v, "n"] > 1 and r.loc[v, "gap_mean"] + r.loc[v, "gap_ci"] < 0]
    return line + ("; suppressed beyond the CI after the attack: " + ", ".join(still) if still else
                   "; after the attack no variant is clearly below the attacked base model: the concept comes back")


VERDICT_COLUMNS = (  # (summary column, which value is better) for ``describe``
    ("direct_correct", min), ("paraphrase_correct", min), ("adversarial_correct", min), ("adversarial_keylogp", min),
    ("neighbour_retained", max), ("unrelated_retained", max), ("neighbour_kl", min), ("general_ce", min),
    ("all_degenerate", min))


def describe(table: pd.DataFrame, reference: str, baseline: str = "lora") -> str:
    """Which variant wins where, in words, from ``summary``: per column of ``VERDICT_COLUMNS``
    (those present), the best trained variant and how ``reference`` compares with ``baseline``
    (CIs overlapping, or a single seed: no difference claimed); the base model's value last."""
    t = table.set_index("variant")
    trained = t.drop(index=BASE, errors="ignore")
    lines = []
    for col, better in VERDICT_COLUMNS:
        if f"{col}_mean" not in t:
            continue
        values = trained[f"{col}_mean"].dropna()
        if values.empty:
            lines.append(f"- {HEADLINE[col]}: no held-out prompt can measure it")
            continue
        tied = list(values.index[values == better(values)])
        best = "best" if len(tied) == 1 else "tied best"
        line = f"- {HEADLINE[col]}: {best} {', '.join(tied)} ({_fmt(t, tied[0], col)})"
        if reference in t.index and baseline in t.index:
            line += "; " + _compare(t, reference, baseline, col, better)
        if BASE in t.index:
            line += f" (base model {_fmt(t, BASE, col)})"
        lines.append(line)
    return "\n".join(lines)


def _compare(t: pd.DataFrame, a: str, b: str, col: str, better) -> str:
    """'a x ± ci vs b y ± ci: <verdict>': a difference is claimed only when both have two or more
    seeds and their 95 % CIs do not overlap."""
    ra, rb = t.loc[a], t.loc[b]
    text = f"{a} {_fmt(t, a, col)} vs {b} {_fmt(t, b, col)}"
    if min(ra["n"], rb["n"]) < 2:
        return f"{text}: one seed, no verdict"
    if ra[f"{col}_mean"] != ra[f"{col}_mean"] or rb[f"{col}_mean"] != rb[f"{col}_mean"]:
        return f"{text}: not measured"
    if abs(ra[f"{col}_mean"] - rb[f"{col}_mean"]) <= ra[f"{col}_ci"] + rb[f"{col}_ci"]:
        return f"{text}: no clear difference"
    return f"{text}: {a if better(ra[f'{col}_mean'], rb[f'{col}_mean']) == ra[f'{col}_mean'] else b} better"


def _fmt(t: pd.DataFrame, variant: str, col: str) -> str:
    """'mean ± ci' of one row, the mean alone for a single model or seed (no interval exists)."""
    mean, ci = t.loc[variant, f"{col}_mean"], t.loc[variant, f"{col}_ci"]
    return f"{mean:.3g}" if t.loc[variant, "n"] < 2 else f"{mean:.3g} ± {ci:.2g}"
