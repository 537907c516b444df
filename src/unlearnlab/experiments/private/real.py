"""Private records, real tier: LoRA fine-tunes of SmolLM2-135M-Instruct on private clients.

The synthetic tier (``run``) trains small models from scratch; here a real pretrained model
learns the clients instead, in the TOFU protocol. Its settings are the profile section's
``real_*`` fields (``PrivateConfig``; ``real_config`` swaps in a user's model):

1. a slice of the synthetic world's private clients (``real_clients`` members plus
   ``real_holdout`` non-members) is split by client into forget / retain / holdout (one forget
   ratio, ``real_ratio``, at least ``min_forget`` clients);
2. the **base** is a LoRA adapter (on the last ``real_lora_layers`` decoder layers: the backward
   pass stops there, which halves a CPU step) trained on every member's questions in the trained
   paraphrases; the **oracle** is the same adapter trained, from the same start and for the same
   steps, on the retain clients only;
3. each method of ``real_methods`` unlearns the forget clients from the base by training the
   base's adapter further (the registry's methods unchanged: only adapter weights are trainable);
4. every model is scored on questions in the *held-out* paraphrase (forget / retain / holdout
   clients), membership inference (every attack of ``evals.mia``) on the forget clients' trained
   question–answer texts against the holdout clients' texts in the same templates, and the
   relearning attack of the synthetic tier (``evaluate.attack_others``).

With ``real_train_notes`` the clients' notes (their first ``real_note_words`` words; 0: whole
notes) join the question–answer texts in every training set (base, oracle, unlearning,
relearning), in batches of their own (``grouped_sampler``: a note in a question batch would pad
every question to its length), and the evaluation adds note-level membership inference (forget vs
holdout notes, ``auc_note_*``) and verbatim extraction of the notes' private tokens. The default
profile trains question–answer texts only: on this CPU a SmolLM2 step on eight 150-token notes
takes ~4 s, ten times one on sixteen 20-token questions; smoke and gpu train the notes too.
Answers are plain text after the question (" pneumonia<|im_end|>"), no chat template.

The fine-tunes (2), the unlearning (3) and the relearning attack (4) are training jobs (``core.jobs``:
``finetune_job``, ``unlearn_job``, ``relearn_job``): in the notebook's process, or under ``accelerate
launch`` when the profile names an accelerate config; the other evaluations stay in the notebook's
process (forward passes of one adapted model fit one device).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from unlearnlab.attacks.relearn import RelearnConfig
from unlearnlab.core import anatomy, distributed, jobs
from unlearnlab.core.artifacts import Artifact, config_hash, read_json, write_json_atomic
from unlearnlab.core.batching import TokenSet, grouped_sampler
from unlearnlab.core.job_args import as_args, from_args
from unlearnlab.core.logprobs import nll_of
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.precision import bf16_autocast
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.training import TrainConfig, train
from unlearnlab.data import medical as med
from unlearnlab.data.medical_world import MedicalWorld
from unlearnlab.evals.exact_match import accuracy_by_label, exact_match
from unlearnlab.evals.mia import mia_auc, privacy_leak
from unlearnlab.experiments.private.config import PrivateConfig
from unlearnlab.experiments.private.evaluate import (EVAL_VERSION, attack_others, cached, nan_mean, note_verbatim,
                                                     relearn_split)
from unlearnlab.experiments.private.run import METHOD_CONFIG
from unlearnlab.experiments.session import Session, model_id
from unlearnlab.methods import UnlearnData, get_method

SETTING = "private_records_real"
MODELS_TABLE, ATTACKS_TABLE = "medical_real_models", "medical_real_attacks"
ATTACK_COLUMNS = ("n_relearned", "n_others", "others_before", "others_after", "others_before_val", "others_after_val",
                  "worst_lr")


def real_config(session: Session, model: str | None = None) -> PrivateConfig:
    """The profile's private section, with ``model`` (a hub name or local directory) as the real
    tier's model when given, and bf16 training only where the profile's ``real_bf16`` allows it."""
    cfg = replace(session.profile.private, real_model=model) if model else session.profile.private
    return replace(cfg, real_bf16=cfg.real_bf16 and session.profile.real_bf16)


def precision(session: Session):
    """The real tier's evaluation context: bf16 autocast when the profile's ``real_bf16`` is on."""
    return bf16_autocast(session.profile.real_bf16, session.device)


def notes_key(cfg: PrivateConfig) -> dict:
    """What the trained notes add to artifact keys (nothing for question-answer texts only, so
    those artifacts stay valid)."""
    return {"note_words": cfg.real_note_words} if cfg.real_train_notes else {}


# --------------------------------------------------------------------------------------------
# Clients and data
# --------------------------------------------------------------------------------------------


@dataclass
class RealSplit:
    """The real tier's clients: members (``forget`` + ``retain``) and non-members (``holdout``)."""

    forget: list[str]
    retain: list[str]
    holdout: list[str]

    @property
    def members(self) -> list[str]:
        return sorted(self.forget + self.retain)


def real_split(world: MedicalWorld, cfg: PrivateConfig) -> RealSplit:
    """The first ``real_clients`` private clients of the world are the members and the first
    ``real_holdout`` of its holdout clients the non-members (fixed slices: the same clients
    whatever the seed); forget clients are drawn from the members with the world's seed."""
    if cfg.real_clients > len(world.splits.full) or cfg.real_holdout > len(world.splits.holdout):
        raise ValueError(f"the real tier asks for {cfg.real_clients} members and {cfg.real_holdout} non-members, the "
                         f"world has {len(world.splits.full)} and {len(world.splits.holdout)}: lower "
                         "private.real_clients / private.real_holdout or enlarge the world")
    members = list(world.splits.full[: cfg.real_clients])
    random.Random(world.seed).shuffle(members)
    n = med.n_forget(cfg.real_clients, cfg.real_ratio, cfg.min_forget)
    return RealSplit(sorted(members[:n]), sorted(members[n:]), sorted(world.splits.holdout[: cfg.real_holdout]))


def qa_rows(world: MedicalWorld, clients: list[str], cfg: PrivateConfig, use: str, split: str = "") -> list[dict]:
    """Questions about ``clients`` on ``real_fields``: ``use`` 'test' (the held-out paraphrase the
    table reports), 'val' (the validation paraphrase choices read) or 'train' (the trained ones);
    the answer starts with a space (how the model's tokenizer writes a word after '?')."""
    flag = {"test": "held_out", "val": "val", "train": "trained"}[use]
    return [{**q, "answer": " " + q["answer"], "split": split}
            for c in clients for q in world.probes(c) if q["field"] in cfg.real_fields and q[flag]]


def note_rows(world: MedicalWorld, clients: list[str], cfg: PrivateConfig, split: str = "") -> list[dict]:
    """The clients' notes as the real tier trains them: their first ``real_note_words`` words (0: all)."""
    rows = []
    for c in clients:
        words = med.note_text(world.records[c]).split(" ")
        text = " ".join(words[: cfg.real_note_words] if cfg.real_note_words else words)
        rows.append({"text": text, "client": c, "field": "note", "split": split})
    return rows


def tokens(tokenizer, rows: list[dict], label_key: str = "split") -> TokenSet:
    return TokenSet.from_rows(rows, tokenizer, label_key=label_key)


def texts(rows: list[dict]) -> list[str]:
    """Question-answer rows as the texts membership inference scores."""
    return [r["prompt"] + r["answer"] for r in rows]


def training_sets(tokenizer, world: MedicalWorld, clients: list[str], cfg: PrivateConfig, split: str) -> list[TokenSet]:
    """What a model trains on for ``clients``: their questions in the trained paraphrases and,
    with ``real_train_notes``, their notes (a second set, batched apart)."""
    sets = [tokens(tokenizer, qa_rows(world, clients, cfg, "train", split=split))]
    if cfg.real_train_notes:
        sets.append(tokens(tokenizer, note_rows(world, clients, cfg, split)))
    return sets


def joined(sets: list[TokenSet]) -> TokenSet:
    out = sets[0]
    for other in sets[1:]:
        out = out.concat(other)
    return out


# --------------------------------------------------------------------------------------------
# Models: the real model with a LoRA adapter on its last layers
# --------------------------------------------------------------------------------------------

_BASE: dict[tuple, tuple] = {}  # the real model per process (loaded once, copied per use)


def _loaded(session: Session, cfg: PrivateConfig):
    """The real model and its tokenizer, loaded once per process (never train this copy)."""
    from unlearnlab.core.real_model import load_real_model

    key = (cfg.real_model, session.device)
    if key not in _BASE:
        _BASE[key] = load_real_model(cfg.real_model, device=session.device)
    return _BASE[key]


def base_model(session: Session, cfg: PrivateConfig):
    """A fresh copy of the real model and its tokenizer (the load is cached per process)."""
    model, tokenizer = _loaded(session, cfg)
    return fresh_copy(model), tokenizer


def rmu_layer(n_layers: int, lora_layers: int) -> int:
    """RMU's steering layer inside the adapted ones (the middle of the last ``lora_layers``):
    RMU's default, the model's middle layer, lies below a last-layers adapter, where nothing is
    trainable."""
    return max(0, n_layers - 1 - lora_layers // 2)


def method_config(session: Session, cfg: PrivateConfig, method: str, lr: float) -> dict:
    """A method's settings on the adapter: the synthetic tier's, plus RMU's layer."""
    out = {"steps": cfg.real_unlearn_steps, "lr": lr, "batch_size": cfg.real_batch_size, "answer_only": True,
           **METHOD_CONFIG.get(method, {})}
    if method == "RMU":
        out["layer"] = rmu_layer(_loaded(session, cfg)[0].config.num_hidden_layers, cfg.real_lora_layers)
    return out


def with_new_adapter(model, cfg: PrivateConfig, seed: int):
    """``model`` with a fresh LoRA adapter on the last ``real_lora_layers`` layers (seeded init)."""
    from peft import LoraConfig, get_peft_model

    n_layers = anatomy.n_layers(model)
    layers = "|".join(str(i) for i in range(max(0, n_layers - cfg.real_lora_layers), n_layers))
    target = rf".*\.layers\.({layers})\..*\.({'|'.join(anatomy.peft_targets(model))})"
    torch.manual_seed(seed)
    return get_peft_model(model, LoraConfig(target_modules=target, r=cfg.real_lora_r, lora_alpha=2 * cfg.real_lora_r,
                                             lora_dropout=0.0))


def load_adapted(session: Session, cfg: PrivateConfig, adapter_dir: Path, trainable: bool = False):
    from peft import PeftModel

    model, tokenizer = base_model(session, cfg)
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable).eval(), tokenizer


def hardware(session: Session, cfg: PrivateConfig) -> dict:
    """The profile's training settings, with the real tier's own bf16 switch."""
    return {**session.hardware, "bf16": cfg.real_bf16}


def _fit(model, sets: list[TokenSet], cfg: PrivateConfig, session: Session, seed: int, desc: str) -> dict:
    """Language-model loss on the answers (a note: all of it), constant learning rate; several
    sets are batched apart."""
    gen, size = seed_everything(seed), cfg.real_batch_size
    device = distributed.device() or session.device  # a launched process's own device
    batches = (sets[0].sampler(min(size, len(sets[0])), gen, device) if len(sets) == 1
               else grouped_sampler(sets, size, gen, device))

    def step_loss(fwd, step):
        b = next(batches)
        return nll_of(fwd, b, True), int(b["attention_mask"].sum())

    log = train(model, step_loss, TrainConfig(steps=cfg.real_steps, lr=cfg.real_lr, batch_size=size,
                                              schedule="constant", **hardware(session, cfg)), desc=desc)
    return {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s,
            "final_loss": sum(log.losses[-5:]) / max(1, len(log.losses[-5:]))}


def finetune(session: Session, world: MedicalWorld, cfg: PrivateConfig, split: RealSplit, kind: str,
             seed: int = 0) -> Path:
    """The base (``kind='base'``: every member) or the oracle (the retain clients only)."""
    clients = split.members if kind == "base" else split.retain
    key = {"kind": kind, "world": world.directory.name, "clients": config_hash(clients), "n_clients": len(clients),
           "model": cfg.real_model, "fields": cfg.real_fields, "lora_layers": cfg.real_lora_layers,
           "lora_r": cfg.real_lora_r, "steps": cfg.real_steps, "lr": cfg.real_lr, "batch_size": cfg.real_batch_size,
           "bf16": cfg.real_bf16, "seed": seed, **notes_key(cfg)}

    def make(tmp: Path) -> None:
        jobs.launch(finetune_job, tmp, session, **_world_args(world, cfg), clients=list(clients), kind=kind,
                    seed=seed)

    return Artifact(session.paths.artifacts, "pretrain", f"medical_real_{kind}", key).build(make)


def finetune_job(out: Path, session: Session, world: str, cfg: dict, clients: list[str], kind: str,
                 seed: int) -> None:
    """The training job behind ``finetune`` (``core.jobs``: in this process, or under ``accelerate
    launch`` when the profile names an accelerate config; the main process writes the adapter and
    ``metrics.json``)."""
    medical, config = _job_world(world), from_args(PrivateConfig, cfg)
    model, tokenizer = base_model(session, config)
    model = with_new_adapter(model, config, seed)
    cost = _fit(model.train(), training_sets(tokenizer, medical, clients, config, "train"), config, session, seed,
                f"real {kind}")
    distributed.save_pretrained(model, str(out / "adapter"))
    if distributed.is_main():
        write_json_atomic(out / "metrics.json", cost)
    distributed.barrier()


def unlearn(session: Session, world: MedicalWorld, cfg: PrivateConfig, split: RealSplit, base_dir: Path, method: str,
            lr: float, seed: int) -> Path:
    """A registered method trains the base's adapter further: forget = the forget clients'
    trained questions (and notes, with ``real_train_notes``), retain = the retain clients' (answers
    only)."""
    method_cfg = method_config(session, cfg, method, lr)
    key = {"method": method, "base": Path(base_dir).name, "config": method_cfg, "seed": seed,
           "forget": config_hash(split.forget), "bf16": cfg.real_bf16, **notes_key(cfg)}

    def make(tmp: Path) -> None:
        jobs.launch(unlearn_job, tmp, session, **_world_args(world, cfg), forget=list(split.forget),
                    retain=list(split.retain), base_dir=str(base_dir), method=method, method_cfg=method_cfg, seed=seed)

    return Artifact(session.paths.artifacts, "unlearn", f"medical_real_{method}_lr{lr:g}_s{seed}", key).build(make)


def unlearn_job(out: Path, session: Session, world: str, cfg: dict, forget: list[str], retain: list[str],
                base_dir: str, method: str, method_cfg: dict, seed: int) -> None:
    """The training job behind ``unlearn`` (``core.jobs``; the main process writes the adapter and
    ``metrics.json``)."""
    medical, config = _job_world(world), from_args(PrivateConfig, cfg)
    model, tokenizer = load_adapted(session, config, Path(base_dir) / "adapter", trainable=True)
    data = UnlearnData(forget=joined(training_sets(tokenizer, medical, forget, config, "forget")),
                       retain=joined(training_sets(tokenizer, medical, retain, config, "retain")),
                       generator=seed_everything(seed), device=str(distributed.device() or session.device))
    log = get_method(method, **method_cfg).run(model.train(), data, **hardware(session, config))
    distributed.save_pretrained(model, str(out / "adapter"))
    if distributed.is_main():
        write_json_atomic(out / "metrics.json", {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s})
    distributed.barrier()


def _world_args(world: MedicalWorld, cfg: PrivateConfig) -> dict:
    """What a job needs to rebuild the world and the config (JSON-able); the world object itself
    stays at hand for a job that runs in this process (``jobs.hand_over``)."""
    jobs.hand_over(world, "medical_world", str(world.directory))
    return {"world": str(world.directory), "cfg": as_args(cfg)}


def _job_world(directory: str) -> MedicalWorld:
    """The world a job trains on: the caller's own object in its process, else loaded from its directory."""
    return jobs.at_hand(lambda: MedicalWorld.load(directory), "medical_world", directory)


# --------------------------------------------------------------------------------------------
# Evaluation and the relearning attack
# --------------------------------------------------------------------------------------------


def _acc(model, data: TokenSet) -> float:
    return nan_mean(exact_match(model, data, batch_size=64))


def _note_scores(model, tokenizer, world: MedicalWorld, cfg: PrivateConfig, split: RealSplit) -> dict:
    """Note-level membership inference (forget vs holdout notes as trained) and verbatim extraction."""
    notes = {name: note_rows(world, clients, cfg) for name, clients in (("forget", split.forget),
                                                                         ("holdout", split.holdout))}
    aucs = mia_auc(model, tokens(tokenizer, notes["forget"]), tokens(tokenizer, notes["holdout"]),
                   [r["text"] for r in notes["forget"]], [r["text"] for r in notes["holdout"]], k=cfg.mia_k)
    out = {f"auc_note_{name}": value for name, value in aucs.items()}
    for name, rows in notes.items():
        verbatim = note_verbatim(model, tokenizer, [world.records[r["client"]] for r in rows], [r["text"] for r in rows])
        out.update({f"{name}_{key}": value for key, value in verbatim.items()})
    return out


@torch.no_grad()
def evaluate(model, tokenizer, world: MedicalWorld, cfg: PrivateConfig, split: RealSplit) -> dict:
    """Held-out-paraphrase QA accuracy on forget / retain / holdout clients (and per field on the
    forget clients), validation-paraphrase accuracy on forget and retain clients (``val_*``),
    trained-paraphrase accuracy on the forget clients, and membership inference
    (forget vs holdout question-answer texts); with ``real_train_notes`` also note-level
    membership inference (``auc_note_*``) and verbatim extraction of the notes as trained."""
    out = {"n_forget": len(split.forget), "n_retain": len(split.retain), "n_holdout": len(split.holdout)}
    for name, clients in (("forget", split.forget), ("retain", split.retain), ("holdout", split.holdout)):
        out[f"{name}_qa_acc"] = _acc(model, tokens(tokenizer, qa_rows(world, clients, cfg, "test")))
    for name, clients in (("forget", split.forget), ("retain", split.retain)):
        out[f"val_{name}_qa_acc"] = _acc(model, tokens(tokenizer, qa_rows(world, clients, cfg, "val")))
    forget_questions = tokens(tokenizer, qa_rows(world, split.forget, cfg, "test"), "field")
    out["n_forget_questions"] = len(forget_questions)
    out.update({f"forget_{f}_acc": v for f, v in accuracy_by_label(model, forget_questions, 64).items()})
    members, others = qa_rows(world, split.forget, cfg, "train"), qa_rows(world, split.holdout, cfg, "train")
    out["forget_qa_seen_acc"] = _acc(model, tokens(tokenizer, members))
    aucs = mia_auc(model, tokens(tokenizer, members), tokens(tokenizer, others), texts(members), texts(others),
                   k=cfg.mia_k)
    out.update({f"auc_{name}": value for name, value in aucs.items()})
    if cfg.real_train_notes:
        out.update(_note_scores(model, tokenizer, world, cfg, split))
    return out


def bf16_key(session: Session) -> dict:
    """What the evaluation precision adds to a results-store key (nothing in float32, so rows
    measured before the switch existed stay valid)."""
    return {"eval_bf16": True} if session.profile.real_bf16 else {}


def record(session: Session, world: MedicalWorld, cfg: PrivateConfig, split: RealSplit, model_dir: Path,
           method: str, seed: int) -> dict:
    """Evaluate a saved adapter (a results-store row keyed by the model)."""
    key = {"setting": SETTING, "method": method, "seed": seed, "model_id": model_id(session, model_dir),
           "eval": EVAL_VERSION, **bf16_key(session)}

    def compute() -> dict:
        model, tokenizer = load_adapted(session, cfg, Path(model_dir) / "adapter")
        with precision(session):
            scores = evaluate(model, tokenizer, world, cfg, split)
        return {**scores, "steps": read_json(Path(model_dir) / "metrics.json")["steps"]}

    return cached(session, MODELS_TABLE, key, compute)


def relearn(session: Session, world: MedicalWorld, cfg: PrivateConfig, split: RealSplit, model_dir: Path,
            method: str, seed: int) -> dict:
    """Fine-tune the adapter on half of the forget clients' trained questions (and notes, with
    ``real_train_notes``); held-out QA accuracy on the *other* forget clients before and after."""
    key = {"setting": SETTING, "method": method, "seed": seed, "model_id": model_id(session, model_dir),
           "attack_hash": config_hash(real_relearn_config(cfg)), **bf16_key(session)}

    def compute() -> dict:
        attacked, others = relearn_split(split.forget, seed)
        values: dict = {"n_relearned": len(attacked), "n_others": len(others)}
        if others:
            values.update(jobs.result_of(relearn_job, session, **_world_args(world, cfg), attacked=list(attacked),
                                         others=list(others), model_dir=str(model_dir), seed=seed))
        return values

    return cached(session, ATTACKS_TABLE, key, compute)


def real_relearn_config(cfg: PrivateConfig) -> RelearnConfig:
    """The real tier's relearning attack: every learning rate, evaluated before and after."""
    return RelearnConfig(lrs=cfg.real_relearn_lrs, steps=cfg.real_relearn_steps, eval_every=cfg.real_relearn_steps,
                         batch_size=cfg.real_batch_size, n_items=0)


def relearn_job(out: Path, session: Session, world: str, cfg: dict, attacked: list[str], others: list[str],
                model_dir: str, seed: int) -> None:
    """The training job behind ``relearn`` (``core.jobs.result_of``: in this process, or under
    ``accelerate launch``): every process fine-tunes the adapter and evaluates it before and after
    (the evaluations run inside the training loop, on every process); the main process writes
    the attack's values."""
    medical, config = _job_world(world), from_args(PrivateConfig, cfg)
    model, tokenizer = load_adapted(session, config, Path(model_dir) / "adapter", trainable=True)
    with precision(session):
        values = attack_others(model, joined(training_sets(tokenizer, medical, attacked, config, "forget")),
                               tokens(tokenizer, qa_rows(medical, others, config, "test")),
                               real_relearn_config(config), seed, hardware(session, config),
                               tokens(tokenizer, qa_rows(medical, others, config, "val")))
    distributed.write_json(out / jobs.RESULT_FILE, values)


# --------------------------------------------------------------------------------------------
# The whole tier
# --------------------------------------------------------------------------------------------


def run(session: Session, world: MedicalWorld, model: str | None = None) -> pd.DataFrame:
    """Base, oracle, every (method, seed); evaluated and attacked (every step cached). One row
    per model and seed (the base and the oracle: one model each, attacked per seed)."""
    cfg = real_config(session, model)
    split = real_split(world, cfg)
    base_dir = finetune(session, world, cfg, split, "base")
    oracle_dir = finetune(session, world, cfg, split, "oracle")

    def attacked(path: Path, method: str, seed: int) -> dict:
        row = relearn(session, world, cfg, split, path, method, seed)
        return {k: row.get(k) for k in ATTACK_COLUMNS}

    rows = [record(session, world, cfg, split, base_dir, "base", 0)]
    for seed in cfg.real_seeds:
        oracle = record(session, world, cfg, split, oracle_dir, "oracle", 0)
        rows.append({**oracle, "seed": seed, **attacked(oracle_dir, "oracle", seed)})
        for method, lr in cfg.real_methods:
            path = unlearn(session, world, cfg, split, base_dir, method, lr, seed)
            label = _label(cfg, method, lr)
            rows.append({**record(session, world, cfg, split, path, label, seed), **attacked(path, label, seed)})
    df = pd.DataFrame(rows).assign(ratio=cfg.real_ratio)
    first = ["method", "seed", "ratio"]
    df = df[first + sorted(c for c in df.columns if c not in first)]  # cached and fresh rows alike
    oracle_auc = df[df["method"] == "oracle"]
    for col in [c for c in df.columns if c.startswith("auc_")]:
        df[col.replace("auc_", "leak_")] = [privacy_leak(v, float(oracle_auc[col].mean())) for v in df[col]]
    return df


def _label(cfg: PrivateConfig, method: str, lr: float) -> str:
    """The method's name, with its learning rate where the grid runs it at several."""
    return f"{method} lr {lr:g}" if sum(m == method for m, _ in cfg.real_methods) > 1 else method
