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
MAX_RETAIN_DROP = 0.1  # a baseline learning rate may cost at most this much validation retain accuracy


def models(session: Session) -> pd.DataFrame:
    df = session.store.table("models")
    if df.empty:
        raise RuntimeError("the results store has no models; run 10_pretrain, 30_baselines and 31_undo first")
    return df[df["setting"] == SETTING]


def select_lr(models: pd.DataFrame, method: str, base_retain: float,
              max_retain_drop: float = MAX_RETAIN_DROP) -> float:
    """The sweep's learning rate with the lowest mean validation forget accuracy among those whose
    mean validation retain accuracy stays within ``max_retain_drop`` of the base model's (else the
    best validation retain accuracy). Test accuracies are never read here."""
    runs = models[models["method"] == method]
    if runs.empty:
        raise ValueError(f"no runs of {method!r} in the results store; run 30_baselines first")
    by_lr = runs.groupby("lr")[["val_forget_acc", "val_retain_acc"]].mean()
    ok = by_lr[by_lr["val_retain_acc"] >= base_retain - max_retain_drop]
    return float(ok["val_forget_acc"].idxmin() if not ok.empty else by_lr["val_retain_acc"].idxmax())


def selected_lrs(session: Session, baselines=BASELINES) -> dict[str, float]:
    """The learning rate chosen per baseline on validation items (lowest forget accuracy within
    10 points of the base model's retain accuracy)."""
    df = models(session)
    df = df[df["seed"].isin(session.profile.arithmetic.seeds)]
    base_retain = float(df[df["method"] == "base"]["val_retain_acc"].mean())
    # the sweep's learning rates only: other studies add runs of these methods (the localize
    # study's GradDiff reference), possibly after 40_attacks, which must not change the choice
    swept = df[df["lr"].isin(session.profile.arithmetic.unlearn_lrs)] if "lr" in df else df
    return {m: select_lr(swept, m, base_retain) for m in baselines if (swept["method"] == m).any()}


def _distill_rows(df: pd.DataFrame, session: Session) -> pd.Series:
    """UNDO/Distill rows of this profile's sweeps: standard runs at ``distill_budgets`` and
    extended runs at ``extend_snapshots()`` (each with its ``recovered`` snapshot); rows of other
    sweeps stay in the store but are not reported."""
    p = session.profile.arithmetic
    if "budget" not in df:
        return pd.Series(False, index=df.index)
    extended = df["extended"].fillna(False).astype(bool) if "extended" in df else pd.Series(False, index=df.index)
    standard = ~extended & df["budget"].isin({str(b) for b in p.distill_budgets} | {"recovered"})
    longer = extended & df["budget"].isin({str(b) for b in p.extend_snapshots()} | {"recovered"})
    alphas = set(p.undo_alphas) | set(p.extend_alphas)
    undo = (df["method"] == "UNDO") & df["alpha"].isin(alphas)
    return (undo | (df["method"] == "Distill")) & (standard | longer)


def label_runs(session: Session) -> pd.DataFrame:
    """Every model the paper reports, with a display ``label`` (one row per seed); every row of
    seed s descends from base_s (column ``base_model``)."""
    df = models(session).copy()
    lrs = selected_lrs(session)
    p = session.profile
    keep = df["method"].isin(["base", "oracle"])
    for m, lr in lrs.items():
        keep |= (df["method"] == m) & (df["hparam"] == f"lr={lr:g}")
    keep |= _distill_rows(df, session)
    keep &= df["seed"].isin(p.arithmetic.seeds)
    df = df[keep].copy()
    if "extended" not in df:
        df["extended"] = False
    df["extended"] = df["extended"].fillna(False).astype(bool)

    def label(row) -> str:
        if row["method"] in ("UNDO", "Distill"):
            return f"{row['method']} α={row['alpha']:g}" if row["method"] == "UNDO" else "Distill (α=1)"
        return row["method"]

    df["label"] = df.apply(label, axis=1)
    return df


def attack_targets(session: Session) -> list[tuple[dict, str, int]]:
    """(store key, model directory, seed) of every model to attack, with the model's own seed
    (base_s and oracle_s are separate models; the attack's data sample is drawn with seed s)."""
    df = label_runs(session)
    targets = []
    for _, row in df.iterrows():
        key = {"setting": SETTING, "method": row["method"], "seed": int(row["seed"]),
               "hparam": row["hparam"] if isinstance(row["hparam"], str) else ""}
        targets.append((key, row["model_dir"], int(row["seed"])))
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
    cols = ["method", "hparam", "seed", "model_id", "post_attack_forget_acc", "post_attack_val_forget_acc",
            "worst_lr", "curve"]
    return runs.merge(att[cols], on=["method", "hparam", "seed", "model_id"], how="inner")


def attacked_all(session: Session) -> pd.DataFrame:
    """Every stored model of this setting joined with its attack under this profile's attack
    settings (same method, hyperparameters and seed); models never attacked are left out."""
    att = session.store.table("attacks")
    if att.empty:
        raise RuntimeError("no attack results yet")
    att = att[att["attack_hash"] == config_hash(session.profile.arithmetic.relearn())]
    cols = ["method", "hparam", "seed", "model_id", "post_attack_forget_acc", "post_attack_val_forget_acc",
            "worst_lr", "curve"]
    runs = models(session)
    runs = runs.assign(model_id=[model_id(session, d) for d in runs["model_dir"]])
    return runs.merge(att[cols], on=["method", "hparam", "seed", "model_id"], how="inner")


def reported_global(group: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The snapshot of one global configuration (one method and α, all seeds) that tables report,
    and a note: the extended run when there is one, else the standard run; at its ``recovered``
    snapshot when every seed recovered, else at its largest budget ('not recovered in N steps')."""
    ext = group[group["extended"]]
    runs = ext if not ext.empty else group[~group["extended"]]
    rec = runs[runs["budget"] == "recovered"]
    if not rec.empty and rec["seed"].nunique() == runs["seed"].nunique():
        return rec, ""
    biggest = max(int(b) for b in runs["budget"] if b != "recovered")
    note = f"not recovered in {biggest} steps" + ("" if not ext.empty else ", not extended")
    return runs[runs["budget"] == str(biggest)], note


def strongest_undo(att: pd.DataFrame) -> pd.DataFrame:
    """UNDO at its largest alpha, at the step where the stopping rule fired (else max budget)."""
    undo = att[att["method"] == "UNDO"]
    return reported_global(undo[undo["alpha"] == undo["alpha"].max()])[0]
