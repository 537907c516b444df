"""The SAE study's tables, captions and text: everything notebook 34 shows in words, chosen by the
numbers (``describe``, ``conclusion``), and the four LaTeX tables with their captions
(``write_tables``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from unlearnlab.core.stats import format_mean_ci, summarize
from unlearnlab.evals import unlearning_score as us
from unlearnlab.experiments.sae import per_model
from unlearnlab.experiments.sae.attack import attack_summary
from unlearnlab.experiments.sae.run import RealResults, SAEResults
from unlearnlab.experiments.session import Session
from unlearnlab.reporting.tables import mean_ci_table, write_latex


EVIDENCE_NOTE = ("the evidence rule's ≥ 2 questions forgotten per model (and ≥ 2 distinct ones) was chosen after "
                 "seeing results: an earlier run's best score was one flipped answer per seed")


def score_table(results: SAEResults | RealResults) -> pd.DataFrame:
    """Mean ± 95 % CI over seeds per variant (synthetic tier: over independently pretrained
    models, each score on that model's own questions), with the bootstrap over questions and the
    evidence rule (``unlearning_score.score_table``, read per model by ``per_model.mark_evidence``);
    synthetic tier: ``val_score_mean``, the mean validation score, on which a best variant is picked."""
    table = per_model.mark_evidence(us.score_table(results.scores, results.stats))
    col = f"val_{us.forget_col(us.RATIOS[0])}"
    if col in results.scores and not table.empty:  # the synthetic tier: what a choice between variants reads
        table["val_score_mean"] = table["variant"].map(1.0 - results.scores.groupby("variant")[col].mean())
    return table


def best_variant(rows: pd.DataFrame) -> pd.Series:
    """The row of the variant with the highest mean validation score (synthetic tier; its test
    score is what is reported), or of the highest score where there is no validation (real tier)."""
    col = "val_score_mean" if "val_score_mean" in rows and rows["val_score_mean"].notna().any() else "score_mean"
    return rows.loc[rows[col].idxmax()]


def _models(results: SAEResults | RealResults, n: int) -> tuple[int, int]:
    """(independent models, seeds per model) behind a row of ``n`` seeds: the synthetic tier
    pretrains one model per seed; the real tier has one model (SmolLM2), every seed on it."""
    return (n, 1) if isinstance(results, SAEResults) else (1, n)


def grid_note(session: Session) -> str:
    """Which grid made the numbers: the profile's name, and its sizes."""
    name, p = session.profile.name, session.profile.sae
    which = {"default": "reduced CPU grid", "gpu": "full grid", "smoke": "smoke-test grid"}.get(name, name)
    return (f"{name} profile ({which}): synthetic tier {len(p.seeds)} independently pretrained model(s) (one per "
            f"seed: init and data order), SAEs {', '.join(p.kinds)} "
            f"({p.steps} steps), retain thresholds {list(p.retain_thresholds)}, features "
            f"{list(p.n_features)}, multipliers {list(p.multipliers)}, RMU {len(p.baseline_settings('RMU'))} and "
            f"GradDiff {len(p.baseline_settings('GradDiff'))} grid points (lr, steps, RMU steering and layer, "
            f"GradDiff retain weight); real tier {len(p.real_seeds)} seed(s), "
            f"{p.real_facts or 'all'} question(s) per relation, thresholds {list(p.real_thresholds)}, "
            f"features {list(p.real_n_features)}, multipliers {list(p.real_multipliers)}, RMU/GradDiff lr "
            f"{[f'{x:g}' for x in p.real_unlearn_lrs]} ({p.real_unlearn_steps} steps)")


def _tiers(results: SAEResults, real: RealResults | None) -> list[tuple[str, SAEResults | RealResults]]:
    """(tier, results) of each tier that has scores."""
    tiers: list[tuple[str, SAEResults | RealResults]] = [("synthetic", results)]
    if real is not None and not real.scores.empty:
        tiers.append((real.tier, real))
    return tiers


def _count_columns(row: dict, results: SAEResults | RealResults, n: int) -> dict:
    """The table's "Models" (independently trained models behind the row) and "Seeds per model"."""
    models, seeds = _models(results, n)
    return {**row, "Models": models, "Seeds per model": seeds}


def _cell(mean: float, ci: float, n: int, low: float = float("nan"), high: float = float("nan"),
          scale: float = 100.0) -> str:
    """'m ± CI' over seeds (n ≥ 2), else the mean with its bootstrap interval over questions
    '[lo, hi]' when there is one, else the mean alone (never '± 0' for one seed)."""
    if n >= 2:
        return format_mean_ci(mean, ci, scale)
    text = format_mean_ci(mean, float("nan"), scale)
    return text if low != low or text == "--" else f"{text} [{scale * low:.1f}, {scale * high:.1f}]"


def latex_table(results: SAEResults, real: RealResults | None = None) -> pd.DataFrame:
    """Score in % per tier, method, rule and intervention; one column per retain corpus of the
    feature statistics (baselines use none: their score sits under "text"). Several seeds:
    mean ± 95 % CI over seeds; one seed: the 95 % bootstrap interval over questions in brackets.
    '*': the score is evidence (``unlearning_score.is_significant``)."""
    rows = []
    tiers = _tiers(results, real)
    retains = list(dict.fromkeys(r for _, res in tiers for r in res.scores["retain"]))
    for tier, res in tiers:
        table = score_table(res)
        for key, group in table.groupby(["method", "rule", "intervention"], sort=False):
            row = dict(zip(["Tier", "Method", "Rule", "Intervention"], (tier, *key)))
            for retain in retains:
                part = group[group["retain"] == retain]
                if part.empty or part["score_mean"].isna().all():
                    row[f"Score, retain {retain}"] = "--"
                    continue
                r = part.iloc[0]
                cell = _cell(r["score_mean"], r["score_ci"], int(r["n"]), r.get("boot_low", float("nan")),
                             r.get("boot_high", float("nan")))
                row[f"Score, retain {retain}"] = cell + ("*" if r.get("significant", False) else "")
            rows.append(_count_columns(row, res, int(group["n"].max())))
    return pd.DataFrame(rows)


def matched_latex(results: SAEResults, real: RealResults | None = None,
                  ratios: Sequence[float] = us.RATIOS) -> pd.DataFrame:
    """Lowest forget accuracy (%) per family at side effects ≥ r × base, for each r (mean ± 95 %
    CI over seeds; one seed: the mean alone). Lower is better; 100 where nothing qualifies."""
    rows = []
    tiers = [("synthetic", results, _matched(results, ratios))]
    if real is not None and not real.runs.empty:
        tiers.append((real.tier, real, _matched(real, ratios)))
    for tier, res, table in tiers:
        for _, r in table.iterrows():
            row = {"Tier": tier, "Method": r["family"]}
            for ratio in ratios:
                col = us.forget_col(ratio)
                row[f"side $\\geq$ {ratio:g}"] = _cell(r[f"{col}_mean"], r[f"{col}_ci"], int(r["n"]))
            rows.append(_count_columns(row, res, int(r["n"])))
    return pd.DataFrame(rows)


def _matched(results: SAEResults | RealResults, ratios: Sequence[float] = us.RATIOS) -> pd.DataFrame:
    """Lowest forget accuracy per family at each matched side-effect level: each synthetic seed
    against its own model (``per_model.matched_table``), the real tier against its one model."""
    if isinstance(results, SAEResults):
        return per_model.matched_table(results.runs, results.base_evals, ratios)
    return us.matched_table(results.runs, float(results.base_eval["side_acc"]), ratios)


QUALITY = {"mse": "MSE", "explained_variance": "Expl. var.", "l0": "$L_0$", "dead_fraction": "Dead",
           "delta_loss": "$\\Delta$ loss"}


def quality_latex(results: SAEResults, real: RealResults | None = None) -> pd.DataFrame:
    """SAE quality per tier and kind on held-out activations: MSE, explained variance, L0, dead
    fraction and Δ next-token loss when spliced (mean ± 95 % CI over seeds; one seed: the mean)."""
    parts = [results.saes.assign(tier="synthetic")]
    if real is not None and not real.saes.empty:
        parts.append(real.saes.assign(tier=real.tier, kind="topk"))
    saes = pd.concat(parts, ignore_index=True)
    table = summarize(saes, ["tier", "kind"], list(QUALITY))
    rows = []
    for _, r in table.iterrows():
        row = {"Tier": r["tier"], "SAE": r["kind"]}
        for col, title in QUALITY.items():
            digits = 1 if col == "l0" else 3
            row[title] = format_mean_ci(r[f"{col}_mean"], r[f"{col}_ci"] if r["n"] > 1 else float("nan"), 1.0, digits)
        rows.append({**row, "Models": int(r["n"]) if r["tier"] == "synthetic" else 1,
                     "Seeds per model": 1 if r["tier"] == "synthetic" else int(r["n"])})
    return pd.DataFrame(rows)


def attack_latex(summary: pd.DataFrame) -> pd.DataFrame:
    """Held-out forget accuracy (%) before the attack, at the attacker's best stopping point, of the
    attacked base at that point, and at the last step (mean ± 95 % CI over seeds)."""
    if summary.empty:
        return pd.DataFrame()
    names = summary.groupby("label")["variant"].first()
    table = mean_ci_table(summary, "label", {"before": "Before", "recovered": "Best step",
                                             "base_same_step": "Base, same step", "final": "Last step"})
    table.insert(1, "Configuration", [_configuration(names[label]) for label in table["label"]])
    return table.rename(columns={"label": "Target", "seeds": "Models"})  # one attack per seed's own model


def _configuration(variant: str) -> str:
    """The attacked configuration of a variant label, for the attack table: 'topk kl clamp (retain
    text)' for 'SAE-topk kl clamp | retain text'; empty for the base model and the baselines."""
    if variant in ("base", "RMU", "GradDiff"):
        return ""
    name, _, retain = variant.partition(" | ")
    return name.replace("SAE-", "") + (f" ({retain})" if retain else "")


def _fmt(mean: float, ci: float, n: int, low: float = float("nan"), high: float = float("nan")) -> str:
    """Mean ± CI over seeds, or for one seed the mean (with its bootstrap interval when known)."""
    if n >= 2:
        return f"{mean:.3f} ± {ci:.3f}"
    return f"{mean:.3f}" if low != low else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def suite_line(results: SAEResults) -> str:
    """Per independently pretrained model: how many questions pass its 24-ordering filter, how the
    fixed rule cuts them into validation and test, and its measured side-effect accuracy (test)."""
    per = "; ".join(f"seed {int(r['seed'])}: {int(r['n_known_forget'])} forget ({int(r['n_val_forget'])} validation, "
                    f"{int(r['n_test_forget'])} test) and {int(r['n_known_side'])} side-effect questions "
                    f"({int(r['n_val_side'])} validation, {int(r['n_test_side'])} test), test side-effect accuracy "
                    f"{results.base_side[int(r['seed'])]:.3f}"
                    for _, r in results.bases.sort_values("seed").iterrows())
    asked = results.bases.iloc[0]["n_asked"] if not results.bases.empty else {}
    return (f"Suites: {results.n_models} independently pretrained model(s), each with the questions it answers "
            f"under all 24 orderings (of {asked}) — {per}. Every configuration, learning rate and attack stopping "
            "point is chosen on a model's validation questions; each model's runs are scored on its own test "
            "questions against its own unmodified model; a score is the mean over models (95 % CI over models), "
            "and the bootstrap resamples each model's own test questions.")


def describe(results: SAEResults) -> str:
    """The numbers behind the notebook's conclusions, as Markdown bullets."""
    table = score_table(results)
    lines = [f"- {suite_line(results)}"]
    for _, row in table.iterrows():
        lines.append(f"- {row['variant']}: unlearning score {_fmt(row['score_mean'], row['score_ci'], row['n'])} "
                     f"(n = {row['n']} models; bootstrap over questions [{row['boot_low']:.3f}, "
                     f"{row['boot_high']:.3f}], {_forgotten(row):.1f} question(s) forgotten per model, "
                     f"{int(row['n_forgotten'])} distinct); lowest forget accuracy at any side effect "
                     f"{row['min_forget_any_side_mean']:.2f}.")
    untrained = results.scores[results.scores["variant"].str.contains("untrained", regex=False)]
    if not untrained.empty:
        l0 = results.saes.loc[results.saes["kind"].str.contains("untrained", regex=False), "l0"].mean()
        selected = int(untrained["max_selected"].max())
        lines.append(f"- Untrained SAEs select at most {selected} features (mean L0 {l0:.0f})"
                     + (": every feature fires on more retain tokens than the thresholds allow, so nothing is "
                        "clamped." if selected == 0 else "."))
    return "\n".join(lines)


def _forgotten(row: pd.Series, n_forget: float = float("nan")) -> float:
    """Questions the scoring configuration forgets per model (synthetic tier: counted per model on
    its own suite; one suite: score × its ``n_forget`` questions)."""
    value = row.get("forgotten_per_model", float("nan"))
    return float(value) if value == value else float(row["score_mean"] * n_forget)


def _rule_lines(clamp_rows: pd.DataFrame, suite: str) -> tuple[list[str], list[str]]:
    """Per scoring rule: its best clamp variant, the evidence for it; and the rules that pass.
    ``suite``: what the forget questions are ("of its own forget questions (36, 12, 20 per model)")."""
    lines, works = [], []
    for rule, group in clamp_rows.groupby("rule", sort=False):
        if group["score_mean"].isna().all():
            lines.append(f"- **{rule}**: no score (no known forget question).")
            continue
        best = best_variant(group)
        n_q, per = int(best["n_forgotten"]), _forgotten(best)
        if best["significant"]:
            works.append(f"{rule} ({per:.1f} questions per model)")
            verdict = ("evidence: ≥ 2 questions forgotten per model, and the bootstrap (and model) intervals "
                       f"exclude 0 ({EVIDENCE_NOTE})")
        elif n_q < per_model.MIN_QUESTIONS:
            verdict = (f"not evidence: it rests on {n_q} distinct question(s)"
                       + (", whatever the CI over models says" if best["n"] > 1 and best["score_ci"] == 0
                          and best["score_mean"] > 0 else ""))
        elif per < per_model.MIN_QUESTIONS - 1e-9:
            verdict = (f"not evidence: {per:.1f} question(s) forgotten per model ({n_q} distinct over the "
                       "models): one flipped answer is what a sweep over many configurations finds by chance "
                       f"({EVIDENCE_NOTE})")
        else:
            verdict = "not evidence: an interval includes 0"
        lines.append(f"- **{rule}**: best clamp variant {best['variant']}: score "
                     f"{_fmt(best['score_mean'], best['score_ci'], best['n'])} (n = {best['n']} models; bootstrap "
                     f"over questions [{best['boot_low']:.3f}, {best['boot_high']:.3f}]), i.e. {per:.1f} per model "
                     f"{suite} at side effects ≥ 0.99; {verdict}.")
    return lines, works


def _why_lines(results: SAEResults, clamp_rows: pd.DataFrame) -> list[str]:
    """Why the score is what it is: how low forget accuracy goes at any side effect, what the
    clamp configurations cost in side effects, and which retain corpus helps; all from the sweep."""
    sw = results.runs
    active = sw[(sw["intervention"] == "clamp") & (sw["n_selected"] > 0) & sw["method"].str.startswith("SAE")
                & ~sw["method"].str.contains("untrained", regex=False)]
    if active.empty:
        return ["- **Why.** No trained SAE selected any feature: nothing was clamped."]
    top = clamp_rows["score_mean"].max()
    lowest = clamp_rows["min_forget_any_side_mean"].min()
    side = active["side_acc"].mean()
    gap = (1 - lowest) - top
    line = (f"- **Why.** Clamping lowers forget accuracy to {lowest:.2f} at its strongest configuration "
            f"(best rule and retain corpus, mean over seeds) while the score credits at most {top:.3f}; ")
    line += (f"the clamp configurations keep on average {side:.2f} of side-effect accuracy (the score needs "
             f"≥ {0.99 * results.base_side_acc:.2f}): the forgetting it can do costs side effects."
             if gap > 0.05 else "clamping barely moves forget accuracy at any side effect.")
    by_retain = active.groupby("retain")["side_acc"].mean()
    scores = clamp_rows.groupby("retain")["score_mean"].mean()
    if len(by_retain) > 1 and scores.notna().all():
        parts = "; ".join(f"retain {r}: mean score {scores[r]:.3f}, mean side-effect accuracy {by_retain[r]:.2f}"
                          for r in by_retain.index)
        kept = by_retain.idxmax()
        if by_retain.max() - by_retain.min() < 0.005:
            line += f" By retain corpus ({parts}): no retain corpus keeps side effects higher."
        else:
            line += (f" By retain corpus ({parts}): '{kept}' keeps side effects higher"
                     + (", as counting generic questions keeps format features out of the selection."
                        if kept != "text" else "."))
    return [line]


def _matched_lines(table: pd.DataFrame, tier: str) -> list[str]:
    """Who forgets most at each matched side-effect level (families, rules pooled; ``_matched``)."""
    if table.empty:
        return []
    table = table[~table["family"].str.contains("untrained", regex=False)]
    parts = []
    for ratio in us.RATIOS:
        col = f"{us.forget_col(ratio)}_mean"
        if table[col].isna().all():
            continue
        best = table.loc[table[col].idxmin()]
        ties = table[table[col] <= best[col] + 1e-9]["family"].tolist()
        parts.append(f"side ≥ {ratio:g}: " + (f"{', '.join(ties)} tie at forget {best[col]:.2f}" if len(ties) > 1
                                               else f"{best['family']} (forget {best[col]:.2f})"))
    return [f"- **Matched side effects ({tier}, lowest forget accuracy per family).** " + "; ".join(parts) + "."
            ] if parts else []


def _attack_lines(summary: pd.DataFrame) -> list[str]:
    if summary.empty:
        return []
    mean = summary.groupby("label")[["before", "recovered", "base_same_step"]].mean()
    parts = "; ".join(f"{label} {v['before']:.2f} → {v['recovered']:.2f} (attacked base at that step "
                      f"{v['base_same_step']:.2f})" for label, v in mean.iterrows())
    line = f"- **Relearning attack** (held-out forget questions, before → best stopping point): {parts}."
    if "base" in mean.index and mean.loc["base", "base_same_step"] < mean.loc["base", "before"] - 0.05:
        line += (" The attack also lowers the unmodified model's accuracy, so it damages the answer format; read "
                 "each target against the attacked base.")
    return [line]


def conclusion(results: SAEResults, real: RealResults | None = None) -> str:
    """What the scores say, as Markdown: which rule (and retain corpus) moves the score, the
    seed's 0.0, matched side effects, the baselines, the relearning attack and the real tier;
    every statement chosen by the numbers."""
    table = score_table(results)
    lines = []
    untrained = table[table["method"].str.contains("untrained", regex=False)]
    if not untrained.empty and untrained["score_mean"].notna().any():
        selected = results.scores.loc[results.scores["method"].str.contains("untrained", regex=False),
                                      "max_selected"].max()
        top = untrained["score_mean"].max()
        lines.append(f"- **The seed's 0.0.** The SAE at initialisation scores at most {top:.3f}"
                     + (f" and selects {int(selected)} features: its features fire on almost every token, so "
                        "none passes the retain-frequency filter and nothing is clamped." if selected == 0
                        else f"; it selects up to {int(selected)} features."))
    trained = table[table["method"].str.startswith("SAE") & ~table["method"].str.contains("untrained", regex=False)]
    clamp_rows = trained[trained["intervention"] == "clamp"]
    sizes = ", ".join(str(n) for n in results.suite_sizes())
    if clamp_rows["score_mean"].notna().any():
        rule_lines, works = _rule_lines(clamp_rows, f"of its own forget questions ({sizes} per model)")
        lines += rule_lines
        best = best_variant(clamp_rows)
        lines.append(f"- **Verdict.** Rules whose score is evidence: {', '.join(works) or 'none'}. The best clamp "
                     f"score is {best['score_mean']:.3f} ({best['variant']}, {results.n_models} independently "
                     f"pretrained models), {int(best['n_forgotten'])} distinct question(s) forgotten over the "
                     f"models' suites ({sizes} forget questions)"
                     + ("; the score stays indistinguishable from 0." if not works else "."))
        lines += _why_lines(results, clamp_rows)
    ablate = trained[trained["intervention"] == "dir-ablate"]
    if ablate["score_mean"].notna().any() and clamp_rows["score_mean"].notna().any():
        a, c = ablate["score_mean"].mean(), clamp_rows["score_mean"].mean()
        lines.append(f"- Decoder-direction ablation of the same features: mean score {a:.3f} vs {c:.3f} for "
                     f"clamping ({'higher' if a > c else 'lower' if a < c else 'equal'}).")
    for method in ("RMU", "GradDiff"):
        row = table[table["variant"] == method]
        if not row.empty:
            r = row.iloc[0]
            lines.append(f"- {method} (same score formula over its grid): "
                         f"{_fmt(r['score_mean'], r['score_ci'], r['n'])} (n = {r['n']} models; bootstrap over "
                         f"questions [{r['boot_low']:.3f}, {r['boot_high']:.3f}]).")
    lines += _matched_lines(_matched(results), "synthetic")
    lines += _attack_lines(attack_summary(results.attacks))
    if real is not None:
        lines += _real_lines(real)
    return "\n".join(lines)


def _real_lines(real: RealResults) -> list[str]:
    if real.scores.empty:
        return [f"- Real tier: no score ({real.note})."]
    table = score_table(real)
    parts = "; ".join(f"{r['variant']} {_fmt(r['score_mean'], r['score_ci'], r['n'], r['boot_low'], r['boot_high'])}"
                      + (" (evidence)" if r["significant"] else "") for _, r in table.iterrows())
    lines = [f"- Real tier ({real.note}; base side-effect accuracy {real.base_eval['side_acc']:.2f}; "
             f"brackets: 95 % bootstrap over questions): {parts}."]
    lines += _matched_lines(_matched(real), real.tier)
    return lines


# --------------------------------------------------------------------------- the LaTeX tables and their captions


MODELS_NOTE = ("Synthetic tier: one independently pretrained model per seed (its own init and data order), each "
               "SAE, baseline and attack of a seed run on that seed's model; Models: independently trained models "
               "behind a row, Seeds per model: runs on each (SmolLM2: one model).")


def main_caption(session: Session, results: SAEResults, real: RealResults | None) -> str:
    caption = (f"SAE feature unlearning vs RMU and GradDiff ({grid_note(session)}). Unlearning score "
               "$= 1 -$ min forget accuracy over configurations keeping side-effect accuracy $\\geq 0.99$ of the "
               "unmodified model's (measured; synthetic tier: the configuration chosen on validation questions, its "
               "test forget accuracy read), in \\%, each synthetic model scored on its own suite against its "
               "own unmodified model: mean $\\pm$ 95\\% CI over models (SmolLM2: over seeds); for one run "
               "(SmolLM2 in the default profile) the 95\\% bootstrap interval over questions in brackets. *: "
               "evidence ($\\geq 2$ questions forgotten per model and $\\geq 2$ distinct ones, the bootstrap "
               "interval over questions (each model's own resampled) and, with several models, the CI exclude 0); "
               "the $\\geq 2$-questions part of this rule was chosen after seeing results (an earlier run's best "
               f"score was one flipped answer per seed). {MODELS_NOTE}")
    caption += (" Every configuration behind a score (SAE sweep point, RMU/GradDiff grid point) is chosen on "
                "validation questions and the score read on test questions; synthetic test suites (forget / "
                "side-effect questions known under all 24 orderings, per model"
                + (", sizes fixed by the profile" if session.profile.sae.suite_counts() else "") + "): "
                + "; ".join(f"{f} / {s}" for f, s in zip(results.suite_sizes(), results.suite_sizes("n_test_side")))
                + "; validation: "
                + "; ".join(f"{f} / {s}" for f, s in zip(results.suite_sizes("n_val_forget"),
                                                        results.suite_sizes("n_val_side")))
                + f"; unmodified test side-effect accuracy {_accuracies(results)}.")
    if real is not None:
        caption += (f" SmolLM2 suite: {real.suite['n_known_forget']} forget and {real.suite['n_known_side']} "
                    f"side-effect questions; unmodified side-effect accuracy {real.base_eval['side_acc']:.3f}.")
    return caption


def _accuracies(results: SAEResults) -> str:
    """The unmodified models' measured side-effect accuracies, in seed order."""
    return ", ".join(f"{results.base_side[seed]:.3f}" for seed in sorted(results.base_side))


MATCHED_CAPTION = (
    "Forget accuracy (\\%, lower is better) at matched side effects: among each family's "
    "configurations (SAE: every rule, retain corpus, threshold, number of features and multiplier) whose "
    "side-effect accuracy is $\\geq r\\times$ the unmodified model's (each synthetic model's own), the one with the "
    "lowest forget accuracy; synthetic tier: chosen on validation questions, its test forget accuracy shown; "
    "SmolLM2: chosen and shown on the same questions; 100 where none qualifies. Mean $\\pm$ 95\\% CI over models (SmolLM2: over seeds); one run: the mean. " + MODELS_NOTE)


def quality_caption(session: Session) -> str:
    return (f"SAE quality per tier and kind ({session.profile.name} profile): MSE, explained variance, $L_0$, dead "
            "fraction and $\\Delta$ next-token loss with the reconstruction spliced in, on held-out data; mean "
            f"$\\pm$ 95\\% CI over models (SmolLM2: over seeds), one run: the mean. {MODELS_NOTE}")


def attack_caption(session: Session) -> str:
    p = session.profile.sae
    return (f"Relearning attack on the synthetic tier ({session.profile.name} profile): fine-tuning on forget "
            f"data of held-out entities (lr {list(p.attack_lrs)}, {p.attack_steps} "
            "steps); held-out test forget accuracy in \\% before, at the best evaluated step (the learning "
            "rate and step with the highest validation forget accuracy), of the attacked "
            "unmodified model at that step, and at the last step; targets: each family's best configuration at "
            f"side effects $\\geq {p.attack_side_ratio:g}\\times$ base (chosen on validation questions), per seed on that seed's independently "
            "pretrained model (its own held-out forget questions). Mean $\\pm$ 95\\% CI over models (Models: "
            "how many).")


def write_tables(session: Session, results: SAEResults, real: RealResults | None = None,
                 suffix: str = "") -> dict[str, pd.DataFrame]:
    """``sae_unlearning``, ``sae_matched``, ``sae_quality`` and (when the attack ran)
    ``sae_attack`` under the tables folder, with captions; the frames, by file name, to display.
    ``suffix`` (a real-tier model of your own): ``<name>_<suffix>.tex``, the paper's files left alone."""
    tables = {"sae_unlearning": (latex_table(results, real), main_caption(session, results, real), "tab:sae"),
              "sae_matched": (matched_latex(results, real), MATCHED_CAPTION, "tab:sae-matched"),
              "sae_quality": (quality_latex(results, real), quality_caption(session), "tab:sae-quality")}
    if not results.attacks.empty:
        tables["sae_attack"] = (attack_latex(attack_summary(results.attacks)), attack_caption(session),
                                "tab:sae-attack")
    tag = f"_{suffix}" if suffix else ""
    for name, (table, caption, label) in tables.items():
        write_latex(table, session.paths.tables / f"{name}{tag}.tex", caption=caption, label=f"{label}{tag}")
    return {name: table for name, (table, _, _) in tables.items()}
