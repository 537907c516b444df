"""Private records, real tier: LoRA fine-tunes of SmolLM2-135M-Instruct on private clients.

The synthetic tier (``private_records``) trains small models from scratch; here a real
pretrained model learns the clients instead, in the TOFU protocol:

1. a slice of the synthetic world's private clients (``medical_real_clients`` members plus
   ``medical_real_holdout`` non-members) is split by client into forget / retain / holdout
   (one forget ratio, ``medical_real_ratio``, at least ``medical_min_forget`` clients);
2. the **base** is a LoRA adapter (on the last ``medical_real_lora_layers`` decoder layers: the
   backward pass stops there, which halves a CPU step) trained on every member's questions in
   the trained paraphrases; the **oracle** is the same adapter trained, from the same start
   and for the same steps, on the retain clients only;
3. each method of ``medical_real_methods`` unlearns the forget clients from the base by training
   the base's adapter further (the registry's methods unchanged: only adapter weights are
   trainable);
4. every model is scored on questions in the *held-out* paraphrase (forget / retain / holdout
   clients), membership inference (every attack of ``mia``) on the forget clients' trained
   question–answer texts against the holdout clients' texts in the same templates, and a
   relearning attack on half of the forget clients scored on the other half.

With ``medical_real_train_notes`` the clients' notes (their first ``medical_real_note_words``
words; 0: whole notes) join the question–answer texts in every training set (base, oracle,
unlearning, relearning), in batches of their own (``grouped_sampler``: a note in a question batch
would pad every question to its length), and the evaluation adds note-level membership inference
(forget vs holdout notes, ``auc_note_*``) and verbatim extraction of the notes' private tokens.
The default profile trains question–answer texts only: on this CPU a SmolLM2 step on eight
150-token notes takes ~4 s, ten times one on sixteen 20-token questions; smoke and gpu train the
notes too. Answers are plain text after the question (" pneumonia<|im_end|>"), no chat template.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from unlearnlab.core.artifacts import Artifact, config_hash, read_json, write_json_atomic
from unlearnlab.attacks.relearn import RelearnConfig, relearning_attack, worst_case
from unlearnlab.core.batching import TokenSet, grouped_sampler
from unlearnlab.data import medical as med
from unlearnlab.evals.exact_match import accuracy_by_label, exact_match
from unlearnlab.experiments.private.run import EVAL_VERSION, METHOD_CONFIG, MedicalWorld, note_verbatim
from unlearnlab.experiments.session import Session, model_id
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.evals.mia import mia_auc, privacy_leak
from unlearnlab.methods import UnlearnData, get_method
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.training import TrainConfig, train

SETTING = "private_records_real"
MODELS_TABLE, ATTACKS_TABLE = "medical_real_models", "medical_real_attacks"
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class RealConfig:
    """The real tier's settings (from the profile's ``medical_real_*`` fields)."""

    model: str
    clients: int
    holdout: int
    ratio: float
    fields: tuple[str, ...]
    lora_layers: int
    lora_r: int
    steps: int
    lr: float
    batch_size: int
    methods: tuple[tuple[str, float], ...]
    unlearn_steps: int
    seeds: tuple[int, ...]
    relearn_lrs: tuple[float, ...]
    relearn_steps: int
    min_forget: int
    bf16: bool = False  # bf16 autocast in training (SmolLM2 on this CPU: 0.77 vs 1.36 s a LoRA step, measured)
    train_notes: bool = False  # the clients' notes join every training set
    note_words: int = 0  # notes truncated to their first words (0: whole notes)

    @classmethod
    def from_profile(cls, session: Session, model: str | None = None) -> "RealConfig":
        p = session.profile
        return cls(model or p.private.real_model, p.private.real_clients, p.private.real_holdout, p.private.real_ratio,
                   p.private.real_fields, p.private.real_lora_layers, p.private.real_lora_r, p.private.real_steps,
                   p.private.real_lr, p.private.real_batch_size, p.private.real_methods, p.private.real_unlearn_steps,
                   p.private.real_seeds, p.private.real_relearn_lrs, p.private.real_relearn_steps, p.private.min_forget,
                   p.private.real_bf16, p.private.real_train_notes, p.private.real_note_words)

    def data_key(self) -> dict:
        """What the trained texts add to artifact keys (nothing for question-answer texts only,
        so those artifacts stay valid)."""
        return {"note_words": self.note_words} if self.train_notes else {}


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


def real_split(world: MedicalWorld, cfg: RealConfig) -> RealSplit:
    """The first ``clients`` private clients of the world are the members and the first
    ``holdout`` of its holdout clients the non-members (fixed slices: the same clients whatever the
    seed); forget clients are drawn from the members with the world's seed."""
    if cfg.clients > len(world.splits.full) or cfg.holdout > len(world.splits.holdout):
        raise ValueError(f"the real tier asks for {cfg.clients} members and {cfg.holdout} non-members, the world has "
                         f"{len(world.splits.full)} and {len(world.splits.holdout)}: lower medical_real_clients / "
                         "medical_real_holdout or enlarge the world")
    members = list(world.splits.full[: cfg.clients])
    random.Random(world.seed).shuffle(members)
    n = med.n_forget(cfg.clients, cfg.ratio, cfg.min_forget)
    return RealSplit(sorted(members[:n]), sorted(members[n:]), sorted(world.splits.holdout[: cfg.holdout]))


def qa_rows(world: MedicalWorld, clients: list[str], cfg: RealConfig, held_out: bool, split: str = "") -> list[dict]:
    """Questions about ``clients`` on ``cfg.fields`` in the held-out paraphrase or the trained
    ones; the answer starts with a space (how the model's tokenizer writes a word after '?')."""
    return [{**q, "answer": " " + q["answer"], "split": split}
            for c in clients for q in med.qa_probes(world.records[c], world.seed)
            if q["field"] in cfg.fields and q["held_out"] == held_out]


def note_text(world: MedicalWorld, client: str, cfg: RealConfig) -> str:
    """A client's note as the real tier trains it: its first ``cfg.note_words`` words (0: all)."""
    words = med.note_text(world.records[client]).split(" ")
    return " ".join(words[: cfg.note_words] if cfg.note_words else words)


def note_rows(world: MedicalWorld, clients: list[str], cfg: RealConfig, split: str = "") -> list[dict]:
    return [{"text": note_text(world, c, cfg), "client": c, "field": "note", "split": split} for c in clients]


def training_sets(tokenizer, world: MedicalWorld, clients: list[str], cfg: RealConfig, split: str) -> list[TokenSet]:
    """What a model trains on for ``clients``: their questions in the trained paraphrases and,
    with ``cfg.train_notes``, their notes (a second set, batched apart)."""
    sets = [tokens(tokenizer, qa_rows(world, clients, cfg, held_out=False, split=split))]
    if cfg.train_notes:
        sets.append(tokens(tokenizer, note_rows(world, clients, cfg, split)))
    return sets


def joined(sets: list[TokenSet]) -> TokenSet:
    out = sets[0]
    for other in sets[1:]:
        out = out.concat(other)
    return out


def tokens(tokenizer, rows: list[dict], label_key: str = "split") -> TokenSet:
    return TokenSet.from_rows(rows, tokenizer, label_key=label_key)


def texts(rows: list[dict]) -> list[str]:
    return [r["prompt"] + r["answer"] for r in rows]


# --------------------------------------------------------------------------------------------
# Models: the real model with a LoRA adapter on its last layers
# --------------------------------------------------------------------------------------------

_BASE: dict[tuple, tuple] = {}  # the real model per process (loaded once, copied per use)


def _loaded(session: Session, cfg: RealConfig):
    """The real model and its tokenizer, loaded once per process (never train this copy)."""
    from unlearnlab.core.real_model import load_real_model

    key = (cfg.model, str(session.paths.artifacts / "real_models"), session.device)
    if key not in _BASE:
        _BASE[key] = load_real_model(cfg.model, cache_root=Path(key[1]), device=session.device)
    return _BASE[key]


def base_model(session: Session, cfg: RealConfig):
    """A fresh copy of the real model and its tokenizer (the load is cached per process)."""
    from unlearnlab.core.models import fresh_copy

    model, tokenizer = _loaded(session, cfg)
    return fresh_copy(model), tokenizer


def rmu_layer(n_layers: int, lora_layers: int) -> int:
    """RMU's steering layer inside the adapted ones (the middle of the last ``lora_layers``):
    RMU's default, the model's middle layer, lies below a last-layers adapter, where nothing is
    trainable."""
    return max(0, n_layers - 1 - lora_layers // 2)


def method_config(session: Session, cfg: RealConfig, method: str, lr: float) -> dict:
    """A method's settings on the adapter: the synthetic tier's, plus RMU's layer."""
    out = {"steps": cfg.unlearn_steps, "lr": lr, "batch_size": cfg.batch_size, "answer_only": True,
           **METHOD_CONFIG.get(method, {})}
    if method == "RMU":
        out["layer"] = rmu_layer(_loaded(session, cfg)[0].config.num_hidden_layers, cfg.lora_layers)
    return out


def with_new_adapter(model, cfg: RealConfig, seed: int):
    """``model`` with a fresh LoRA adapter on the last ``cfg.lora_layers`` layers (seeded init)."""
    from peft import LoraConfig, get_peft_model

    n_layers = model.config.num_hidden_layers
    layers = "|".join(str(i) for i in range(max(0, n_layers - cfg.lora_layers), n_layers))
    target = rf".*\.layers\.({layers})\..*\.({'|'.join(LORA_MODULES)})"
    torch.manual_seed(seed)
    return get_peft_model(model, LoraConfig(target_modules=target, r=cfg.lora_r, lora_alpha=2 * cfg.lora_r,
                                             lora_dropout=0.0))


def load_adapted(session: Session, cfg: RealConfig, adapter_dir: Path, trainable: bool = False):
    from peft import PeftModel

    model, tokenizer = base_model(session, cfg)
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable).eval(), tokenizer


def hardware(session: Session, cfg: RealConfig) -> dict:
    """The profile's training settings, with the real tier's own bf16 switch."""
    return {**session.hardware, "bf16": cfg.bf16}


def _fit(model, sets: list[TokenSet], cfg: RealConfig, session: Session, seed: int, desc: str) -> dict:
    """Language-model loss on the answers (a note: all of it), constant learning rate; several
    sets are batched apart."""
    gen = seed_everything(seed)
    batches = (sets[0].sampler(min(cfg.batch_size, len(sets[0])), gen, session.device) if len(sets) == 1
               else grouped_sampler(sets, cfg.batch_size, gen, session.device))

    def step_loss(fwd, step):
        b = next(batches)
        return nll(logits_of(fwd, b), b, True), int(b["attention_mask"].sum())

    log = train(model, step_loss, TrainConfig(steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size,
                                              schedule="constant", **hardware(session, cfg)), desc=desc)
    return {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s,
            "final_loss": sum(log.losses[-5:]) / max(1, len(log.losses[-5:]))}


def finetune(session: Session, world: MedicalWorld, cfg: RealConfig, split: RealSplit, kind: str,
             seed: int = 0) -> Path:
    """The base (``kind='base'``: every member) or the oracle (the retain clients only)."""
    clients = split.members if kind == "base" else split.retain
    key = {"kind": kind, "world": world.directory.name, "clients": config_hash(clients), "n_clients": len(clients),
           **{k: v for k, v in asdict(cfg).items() if k in ("model", "fields", "lora_layers", "lora_r", "steps", "lr",
                                                              "batch_size", "bf16")}, "seed": seed,
           **cfg.data_key()}

    def make(tmp: Path) -> None:
        model, tokenizer = base_model(session, cfg)
        model = with_new_adapter(model, cfg, seed)
        cost = _fit(model.train(), training_sets(tokenizer, world, clients, cfg, "train"), cfg, session, seed,
                    f"real {kind}")
        model.save_pretrained(str(tmp / "adapter"))
        write_json_atomic(tmp / "metrics.json", cost)

    return Artifact(session.paths.artifacts, "pretrain", f"medical_real_{kind}", key).build(make)


def unlearn(session: Session, world: MedicalWorld, cfg: RealConfig, split: RealSplit, base_dir: Path, method: str,
            lr: float, seed: int) -> Path:
    """A registered method trains the base's adapter further: forget = the forget clients'
    trained questions (and notes, with ``train_notes``), retain = the retain clients' (answers
    only)."""
    method_cfg = method_config(session, cfg, method, lr)
    key = {"method": method, "base": Path(base_dir).name, "config": method_cfg, "seed": seed,
           "forget": config_hash(split.forget), "bf16": cfg.bf16, **cfg.data_key()}

    def make(tmp: Path) -> None:
        model, tokenizer = load_adapted(session, cfg, Path(base_dir) / "adapter", trainable=True)
        data = UnlearnData(forget=joined(training_sets(tokenizer, world, split.forget, cfg, "forget")),
                           retain=joined(training_sets(tokenizer, world, split.retain, cfg, "retain")),
                           generator=seed_everything(seed), device=session.device)
        log = get_method(method, **method_cfg).run(model.train(), data, **hardware(session, cfg))
        model.save_pretrained(str(tmp / "adapter"))
        write_json_atomic(tmp / "metrics.json", {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s})

    return Artifact(session.paths.artifacts, "unlearn", f"medical_real_{method}_lr{lr:g}_s{seed}", key).build(make)


# --------------------------------------------------------------------------------------------
# Evaluation and attacks
# --------------------------------------------------------------------------------------------


def _acc(model, data: TokenSet) -> float:
    hits = exact_match(model, data, batch_size=64)
    return float(hits.float().mean()) if len(hits) else float("nan")


@torch.no_grad()
def evaluate(model, tokenizer, world: MedicalWorld, cfg: RealConfig, split: RealSplit, k: float = 0.2) -> dict:
    """Held-out-paraphrase QA accuracy on forget / retain / holdout clients (and per field on the
    forget clients), trained-paraphrase accuracy on the forget clients, and membership inference
    (forget vs holdout question-answer texts); with ``train_notes`` also note-level membership
    inference (``auc_note_*``) and verbatim extraction of the notes as trained."""
    out = {"n_forget": len(split.forget), "n_retain": len(split.retain), "n_holdout": len(split.holdout)}
    for name, clients in (("forget", split.forget), ("retain", split.retain), ("holdout", split.holdout)):
        out[f"{name}_qa_acc"] = _acc(model, tokens(tokenizer, qa_rows(world, clients, cfg, True)))
    forget_questions = tokens(tokenizer, qa_rows(world, split.forget, cfg, True), "field")
    out["n_forget_questions"] = len(forget_questions)
    out.update({f"forget_{f}_acc": v for f, v in accuracy_by_label(model, forget_questions, 64).items()})
    members, others = qa_rows(world, split.forget, cfg, False), qa_rows(world, split.holdout, cfg, False)
    out["forget_qa_seen_acc"] = _acc(model, tokens(tokenizer, members))
    aucs = mia_auc(model, tokens(tokenizer, members), tokens(tokenizer, others), texts(members), texts(others),
                   k=k)
    out.update({f"auc_{name}": value for name, value in aucs.items()})
    if cfg.train_notes:
        notes = {name: note_rows(world, clients, cfg) for name, clients in (("forget", split.forget),
                                                                             ("holdout", split.holdout))}
        aucs = mia_auc(model, tokens(tokenizer, notes["forget"]), tokens(tokenizer, notes["holdout"]),
                       [r["text"] for r in notes["forget"]], [r["text"] for r in notes["holdout"]], k=k)
        out.update({f"auc_note_{name}": value for name, value in aucs.items()})
        for name, rows in notes.items():
            verbatim = note_verbatim(model, tokenizer, [world.records[r["client"]] for r in rows],
                                     [r["text"] for r in rows])
            out.update({f"{name}_{key}": value for key, value in verbatim.items()})
    return out


def record(session: Session, world: MedicalWorld, cfg: RealConfig, split: RealSplit, model_dir: Path,
           method: str, seed: int) -> dict:
    """Evaluate a saved adapter (a results-store row keyed by the model)."""
    key = {"setting": SETTING, "method": method, "seed": seed, "model_id": model_id(session, model_dir),
           "eval": EVAL_VERSION}
    if session.store.has(MODELS_TABLE, key):
        return session.store.get(MODELS_TABLE, key)
    model, tokenizer = load_adapted(session, cfg, Path(model_dir) / "adapter")
    values = {**evaluate(model, tokenizer, world, cfg, split, session.profile.private.mia_k),
              "steps": read_json(Path(model_dir) / "metrics.json")["steps"]}
    session.store.put(MODELS_TABLE, key, values)
    return {**key, **values}


def relearn(session: Session, world: MedicalWorld, cfg: RealConfig, split: RealSplit, model_dir: Path,
            method: str, seed: int) -> dict:
    """Fine-tune the adapter on half of the forget clients' trained questions (and notes, with
    ``train_notes``); held-out QA accuracy on the *other* forget clients before and after (worst
    case over learning rates)."""
    rcfg = RelearnConfig(lrs=cfg.relearn_lrs, steps=cfg.relearn_steps, eval_every=cfg.relearn_steps,
                         batch_size=cfg.batch_size, n_items=0)
    key = {"setting": SETTING, "method": method, "seed": seed, "model_id": model_id(session, model_dir),
           "attack_hash": config_hash(rcfg)}
    if session.store.has(ATTACKS_TABLE, key):
        return session.store.get(ATTACKS_TABLE, key)
    forget = list(split.forget)
    random.Random(seed).shuffle(forget)
    attacked, others = sorted(forget[: max(1, len(forget) // 2)]), sorted(forget[max(1, len(forget) // 2):])
    values: dict = {"n_relearned": len(attacked), "n_others": len(others)}
    if others:
        model, tokenizer = load_adapted(session, cfg, Path(model_dir) / "adapter", trainable=True)
        curve = relearning_attack(model, joined(training_sets(tokenizer, world, attacked, cfg, "forget")),
                                  tokens(tokenizer, qa_rows(world, others, cfg, True)), ["forget"], rcfg, seed,
                                  **hardware(session, cfg))
        after = worst_case(curve)
        values.update({"others_before": next(r["forget_acc"] for r in curve if r["step"] == 0),
                       "others_after": after["post_attack_forget_acc"], "worst_lr": after["worst_lr"]})
    session.store.put(ATTACKS_TABLE, key, values)
    return {**key, **values}


# --------------------------------------------------------------------------------------------
# The whole tier
# --------------------------------------------------------------------------------------------


def run(session: Session, world: MedicalWorld, model: str | None = None) -> pd.DataFrame:
    """Base, oracle, every (method, seed); evaluated and attacked (every step cached). One row
    per model and seed (the base and the oracle: one model each, attacked per seed)."""
    cfg = RealConfig.from_profile(session, model)
    split = real_split(world, cfg)
    base_dir = finetune(session, world, cfg, split, "base")
    oracle_dir = finetune(session, world, cfg, split, "oracle")
    rows = [record(session, world, cfg, split, base_dir, "base", 0)]
    for seed in cfg.seeds:
        oracle = record(session, world, cfg, split, oracle_dir, "oracle", 0)
        rows.append({**oracle, "seed": seed, **_attack(relearn(session, world, cfg, split, oracle_dir, "oracle", seed))})
        for method, lr in cfg.methods:
            path = unlearn(session, world, cfg, split, base_dir, method, lr, seed)
            label = _label(cfg, method, lr)
            rows.append({**record(session, world, cfg, split, path, label, seed),
                         **_attack(relearn(session, world, cfg, split, path, label, seed))})
    df = pd.DataFrame(rows).assign(ratio=cfg.ratio)
    first = ["method", "seed", "ratio"]
    df = df[first + sorted(c for c in df.columns if c not in first)]  # cached and fresh rows alike
    oracle_auc = df[df["method"] == "oracle"]
    for col in [c for c in df.columns if c.startswith("auc_")]:
        df[col.replace("auc_", "leak_")] = [privacy_leak(v, float(oracle_auc[col].mean())) for v in df[col]]
    return df


def _label(cfg: RealConfig, method: str, lr: float) -> str:
    """The method's name, with its learning rate where the grid runs it at several."""
    return f"{method} lr {lr:g}" if sum(m == method for m, _ in cfg.methods) > 1 else method


def _attack(row: dict) -> dict:
    return {k: row.get(k) for k in ("n_relearned", "n_others", "others_before", "others_after", "worst_lr")}


def note(session: Session, model: str | None = None) -> str:
    cfg = RealConfig.from_profile(session, model)
    trained = ("question-answer texts and notes" + (f" (first {cfg.note_words} words)" if cfg.note_words else "")
               if cfg.train_notes else "question-answer texts only (no notes)")
    return (f"real tier ({session.profile.name} profile): {cfg.model}, LoRA r={cfg.lora_r} on the last {cfg.lora_layers} "
            f"layers, {cfg.clients} members ({100 * cfg.ratio:g} % forget) + {cfg.holdout} non-members, fields "
            f"{', '.join(cfg.fields)}, trained on {trained}, {cfg.steps} fine-tuning steps, methods "
            f"{', '.join(f'{m} (lr {lr:g})' for m, lr in cfg.methods)}, {cfg.unlearn_steps} steps, "
            f"seeds {list(cfg.seeds)}; "
            + ("RMU steers the middle adapted layer" if any(m == "RMU" for m, _ in cfg.methods)
               else "RMU not in this grid (CPU budget; smoke and gpu run it)")
            + "; UNDO is synthetic-tier only")


def slug(name: str) -> str:
    """A file-name suffix for a user-given model (figures of other models never overwrite ours)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", Path(name).name).strip("_")
