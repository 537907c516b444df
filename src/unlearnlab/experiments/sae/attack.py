"""The relearning attack of the synthetic tier: per seed, its own base model and the best
configuration of each family (SAE clamp, RMU, GradDiff) at matched side effects, whatever its
score, are fine-tuned on forget data of held-out entities (``attacks.relearn``), and held-out
forget accuracy is read on that seed's suite with its letter accuracy (exact match of the
full-vocabulary argmax would score a model that stops answering with a letter as unlearned)."""

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
        suite = load_suite(world, base_dir).forget_split("eval")
        attack_data = world.attack_set(cfg.n_items, target["seed"])
        check_forget_only(attack_data, [hazard.FORGET_DOMAIN])
        batches = sampled_batches(attack_data, cfg.batch_size, target["seed"], session.device)
        rows = relearn_sweep(model, batches, lambda m: {"forget_acc": suite.evaluate(m)["forget_acc"]}, cfg,
                             loss=answer_loss, **session.hardware)
        write_json_atomic(tmp / "attack.json", {**worst_case(rows), "curve": rows, "before": rows[0]["forget_acc"]})

    path = Artifact(session.paths.artifacts, "sae_attacks", f"{target['label']}_s{target['seed']}",
                    {"target": key, "attack": asdict(cfg), "base": Path(base_dir).name}).build(make)
    return {"label": target["label"], "variant": target.get("variant", target["label"]), "seed": target["seed"],
            **read_json(path / "attack.json")}


def attack_targets(session: Session, sae_dirs: dict, runs: pd.DataFrame, scores: pd.DataFrame,
                   base_side_acc: float | dict[int, float]) -> list[dict]:
    """Per seed: the base model (that seed's own), and the best configuration of each family at
    side effects ≥ ``attack_side_ratio`` × that seed's base (``unlearning_score.attack_choice``),
    whatever its score: each baseline, and the trained-SAE clamp variant (rule, retain corpus) with
    the lowest mean forget accuracy over seeds at that level. ``base_side_acc``: per seed (one
    model each), or one value for every seed."""
    p = session.profile.sae
    ratio = p.attack_side_ratio
    side = base_side_acc if isinstance(base_side_acc, dict) else {seed: base_side_acc for seed in p.seeds}
    targets = []
    clamps = scores[(scores["intervention"] == "clamp") & scores["method"].str.startswith("SAE")
                    & ~scores["method"].str.contains("untrained", regex=False)]
    means = clamps.groupby("variant")[us.forget_col(ratio)].mean().dropna()
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


def _choice(runs: pd.DataFrame, variant: str, seed: int, base_side_acc: float, ratio: float) -> pd.Series | None:
    rows = runs[(runs["variant"] == variant) & (runs["seed"] == seed)]
    return us.attack_choice(rows, base_side_acc, ratio) if not rows.empty else None


def attack_summary(attacks: pd.DataFrame) -> pd.DataFrame:
    """Per target and seed: forget accuracy before the attack, at the attacker's best stopping
    point (the highest held-out forget accuracy over learning rates and evaluated steps > 0:
    ``recovered``), the attacked *base* at that same learning rate and step (``base_same_step``:
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
        top = max(later, key=lambda r: -1.0 if r["forget_acc"] is None else r["forget_acc"])  # None: empty suite
        rows.append({"label": row["label"], "variant": row["variant"], "seed": row["seed"],
                     "before": row["before"], "recovered": top["forget_acc"],
                     "base_same_step": base.get(row["seed"], {}).get((top["lr"], top["step"]), float("nan")),
                     "final": row["post_attack_forget_acc"], "best_step": top["step"], "lr": top["lr"]})
    return pd.DataFrame(rows)
