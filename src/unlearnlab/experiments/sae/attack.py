"""The relearning attack of the synthetic tier: per seed, its own base model and the best
configuration of each family (SAE clamp, RMU, GradDiff) at matched side effects, whatever its
score, are fine-tuned on forget data of the attack's entities (``attacks.relearn``), and forget
accuracy on held-out entities is read on that seed's suite with its letter accuracy (exact match
of the full-vocabulary argmax would score a model that stops answering with a letter as
unlearned), on its validation and its test questions (``validation``): the configuration
attacked and the attacker's stopping point are chosen on validation, test is reported."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from unlearnlab.attacks.relearn import answer_loss, check_forget_only, relearn_sweep, sampled_batches, worst_case
from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.models import load_model
from unlearnlab.data import hazard
from unlearnlab.data.hazard import HazardWorld
from unlearnlab.evals import unlearning_score as us
from unlearnlab.experiments.sae import per_model, validation
from unlearnlab.experiments.sae.synthetic import load_suite
from unlearnlab.experiments.session import Session
from unlearnlab.methods.sae_clamp import edit_for
from unlearnlab.sae.hooks import attach
from unlearnlab.sae.model import SparseAutoencoder


def intervened_model(session: Session, base_dir: Path, target: dict) -> torch.nn.Module:
    """The model a target describes: a baseline's weights, or the base with an SAE edit attached."""
    model = load_model(target.get("model_dir", base_dir), session.device)
    if target.get("sae_dir"):
        sae = SparseAutoencoder.load(target["sae_dir"], session.device)
        attach(model, sae.cfg.site, sae.cfg.layer,
               edit_for(sae, target["intervention"], target["features"], target.get("multiplier")))
    return model


def attack_job(session: Session, world: HazardWorld, base_dir: Path, target: dict) -> dict:
    """Relearning attack on ``target`` (cached): curves and worst case over learning rates."""
    cfg = session.profile.sae.attack()
    # model and SAE folders by name (their names carry their config hashes): an absolute path in
    # the key would make every output root, clone or machine recompute the same attack
    key = {k: (Path(v).name if k.endswith("_dir") and v else v) for k, v in target.items()
           if k not in ("label", "variant")}

    def make(tmp: Path) -> None:
        model = intervened_model(session, base_dir, target)
        suite = load_suite(world, base_dir)  # held-out entities only: test and validation questions
        counts = session.profile.sae.suite_counts()
        test, val = (validation.forget_subset(suite, part, counts=counts) for part in (validation.TEST, validation.VAL))
        attack_data = world.attack_set(cfg.n_items, target["seed"])
        check_forget_only(attack_data, [hazard.FORGET_DOMAIN])
        batches = sampled_batches(attack_data, cfg.batch_size, target["seed"], session.device)

        def metric(m) -> dict:
            return {"forget_acc": test.evaluate(m)["forget_acc"], "val_forget_acc": val.evaluate(m)["forget_acc"]}

        rows = relearn_sweep(model, batches, metric, cfg, loss=answer_loss, **session.hardware)
        # the attacker's learning rate is picked on validation questions; the test number is reported at it
        write_json_atomic(tmp / "attack.json", {**worst_case(rows, select_key="val_forget_acc"), "curve": rows,
                                                "before": rows[0]["forget_acc"]})

    path = Artifact(session.paths.artifacts, "sae_attacks", f"{target['label']}_s{target['seed']}",
                    {"target": key, "attack": asdict(cfg), "base": Path(base_dir).name, "eval": "val/test",
                     **_counts_key(session)}).build(make)
    return {"label": target["label"], "variant": target.get("variant", target["label"]), "seed": target["seed"],
            **read_json(path / "attack.json")}


def _counts_key(session: Session) -> dict:
    """The fixed suite sizes in the attack's key (none before they existed: old caches stay valid)."""
    counts = session.profile.sae.suite_counts()
    return {} if counts is None else {"suite_counts": asdict(counts)}


def attack_targets(session: Session, sae_dirs: dict, runs: pd.DataFrame, scores: pd.DataFrame,
                   base_side_acc: float | dict[int, float]) -> list[dict]:
    """Per seed: the base model (that seed's own), and the best configuration of each family at
    side effects ≥ ``attack_side_ratio`` × that seed's base (``_choice``), whatever its score: each
    baseline, and the trained-SAE clamp variant (rule, retain corpus) with the lowest mean
    validation forget accuracy over seeds at that level. Every choice reads validation questions:
    ``base_side_acc`` is the unmodified model's validation side-effect accuracy, per seed (one
    model each) or one value for every seed."""
    p = session.profile.sae
    ratio = p.attack_side_ratio
    side = base_side_acc if isinstance(base_side_acc, dict) else {seed: base_side_acc for seed in p.seeds}
    targets = []
    clamps = scores[(scores["intervention"] == "clamp") & scores["method"].str.startswith("SAE")
                    & ~scores["method"].str.contains("untrained", regex=False)]
    means = clamps.groupby("variant")[f"val_{us.forget_col(ratio)}"].mean().dropna()  # validation only
    best_clamp = means.idxmin() if not means.empty else None  # None: no known forget question
    for seed in p.seeds:
        targets.append({"label": "base", "seed": seed})
        for method in p.methods:
            best = _choice(runs, method, seed, side[seed], ratio)
            if best is not None:
                targets.append({"label": method, "seed": seed, "model_dir": best["model_dir"]})
        best = _choice(runs, best_clamp, seed, side[seed], ratio) if best_clamp else None
        if best is not None:
            targets.append({"label": "SAE-clamp", "variant": best_clamp, "seed": seed,
                            "sae_dir": str(sae_dirs[(best["kind"], seed)]), "intervention": "clamp",
                            "features": [int(f) for f in best["features"]], "multiplier": float(best["multiplier"])})
    return targets


def _choice(runs: pd.DataFrame, variant: str, seed: int, base_val_side: float, ratio: float) -> pd.Series | None:
    """The configuration attacked, chosen on validation questions: ``per_model.choose`` at
    ``ratio``, or (none qualifying) the one keeping most validation side effects; None when
    nothing was measured."""
    rows = runs[(runs["variant"] == variant) & (runs["seed"] == seed)]
    if rows.empty or rows["val_side_acc"].isna().all() or rows["val_forget_acc"].isna().all():
        return None
    best = per_model.choose(rows, base_val_side, ratio)
    return best if best is not None else rows.loc[rows["val_side_acc"].idxmax()]


def _accuracy(value) -> float:
    """An accuracy for ranking: -1 for None / NaN (an empty part), so it never wins."""
    return -1.0 if value is None or value != value else float(value)


def attack_summary(attacks: pd.DataFrame) -> pd.DataFrame:
    """Per target and seed: test forget accuracy before the attack, at the attacker's best stopping
    point (the learning rate and evaluated step > 0 with the highest *validation* forget accuracy;
    the test accuracy there is ``recovered``), the attacked *base* at that same learning rate and step (``base_same_step``:
    what the attack leaves of a model that forgot nothing; when it is below 1, the attack damages
    the answer format and recovery reads against it) and at the final step (``final``)."""
    if attacks.empty:
        return pd.DataFrame()
    base = {}
    for _, row in attacks[attacks["label"] == "base"].iterrows():
        base[row["seed"]] = {(r["lr"], r["step"]): r["forget_acc"] for r in row["curve"]}
    rows = []
    for _, row in attacks.iterrows():
        later = [r for r in row["curve"] if r["step"] > 0] or row["curve"]
        top = max(later, key=lambda r: _accuracy(r["val_forget_acc"]))  # the stopping point: chosen on validation
        rows.append({"label": row["label"], "variant": row["variant"], "seed": row["seed"],
                     "before": row["before"], "recovered": top["forget_acc"],
                     "base_same_step": base.get(row["seed"], {}).get((top["lr"], top["step"]), float("nan")),
                     "final": row["post_attack_forget_acc"], "best_step": top["step"], "lr": top["lr"]})
    return pd.DataFrame(rows)
