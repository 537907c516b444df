"""From the results store to the paper: which models to attack, figure data, the main table,
and sentences that state the results with their numbers."""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.artifacts import config_hash
from unlearnlab.experiments.arithmetic.run import SETTING, attack_config, model_id, select_lr
from unlearnlab.experiments.session import Session
from unlearnlab.core.stats import mean_ci

BASELINES = ("GradDiff", "MaxEnt", "RMU")
KEY = ("setting", "method", "seed", "hparam")


def models(session: Session) -> pd.DataFrame:
    df = session.store.table("models")
    if df.empty:
        raise RuntimeError("the results store has no models; run 10_pretrain, 30_baselines and 31_undo first")
    return df[df["setting"] == SETTING]


def selected_lrs(session: Session, baselines=BASELINES) -> dict[str, float]:
    """The learning rate chosen per baseline (lowest forget acc within 10 points of base retain)."""
    df = models(session)
    base_retain = float(df[df["method"] == "base"]["retain_acc"].mean())
    return {m: select_lr(df, m, base_retain) for m in baselines if (df["method"] == m).any()}


def label_runs(session: Session) -> pd.DataFrame:
    """Every model the paper reports, with a display ``label`` (one row per seed)."""
    df = models(session).copy()
    lrs = selected_lrs(session)
    p = session.profile
    keep = df["method"].isin(["base", "oracle"])
    for m, lr in lrs.items():
        keep |= (df["method"] == m) & (df["hparam"] == f"lr={lr:g}")
    # distillation rows of this profile's sweep only (rows of earlier sweeps stay in the store)
    budgets = {str(b) for b in p.arithmetic.distill_budgets} | {"recovered"}
    in_sweep = df["budget"].isin(budgets) if "budget" in df else False
    keep |= (df["method"] == "UNDO") & df["alpha"].isin(p.arithmetic.undo_alphas) & in_sweep
    keep |= (df["method"] == "Distill") & in_sweep
    keep &= df["seed"].isin(p.arithmetic.seeds)
    df = df[keep].copy()

    def label(row) -> str:
        if row["method"] in ("UNDO", "Distill"):
            return f"{row['method']} α={row['alpha']:g}" if row["method"] == "UNDO" else "Distill (α=1)"
        return row["method"]

    df["label"] = df.apply(label, axis=1)
    return df


def attack_targets(session: Session) -> list[tuple[dict, str, int]]:
    """(store key, model directory, seed) of every model to attack; base and oracle are
    attacked once per profile seed (the attack's data sample differs by seed)."""
    df = label_runs(session)
    targets = []
    for _, row in df.iterrows():
        seeds = session.profile.arithmetic.seeds if row["method"] in ("base", "oracle") else [int(row["seed"])]
        for seed in seeds:
            key = {"setting": SETTING, "method": row["method"], "seed": int(seed),
                   "hparam": row["hparam"] if isinstance(row["hparam"], str) else ""}
            targets.append((key, row["model_dir"], int(seed)))
    return targets


def attacked(session: Session) -> pd.DataFrame:
    """Runs joined with their worst-case post-attack forget accuracy (one row per seed)."""
    runs = label_runs(session)
    att = session.store.table("attacks")
    if att.empty:
        raise RuntimeError("no attack results; run 40_attacks first")
    att = att[att["attack_hash"] == config_hash(attack_config(session))]
    if att.empty:
        raise RuntimeError("no attack results for this profile's attack settings; run 40_attacks first")
    runs = runs.assign(model_id=[model_id(session, d) for d in runs["model_dir"]])
    merged = runs.merge(att[["method", "hparam", "seed", "model_id", "post_attack_forget_acc", "worst_lr", "curve"]],
                        on=["method", "hparam", "model_id"], how="inner", suffixes=("_model", ""))
    # base/oracle: one model, attacked with several seeds; others: the model's own seed
    same = merged["method"].isin(["base", "oracle"]) | (merged["seed_model"] == merged["seed"])
    return merged[same].drop(columns=["seed_model"])


def attacked_all(session: Session) -> pd.DataFrame:
    """Every stored model of this setting joined with its attack under this profile's attack
    settings (same method, hyperparameters and seed); models never attacked are left out."""
    att = session.store.table("attacks")
    if att.empty:
        raise RuntimeError("no attack results yet")
    att = att[att["attack_hash"] == config_hash(attack_config(session))]
    cols = ["method", "hparam", "seed", "model_id", "post_attack_forget_acc", "worst_lr", "curve"]
    runs = models(session)
    runs = runs.assign(model_id=[model_id(session, d) for d in runs["model_dir"]])
    return runs.merge(att[cols], on=["method", "hparam", "seed", "model_id"], how="inner")


def strongest_undo(att: pd.DataFrame) -> pd.DataFrame:
    """UNDO at its largest alpha, at the step where the stopping rule fired (else max budget)."""
    undo = att[att["method"] == "UNDO"]
    top = undo[undo["alpha"] == undo["alpha"].max()]
    rec = top[top["budget"] == "recovered"]
    if rec["seed"].nunique() < top["seed"].nunique():
        biggest = max(int(b) for b in top["budget"] if b != "recovered")
        rec = top[top["budget"] == str(biggest)]
    return rec


def table_rows(att: pd.DataFrame) -> pd.DataFrame:
    """The main table's rows: base, oracle, baselines, UNDO (each alpha, at recovery) and full
    distillation (at recovery, else its largest budget)."""
    parts = [att[att["method"].isin(["base", "oracle", *BASELINES])]]
    for (method, alpha), group in att[att["method"].isin(["UNDO", "Distill"])].groupby(["method", "alpha"]):
        rec = group[group["budget"] == "recovered"]
        if rec["seed"].nunique() < group["seed"].nunique():
            biggest = max(int(b) for b in group["budget"] if b != "recovered")
            rec = group[group["budget"] == str(biggest)].assign(label=lambda d: d["label"] + " (not recovered)")
        parts.append(rec)
    out = pd.concat(parts, ignore_index=True)
    out["steps"] = out["steps"].fillna(0)
    order = {"base": 0, "oracle": 1, **{m: 2 + i for i, m in enumerate(BASELINES)}, "UNDO": 10, "Distill": 20}
    return out.sort_values(["method", "label"], key=lambda s: s.map(order) if s.name == "method" else s)


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
    d = att[att["method"].isin(["UNDO", "Distill"]) & (att["budget"] != "recovered")].copy()
    d["distill_steps"] = d["budget"].astype(int)
    return d.sort_values(["alpha", "distill_steps"])


def describe(att: pd.DataFrame) -> str:
    """The relearning result in sentences, with numbers (mean ± 95 % CI over seeds)."""

    def stat(df, col):
        m, c = mean_ci(df[col].tolist())
        return f"{100 * m:.1f} ± {100 * c:.1f} %"

    lines = []
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
        undo = att[(att["method"] == "UNDO") & (att["budget"] != "recovered")]
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
