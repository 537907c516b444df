"""From the results store to the paper: the main table, figure data, and sentences that state
each notebook's results with their numbers (notebooks 10, 30, 31, 40 and 90 print them)."""

from __future__ import annotations

import inspect

import pandas as pd

from unlearnlab.core.paths import Paths
from unlearnlab.core.stats import mean_ci
from unlearnlab.experiments.arithmetic import wording
from unlearnlab.experiments.arithmetic.selection import BASELINES, reported_global, select_lr, strongest_undo
from unlearnlab.experiments.session import Session
from unlearnlab.reporting import tables
from unlearnlab.reporting.numbers import Numbers

PRETRAIN_COLUMNS = ["acc_add", "acc_sub", "acc_mul", "acc_div", "english_ce", "n_params", "steps", "tokens", "wall_s"]


def world_examples(world, per_split: int = 3) -> pd.DataFrame:
    """A few rows of each split (notebook 00): forget rows are x and ÷, retain rows + and −."""
    examples = pd.concat([world.splits[s].to_pandas().sample(per_split, random_state=0).assign(split=s)
                          for s in ["forget_train", "retain_train", "eval", "val", "english_train"]])
    return examples[["split", "op", "format", "prompt", "answer", "text"]]


def pretrained(session: Session) -> pd.DataFrame:
    """Base and oracle rows of the results store (notebook 10's table): one row per
    independently pretrained model of this profile's seeds, indexed by (method, seed)."""
    models = session.store.table("models")
    models = models[models["method"].isin(["base", "oracle"]) & models["seed"].isin(session.profile.arithmetic.seeds)]
    return models.set_index(["method", "seed"]).sort_index()[PRETRAIN_COLUMNS]


def describe_pretraining(pre: pd.DataFrame) -> str:
    """Per-operation accuracy of base and oracle (mean ± 95 % CI over the independently pretrained
    models), and what the oracle's forget accuracy means."""

    def ops(rows: pd.DataFrame) -> str:
        return ", ".join(f"{sym} {_pct(rows[f'acc_{op}'])}" for sym, op in
                         (("+", "add"), ("−", "sub"), ("x", "mul"), ("÷", "div")))

    b, o = pre.loc["base"], pre.loc["oracle"]
    learned = "every model ≥ 90 % on every operation" if b[PRETRAIN_COLUMNS[:4]].min().min() >= 0.9 \
        else "NOT every model ≥ 90 % on every operation"
    return (f"{len(b)} base models and {len(o)} oracles, each pretrained with its own init and data-order seed "
            f"({int(b['n_params'].iloc[0]):,} parameters, {int(b['steps'].iloc[0])} steps). Base, held-out exact "
            f"match (mean ± 95 % CI over models): {ops(b)} ({learned}). Oracle: {ops(o)}: it never saw x or ÷, so "
            "its forget accuracy is the floor an unlearning method should reach.")


def _pct(values) -> str:
    m, c = mean_ci(list(values))
    return f"{100 * m:.1f} ± {100 * c:.1f} %"


def baseline_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy and English cross-entropy per method and learning rate (notebook 30)."""
    return runs.groupby(["method", "lr"])[["retain_acc", "forget_acc", "english_ce"]].mean().round(3)


def describe_baselines(runs: pd.DataFrame, chosen: dict[str, float]) -> str:
    """The learning rate chosen per method, with its mean retain and forget accuracy."""
    at_chosen = runs[runs.apply(lambda r: r["lr"] == chosen[r["method"]], axis=1)]
    summary = at_chosen.groupby("method")[["retain_acc", "forget_acc"]].mean()
    return ("Learning rates chosen on the validation items (test accuracy at that rate): " + ", ".join(
        f"{m} lr={lr:g} (retain {100 * summary.loc[m, 'retain_acc']:.1f} %, "
        f"forget {100 * summary.loc[m, 'forget_acc']:.1f} %)" for m, lr in chosen.items())
        + ". Whether this suppression survives relearning is tested in 40_attacks.")


def recovery(curves: list[dict]) -> pd.DataFrame:
    """One row per UNDO / distillation run: the teacher's retain accuracy and the recovery step."""
    return pd.DataFrame([{"label": c["label"], "seed": c["seed"], "teacher retain": c["teacher_retain_acc"],
                          "recovered at step": c["recovered_step"], "steps run": c.get("steps")} for c in curves])


def recovery_table(rec: pd.DataFrame) -> pd.DataFrame:
    return rec.groupby("label", sort=False).agg({"teacher retain": "mean", "recovered at step": list,
                                                 "seed": "nunique"}).rename(columns={"seed": "models"})


def describe_recovery(rec: pd.DataFrame, max_budget: int) -> str:
    """Which runs recovered retain accuracy within the distillation budget, and what α trades."""
    never = rec[rec["recovered at step"].isna()]["label"].unique().tolist()
    return (f"Distillation budget up to {max_budget} steps, {rec['seed'].nunique()} independent teachers "
            "(one per base model). "
            + (f"Retain accuracy did not recover within the budget in some or all models for: {', '.join(never)}."
               if never else "Every run recovered retain accuracy within the budget.")
            + " Larger α means more noise: more distillation to recover retain, and (we test next) less"
              " latent forget knowledge left for an attacker. Runs that did not recover are extended in"
              " 41_targeted_undo, up to the pretraining compute.")


def attack_summary(att: pd.DataFrame) -> pd.DataFrame:
    """Mean forget accuracy before and after the worst-case attack, and retain, per label (notebook 40)."""
    return att.groupby("label")[["forget_acc", "post_attack_forget_acc", "retain_acc"]].mean().round(3)


def oracle_after_attack(att: pd.DataFrame) -> float:
    """The attacked oracle's mean forget accuracy: the floor every figure draws."""
    return float(att[att["method"] == "oracle"]["post_attack_forget_acc"].mean())


def teacher_retain(att: pd.DataFrame, teacher: str = "MaxEnt") -> float:
    """UNDO's teacher's mean retain accuracy."""
    return float(att[att["method"] == teacher]["retain_acc"].mean())


def with_model_counts(table: pd.DataFrame, rows: pd.DataFrame, by: str = "label") -> pd.DataFrame:
    """Replace ``mean_ci_table``'s 'seeds' column by 'models': how many independently pretrained
    base models (distinct ``base_model``) stand behind each row's mean and interval."""
    counts = rows.groupby(by, sort=False)["base_model"].nunique()
    out = table.drop(columns=["seeds"], errors="ignore")
    out["models"] = [int(counts[k]) for k in out[by]]
    return out


def write_main_table(rows: pd.DataFrame, paths: Paths, profile: str) -> pd.DataFrame:
    """``arith_main.tex``: accuracy before and after the attack per method, mean ± 95 % CI over
    independently pretrained models, and how many stand behind each row."""
    table = tables.mean_ci_table(
        rows, "label",
        {"retain_acc": "retain acc. (\\%)", "forget_acc": "forget acc. (\\%)",
         "post_attack_forget_acc": "forget after attack (\\%)"},
        counts={"steps": "optimizer steps"})
    table = with_model_counts(table, rows).rename(columns={"label": "method"})
    tables.write_latex(table, paths.tables / "arith_main.tex",
                       caption=f"Arithmetic world ({profile} profile): exact-match accuracy on held-out items, "
                               "before and after the worst-case relearning attack; mean $\\pm$ 95\\% CI over "
                               "independently pretrained models (column models: each seed has its own base, "
                               "oracle, unlearning and attack). Optimizer steps count unlearning plus distillation.",
                       label="tab:arith-main")
    return table


def table_rows(att: pd.DataFrame) -> pd.DataFrame:
    """The main table's rows: base, oracle, baselines, UNDO (each alpha) and full distillation,
    each at the snapshot ``selection.reported_global`` picks (extended run if any; recovered, else
    its largest budget, named in the label)."""
    parts = [att[att["method"].isin(["base", "oracle", *BASELINES])]]
    for _, group in att[att["method"].isin(["UNDO", "Distill"])].groupby(["method", "alpha"]):
        rows, note = reported_global(group)
        parts.append(rows.assign(label=rows["label"] + (f" ({note})" if note else "")))
    out = pd.concat(parts, ignore_index=True)
    out["steps"] = out["steps"].fillna(0)
    order = {"base": 0, "oracle": 1, **{m: 2 + i for i, m in enumerate(BASELINES)}, "UNDO": 10, "Distill": 20}
    return out.sort_values(["method", "alpha", "label"],
                           key=lambda s: s.map(order) if s.name == "method" else s).reset_index(drop=True)


def relearning_curves_data(att: pd.DataFrame) -> pd.DataFrame:
    """Curves at each model's worst-case lr for base, oracle, the baselines, and every UNDO α and
    full distillation at the snapshot the main table reports (``table_rows``): a run that did not
    recover keeps its "(not recovered ...)" label, so the figure can draw it apart instead of
    showing one non-recovered α on top of the oracle as if it were UNDO's result."""
    chosen = table_rows(att)
    rows = []
    for _, rec in chosen.iterrows():
        for p in rec["curve"]:
            if p["lr"] == rec["worst_lr"]:
                rows.append({"label": rec["label"], "seed": rec["seed"], "step": p["step"], "forget_acc": p["forget_acc"]})
    return pd.DataFrame(rows)


def frontier_data(att: pd.DataFrame) -> pd.DataFrame:
    """Global UNDO's curve: every numbered snapshot of every α (standard budgets, then the
    extended run's), one row per seed."""
    d = att[att["method"].isin(["UNDO", "Distill"]) & (att["budget"] != "recovered")].copy()
    d["distill_steps"] = d["budget"].astype(int)
    # where an extended run exists, its snapshots at the standard budgets are the standard run's
    d = d.sort_values("extended").drop_duplicates(["method", "alpha", "seed", "distill_steps"], keep="last")
    return d.sort_values(["alpha", "distill_steps"])


def describe(att: pd.DataFrame) -> str:
    """The relearning result in sentences, with numbers (mean ± 95 % CI over seeds)."""

    def stat(df, col):
        m, c = mean_ci(df[col].tolist())
        return f"{100 * m:.1f} ± {100 * c:.1f} %"

    n_models = att[att["method"] == "base"]["base_model"].nunique()
    lines = [f"Mean ± 95 % CI over {n_models} independently pretrained base models (each with its own oracle, "
             "unlearning and attack)."]
    teacher = att[att["method"] == "MaxEnt"]["retain_acc"].mean()
    for name in ["base", "oracle", *BASELINES]:
        d = att[att["method"] == name]
        if not d.empty:
            lines.append(f"- **{name}**: forget acc {stat(d, 'forget_acc')} before the attack, "
                         f"{stat(d, 'post_attack_forget_acc')} after worst-case relearning; retain acc {stat(d, 'retain_acc')}.")
    u = strongest_undo(att)
    if not u.empty:
        lines.append(f"- **UNDO α={u['alpha'].max():g}** (budget {', '.join(sorted(set(u['budget'])))}, "
                     f"{u['distill_steps'].mean():.0f} distillation steps): forget acc {stat(u, 'forget_acc')} before, "
                     f"{stat(u, 'post_attack_forget_acc')} after the attack; retain acc {stat(u, 'retain_acc')}.")
        undo = frontier_data(att)
        undo = undo[undo["method"] == "UNDO"]
        best = undo.groupby("alpha")["retain_acc"].max()
        if u["recovered_step"].isna().all():
            lines.append(f"- **Caveat**: no UNDO run recovered retain accuracy within the distillation budget "
                         f"(teacher {100 * teacher:.1f} %; best mean retain per α: "
                         + ", ".join(f"α={a:g}: {100 * undo[undo['alpha'] == a].groupby('budget')['retain_acc'].mean().max():.1f} %" for a in best.index)
                         + "). A model that cannot add cannot relearn x/÷ either: low post-attack forget "
                           "accuracy of an unrecovered model is not evidence of robust unlearning.")
    oracle = att[att["method"] == "oracle"]["post_attack_forget_acc"].mean()
    verdict = []
    for name in [*BASELINES, "UNDO"]:
        d = u if name == "UNDO" else att[att["method"] == name]
        if d.empty:
            continue
        gap = 100 * (d["post_attack_forget_acc"].mean() - oracle)
        verdict.append(f"{name} ends {gap:+.1f} points from the oracle")
    if verdict:
        lines.append("After the attack, " + "; ".join(verdict) + " (0 = as robust as never having learned x/÷).")
    return "\n".join(lines)


# ---- the paper's numbers (paper/numbers/pretrain.tex and arith.tex) -------------------------------

def mean_ci_number(numbers: Numbers, name: str, values, about: str, scale: float = 100.0, digits: int = 1,
                   unit: str = "%") -> str:
    """``Numbers.mean_ci`` over ``values`` as the tables print it: one model has no interval (the
    mean alone), like ``tables.mean_ci_table``."""
    values = [float(v) for v in values if v == v]
    m, c = mean_ci(values)
    return numbers.mean_ci(name, m, c if len(values) > 1 else None, about, scale=scale, digits=digits, unit=unit)


def method_name(method: str) -> str:
    """A method as a macro-name part: 'GradDiff' -> 'gradDiff', 'RMU' -> 'rmu'."""
    return method.lower() if method.isupper() else method[0].lower() + method[1:]


def pretrain_numbers(session: Session, pre: pd.DataFrame) -> Numbers:
    """What the setup section says about the world, the models and their pretraining
    (``pre``: ``pretrained``, one row per independently pretrained base and oracle), with the
    profile settings behind them."""
    p = session.profile.arithmetic
    n = Numbers("pretrain")
    b, o = pre.loc["base"], pre.loc["oracle"]
    n.count("seeds", len(p.seeds), "model seeds: each pretrains its own base and oracle")
    n.count("baseModels", len(b), "independently pretrained base models")
    n.count("oracleModels", len(o), "independently pretrained oracles")
    n.count("models", len(pre), "independently pretrained models (bases and oracles)")
    n.count("params", int(b["n_params"].iloc[0]), "parameters of each arithmetic model")
    n.count("layers", p.model.n_layers, "decoder layers")
    n.count("width", p.model.d_model, "residual width")
    n.count("heads", p.model.n_heads, "attention heads per layer")
    n.count("mlpWidth", p.model.d_mlp, "MLP width")
    n.count("steps", p.pretrain_steps, "pretraining steps")
    n.count("batchSize", p.pretrain_batch_size, "pretraining batch size (sequences)")
    n.text("forgetRange", f"{p.forget_range[0]}--{p.forget_range[1]}", "operands of x and ÷ (forget)",
           f"{p.forget_range[0]}-{p.forget_range[1]}")
    n.text("retainRange", f"{p.retain_range[0]}--{p.retain_range[1]}", "operands of + and − (retain)",
           f"{p.retain_range[0]}-{p.retain_range[1]}")
    n.text("evalFraction", wording.percent_text(p.eval_fraction), "share of operand pairs held out for evaluation",
           f"{100 * p.eval_fraction:g}%")
    n.text("valFraction", wording.percent_text(p.val_fraction), "share of operand pairs held out for validation",
           f"{100 * p.val_fraction:g}%")
    for op, word in (("add", "addition"), ("sub", "subtraction"), ("mul", "multiplication"), ("div", "division")):
        mean_ci_number(n, f"base{op.capitalize()}", b[f"acc_{op}"], f"base models' held-out {word} accuracy")
    mean_ci_number(n, "oracleForget", (o["acc_mul"] + o["acc_div"]) / 2, "oracles' held-out x/÷ accuracy")
    mean_ci_number(n, "oracleRetain", (o["acc_add"] + o["acc_sub"]) / 2, "oracles' held-out +/− accuracy")
    n.percent("baseMinAcc", float(b[[f"acc_{op}" for op in ("add", "sub", "mul", "div")]].min().min()),
              "lowest held-out accuracy of any base model on any operation")
    return wording.with_plain_forms(n)


def write_pretrain_numbers(session: Session, pre: pd.DataFrame) -> Numbers:
    """``paper/numbers/pretrain.tex`` (notebook 10, beside its table)."""
    n = pretrain_numbers(session, pre)
    n.write(session.paths)
    return n


def global_configs(att: pd.DataFrame) -> list[dict]:
    """UNDO (each α) and full distillation as the main table reports them
    (``selection.reported_global``): rows, whether every model recovered, and the note."""
    out = []
    for (method, alpha), group in att[att["method"].isin(["UNDO", "Distill"])].groupby(["method", "alpha"]):
        rows, note = reported_global(group)
        out.append({"method": method, "alpha": float(alpha), "rows": rows, "recovered": note == "",
                    "extended": bool(group["extended"].any()), "steps": int(rows["distill_steps"].max())})
    return out


def recovery_sentence(configs: list[dict]) -> str:
    """Which global configurations recovered retain accuracy on every model, in one sentence."""
    undo = [c for c in configs if c["method"] == "UNDO"]
    rec = [c for c in undo if c["recovered"]]
    unrec = [c for c in undo if not c["recovered"]]
    parts = []
    if rec:
        parts.append("UNDO recovered retain accuracy on every model at $\\alpha$ = "
                     + wording.join([f"{c['alpha']:g}" for c in rec]))
    if unrec:
        within = wording.join([f"{c['alpha']:g} (within {c['steps']:,} steps".replace(",", "{,}")
                               + (", extended" if c["extended"] else "") + ")" for c in unrec])
        parts.append(("but not " if rec else "UNDO did not recover retain accuracy on every model ")
                     + f"at $\\alpha$ = {within}")
    sentence = "; ".join(parts[:1]) + (" " + parts[1] if len(parts) > 1 else "")
    for c in configs:
        if c["method"] == "Distill":
            steps = mean_ci(c["rows"]["distill_steps"].tolist())[0]
            sentence += ("; full distillation from a random initialisation recovered after "
                         f"{steps:,.0f} steps on average".replace(",", "{,}") if c["recovered"] else
                         f"; full distillation from a random initialisation did not recover within "
                         f"{c['steps']:,} steps".replace(",", "{,}"))
    return sentence


def _versus(rows: pd.DataFrame, other: pd.DataFrame, what: str) -> str:
    """'above/below/indistinguishable from ``what``' after the attack (``wording.compare``)."""
    diffs = wording.paired_differences(rows, other, "post_attack_forget_acc")
    return wording.compare(diffs, (f"above {what}", f"below {what}", f"indistinguishable from {what}"))


def _gap(n: Numbers, name: str, rows: pd.DataFrame, oracle: pd.DataFrame, about: str) -> None:
    """Per-model post-attack forget accuracy minus the same seed's oracle's, in points."""
    mean_ci_number(n, name, wording.paired_differences(rows, oracle, "post_attack_forget_acc"), about, unit="")


def arith_profile_numbers(n: Numbers, session: Session) -> None:
    """The profile settings the arithmetic prose states: seeds, unlearning, UNDO, the attack."""
    p = session.profile.arithmetic
    n.count("seeds", len(p.seeds), "model seeds (independent base/oracle pairs)")
    n.count("unlearnSteps", p.unlearn_steps, "unlearning steps of each baseline")
    n.text("unlearnLrs", wording.number_list(p.unlearn_lrs), "baseline learning-rate sweep")
    n.text("retainDrop", f"{100 * inspect.signature(select_lr).parameters['max_retain_drop'].default:g}",
           "points of base retain accuracy a baseline's chosen learning rate may lose")
    n.text("undoAlphas", wording.number_list(p.undo_alphas), "UNDO noise levels of the standard sweep")
    n.text("extendAlphas", wording.number_list(sorted(p.extend_alphas)), "noise levels of extended global UNDO")
    n.text("distillBudgets", wording.number_list(p.distill_budgets), "standard distillation budgets (steps)")
    n.count("maxBudget", max(p.distill_budgets), "largest standard distillation budget")
    n.count("distillEvalEvery", p.distill_eval_every, "steps between retain checks of the stopping rule")
    n.text("distillLr", wording.number_list([p.distill_lr]), "distillation learning rate")
    n.text("retainThreshold", f"{100 * p.retain_threshold:g}", "stopping rule: points of teacher retain accuracy")
    n.count("distillCap", p.distill_cap(), "most distillation steps of an extended run (the pretraining compute)")
    n.count("attackSteps", p.attack_steps, "relearning attack steps")
    n.count("attackItems", p.attack_train_items, "forget examples the attack trains on")
    n.count("attackLrCount", len(p.attack_lrs), "learning rates of the attack sweep")
    n.text("attackLrs", wording.number_list(p.attack_lrs), "attack learning rates")


def arith_numbers(session: Session, att: pd.DataFrame, rows: pd.DataFrame) -> Numbers:
    """What the arithmetic section says about the main table (``rows``: ``table_rows``) and UNDO
    (``att``: ``selection.attacked``): every value restates a table cell or compares two rows
    by ``wording.compare``."""
    n = Numbers("arith")
    arith_profile_numbers(n, session)
    counts = rows.groupby("label")["base_model"].nunique()
    n.count("models", int(counts.min()), "independently pretrained base models behind each main-table row (fewest)")
    n.text("modelsQualifier", "" if counts.nunique() == 1 else "at least",
           "'' when every main-table row has the same number of models, else 'at least'")
    oracle = rows[rows["method"] == "oracle"]
    for method in ["base", "oracle", *BASELINES]:
        d = rows[rows["method"] == method]
        part = method_name(method)
        mean_ci_number(n, f"{part}Retain", d["retain_acc"], f"{method}: retain accuracy")
        mean_ci_number(n, f"{part}Forget", d["forget_acc"], f"{method}: forget accuracy before the attack")
        mean_ci_number(n, f"{part}AfterAttack", d["post_attack_forget_acc"], f"{method}: forget accuracy after the attack")
        if method in BASELINES:
            _gap(n, f"{part}Gap", d, oracle, f"{method}: post-attack forget accuracy minus the oracle's (points)")
            n.text(f"{part}VsOracle", _versus(d, oracle, "the oracle"), f"{method} vs the attacked oracle")
    # chosen on validation items; the numbers reported for it are test numbers
    after = {m: rows[rows["method"] == m]["post_attack_val_forget_acc"].mean() for m in BASELINES}
    best_baseline = min(after, key=after.get)
    n.text("bestBaseline", best_baseline, "the baseline with the lowest mean post-attack validation forget accuracy")
    configs = global_configs(att)
    n.text("undoRecovery", recovery_sentence(configs), "which global configurations recovered retain accuracy")
    undo_numbers(n, [c for c in configs if c["method"] == "UNDO"], oracle, rows[rows["method"] == best_baseline])
    unrecovered_numbers(n, configs, "arithMaxEntRetain")
    return wording.with_plain_forms(n)


def undo_numbers(n: Numbers, undo: list[dict], oracle: pd.DataFrame, baseline: pd.DataFrame) -> None:
    """The most robust UNDO that recovered on every model ('undoBest…', n/a when none did), chosen
    by post-attack forget accuracy on validation items and reported on test items."""
    rec = [c for c in undo if c["recovered"]]
    best = min(rec, key=lambda c: c["rows"]["post_attack_val_forget_acc"].mean()) if rec else None
    rows = best["rows"] if best else pd.DataFrame(columns=["seed", "retain_acc", "forget_acc",
                                                           "post_attack_forget_acc", "distill_steps"])
    n.text("undoBestAlpha", f"{best['alpha']:g}" if best else "n/a", "α of the most robust UNDO that recovered")
    mean_ci_number(n, "undoBestRetain", rows["retain_acc"], "most robust recovered UNDO: retain accuracy")
    mean_ci_number(n, "undoBestForget", rows["forget_acc"], "most robust recovered UNDO: forget accuracy")
    mean_ci_number(n, "undoBestAfterAttack", rows["post_attack_forget_acc"],
                   "most robust recovered UNDO: forget accuracy after the attack")
    mean_ci_number(n, "undoBestSteps", rows["distill_steps"], "most robust recovered UNDO: distillation steps to recover",
                   scale=1.0, digits=0, unit="")
    _gap(n, "undoBestGap", rows, oracle, "most robust recovered UNDO minus the oracle after the attack (points)")
    n.text("undoBestVsOracle", _versus(rows, oracle, "the oracle"), "most robust recovered UNDO vs the attacked oracle")
    diffs = wording.paired_differences(rows, baseline, "post_attack_forget_acc")
    n.text("undoBestVsBaseline", wording.compare(diffs, ("above", "below", "indistinguishable from")),
           "most robust recovered UNDO vs the most robust baseline after the attack")


def unrecovered_numbers(n: Numbers, configs: list[dict], teacher_retain: str) -> None:
    """The unrecovered global configuration with the most noise ('unrecovered…'; full
    distillation counts as α = 1) and the sentence that says why its robustness is no evidence
    ('unrecoveredNote', empty when every configuration recovered; ``teacher_retain``: the macro of
    the teacher's retain accuracy)."""
    unrec = [c for c in configs if not c["recovered"]]
    worst = max(unrec, key=lambda c: c["alpha"]) if unrec else None
    rows = worst["rows"] if worst else pd.DataFrame(columns=["retain_acc", "post_attack_forget_acc"])
    name = "n/a" if worst is None else ("full distillation" if worst["method"] == "Distill"
                                        else f"UNDO at $\\alpha$ = {worst['alpha']:g}")
    n.text("unrecoveredName", name, "the unrecovered global configuration with the most noise")
    retain = mean_ci_number(n, "unrecoveredRetain", rows["retain_acc"], "it: retain accuracy")
    after = mean_ci_number(n, "unrecoveredAfterAttack", rows["post_attack_forget_acc"],
                           "it: forget accuracy after the attack")
    note = "" if worst is None else (
        f"A run that has not recovered has lost retain accuracy as well ({name}: "
        f"{n.entries[retain]['tex']}, against its teacher's {n.entries[teacher_retain]['tex']}), so its forget "
        f"accuracy after the attack ({n.entries[after]['tex']}) is no evidence of robust unlearning; the table marks "
        "such rows ``not recovered''.")
    n.text("unrecoveredNote", note, "why an unrecovered run's robustness is no evidence ('' when all recovered)")


def write_numbers(session: Session, att: pd.DataFrame, rows: pd.DataFrame) -> Numbers:
    """``paper/numbers/arith.tex`` (notebook 90, beside the main table)."""
    n = arith_numbers(session, att, rows)
    n.write(session.paths)
    return n
