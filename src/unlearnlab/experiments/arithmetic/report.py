"""From the results store to the paper: the main table, figure data, and sentences that state
each notebook's results with their numbers (notebooks 10, 30, 31, 40 and 90 print them)."""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.paths import Paths
from unlearnlab.core.stats import mean_ci
from unlearnlab.experiments.arithmetic.selection import BASELINES, reported_global, strongest_undo
from unlearnlab.experiments.session import Session
from unlearnlab.reporting import tables

PRETRAIN_COLUMNS = ["acc_add", "acc_sub", "acc_mul", "acc_div", "english_ce", "n_params", "steps", "tokens", "wall_s"]


def world_examples(world, per_split: int = 3) -> pd.DataFrame:
    """A few rows of each split (notebook 00): forget rows are x and ÷, retain rows + and −."""
    examples = pd.concat([world.splits[s].to_pandas().sample(per_split, random_state=0).assign(split=s)
                          for s in ["forget_train", "retain_train", "eval", "english_train"]])
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
    return ("Chosen learning rates: " + ", ".join(
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
    """Curves at each model's worst-case lr for base, oracle, baselines, strongest UNDO, Distill."""
    undo = strongest_undo(att)
    undo = undo.assign(label=undo["label"] + f" (retain {100 * undo['retain_acc'].mean():.0f} %)")
    chosen = pd.concat([att[att["method"].isin(["base", "oracle", *BASELINES])], undo])
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
