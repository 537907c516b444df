"""The numbers the masked-LoRA section of the paper states (``paper/numbers/concept.tex``), from
the frames that build ``masked_lora.tex`` and ``masked_lora_side.tex`` (``tables.summary``,
``tables.relearn_summary``, ``tables.base_knowledge``) and from the profile: every table cell it
restates, what the base model shows of the film, the grid's settings, and the comparisons in
words (which variant is lower or higher), each chosen by one written rule (``compare``,
``versus_base``) so the prose never claims more than the intervals show.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from unlearnlab.data import concepts as cx
from unlearnlab.experiments.concept.config import BASE, ConceptConfig, variant_table
from unlearnlab.experiments.concept.screen import choose
from unlearnlab.experiments.concept.tables import (HEADLINE, RELEARN_COLUMNS, SIDE_COLUMNS, SUPPRESSION_COLUMNS,
                                                   cell_format, is_percent, probe_table)
from unlearnlab.experiments.session import Session
from unlearnlab.reporting.numbers import Numbers
from unlearnlab.reporting.tables import latex_text

# A table column's part of a macro name: \conceptMaskedFisherAdvKeyLogp, \conceptLoraNeighbourKept
COLUMN_NAMES = {"direct_correct": "DirectFactRate", "paraphrase_correct": "ParaphraseFactRate",
                "adversarial_correct": "AdvFactRate", "adversarial_keylogp": "AdvKeyLogp",
                "neighbour_retained": "NeighbourKept", "neighbour_kl": "NeighbourKl",
                "unrelated_retained": "UnrelatedKept", "general_ce": "GeneralCe", "all_degenerate": "Degenerate",
                "gap": "RelearnGap", "area": "RelearnArea"}
# The measures the reference variant is compared with plain LoRA on, and which value is better
# (fact rates, log-probs and relearning gap/area: lower is stronger suppression)
COMPARED = (("direct_correct", min), ("paraphrase_correct", min), ("adversarial_correct", min),
            ("adversarial_keylogp", min), ("neighbour_retained", max), ("unrelated_retained", max),
            ("neighbour_kl", min), ("general_ce", min), ("all_degenerate", min), ("gap", min), ("area", min))
SHORT = {"direct_correct": "direct film facts", "paraphrase_correct": "paraphrased film facts",
         "adversarial_correct": "adversarial film facts",
         "adversarial_keylogp": "adversarial key-answer log-probability", "neighbour_retained": "neighbour films kept",
         "unrelated_retained": "unrelated facts kept", "neighbour_kl": "KL to the base model on neighbour films",
         "general_ce": "general-text cross-entropy", "all_degenerate": "degenerate answers",
         "gap": "relearning gap", "area": "relearning area"}
PAPER_NAMES = {"masked:fisher": "masked LoRA on the Fisher neurons",
               "masked:gradient_norm": "masked LoRA on the gradient-saliency neurons",
               "masked:random": "masked LoRA on random neurons", "lora": "plain LoRA", "GradDiff": "GradDiff",
               "NPO": "NPO", BASE: "the base model"}
WORDS = {"lower": "lower than", "higher": "higher than", "same": "not distinguishable from"}


def variant_part(variant: str) -> str:
    """A variant label's part of a macro name, letters only ('masked:gradient_norm' →
    'MaskedGradientNorm', 'lora' → 'Lora', 'NPO' → 'NPO')."""
    return "".join(p[0].upper() + p[1:] for p in re.split(r"[^A-Za-z]+", variant) if p)


def _name(*parts: str) -> str:
    """A macro name from its parts, first letter lower-case (``Numbers`` adds the study prefix)."""
    joined = "".join(parts)
    return joined[0].lower() + joined[1:]


def paper_name(variant: str) -> str:
    """How the prose names a variant."""
    return PAPER_NAMES.get(variant, variant)


def sci(x: float) -> str:
    """A learning rate as LaTeX: 0.01 → '$10^{-2}$', 0.003 → '$3\\times10^{-3}$'."""
    exponent = math.floor(math.log10(x))
    mantissa = round(x / 10 ** exponent, 3)
    power = f"10^{{{exponent}}}"
    return rf"\ensuremath{{{power}}}" if mantissa == 1 else rf"\ensuremath{{{mantissa:g}\times{power}}}"


def absent(n: Numbers, name: str, about: str) -> None:
    """A quantity of a variant this grid does not train or attack (the smoke grid trains two):
    'n/a', so that the paper's prose still builds on any profile's numbers."""
    n.text(name, "n/a", about + " (not in this grid)")


def all_variants(cfg: ConceptConfig) -> list[str]:
    """The base model and every variant label a grid with ``cfg``'s localizers accepts."""
    return [BASE, *variant_table(cfg.localizers)]


def _mean(t: pd.DataFrame, variant: str, col: str) -> float:
    return float(t.loc[variant, f"{col}_mean"])


def compare(t: pd.DataFrame, a: str, b: str, col: str) -> str:
    """'lower', 'higher' or 'same' for ``a``'s mean against ``b``'s: a difference is claimed only
    when both have two or more seeds and their 95 % CIs do not overlap (|Δ| > CI_a + CI_b), the
    rule of ``report._compare``."""
    ma, mb = _mean(t, a, col), _mean(t, b, col)
    if min(t.loc[a, "n"], t.loc[b, "n"]) < 2 or math.isnan(ma) or math.isnan(mb):
        return "same"
    if abs(ma - mb) <= t.loc[a, f"{col}_ci"] + t.loc[b, f"{col}_ci"]:
        return "same"
    return "lower" if ma < mb else "higher"


def versus_base(t: pd.DataFrame, variant: str, col: str) -> str:
    """'lower', 'higher' or 'same' for a trained variant against the base model, which is one
    model (no interval): different only when the base's value lies outside the variant's CI."""
    mv, mb = _mean(t, variant, col), _mean(t, BASE, col)
    if t.loc[variant, "n"] < 2 or math.isnan(mv) or math.isnan(mb) or abs(mv - mb) <= t.loc[variant, f"{col}_ci"]:
        return "same"
    return "lower" if mv < mb else "higher"


def add_settings(n: Numbers, cfg: ConceptConfig, gpu: ConceptConfig | None = None) -> None:
    """The grid behind the numbers (seeds, steps, budget, learning rates, relearning attack) and
    what the ``gpu`` profile's grid changes."""
    n.count("seeds", len(cfg.seeds), "seeds (trained models) per variant behind each mean")
    n.count("steps", cfg.steps, "training steps per variant")
    n.count("batch", cfg.batch_size, "forget and retain prompts per step (each)")
    n.text("maskBudget", rf"{100 * cfg.budget:g}\,\%", "fraction of the parameters in the neuron mask",
           f"{100 * cfg.budget:g}%")
    n.count("loraRank", cfg.lora_r, "rank of every LoRA adapter")
    n.value("retainWeight", cfg.retain_weight, "weight of the retain (KL) term", digits=0)
    for variant in all_variants(cfg)[1:]:
        n.text(_name(variant_part(variant), "Lr"), sci(cfg.lr_of(variant)), f"learning rate of {variant}",
               f"{cfg.lr_of(variant):g}")
    n.count("relearnSteps", cfg.relearn_steps, "steps of the relearning fine-tune")
    n.count("relearnItems", cfg.relearn_items, "concept examples the relearning fine-tune trains on")
    n.text("relearnLr", sci(cfg.relearn_lr), "learning rate of the relearning fine-tune", f"{cfg.relearn_lr:g}")
    if gpu is not None:
        n.count("gpuSeeds", len(gpu.seeds), "seeds per variant in the gpu profile")
        n.count("gpuSteps", gpu.steps, "training steps in the gpu profile")
        n.count("gpuRelearnSteps", gpu.relearn_steps, "relearning steps in the gpu profile")
        n.count("gpuVariants", len(gpu.variants), "variants trained in the gpu profile")
        n.count("gpuRelearnVariants", len(gpu.relearn_variants), "variants attacked in the gpu profile")


def named_forms(probes, concept: cx.ConceptSpec) -> list[str]:
    """Forms of the held-out adversarial prompts that contain the film's name (their answers
    cannot show that the model names it), in probe order."""
    forms = [p.form for p in cx.select(probes, ["adversarial"], split="test") if cx.mentions(concept, p.prompt)]
    return list(dict.fromkeys(forms))


def add_knowledge(n: Numbers, knowledge: pd.DataFrame, counts: pd.DataFrame | None = None,
                  forms: list[str] | None = None) -> None:
    """Held-out prompts per kind (``base_knowledge``), training prompts per kind (``probe_counts``),
    and what the base model shows of the film on them: the counts the captions state."""
    for kind in cx.KINDS:
        if kind not in knowledge.index:
            continue
        k, part = knowledge.loc[kind], kind.title()
        n.count(_name(part, "Prompts"), int(k["prompts"]), f"held-out {kind} prompts")
        if counts is not None and "train" in counts:
            n.count(_name(part, "TrainPrompts"), int(counts.loc[kind, "train"]), f"training {kind} prompts")
        if kind in cx.FORGET_KINDS:
            n.count(_name(part, "FactFree"), int(k["fact_free"]),
                    f"held-out {kind} prompts that do not give a film fact")
            n.count(_name("base", part, "Facts"), int(k["base_correct"]), "of those, base answers stating a film fact")
        else:
            n.count(_name("base", part, "Correct"), int(k["base_correct"]),
                    f"held-out {kind} prompts the base model answers correctly (retention is measured on them)")
    if "adversarial" in knowledge.index:
        adv = knowledge.loc["adversarial"]
        n.count("adversarialNameFree", int(adv["name_free"]), "held-out adversarial prompts without the film's name")
        n.count("adversarialNamed", int(adv["prompts"] - adv["name_free"]),
                "held-out adversarial prompts that contain the film's name")
        n.count("baseAdversarialNames", int(adv["base_names"]),
                "of the name-free adversarial prompts, base answers naming the film")
    forget = [k for k in cx.FORGET_KINDS if k in knowledge.index]
    shows = [{"paraphrase": "paraphrased"}.get(k, k) for k in forget if int(knowledge.loc[k, "base_correct"]) > 0]
    n.text("baseShowsKinds", _joined(shows) if shows else "no", "forget kinds on whose held-out prompts the base "
           "model states a film fact (only there can a generated answer show suppression)")
    if "adversarial" in forget:
        adv = knowledge.loc["adversarial"]
        shown = int(adv["base_names"]) + sum(int(knowledge.loc[k, "base_correct"]) for k in forget)
        could = int(adv["name_free"]) + sum(int(knowledge.loc[k, "fact_free"]) for k in forget)
        n.count("baseShown", shown, "held-out concept answers of the base model that name the film or state a fact "
                "the prompt does not give")
        n.count("baseShowable", could, "held-out concept prompts whose answer could show the film that way")
    if forms is not None:
        n.text("adversarialNamedForms", ", ".join(f.replace("_", " ") for f in forms) or "none",
               "forms of the held-out adversarial prompts that contain the film's name")


def add_screen(n: Numbers, screen: pd.DataFrame, cfg: ConceptConfig) -> None:
    """The knowledge screen (``screen.screen_table``) and the concept it leads to: the film,
    its probe score, the threshold, whether the film was forced, reached the threshold or is
    the best of a screen nobody passed, and every candidate's score in the screen's order."""
    t = screen.set_index("concept")
    chosen, reached = choose(screen, cfg.screen_threshold)
    n.text("name", latex_text(cfg.name), "the film the study removes", cfg.name)
    n.count("screenCandidates", len(screen), "candidate films in the knowledge screen")
    n.text("screenThreshold", rf"{100 * cfg.screen_threshold:g}\,\%", "the screen's threshold",
           f"{100 * cfg.screen_threshold:g}%")
    n.text("screenChoice", latex_text(chosen), "the film the screen's rule chooses", chosen)
    n.percent("screenChoiceScore", float(t.loc[chosen, "score"]), "its probe prompts answered with a film fact",
              digits=0)
    n.count("screenChoicePrompts", int(t.loc[chosen, "prompts"]), "probe prompts per candidate that can show a fact")
    how = ("forced by a parameter, not the screen's choice" if cfg.name != chosen else
           "the first candidate at or above the threshold" if reached else
           "the best-scoring candidate, as no candidate reaches the threshold")
    n.text("screenOutcome", how, "how the film was chosen")
    if cfg.name in t.index:
        n.percent("nameScore", float(t.loc[cfg.name, "score"]), "the study's film: probe prompts answered", digits=0)
    else:
        n.text("nameScore", "not screened", "the study's film: probe prompts answered")
    scores = ", ".join(f"{latex_text(c)} {100 * row['score']:.0f}\\,\\%" for c, row in t.iterrows())
    n.text("screenScores", scores, "every candidate's probe score, in the screen's order",
           ", ".join(f"{c} {100 * row['score']:.0f}%" for c, row in t.iterrows()))


def _cell(n: Numbers, variant: str, col: str, row: pd.Series) -> None:
    """One table cell as a macro, printed as ``tables._formatted`` prints it (single seed or
    model: the mean alone)."""
    scale, digits = cell_format(col)
    mean = float(row[f"{col}_mean"])
    mean = mean if math.isnan(mean) else (round(mean * scale, digits) + 0.0) / scale
    ci = float("nan") if row["n"] < 2 else float(row[f"{col}_ci"])
    n.mean_ci(_name(variant_part(variant), COLUMN_NAMES[col]), mean, ci,
              f"{variant}: {HEADLINE.get(col, col)}, mean and 95 % CI over {int(row['n'])} seed(s)",
              scale=scale, digits=digits, unit="%" if is_percent(col) else "")


def add_cells(n: Numbers, table: pd.DataFrame, relearn: pd.DataFrame | None, cfg: ConceptConfig) -> None:
    """Every cell of the suppression and side-effects tables, and per attacked variant its seeds
    (``absent`` for what the grid did not run)."""
    t = table.set_index("variant")
    r = relearn.set_index("variant") if relearn is not None and len(relearn) else pd.DataFrame()
    for variant in all_variants(cfg):
        part = variant_part(variant)
        for col in (*SUPPRESSION_COLUMNS, *SIDE_COLUMNS):
            if variant in t.index:
                _cell(n, variant, col, t.loc[variant])
            else:
                absent(n, _name(part, COLUMN_NAMES[col]), f"{variant}: {HEADLINE.get(col, col)}")
        for col in RELEARN_COLUMNS:
            if variant in r.index:
                _cell(n, variant, col, r.loc[variant])
            else:
                absent(n, _name(part, COLUMN_NAMES[col]), f"{variant}: relearning {col}")
        if variant == BASE:
            continue
        if variant in r.index:
            n.count(_name(part, "RelearnSeeds"), int(r.loc[variant, "n"]), f"{variant}: seeds attacked")
        else:
            absent(n, _name(part, "RelearnSeeds"), f"{variant}: seeds attacked")


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def summary_words(t: pd.DataFrame, a: str, b: str, columns: list[tuple[str, object]]) -> str:
    """``a`` against ``b`` over ``columns`` in one phrase: where it is better and worse beyond
    the CIs (``compare``), and on how many measures the two are not distinguishable."""
    better, worse, same = [], [], 0
    for col, best in columns:
        word = compare(t, a, b, col)
        if word == "same":
            same += 1
        elif (word == "lower") == (best is min):
            better.append(SHORT[col])
        else:
            worse.append(SHORT[col])
    if not better and not worse:
        return f"neither better nor worse beyond the CIs on any of the {same} measures"
    parts = ([f"better on {_joined(better)}"] if better else []) + ([f"worse on {_joined(worse)}"] if worse else [])
    return " and ".join(parts) + f" (CIs apart), not distinguishable on the other {same} of {len(columns)} measures"


def add_comparisons(n: Numbers, table: pd.DataFrame, relearn: pd.DataFrame | None, cfg: ConceptConfig,
                    baseline: str = "lora") -> None:
    """The comparisons in words: the reference variant against ``baseline`` per measure and in
    one phrase; every trained variant's key-answer log-prob against the base model's; the
    variant with the lowest key log-prob (and whether its CI is apart from every other's), the
    one with the largest neighbour KL (by mean); which variants produce degenerate answers."""
    t = table.set_index("variant")
    if relearn is not None and len(relearn):
        extra = relearn.set_index("variant")[[f"{c}_{s}" for c in RELEARN_COLUMNS for s in ("mean", "ci")]]
        t = t.join(extra)
    trained = [v for v in t.index if v != BASE]
    ref, ref_part = cfg.reference_variant, variant_part(cfg.reference_variant)
    present = [(c, b) for c, b in COMPARED if f"{c}_mean" in t]
    both = {ref, baseline} <= set(t.index)
    for col, _ in present:
        name = _name(ref_part, "Vs", variant_part(baseline), COLUMN_NAMES[col])
        about = f"{SHORT[col]}: {ref} vs {baseline}"
        if both:
            n.text(name, WORDS[compare(t, ref, baseline, col)], about + " (95 % CIs apart or not)")
        else:
            absent(n, name, about)
    name = _name(ref_part, "Vs", variant_part(baseline), "Summary")
    if both:
        n.text(name, summary_words(t, ref, baseline, present), f"{ref} vs {baseline} over every measure")
    else:
        absent(n, name, f"{ref} vs {baseline} over every measure")
    for v in all_variants(cfg)[1:]:
        name, about = _name(variant_part(v), "VsBaseAdvKeyLogp"), f"{v}'s adversarial key log-prob vs the base model's"
        if BASE in t.index and v in t.index:
            n.text(name, WORDS[versus_base(t, v, "adversarial_keylogp")],
                   about + " (outside the variant's 95 % CI or not)")
        else:
            absent(n, name, about)
    keylogp = t.loc[trained, "adversarial_keylogp_mean"].dropna() if "adversarial_keylogp_mean" in t else []
    if len(keylogp):
        low = keylogp.idxmin()
        apart = all(compare(t, low, v, "adversarial_keylogp") == "lower" for v in keylogp.index if v != low)
        n.text("lowestKeyLogp", paper_name(low), "trained variant with the lowest mean adversarial key log-prob")
        n.text("lowestKeyLogpApart", "beyond the CIs of every other variant" if apart else
               "within the CI of at least one other variant", "whether the lowest key log-prob is apart (CIs)")
    kl = t.loc[trained, "neighbour_kl_mean"].dropna() if "neighbour_kl_mean" in t else []
    if len(kl):
        n.text("largestNeighbourKl", paper_name(kl.idxmax()), "trained variant with the largest mean KL to the "
               "base model on neighbour-film answers")
    if "all_degenerate_mean" in t:
        broken = [paper_name(v) for v in trained if t.loc[v, "all_degenerate_mean"] > 0]
        n.text("degenerateVariants", _joined(broken) if broken else "no variant",
               "variants with degenerate held-out answers (mean over seeds above zero)")


def paper_numbers(table: pd.DataFrame, relearn: pd.DataFrame | None, knowledge: pd.DataFrame, cfg: ConceptConfig,
                  gpu: ConceptConfig | None = None, counts: pd.DataFrame | None = None,
                  forms: list[str] | None = None, screen: pd.DataFrame | None = None) -> Numbers:
    """Everything ``paper/sec_masked_lora.tex`` states: ``table`` is ``tables.summary``,
    ``relearn`` ``tables.relearn_summary``, ``knowledge`` ``tables.base_knowledge``, ``counts``
    ``tables.probe_counts``, ``forms`` ``named_forms``, ``screen`` ``screen.screen_table``;
    ``gpu`` the gpu profile's section."""
    n = Numbers("concept")
    if screen is not None:
        add_screen(n, screen, cfg)
    add_settings(n, cfg, gpu)
    add_knowledge(n, knowledge, counts, forms)
    add_cells(n, table, relearn, cfg)
    add_comparisons(n, table, relearn, cfg)
    return n


def write_numbers(table: pd.DataFrame, relearn: pd.DataFrame | None, knowledge: pd.DataFrame, cfg: ConceptConfig,
                  session: Session, probes=(), concept: cx.ConceptSpec | None = None,
                  write: bool = True, screen: pd.DataFrame | None = None) -> Numbers:
    """``paper_numbers`` for the notebook, written to ``paper/numbers/concept.tex`` unless
    ``write`` is False (a custom concept or model leaves the paper's files alone, as its
    suffixed tables do). The gpu profile's section is read here (the prose says what it changes)."""
    from unlearnlab.profiles import get_profile  # profiles sit above experiments: read at call time

    counts = probe_table(probes) if probes else None
    forms = named_forms(probes, concept) if probes and concept is not None else None
    n = paper_numbers(table, relearn, knowledge, cfg, get_profile("gpu").concept, counts, forms, screen)
    if write:
        n.write(session.paths)
    return n
