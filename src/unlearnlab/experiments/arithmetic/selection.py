"""Which stored models the arithmetic study reports and attacks: the runs of this profile, the
learning rate chosen per baseline, display labels, and runs joined with their attacks.

Everything here reads the results store (``session.store``); nothing trains.
"""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.artifacts import config_hash
from unlearnlab.experiments.arithmetic.config import SETTING
from unlearnlab.experiments.session import Session, model_id

BASELINES = ("GradDiff", "MaxEnt", "RMU")


def models(session: Session) -> pd.DataFrame:
    df = session.store.table("models")
    if df.empty:
        raise RuntimeError("the results store has no models; run 10_pretrain, 30_baselines and 31_undo first")
    return df[df["setting"] == SETTING]


def select_lr(models: pd.DataFrame, method: str, base_retain: float, max_retain_drop: float = 0.1) -> float:
    """The sweep's learning rate with the lowest mean forget accuracy among those whose mean
    retain accuracy stays within ``max_retain_drop`` of the base model (else the best retain)."""
    runs = models[models["method"] == method]
    if runs.empty:
        raise ValueError(f"no runs of {method!r} in the results store; run 30_baselines first")
    by_lr = runs.groupby("lr")[["forget_acc", "retain_acc"]].mean()
    ok = by_lr[by_lr["retain_acc"] >= base_retain - max_retain_drop]
    return float(ok["forget_acc"].idxmin() if not ok.empty else by_lr["retain_acc"].idxmax())


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
    att = att[att["attack_hash"] == config_hash(session.profile.arithmetic.relearn())]
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
    att = att[att["attack_hash"] == config_hash(session.profile.arithmetic.relearn())]
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
