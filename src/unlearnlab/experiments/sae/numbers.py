"""The numbers ``paper/sec_sae.tex`` states, as LaTeX macros (``paper/numbers/sae.tex``).

Built from the frames that build the study's tables (``report.score_table``, ``_matched``,
``quality_latex``, ``attack_summary``) and from the profile, in the notebook step that writes
the tables, so a rerun that changes a table changes the sentence too. Every macro is always
written ("n/a" where a profile has no such result, e.g. the smoke grid has no ReLU SAE), so the
paper compiles from any run.

Comparisons the prose makes are generated words, by one documented rule (``paired_word``): two
families are compared per independently pretrained model (each seed's pair on that seed's
model), and the difference counts only when the 95 % CI over models of the per-model difference
excludes 0; otherwise the word is "indistinguishable from".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from unlearnlab.core.stats import format_mean_ci, mean_ci, summarize
from unlearnlab.data import hazard
from unlearnlab.evals import unlearning_score as us
from unlearnlab.experiments.sae import per_model
from unlearnlab.experiments.sae.attack import attack_summary
from unlearnlab.experiments.sae.report import _matched, score_table
from unlearnlab.experiments.sae.run import RealResults, SAEResults
from unlearnlab.experiments.sae.validation import SuiteCounts
from unlearnlab.experiments.session import Session
from unlearnlab.reporting.numbers import PM, Numbers, interval_word

NA = "n/a"
KINDS = {"relu": "ReLU", "topk": "TopK", "relu-untrained": "untrained ReLU"}
RETAINS = {"text": "generic text", "text+mcq": "generic text and questions"}
RULES = ("frequency", "kl", "attribution")
BASELINES = ("RMU", "GradDiff")
WORDS = ("lower than", "higher than", "indistinguishable from")  # (a < b, a > b, neither) of ``paired_word``


# --------------------------------------------------------------------------- helpers


def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def cell(mean: float, ci: float, n: int, scale: float = 100.0, digits: int = 1) -> tuple[str, str]:
    """(LaTeX, plain) of 'mean ± CI' as the study's tables print it (``core.stats.format_mean_ci``):
    the interval only over ≥ 2 models, never '± 0' for one."""
    plain = format_mean_ci(mean, ci if n >= 2 else float("nan"), scale, digits)
    return plain.replace("$\\pm$", PM), plain.replace("$\\pm$", "±")


def _put(n: Numbers, name: str, mean: float, ci: float, count: int, about: str, scale: float = 100.0,
         digits: int = 1, unit: str = "%") -> str:
    """A table-formatted value with its unit; 'n/a' when there is none."""
    tex, plain = cell(mean, ci, count, scale, digits)
    if tex == "--":
        return n.text(name, NA, about)
    suffix = {"%": ("\\,\\%", "%"), "": ("", "")}[unit]
    return n.text(name, tex + suffix[0], about, plain + suffix[1])


def _row_put(n: Numbers, name: str, row: pd.Series | None, col: str, about: str, **kw) -> str:
    """``<col>_mean`` ± ``<col>_ci`` over ``n`` models of a summary row (``core.stats.summarize``)."""
    if row is None:
        return n.text(name, NA, about)
    return _put(n, name, row[f"{col}_mean"], row[f"{col}_ci"], int(row["n"]), about, **kw)


def paired_word(a: pd.Series, b: pd.Series, words: Sequence[str] = WORDS) -> str:
    """How ``a`` compares with ``b`` (both indexed by seed: one value per independently pretrained
    model): ``words[0]`` when the 95 % CI over models of a − b lies below 0, ``words[1]`` above 0,
    ``words[2]`` when it includes 0; 'not compared (one model)' with fewer than two pairs."""
    diff = (a - b).dropna()
    if len(diff) < 2:
        return "not compared (one model)"
    return interval_word(*mean_ci(diff.tolist()), higher=words[1], lower=words[0], neither=words[2])


def _listing(items: Sequence) -> str:
    """'a', 'a and b', 'a, b and c' (numbers with :g)."""
    items = [f"{x:g}" if isinstance(x, float) else str(x) for x in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _range(values: Sequence[int]) -> str:
    values = [int(v) for v in values]
    if not values:
        return NA
    lo, hi = min(values), max(values)
    return f"{lo}" if lo == hi else f"{lo}--{hi}"


def variant_text(variant: str) -> str:
    """'TopK SAE, attribution rule, retain corpus generic text' for 'SAE-topk attribution clamp |
    retain text'; a baseline's name unchanged."""
    if not variant.startswith("SAE-"):
        return variant
    name, _, retain = variant.partition(" | retain ")
    kind, rule, _ = name.removeprefix("SAE-").split(" ", 2)
    return f"{KINDS.get(kind, kind)} SAE, {rule} rule, retain corpus {RETAINS.get(retain, retain)}"


# --------------------------------------------------------------------------- the profile


def profile_numbers(n: Numbers, session: Session) -> None:
    """Settings the prose states: models, steps, layers, the sweep grid, the score's levels."""
    p = session.profile.sae
    n.count("models", len(p.seeds), "independently pretrained hazard models (one per seed) behind every synthetic number")
    n.count("pretrainSteps", p.pretrain_steps, "pretraining steps of each hazard model")
    n.count("trainSteps", p.steps, "SAE training steps (synthetic tier)")
    n.count("layer", p.layer, "decoder layer whose residual stream output the synthetic SAEs read")
    n.count("topK", p.k, "k of the synthetic TopK SAE")
    n.text("thresholds", _listing(p.retain_thresholds), "retain-frequency thresholds of the sweep")
    n.text("featureCounts", _listing(p.n_features), "numbers of clamped features in the sweep")
    n.text("multipliers", _listing(p.multipliers), "clamp multipliers m of the sweep")
    high, mid, low = us.RATIOS
    n.value("scoreRatio", high, "side-effect level (x the unmodified model's) the unlearning score requires")
    n.value("ratioMid", mid, "middle matched side-effect level")
    n.value("ratioLow", low, "loosest matched side-effect level")
    n.value("attackRatio", p.attack_side_ratio, "side-effect level of the configurations the relearning attack targets")
    n.count("attackSteps", p.attack_steps, "relearning attack steps")
    n.count("rmuGridPoints", len(p.baseline_settings("RMU")), "RMU grid points per model (synthetic tier)")
    n.count("gradDiffGridPoints", len(p.baseline_settings("GradDiff")), "GradDiff grid points per model (synthetic tier)")
    n.count("evidenceQuestions", per_model.MIN_QUESTIONS,
            "questions forgotten per model the evidence rule asks for (chosen after seeing results)")
    n.count("realLayer", p.real_layer, "SmolLM2 layer of the real tier's TopK SAE")
    n.count("realTopK", p.real_k, "k of the real tier's TopK SAE")
    n.count("realSteps", p.real_steps, "training steps of the real tier's SAE")
    k = len(p.real_seeds)
    n.text("realSeedsNote", "one seed of one model, so its intervals are bootstrap intervals over questions" if k == 1
           else f"{k} seeds of one model, so its intervals are over seeds of one model (and bootstrap intervals over "
           "questions)", "the real tier's seeds and what its intervals are over")
    n.text("realForgetRelation", p.real_forget, "the relation the real tier forgets")
    n.count("sideDomains", len(hazard.SIDE_DOMAINS), "side-effect domains of the hazard world")


# --------------------------------------------------------------------------- the synthetic tier


SUITE_PARTS = (("forgetQuestions", "n_test_forget", "test forget"), ("sideQuestions", "n_test_side", "test side-effect"),
               ("valForgetQuestions", "n_val_forget", "validation forget"),
               ("valSideQuestions", "n_val_side", "validation side-effect"))


def suite_numbers(n: Numbers, results: SAEResults, counts: SuiteCounts | None = None) -> None:
    """Each model's suite: questions it answers under all 24 orderings, of how many asked, and
    how many of them are validation and test questions: with the profile's fixed ``counts`` one
    number per part (checked against every model's suite), else a range over models."""
    fixed = {} if counts is None else {"n_test_forget": counts.test_forget, "n_test_side": counts.test_side,
                                       "n_val_forget": counts.val_forget, "n_val_side": counts.val_side}
    for name, column, what in SUITE_PARTS:
        sizes = results.suite_sizes(column)
        if column in fixed and any(size != fixed[column] for size in sizes):
            raise ValueError(f"{what} questions per model {sizes} differ from the profile's fixed {fixed[column]}")
        n.text(name, _range(sizes), f"{what} questions per model's suite "
               + ("(fixed by the profile)" if fixed else "(range over models)"))
    n.text("knownForgetQuestions", _range(results.suite_sizes("n_known_forget")),
           "forget questions a model answers under all 24 orderings (range over models)")
    n.text("knownSideQuestions", _range(results.suite_sizes("n_known_side")),
           "side-effect questions a model answers under all 24 orderings (range over models)")
    asked = results.bases.iloc[0]["n_asked"] if not results.bases.empty else {}
    asked = asked if isinstance(asked, dict) else {}
    n.count("askedForget", asked.get(hazard.FORGET_DOMAIN, 0), "forget questions asked before the 24-ordering filter")
    n.count("askedSide", sum(v for k, v in asked.items() if k != hazard.FORGET_DOMAIN),
            "side-effect questions asked before the 24-ordering filter")


def _trained_clamps(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["method"].str.startswith("SAE") & ~table["method"].str.contains("untrained", regex=False)
                 & (table["intervention"] == "clamp") & table["score_mean"].notna()]


def _pick(rows: pd.DataFrame) -> str:
    """The column a best variant is picked on: the mean validation score where there is one (the
    synthetic tier), else the reported score (the real tier, which has no validation questions)."""
    return "val_score_mean" if "val_score_mean" in rows and rows["val_score_mean"].notna().any() else "score_mean"


def _best(rows: pd.DataFrame) -> pd.Series | None:
    """The variant with the highest mean validation score (reported: its test score)."""
    return None if rows.empty else rows.loc[rows[_pick(rows)].idxmax()]


def best_text(rows: pd.DataFrame, best: pd.Series | None) -> str:
    """The best variant's name, saying when others tie with it (a best of a tie is arbitrary)."""
    if best is None:
        return NA
    col = _pick(rows)
    ties = int((rows[col] >= best[col] - 1e-12).sum()) - 1
    if ties and ties == len(rows) - 1:
        return f"all {len(rows)} variants tie"
    return variant_text(best["variant"]) + (f"; {ties} other variant{'s tie' if ties > 1 else ' ties'} with it" if ties else "")


def interval_only(row: pd.Series) -> bool:
    """The evidence rule without its post-hoc ≥ 2-questions part: the bootstrap interval over
    questions and, with ≥ 2 models, the CI over models exclude 0."""
    low = row.get("boot_low", float("nan"))
    if not _finite(low) or low <= 0:
        return False
    return int(row["n"]) < 2 or bool(row["score_mean"] - row["score_ci"] > 0)


def score_numbers(n: Numbers, results: SAEResults) -> None:
    """Unlearning scores (Table sae): the untrained SAE, the best clamp, the best per rule and per
    retain corpus, the baselines, and how many variants the evidence rule (with and without its
    post-hoc part) accepts."""
    table = score_table(results)
    untrained = table[table["method"].str.contains("untrained", regex=False)]
    top = untrained["score_mean"].max() if not untrained.empty else float("nan")
    n.text("untrainedBest", NA if not _finite(top) else f"{100 * top:.1f}\\,\\%",
           "highest score of any SAE at initialisation (mean over models)", NA if not _finite(top) else f"{100 * top:.1f}%")
    sel = results.scores.loc[results.scores["method"].str.contains("untrained", regex=False), "max_selected"]
    selected = int(sel.max()) if sel.notna().any() else 0
    n.count("untrainedSelected", selected, "most features any configuration of an SAE at initialisation selects")
    n.text("untrainedWhy", "every feature fires on more retain tokens than the thresholds allow, so nothing is "
           "selected" if selected == 0 else f"it selects up to {selected} features",
           "why the SAE at initialisation scores what it does (from the features it selects)")
    clamps = _trained_clamps(table)
    best = _best(clamps)
    _row_put(n, "bestClampScore", best, "score", "best trained-SAE clamp score (mean and 95 % CI over models)")
    n.text("bestClampVariant", best_text(clamps, best), "the best clamp variant (and how many tie with it)")
    per = NA if best is None or not _finite(best.get("forgotten_per_model")) else f"{best['forgotten_per_model']:.1f}"
    n.text("bestClampPerModel", per, "questions the best clamp variant forgets per model (mean)")
    n.count("bestClampDistinct", 0 if best is None else int(best["n_forgotten"]),
            "distinct questions the best clamp variant forgets over the models")
    for rule in RULES:
        _row_put(n, f"best{rule.capitalize()}Score", _best(clamps[clamps["rule"] == rule]), "score",
                 f"best clamp score of the {rule} rule")
    for retain, name in (("text", "Text"), ("text+mcq", "Mcq")):
        _row_put(n, f"bestScoreRetain{name}", _best(clamps[clamps["retain"] == retain]), "score",
                 f"best clamp score with retain corpus {RETAINS[retain]}")
    for method in BASELINES:
        rows = table[table["variant"] == method]
        _row_put(n, f"{method[0].lower()}{method[1:]}Score", None if rows.empty else rows.iloc[0], "score",
                 f"{method}'s unlearning score over its grid")
    scored = table[table["score_mean"].notna()]
    n.count("variants", len(scored), "scored variants of the synthetic tier")
    n.count("evidenceCount", int(scored["significant"].sum()) if "significant" in scored else 0,
            "synthetic variants whose score is evidence (the full rule)")
    n.count("intervalOnlyCount", int(sum(interval_only(r) for _, r in scored.iterrows())),
            "synthetic variants that would be evidence without the post-hoc >= 2-questions part")


def matched_rows(results: SAEResults, ratios: Sequence[float] = us.RATIOS) -> pd.DataFrame:
    """Per family and seed: the test forget accuracy of the configuration chosen on validation at
    each matched side-effect level, against that seed's own model (the rows
    ``per_model.matched_table`` averages)."""
    return per_model.matched_rows(results.runs, results.base_evals, ratios)


def clamp_family(table: pd.DataFrame, ratio: float) -> str | None:
    """The trained-SAE clamp family with the lowest mean forget accuracy at side effects ≥ ratio
    in ``table`` (``matched_numbers`` passes the validation accuracies)."""
    col = f"{us.forget_col(ratio)}_mean"
    rows = table[table["family"].str.startswith("SAE") & table["family"].str.endswith(" clamp")
                 & ~table["family"].str.contains("untrained", regex=False)].dropna(subset=[col])
    return None if rows.empty else str(rows.loc[rows[col].idxmin(), "family"])


def matched_numbers(n: Numbers, results: SAEResults) -> None:
    """Table sae-matched: the best clamp family at every level, the baselines at the loosest, and
    the paired comparison words at that level."""
    table = _matched(results)
    rows = matched_rows(results)
    high, mid, low = us.RATIOS
    val_rows = per_model.matched_rows(results.runs, results.base_evals, column="val_forget_acc")
    val_table = (summarize(val_rows, ["family"], [us.forget_col(low)]) if not val_rows.empty and "seed" in val_rows
                 and len(val_rows) else pd.DataFrame())
    family = clamp_family(val_table, low) if not val_table.empty else None  # named on validation
    kind = None if family is None else family.removeprefix("SAE-").removesuffix(" clamp")
    n.text("clampFamily", NA if kind is None else KINDS.get(kind, kind), "SAE kind whose clamping forgets most at the "
           "loosest matched level on validation questions")

    def row(fam):
        hit = table[table["family"] == fam] if fam is not None and not table.empty else table.iloc[0:0]
        return None if hit.empty else hit.iloc[0]

    for ratio, name in ((high, "High"), (mid, "Mid"), (low, "Low")):
        _row_put(n, f"clampAt{name}", row(family), us.forget_col(ratio),
                 f"lowest forget accuracy of that clamp family at side effects >= {ratio:g} x base")
    for method in BASELINES:
        key = f"{method[0].lower()}{method[1:]}"
        for ratio, name in ((mid, "Mid"), (low, "Low")):
            _row_put(n, f"{key}At{name}", row(method), us.forget_col(ratio),
                     f"{method}'s lowest forget accuracy at side effects >= {ratio:g} x base")
        n.text(f"clampVs{method}", _compare(rows, family, method, low),
               f"clamp family vs {method} at side effects >= {low:g} (paired over models)")


def _compare(rows: pd.DataFrame, a: str | None, b: str, ratio: float) -> str:
    if a is None or rows.empty:
        return NA
    col = us.forget_col(ratio)
    series = {f: rows[rows["family"] == f].set_index("seed")[col] for f in (a, b)}
    return paired_word(series[a], series[b])


def retain_numbers(n: Numbers, results: SAEResults) -> None:
    """Side effects of the active clamp configurations per retain corpus, relative to each model's
    unmodified side-effect accuracy (mean per model, then mean ± CI over models), and the paired word."""
    sw = results.runs
    active = sw[(sw["intervention"] == "clamp") & sw["method"].str.startswith("SAE")
                & ~sw["method"].str.contains("untrained", regex=False)] if not sw.empty else sw
    if "n_selected" in active:
        active = active[active["n_selected"] > 0]
    per = {}
    for retain, name in (("text", "Text"), ("text+mcq", "Mcq")):
        part = active[active["retain"] == retain] if not active.empty else active
        rel = part["side_acc"] / part["seed"].map(results.base_side) if not part.empty else pd.Series(dtype=float)
        per[retain] = rel.groupby(part["seed"]).mean() if not part.empty else pd.Series(dtype=float)
        m, c = mean_ci(per[retain].tolist())
        _put(n, f"sideRetain{name}", m, c, len(per[retain]),
             f"mean side-effect accuracy (of the unmodified model's) of active clamp configurations, retain {retain}")
    n.text("retainMcqWord", paired_word(per["text+mcq"], per["text"]),
           "side effects with generic questions in the retain corpus vs generic text alone (paired over models)")


def attack_numbers(n: Numbers, results: SAEResults) -> None:
    """Table sae-attack: before, best step, the attacked base at that step and the last step."""
    summary = attack_summary(results.attacks)

    def put(label: str, col: str, name: str, about: str) -> None:
        part = summary[summary["label"] == label] if not summary.empty else pd.DataFrame()
        values = part[col].dropna().tolist() if not part.empty else []
        m, c = mean_ci(values)
        _put(n, name, m, c, len(values), about)

    for label, key in (("SAE-clamp", "Clamp"), ("base", "Base"), ("RMU", "RMU"), ("GradDiff", "GradDiff")):
        put(label, "before", f"attack{key}Before", f"{label}: held-out forget accuracy before the attack")
        put(label, "recovered", f"attack{key}Best", f"{label}: held-out forget accuracy at the attacker's best step")
    put("SAE-clamp", "base_same_step", "attackClampBaseSame", "the attacked base at the clamp's best step")
    put("base", "final", "attackBaseLast", "the attacked base at the last step")
    clamp = summary[summary["label"] == "SAE-clamp"] if not summary.empty else pd.DataFrame()
    n.text("attackConfig", NA if clamp.empty else variant_text(str(clamp["variant"].iloc[0])),
           "the attacked clamp configuration")
    n.text("attackClampVsBase", NA if clamp.empty else paired_word(
        clamp.set_index("seed")["recovered"], clamp.set_index("seed")["base_same_step"], ("below", "above", WORDS[2])),
        "attacked clamp at its best step vs the attacked base at that step (paired over models)")


def quality_numbers(n: Numbers, results: SAEResults) -> None:
    """Table sae-quality: explained variance, L0 and dead fraction of the trained synthetic SAEs."""
    saes = results.saes
    for kind, key in (("relu", "Relu"), ("topk", "Topk")):
        part = saes[saes["kind"] == kind] if not saes.empty else saes
        for col, name, digits, scale, unit in (("explained_variance", "ExplVar", 3, 1.0, ""), ("l0", "Lzero", 1, 1.0, ""),
                                               ("dead_fraction", "Dead", 1, 100.0, "%")):
            values = part[col].dropna().tolist() if not part.empty else []
            m, c = mean_ci(values)
            _put(n, f"{key[0].lower()}{key[1:]}{name}", m, c, len(values), f"{kind} SAE: {col} (mean over models)",
                 scale=scale, digits=digits, unit=unit)


# --------------------------------------------------------------------------- the real tier


def real_numbers(n: Numbers, real: RealResults | None, session: Session) -> None:
    """The SmolLM2 tier: suite, SAE quality, best score and bootstrap, matched side effects."""
    suite = real.suite if real is not None else {}
    n.count("realForget", suite.get("n_known_forget", 0), "SmolLM2 forget questions")
    n.count("realSide", suite.get("n_known_side", 0), "SmolLM2 side-effect questions")
    asked = suite.get("n_asked", {}) or {}
    n.count("realSideRelations", len([k for k in asked if k != session.profile.sae.real_forget]),
            "relations asked as side effects on SmolLM2")
    saes = real.saes if real is not None else pd.DataFrame()
    for col, name, scale, digits, unit in (("explained_variance", "ExplVar", 1.0, 3, ""),
                                           ("dead_fraction", "Dead", 100.0, 1, "%")):
        values = saes[col].dropna().tolist() if col in saes else []
        m, c = mean_ci(values)
        _put(n, f"real{name}", m, c, len(values), f"SmolLM2 SAE: {col}", scale=scale, digits=digits, unit=unit)
    table = score_table(real) if real is not None and not real.scores.empty else pd.DataFrame()
    scored = table[table["score_mean"].notna()] if not table.empty else table
    best = _best(scored) if not scored.empty else None
    _row_put(n, "realBestScore", best, "score", "best SmolLM2 score over every variant")
    n.text("realBestVariant", best_text(scored, best), "the best SmolLM2 variant (or that all tie)")
    boot = scored["boot_high"].max() if "boot_high" in scored and scored["boot_high"].notna().any() else float("nan")
    n.text("realBootMax", NA if not _finite(boot) else f"{100 * boot:.1f}\\,\\%",
           "highest upper end of a SmolLM2 bootstrap interval over questions", NA if not _finite(boot) else f"{100 * boot:.1f}%")
    n.count("realEvidenceCount", int(scored["significant"].sum()) if "significant" in scored else 0,
            "SmolLM2 variants whose score is evidence")
    matched = _matched(real) if real is not None and not real.runs.empty else pd.DataFrame()
    high, mid, low = us.RATIOS

    def row(fam):
        hit = matched[matched["family"] == fam] if not matched.empty else matched
        return None if hit.empty else hit.iloc[0]

    clamp = row("SAE-topk clamp")
    for ratio, name in ((mid, "Mid"), (low, "Low")):
        col = us.forget_col(ratio)
        _row_put(n, f"realClamp{name}", clamp, col, f"SmolLM2 TopK clamp: lowest forget accuracy at side >= {ratio:g}")
        removed = NA if clamp is None or not _finite(clamp[f"{col}_mean"]) else \
            f"{(1 - clamp[f'{col}_mean']) * suite.get('n_known_forget', 0):.0f}"
        n.text(f"realClamp{name}Removed", removed, f"SmolLM2 forget answers the clamp removes at side >= {ratio:g}")
    for method in BASELINES:
        _row_put(n, f"real{method}Low", row(method), us.forget_col(low),
                 f"SmolLM2 {method}: lowest forget accuracy at side >= {low:g}")


# --------------------------------------------------------------------------- all of it


def paper_numbers(session: Session, results: SAEResults, real: RealResults | None = None) -> Numbers:
    """Every number ``paper/sec_sae.tex`` uses."""
    n = Numbers("sae")
    profile_numbers(n, session)
    suite_numbers(n, results, session.profile.sae.suite_counts())
    score_numbers(n, results)
    matched_numbers(n, results)
    retain_numbers(n, results)
    attack_numbers(n, results)
    quality_numbers(n, results)
    real_numbers(n, real, session)
    return n


def write(session: Session, results: SAEResults, real: RealResults | None = None) -> Path:
    """``paper/numbers/sae.tex`` (and its JSON twin) under the session's output root."""
    return paper_numbers(session, results, real).write(session.paths)
