"""The Targeted-UNDO frontier from the results store: per configuration, steps to recover, retain
and post-attack forget accuracy, the steps ratio against global UNDO at equal robustness, the
paper's table and the sentences that state it (notebook 41)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from unlearnlab.core.stats import mean_ci
from unlearnlab.experiments.arithmetic import report as arith_report
from unlearnlab.experiments.arithmetic import selection, wording
from unlearnlab.experiments.session import Session
from unlearnlab.experiments.targeted import global_undo
from unlearnlab.reporting import tables
from unlearnlab.reporting.numbers import Numbers


def frontier(session: Session) -> pd.DataFrame:
    """One row per (configuration, seed): distillation steps to recover (NaN if never within the
    budget), steps and FLOPs actually spent, retain accuracy, post-attack forget accuracy, and the
    pretrained base model the run descends from. Global UNDO and full distillation come from
    31_undo/40_attacks and the extension (``global_undo``) at their ``recovered`` snapshot (else
    their largest budget), like the targeted runs."""
    att = selection.attacked_all(session)
    p = session.profile
    targeted = att[(att["method"] == "TargetedUNDO") & att["mask_source"].isin(p.targeted.sources)
                   & att["mask_budget"].isin(p.targeted.budgets) & att["alpha"].isin(p.targeted.alphas)
                   & att["seed"].isin(p.arithmetic.seeds)].copy()
    targeted["family"] = "Targeted-UNDO"
    targeted["label"] = targeted.apply(lambda r: f"{r['mask_source']} {100 * r['mask_budget']:g}%"
                                       + (" (masked only)" if r["train_only_masked"] else "")
                                       + (f" α={r['alpha']:g}" if len(p.targeted.alphas) > 1 else ""), axis=1)
    targeted["recovered"] = targeted["recovered_step"].notna()
    targeted["steps_to_recover"] = targeted["recovered_step"].astype(float)
    globl = global_undo.global_points(selection.attacked(session)).assign(family="global UNDO")
    order = {s: i for i, s in enumerate(p.targeted.sources)}
    targeted = targeted.sort_values(["mask_budget", "mask_source", "train_only_masked", "alpha", "seed"],
                                    key=lambda c: c.map(order) if c.name == "mask_source" else c)
    if not globl.empty:
        globl = globl.sort_values(["method", "alpha", "seed"], ascending=[False, True, True])
    out = pd.concat([globl, targeted], ignore_index=True)
    return out[["family", "label", "method", "seed", "alpha", "mask_source", "mask_budget", "recovered",
                "steps_to_recover", "distill_steps", "distill_flops", "retain_acc", "forget_acc",
                "post_attack_forget_acc", "post_attack_val_forget_acc", "base_model", "run_steps"]]


def global_curve(session: Session) -> pd.DataFrame:
    """Global UNDO's whole curve (every snapshot of every α, standard and extended; one row per
    seed) for the frontier figure."""
    return arith_report.frontier_data(selection.attacked(session))


def global_steps_at(forget: float, curve: pd.DataFrame, max_budget: int) -> tuple[float, str]:
    """Distillation steps global UNDO needs to reach post-attack forget accuracy ``forget``.

    ``curve``: recovered global UNDO runs of one seed (steps_to_recover, post_attack_forget_acc).
    Linear interpolation between them; a target less robust than every recovered global run costs
    what the cheapest one costs (an upper bound: "≤"); a target more robust than every recovered
    global run costs more than the budget (a lower bound: "≥ max_budget").
    """
    pts = curve.dropna(subset=["steps_to_recover"]).sort_values("post_attack_forget_acc")
    if pts.empty or forget < pts["post_attack_forget_acc"].min():
        return float(max_budget), ">="
    if forget > pts["post_attack_forget_acc"].max():
        return float(pts["steps_to_recover"].min()), "<="
    return float(np.interp(forget, pts["post_attack_forget_acc"], pts["steps_to_recover"])), "="


def steps_ratio(front: pd.DataFrame, max_budget: int) -> pd.DataFrame:
    """Per Targeted-UNDO configuration and seed: steps it needed / steps global UNDO needs for the
    same post-attack forget accuracy (same seed). ``bound`` says whether the ratio is exact
    ('='), at most ('<=', global UNDO never got that robust within the budget), or at least
    ('>=', the target is less robust than the cheapest global run); runs that did not recover
    have no ratio."""
    rows = []
    globl = front[front["family"] == "global UNDO"]
    for _, r in front[front["family"] == "Targeted-UNDO"].iterrows():
        if not r["recovered"]:
            rows.append({"label": r["label"], "seed": r["seed"], "ratio": np.nan, "bound": "not recovered"})
            continue
        steps, kind = global_steps_at(r["post_attack_forget_acc"], globl[globl["seed"] == r["seed"]], max_budget)
        bound = {"=": "=", ">=": "<=", "<=": ">="}[kind]
        rows.append({"label": r["label"], "seed": r["seed"], "ratio": r["steps_to_recover"] / steps, "bound": bound})
    return pd.DataFrame(rows)


def _fmt(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    m, c = mean_ci(values)
    return "--" if m != m else f"{m * scale:.{digits}f} $\\pm$ {c * scale:.{digits}f}"


def frontier_table(front: pd.DataFrame, ratios: pd.DataFrame) -> pd.DataFrame:
    """The paper's frontier table: one row per configuration, mean ± 95 % CI over independently
    pretrained models (column models)."""
    rows = []
    for (family, label), g in front.groupby(["family", "label"], sort=False):
        r = ratios[ratios["label"] == label] if family == "Targeted-UNDO" else pd.DataFrame()
        bounds = sorted(set(r["bound"])) if not r.empty else []
        ratio = "--" if r.empty or r["ratio"].isna().all() else (
            _fmt(r["ratio"].dropna().tolist(), 1.0, 2) + ("" if bounds == ["="] else f" ({'/'.join(bounds)})"))
        rows.append({"family": family, "configuration": label,
                     "recovered": f"{int(g['recovered'].sum())}/{len(g)}",
                     "steps to recover": _fmt(g["steps_to_recover"].dropna().tolist(), 1.0, 0),
                     "retain acc (%)": _fmt(g["retain_acc"].tolist()),
                     "post-attack forget (%)": _fmt(g["post_attack_forget_acc"].tolist()),
                     "steps ratio vs global": ratio, "models": int(g["base_model"].nunique())})
    return pd.DataFrame(rows)


def describe_extension(result: dict) -> str:
    """What the pre-registered rule of ``global_undo`` concluded, in one sentence."""
    best = result["best_mask"] or "none (no mask recovered in every model)"
    head = (f"Global UNDO was allowed up to {result['cap']} distillation steps (the pretraining compute) and ran "
            f"up to {result['max_steps_run']}; best Targeted-UNDO mask: {best}. ")
    if result["all_reached"]:
        return head + (f"It reached that mask's (and Fisher 5 %'s) post-attack forget accuracy on every model "
                       f"({result['reached_seeds']}/{result['seeds']}), with {', '.join(result['reaching'])}.")
    return head + (f"It reached that robustness on {result['reached_seeds']}/{result['seeds']} models only: global "
                   "UNDO never got there on the others with the compute it spent, so their ratios are bounds.")


def describe(front: pd.DataFrame, ratios: pd.DataFrame, oracle_after: float) -> str:
    """The frontier in sentences: per configuration, recovery, robustness and the steps ratio."""

    def pct(values) -> str:
        m, c = mean_ci(list(values))
        return f"{100 * m:.1f} ± {100 * c:.1f} %"

    lines = [f"Attacked oracle: {100 * oracle_after:.1f} % forget accuracy (the floor)."]
    for (family, label), g in front.groupby(["family", "label"], sort=False):
        steps = g["steps_to_recover"].dropna()
        rec = f"recovered in {len(steps)}/{len(g)} models" + (f" after {steps.mean():.0f} steps" if len(steps) else "")
        line = f"- **{label}** ({family}): {rec}; retain {pct(g['retain_acc'])}, post-attack forget {pct(g['post_attack_forget_acc'])}"
        r = ratios[ratios["label"] == label] if family == "Targeted-UNDO" else pd.DataFrame()
        if not r.empty and r["ratio"].notna().any():
            m, c = mean_ci(r["ratio"].dropna().tolist())
            kinds = sorted(set(r["bound"].dropna()))
            line += f"; steps ratio vs global UNDO {m:.2f} ± {c:.2f} ({', '.join(kinds)})"
        lines.append(line + ".")
    t = front[front["family"] == "Targeted-UNDO"]
    for budget, g in t.groupby("mask_budget"):
        by_source = g.groupby("mask_source")["post_attack_forget_acc"].mean()
        recovered = g.groupby("mask_source")["recovered"].all()

        def show(src: str) -> str:
            return f"{100 * by_source[src]:.1f} %" + ("" if recovered[src] else " (not recovered)")

        if "random" in by_source:
            others = ", ".join(f"{k} {show(k)}" for k in by_source.drop("random").sort_values().index)
            lines.append(f"At a {100 * budget:g} % mask budget, post-attack forget accuracy: {others}; "
                         f"random masks {show('random')}. A model that has not recovered retain accuracy "
                         "cannot do arithmetic at all, so its low post-attack forget accuracy is not robustness.")
    good = ratios.dropna(subset=["ratio"])
    if good.empty:
        lines.append("No Targeted-UNDO run recovered retain accuracy, so no steps ratio can be given.")
    else:
        helped = good.groupby("label")["ratio"].mean()
        helped = helped[helped < 1]
        lines.append("Configurations cheaper than global UNDO at equal robustness (mean ratio < 1): "
                     + (", ".join(f"{k} ({v:.2f})" for k, v in helped.items()) if len(helped) else "none") + ".")
    return "\n".join(lines)


def oracle_after_attack(session: Session) -> float:
    """The attacked oracle's mean forget accuracy (the floor of the frontier figure)."""
    return arith_report.oracle_after_attack(selection.attacked(session))


def write_table(session: Session, front: pd.DataFrame, ratios: pd.DataFrame, result: dict) -> pd.DataFrame:
    """``arith_targeted.tex``: ``frontier_table`` with a caption naming the profile's grid and what
    the extension of global UNDO (``result``: ``global_undo.outcome``) concluded."""
    p = session.profile
    budgets = ", ".join(f"{100 * b:g}\\%" for b in p.targeted.budgets)
    alphas = ", ".join(f"{a:g}" for a in p.targeted.alphas)
    reach = ("it reached the robustness of the best mask and of Fisher 5\\% on every model" if result["all_reached"]
             else f"it reached the robustness of the best mask and of Fisher 5\\% on {result['reached_seeds']} of "
                  f"{result['seeds']} models only (never, on the others, with the compute it spent)")
    caption = (f"Targeted-UNDO vs global UNDO ({p.name} profile; mask budgets {budgets}, $\\alpha$ {alphas}). "
               f"Steps to recover retain accuracy (within {100 * p.arithmetic.retain_threshold:g} points of the "
               f"teacher; Targeted-UNDO at most {max(p.arithmetic.distill_budgets)}; global UNDO extended up to "
               f"{result['cap']}, the pretraining compute, of which it ran up to {result['max_steps_run']}: {reach}), "
               "post-attack forget accuracy, and distillation steps relative to global UNDO at the same post-attack "
               "forget accuracy ($<$1: cheaper; interpolated between recovered global runs of the same model; bounds "
               "in brackets where global UNDO never reached that robustness); mean $\\pm$ 95\\% CI over "
               "independently pretrained models (column models).")
    table = frontier_table(front, ratios)
    tables.write_latex(table, session.paths.tables / "arith_targeted.tex", caption=caption, label="tab:arith-targeted")
    return table


# ---- the paper's numbers (paper/numbers/targeted.tex) --------------------------------------------

def mask_label(label: str) -> str:
    """A configuration label ('weight_diff 5%') as LaTeX text."""
    return tables.latex_text(label)


def named_label(front: pd.DataFrame, source: str, budget: float) -> str | None:
    """The label of the Targeted-UNDO configuration with ``source`` at ``budget`` (noise and
    training as in global UNDO: not 'masked only'; the largest α if the profile has several)."""
    t = front[(front["family"] == "Targeted-UNDO") & (front["mask_source"] == source)
              & (front["mask_budget"] == budget) & ~front["label"].str.contains("masked only")]
    return None if t.empty else str(t.sort_values("alpha")["label"].iloc[-1])


def cheaper(ratios: pd.DataFrame) -> list[str]:
    """Configurations cheaper than global UNDO at equal robustness, by a rule fixed here: the upper
    end of the ratio's 95 % CI over models is below 1 and no model's ratio is only a lower bound
    (one model has no interval: no claim)."""
    out = []
    if ratios.empty:
        return out
    for label, r in ratios.dropna(subset=["ratio"]).groupby("label", sort=False):
        m, c = mean_ci(r["ratio"].tolist())
        if len(r) > 1 and m + c < 1 and ">=" not in set(r["bound"]):
            out.append(str(label))
    return out


def mask_numbers(n: Numbers, role: str, front: pd.DataFrame, ratios: pd.DataFrame, label: str | None) -> None:
    """One configuration's row of the frontier table as macros '<role>Mask', '…Recovered',
    '…Steps', '…Retain', '…AfterAttack', '…StepsRatio' (mean ± CI over models, as the table's
    cells), '…RatioBound' (what kind of number the ratio is) and '…RatioBoundWord' ('at most' /
    'at least' / ''); every value n/a when the profile's grid lacks the configuration."""
    g = front[front["label"] == label] if label else front.iloc[:0]
    r = ratios[ratios["label"] == label] if label and not ratios.empty else pd.DataFrame()
    what = label or "absent configuration"
    n.text(f"{role}Mask", mask_label(label) if label else "n/a", f"{role}: the configuration", label or "n/a")
    n.count(f"{role}Models", int(g["base_model"].nunique()), f"{what}: independently pretrained models")
    n.count(f"{role}Recovered", int(g["recovered"].sum()), f"{what}: models on which it recovered retain accuracy")
    arith_report.mean_ci_number(n, f"{role}Steps", g["steps_to_recover"].dropna(), f"{what}: steps to recover",
                                scale=1.0, digits=0, unit="")
    arith_report.mean_ci_number(n, f"{role}Retain", g["retain_acc"], f"{what}: retain accuracy")
    arith_report.mean_ci_number(n, f"{role}AfterAttack", g["post_attack_forget_acc"],
                                f"{what}: forget accuracy after the attack")
    arith_report.mean_ci_number(n, f"{role}StepsRatio", r["ratio"].dropna() if not r.empty else [],
                                f"{what}: distillation steps relative to global UNDO at equal robustness",
                                scale=1.0, digits=2, unit="")
    bounds = r["bound"].tolist() if not r.empty else []
    n.text(f"{role}RatioBound", wording.bound_phrase(bounds) if label else "n/a", f"{what}: what kind of number the ratio is")
    n.text(f"{role}RatioBoundWord", wording.bound_word(bounds), f"{what}: 'at most'/'at least' when a bound everywhere")


def global_reach_sentence(result: dict) -> str:
    """What the extension rule concluded (``global_undo.outcome``), as a clause of the prose."""
    reaching = wording.join([mask_label(x) for x in result["reaching"]])
    if result["seeds"] == 0:
        return "had no target: no mask recovered on every model"
    if result["all_reached"]:
        return f"reached that robustness on every model ({reaching})"
    if result["reached_seeds"] == 0:
        return (f"reached that robustness on none of the {result['seeds']} models with the compute it spent, so the "
                "ratios are bounds")
    return (f"reached that robustness on {result['reached_seeds']} of {result['seeds']} models only; on the others "
            "it never became that robust with the compute it spent, so their ratios are bounds")


def targeted_numbers(session: Session, front: pd.DataFrame, ratios: pd.DataFrame, result: dict) -> Numbers:
    """What the Targeted-UNDO prose says, from the frame behind ``arith_targeted.tex`` (``front``,
    ``ratios``) and the extension rule's outcome (``result``): the profile's grid, the named
    Fisher mask and the best mask against random masks and global UNDO, and the models behind them."""
    p = session.profile
    n = Numbers("targeted")
    sources = [s for s in p.targeted.sources if s != "random"]
    n.text("sources", wording.join([tables.latex_text(s) for s in sources]), "mask sources", ", ".join(sources))
    n.text("budgets", wording.join([wording.percent_text(b) for b in p.targeted.budgets]), "mask budgets")
    n.text("alphas", wording.number_list(p.targeted.alphas), "noise levels inside the mask")
    n.count("maxBudget", max(p.arithmetic.distill_budgets), "most distillation steps of a Targeted-UNDO run")
    n.count("distillCap", result["cap"], "most distillation steps extended global UNDO was allowed")
    n.count("maxStepsRun", result["max_steps_run"], "most distillation steps a global run took")
    t = front[front["family"] == "Targeted-UNDO"]
    models = front.groupby("label")["base_model"].nunique()
    n.count("models", int(models.min()) if len(models) else 0, "independently pretrained models behind each row (fewest)")
    n.text("modelsQualifier", "" if models.nunique() <= 1 else "at least", "'' when every row has as many models")
    n.count("configs", int(t["label"].nunique()), "Targeted-UNDO configurations")
    n.count("recoveredConfigs", int(t.groupby("label")["recovered"].all().sum()),
            "Targeted-UNDO configurations that recovered on every model")
    source, budget = global_undo.NAMED_MASK
    role = source + wording.budget_name(budget)
    named = named_label(front, source, budget)
    mask_numbers(n, role, front, ratios, named)
    random = named_label(front, "random", budget)
    mask_numbers(n, "random" + wording.budget_name(budget), front, ratios, random)
    versus = "n/a"
    if named and random:
        diffs = wording.paired_differences(t[t["label"] == named], t[t["label"] == random], "post_attack_forget_acc")
        versus = wording.compare(diffs, ("higher than", "lower than", "indistinguishable from"))
    n.text(f"{role}VsRandom", versus, "named mask's post-attack forget accuracy vs random masks of its budget (per model)")
    mask_numbers(n, "best", front, ratios, result["best_mask"])
    n.count("globalReached", result["reached_seeds"], "models on which global UNDO reached the target robustness")
    n.count("globalSeeds", result["seeds"], "models with a target")
    n.text("globalReach", global_reach_sentence(result), "what the extension of global UNDO concluded")
    found = cheaper(ratios)
    n.text("cheaper", wording.join([mask_label(x) for x in found]),
           "configurations cheaper than global UNDO at equal robustness (targeted.report.cheaper)", wording.join(found))
    return wording.with_plain_forms(n)


def write_numbers(session: Session, front: pd.DataFrame, ratios: pd.DataFrame, result: dict) -> Numbers:
    """``paper/numbers/targeted.tex`` (notebook 41, beside its table)."""
    n = targeted_numbers(session, front, ratios, result)
    n.write(session.paths)
    return n
