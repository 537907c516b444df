"""Private records: what every model is scored on, and the relearning attack (both tiers).

A saved model's evaluation and each of its attacks are rows of the results store, keyed by the
model they describe (``cached``): rerunning the notebook reads them back. ``results`` joins the
synthetic tier's rows into one frame with the privacy leak of every membership-inference attack
relative to the oracle of the same forget ratio and seed (each seed has its own models).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch

from unlearnlab.attacks.relearn import RelearnConfig, relearning_attack, worst_case
from unlearnlab.core.artifacts import config_hash, read_json
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.models import load_model
from unlearnlab.data import medical as med
from unlearnlab.data.medical_world import MedicalWorld
from unlearnlab.evals.exact_match import accuracy_by_label, cross_entropy, exact_match
from unlearnlab.evals.mia import ATTACKS, mia_auc, privacy_leak
from unlearnlab.evals.verbatim import private_token_accuracy
from unlearnlab.experiments.session import Session, model_id

SETTING = "private_records"
MODELS_TABLE, ATTACKS_TABLE = "medical_models", "medical_attacks"
EVAL_VERSION = 3  # part of every evaluation row's key: 2 = verbatim on private tokens; 3 = validation QA too


def cached(session: Session, table: str, key: dict, compute: Callable[[], dict]) -> dict:
    """The store's row for ``key`` in ``table``, computed (``compute()``: its values) and stored
    the first time."""
    if session.store.has(table, key):
        return session.store.get(table, key)
    values = compute()
    session.store.put(table, key, values)
    return {**key, **values}


def nan_mean(values: torch.Tensor) -> float:
    """Mean of the non-NaN values (NaN when there are none)."""
    values = values.float()
    values = values[~values.isnan()]
    return float(values.mean()) if len(values) else float("nan")


def note_verbatim(model, tokenizer, records: Sequence[dict], texts: Sequence[str] | None = None) -> dict[str, float]:
    """Private-token and all-token verbatim accuracy on the second half of ``records``' notes
    (``texts``: the notes as trained, e.g. truncated; default the whole notes)."""
    texts = list(texts) if texts is not None else [med.note_text(r) for r in records]
    private, every = private_token_accuracy(model, tokenizer, texts,
                                            [med.private_spans(r, t) for r, t in zip(records, texts)],
                                            [med.verbatim_cut(t) for t in texts])
    return {"verbatim": nan_mean(private), "verbatim_all": nan_mean(every)}


def evaluate(model, world: MedicalWorld, ratio: float, session: Session) -> dict:
    """Forget / retain / holdout QA accuracy (held-out test paraphrase), forget and retain QA in
    the validation paraphrase (``val_*``: what choices read), forget QA in trained wordings,
    per-field forget accuracy, verbatim extraction of the second half of the notes
    (private tokens, and all tokens), MIA AUC (forget notes vs holdout notes) for every attack,
    and English cross-entropy."""
    p = session.profile.private
    forget, holdout = world.splits.forget[ratio], world.splits.holdout
    questions = world.questions(forget)
    retain = world.retain_eval_clients(ratio, p.retain_eval_clients)
    out = {"n_forget": len(forget), "n_forget_questions": len(questions),
           "forget_qa_acc": nan_mean(exact_match(model, questions)),
           "forget_qa_seen_acc": nan_mean(exact_match(model, world.questions(forget, "train"))),
           "retain_qa_acc": nan_mean(exact_match(model, world.questions(retain))),
           "val_forget_qa_acc": nan_mean(exact_match(model, world.questions(forget, "val"))),
           "val_retain_qa_acc": nan_mean(exact_match(model, world.questions(retain, "val"))),
           "holdout_qa_acc": nan_mean(exact_match(model, world.questions(holdout))),
           "english_ce": cross_entropy(model, world.english())}
    for name, clients in (("forget", forget), ("holdout", holdout)):
        verbatim = note_verbatim(model, world.tokenizer, [world.records[c] for c in clients])
        out.update({f"{name}_{k}": v for k, v in verbatim.items()})
    out.update({f"forget_{k}_acc": v for k, v in accuracy_by_label(model, world.questions(forget)).items()})
    (members, member_texts), (others, other_texts) = world.notes(forget), world.notes(holdout)
    aucs = mia_auc(model, members, others, member_texts, other_texts, k=p.mia_k)
    out.update({f"auc_{name}": value for name, value in aucs.items()})
    return out


def record(session: Session, world: MedicalWorld, model_dir: Path, method: str, ratio: float,
           seed: int | None = None) -> dict:
    """Evaluate a saved model on one forget split (a base or oracle once per ratio and seed: each
    seed has its own). ``seed``: the seed whose models it belongs to, part of the key (None: rows
    stored before seeds had their own models)."""
    key = {"setting": SETTING, "method": method, "ratio": ratio, "model_id": model_id(session, model_dir),
           "eval": EVAL_VERSION, **({} if seed is None else {"seed": seed})}

    def compute() -> dict:
        model = load_model(model_dir, session.device)
        steps = read_json(Path(model_dir) / "metrics.json").get("steps", 0)
        return {**evaluate(model, world, ratio, session), "steps": steps}

    return cached(session, MODELS_TABLE, key, compute)


def relearn_split(forget: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """Forget clients the attacker relearns on (half, at least one) and the others it is scored on."""
    forget = list(forget)
    random.Random(seed).shuffle(forget)
    n = max(1, len(forget) // 2)
    return sorted(forget[:n]), sorted(forget[n:])


def attack_others(model, attacked: TokenSet, others: TokenSet, config: RelearnConfig, seed: int,
                  hardware: dict, others_val: TokenSet) -> dict:
    """The relearning attack of both tiers: fine-tune on ``attacked`` (forget rows only), score QA
    accuracy on ``others`` (the other forget clients' questions in the test paraphrase) and on
    ``others_val`` (theirs in the validation paraphrase) before and after; the attacker's learning
    rate is chosen on validation (``attack_summary``)."""
    curve = relearning_attack(model, attacked, others, ["forget"], config, seed, forget_val=others_val, **hardware)
    return {**attack_summary(curve), "curve": curve}


def attack_summary(curve: list[dict]) -> dict:
    """Before and after the attack on the other forget clients: the attacker's learning rate is the
    one with the highest *validation* QA accuracy at the last step (``worst_case(select_key=...)``),
    and ``others_after`` is the *test* accuracy at that rate (``others_after_val``: validation)."""
    after = worst_case(curve, select_key="val_forget_acc")
    first = next(r for r in curve if r["step"] == 0)
    return {"others_before": first["forget_acc"], "others_before_val": first["val_forget_acc"],
            "others_after": after["post_attack_forget_acc"], "others_after_val": after["post_attack_val_forget_acc"],
            "worst_lr": after["worst_lr"]}


def relearn_config(session: Session) -> RelearnConfig:
    p = session.profile.private
    return RelearnConfig(lrs=p.relearn_lrs, steps=p.relearn_steps, eval_every=p.relearn_eval_every,
                         batch_size=p.unlearn_batch_size, n_items=0)


def relearn(session: Session, world: MedicalWorld, model_dir: Path, method: str, ratio: float, seed: int) -> dict:
    """Fine-tune on half of the forget clients' records; QA accuracy on the *other* forget
    clients before and after (``attack_others``)."""
    config = relearn_config(session)
    key = {"setting": SETTING, "method": method, "ratio": ratio, "seed": seed,
           "model_id": model_id(session, model_dir), "attack_hash": config_hash(config)}

    def compute() -> dict:
        attacked, others = relearn_split(world.splits.forget[ratio], seed)
        values: dict = {"n_relearned": len(attacked), "n_others": len(others)}
        if others:
            model = load_model(model_dir, session.device)
            values.update(attack_others(model, world.records_set(attacked, "forget"), world.questions(others),
                                        config, seed, session.hardware, world.questions(others, "val")))
        return values

    return cached(session, ATTACKS_TABLE, key, compute)


def results(session: Session, dirs: dict) -> pd.DataFrame:
    """One row per (method, ratio, seed) of this profile's grid (``dirs``: what ``run.run``
    returned; rows of other models in the store, say from an earlier config, are left out):
    evaluation, privacy leak of every MIA attack relative to the oracle of the same ratio *and
    seed* (each seed has its own), the relearning attack, and ``public_model``: the independently
    pretrained model behind the row (tables count them)."""
    p = session.profile.private
    models, attacks = session.store.table(MODELS_TABLE), session.store.table(ATTACKS_TABLE)
    if models.empty or attacks.empty:
        raise ValueError("no private-records results yet; run experiments.private.run.run first")
    if not ("eval" in models and (models["eval"] == EVAL_VERSION).any() and "seed" in models):
        raise ValueError(f"no private-records evaluation of version {EVAL_VERSION} yet; run experiments.private.run.run")
    ids = {model_id(session, d) for d in [*dirs["bases"].values(), *dirs["oracles"].values(), *dirs["unlearned"]]}
    models = models[(models["eval"] == EVAL_VERSION) & models["model_id"].isin(ids)
                    & models["ratio"].isin(p.forget_ratios) & models["seed"].isin(p.seeds)]
    attacks = attacks[attacks["seed"].isin(p.seeds) & (attacks["attack_hash"] == config_hash(relearn_config(session)))]
    df = models.drop(columns=["setting"]).merge(attacks.drop(columns=["setting", "curve"]),
                                                on=["method", "ratio", "model_id", "seed"], how="left")
    df["seed"] = df["seed"].astype(int)
    df["public_model"] = df["seed"].map({s: model_id(session, d) for s, d in dirs["publics"].items()})
    oracle = df[df["method"] == "oracle"].set_index(["ratio", "seed"])
    for a in ATTACKS:
        df[f"leak_{a}"] = [privacy_leak(v, float(oracle[f"auc_{a}"].get((r, s), float("nan"))))
                           for v, r, s in zip(df[f"auc_{a}"], df["ratio"], df["seed"])]
    order = {m: i for i, m in enumerate(["base", "oracle", *[m for m, _ in p.methods]])}
    return df.sort_values(["ratio", "method", "seed"], key=lambda c: c.map(order) if c.name == "method" else c)
