"""Private records (35_private_records): are unlearned clients' notes really gone?

The synthetic tier, in the fine-tuning protocol of TOFU/MUSE:

1. a small Llama is pretrained from scratch on *public* clients' SOAP notes, every question
   about them, and grammar English (it learns the note format and how questions map to fields);
2. it is fine-tuned on the private clients: the **base** on all of them (``full``), one
   **oracle** per forget ratio on ``full`` minus that ratio's forget clients (nothing else
   differs: same start, data order seed, steps);
3. each registered method unlearns each forget split from the base, for every seed;
4. every model is evaluated on forget-client questions in a paraphrase no training set contains,
   retain-client questions, verbatim continuation of forget notes, membership inference (forget
   notes against holdout clients' notes, which no model ever saw) and general-text loss; and
   attacked by relearning on half of the forget clients, measuring the *other* half.

Every step is resumable: models are config-keyed artifacts, evaluations and attacks rows of the
results store keyed by the model they describe.
"""

from __future__ import annotations

import json
import multiprocessing
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from unlearnlab.core.artifacts import Artifact, config_hash, read_json, write_json_atomic
from unlearnlab.attacks.relearn import RelearnConfig, relearning_attack, worst_case
from unlearnlab.core.batching import TokenSet, pack, pad_token_id
from unlearnlab.data import english
from unlearnlab.data import medical as med
from unlearnlab.evals.exact_match import accuracy_by_label, cross_entropy, exact_match
from unlearnlab.experiments.session import Session, model_id, quiet_libraries
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.core.stats import format_mean_ci, mean_ci
from unlearnlab.evals.mia import ATTACKS, mia_auc, privacy_leak
from unlearnlab.methods import UnlearnData, get_method
from unlearnlab.core.models import build_llama, count_parameters, load_model, load_tokenizer, save_model
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.tokenizer import train_tokenizer
from unlearnlab.core.training import TrainConfig, train

SETTING = "private_records"
HEADLINE_ATTACK = "min_k"  # MUSE's PrivLeak uses Min-K% Prob
MODELS_TABLE, ATTACKS_TABLE = "medical_models", "medical_attacks"
REFERENCE_METHODS = ("base", "oracle")  # evaluated once per ratio; the others per seed
# Method settings beyond steps/lr/batch (the learning rates are the profile's ``medical_methods``).
# Chosen with them (10 % split, seed 0): with retain weight 1, GradDiff at lr 1e-3 kept 0.23 retain QA
# of the base's 0.36 (weight 5 at 3e-3: 0.29); NPO at weight 5 kept 0.19 (weight 20: 0.32); RMU's
# default weight 100 left forget QA at the base's 0.48 (weight 10: 0.30).
METHOD_CONFIG: dict[str, dict] = {"GradDiff": {"retain_weight": 5.0}, "NPO": {"retain_weight": 20.0},
                                  "SimNPO": {"retain_weight": 5.0}, "RMU": {"retain_weight": 10.0}}

# --------------------------------------------------------------------------------------------
# The world: records, client splits, tokenizer
# --------------------------------------------------------------------------------------------


def world_config(session: Session, seed: int = 0) -> dict:
    p = session.profile
    return {"world": "medical", "seed": seed, "public": p.private.public_clients, "clients": p.private.clients,
            "holdout": p.private.holdout_clients, "ratios": list(p.private.forget_ratios),
            "min_forget": p.private.min_forget, "n_english": p.private.n_english, "vocab_size": p.private.vocab_size}


def _make_world(cfg: dict, tmp: Path) -> None:
    n_private = cfg["clients"] + cfg["holdout"]
    records = med.generate(cfg["public"] + n_private, cfg["seed"])
    public, private = records[: cfg["public"]], records[cfg["public"]:]
    splits = med.split_clients(private, cfg["ratios"], cfg["seed"], cfg["holdout"] / max(1, n_private),
                               cfg["min_forget"])
    med.write_jsonl(tmp / "records.jsonl", records)
    sentences = english.corpus(cfg["n_english"] + cfg["n_english"] // 4, cfg["seed"] + 1)
    texts = [med.note_text(r) for r in records] + sentences
    texts += [f"{q['prompt']} {q['answer']}" for r in records for q in med.qa_probes(r, cfg["seed"])]
    train_tokenizer(texts, cfg["vocab_size"]).save_pretrained(tmp / "tokenizer")
    (tmp / "README.md").write_text(med.dataset_card(private, splits, cfg))
    write_json_atomic(tmp / "card.json", {
        "name": "private records (synthetic SOAP notes)", "config": cfg, "english": sentences,
        "clients": {"public": [r["client_name"] for r in public], "full": splits.full, "holdout": splits.holdout,
                    "forget": {str(r): c for r, c in splits.forget.items()}}})


def build_world(session: Session, seed: int = 0) -> Path:
    """Generate the records, splits and tokenizer once (config-keyed); return the directory."""
    cfg = world_config(session, seed)
    return Artifact(session.paths.data, "worlds", "medical", cfg).build(lambda tmp: _make_world(cfg, tmp))


@dataclass
class MedicalWorld:
    """Records by client, client splits and the tokenizer; builds every TokenSet the
    experiment needs."""

    directory: Path
    tokenizer: object
    records: dict[str, dict]
    public: list[str]
    splits: med.ClientSplits
    english_train: list[str]
    english_eval: list[str]
    seed: int

    @classmethod
    def load(cls, directory: str | Path) -> "MedicalWorld":
        directory = Path(directory)
        if not (directory / ".done").is_file():
            raise FileNotFoundError(f"no complete medical world at {directory}; build_world() writes it")
        card = read_json(directory / "card.json")
        clients = card["clients"]
        splits = med.ClientSplits(full=clients["full"], holdout=clients["holdout"],
                                  forget={float(r): c for r, c in clients["forget"].items()})
        records = {r["client_name"]: r for r in med.read_jsonl(directory / "records.jsonl")}
        n = card["config"]["n_english"]
        return cls(directory, load_tokenizer(directory / "tokenizer"), records, clients["public"], splits,
                   card["english"][:n], card["english"][n:], card["config"]["seed"])

    def tokens(self, rows: list[dict], label_key: str = "field") -> TokenSet:
        return TokenSet.from_rows(rows, self.tokenizer, label_key=label_key)

    def training_rows(self, clients: Sequence[str], all_paraphrases: bool = False) -> list[dict]:
        """Notes and questions (held-out paraphrases only if ``all_paraphrases``) of ``clients``."""
        rows = []
        for c in clients:
            rows.append({"text": med.note_text(self.records[c]), "field": "note", "client": c})
            rows += [q for q in med.qa_probes(self.records[c], self.seed) if all_paraphrases or not q["held_out"]]
        return rows

    def corpus(self, clients: Sequence[str], all_paraphrases: bool = False) -> TokenSet:
        """Training data of a model: the clients' rows plus the English sentences."""
        rows = self.training_rows(clients, all_paraphrases) + [{"text": s, "field": "english"}
                                                               for s in self.english_train]
        return self.tokens(rows, "field")

    def records_set(self, clients: Sequence[str], label: str) -> TokenSet:
        """What unlearning and relearning use: the clients' notes and trained questions, every
        row labelled ``label`` ('forget' / 'retain')."""
        return self.tokens([{**r, "split": label} for r in self.training_rows(clients)], "split")

    def retain_set(self, ratio: float) -> TokenSet:
        """Retain data of a split for unlearning: the other clients' records and the English."""
        english_rows = [{"text": s, "split": "retain"} for s in self.english_train]
        return self.records_set(self.splits.retain(ratio), "retain").concat(self.tokens(english_rows, "split"))

    def questions(self, clients: Sequence[str], held_out: bool = True) -> TokenSet:
        """QA probes (label: field) in the held-out paraphrase, or in the trained ones."""
        rows = [q for c in clients for q in med.qa_probes(self.records[c], self.seed) if q["held_out"] == held_out]
        return self.tokens(rows, "field")

    def notes(self, clients: Sequence[str]) -> tuple[TokenSet, list[str]]:
        texts = [med.note_text(self.records[c]) for c in clients]
        return self.tokens([{"text": t} for t in texts], "field"), texts

    def english(self) -> TokenSet:
        return self.tokens([{"text": s} for s in self.english_eval], "field")

    def retain_eval_clients(self, ratio: float, n: int) -> list[str]:
        """A fixed sample of ``n`` retain clients (evaluation cost does not grow with the world)."""
        retain = self.splits.retain(ratio)
        return sorted(random.Random(self.seed).sample(retain, min(n, len(retain))))


def load_world(session: Session) -> MedicalWorld:
    return MedicalWorld.load(build_world(session))


# --------------------------------------------------------------------------------------------
# Models: public pretraining, then base / oracle fine-tunes
# --------------------------------------------------------------------------------------------


def _train_lm(model, data: TokenSet, steps: int, lr: float, session: Session, seed: int, desc: str) -> dict:
    """Language-model training on packed rows (all tokens scored), constant learning rate after
    warm-up; returns what it cost. (Memorising clients is a late phase transition: with a cosine
    decay over 250 steps the public model answered 20 % of diagnoses, with a constant rate 76 %.)"""
    p = session.profile
    rows = pack(data, p.private.model.max_len, seed)
    batches = rows.sampler(p.private.batch_size, seed_everything(seed), session.device)

    def step_loss(fwd, step):
        b = next(batches)
        return nll(logits_of(fwd, b), b), int(b["attention_mask"].sum())

    log = train(model, step_loss, TrainConfig(steps=steps, lr=lr, batch_size=p.private.batch_size,
                                              schedule="constant", **session.hardware), desc=desc)
    return {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s,
            "final_loss": sum(log.losses[-10:]) / max(1, len(log.losses[-10:]))}


def pretrain_public(session: Session, world: MedicalWorld, seed: int = 0) -> Path:
    """The starting point of every private model: public clients (all paraphrases) + English."""
    p = session.profile
    cfg = {"world": world.directory.name, "model": asdict(p.private.model), "steps": p.private.pretrain_steps,
           "lr": p.private.pretrain_lr, "batch_size": p.private.batch_size, "seed": seed}

    def make(tmp: Path) -> None:
        seed_everything(seed)
        model = build_llama(p.private.model, len(world.tokenizer), world.tokenizer, seed).to(session.device)
        cost = _train_lm(model, world.corpus(world.public, all_paraphrases=True), p.private.pretrain_steps,
                         p.private.pretrain_lr, session, seed, "pretrain public")
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "metrics.json", {**cost, "n_params": count_parameters(model)})

    return Artifact(session.paths.artifacts, "pretrain", "medical_public", cfg).build(make)


def finetune(session: Session, world: MedicalWorld, public_dir: Path, ratio: float | None, seed: int = 0) -> Path:
    """The base (``ratio=None``: every private client) or the oracle of a forget ratio (every
    client but that ratio's forget set), fine-tuned from the public model."""
    p = session.profile
    clients = world.splits.full if ratio is None else world.splits.retain(ratio)
    kind = "base" if ratio is None else f"oracle{med.ratio_tag(ratio)}"
    cfg = {"kind": kind, "start": Path(public_dir).name, "n_clients": len(clients), "clients": config_hash(clients),
           "steps": p.private.finetune_steps, "lr": p.private.finetune_lr, "batch_size": p.private.batch_size,
           "seed": seed}

    def make(tmp: Path) -> None:
        seed_everything(seed)
        model = load_model(public_dir, session.device)
        cost = _train_lm(model, world.corpus(clients), p.private.finetune_steps, p.private.finetune_lr, session,
                         seed, f"finetune {kind}")
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "metrics.json", cost)

    return Artifact(session.paths.artifacts, "pretrain", f"medical_{kind}", cfg).build(make)


def unlearn(session: Session, world: MedicalWorld, base_dir: Path, method: str, lr: float, ratio: float,
            seed: int) -> Path:
    """One registered method on one forget split: forget = the forget clients' notes and trained
    questions, retain = the other clients' and English; scored on answers (whole notes).
    ``UNDO`` distills a noised copy of the ``medical_undo_teacher`` model of the same split and
    seed (built first if needed)."""
    if method == "UNDO":
        return _undo(session, world, base_dir, lr, ratio, seed)
    p = session.profile
    method_cfg = {"steps": p.private.unlearn_steps, "lr": lr, "batch_size": p.private.unlearn_batch_size,
                  "answer_only": True, **METHOD_CONFIG.get(method, {})}
    cfg = {"method": method, "ratio": ratio, "seed": seed, "base": Path(base_dir).name, "config": method_cfg}
    name = f"medical_{method}_r{med.ratio_tag(ratio)}_lr{lr:g}_s{seed}"

    def make(tmp: Path) -> None:
        model = load_model(base_dir, session.device)
        data = UnlearnData(forget=world.records_set(world.splits.forget[ratio], "forget"), retain=world.retain_set(ratio),
                           generator=seed_everything(seed), device=session.device)
        log = get_method(method, **method_cfg).run(model, data, **session.hardware)
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "metrics.json", {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s})

    return Artifact(session.paths.artifacts, "unlearn", name, cfg).build(make)


def undo_teacher_lr(session: Session) -> float:
    """The learning rate of UNDO's teacher method in this profile's grid (its first entry)."""
    p = session.profile
    lrs = [lr for m, lr in p.private.methods if m == p.private.undo_teacher]
    if not lrs:
        raise ValueError(f"UNDO's teacher {p.private.undo_teacher!r} is not in medical_methods "
                         f"{[m for m, _ in p.private.methods]}: add it or change medical_undo_teacher")
    return lrs[0]


def _undo(session: Session, world: MedicalWorld, base_dir: Path, lr: float, ratio: float, seed: int) -> Path:
    """UNDO (registry): noise a copy of the unlearned teacher (``medical_undo_alpha``), then distill
    it on the teacher's outputs over the retain data (packed rows, every token), stopping when
    retain-client QA (trained wordings) is back within the method's threshold of the teacher's, or
    after ``medical_undo_steps``. A shortened UNDO: the paper distills for far longer."""
    p = session.profile
    teacher_dir = unlearn(session, world, base_dir, p.private.undo_teacher, undo_teacher_lr(session), ratio, seed)
    steps = p.private.undo_steps
    method_cfg = {"steps": steps, "lr": lr, "batch_size": p.private.batch_size, "eval_every": max(1, steps // 6),
                  "alpha": p.private.undo_alpha, "seed": seed}
    cfg = {"method": "UNDO", "ratio": ratio, "seed": seed, "teacher": Path(teacher_dir).name, "config": method_cfg}
    name = f"medical_UNDO_r{med.ratio_tag(ratio)}_lr{lr:g}_s{seed}"

    def make(tmp: Path) -> None:
        model = load_model(teacher_dir, session.device)
        retain_eval = world.questions(world.retain_eval_clients(ratio, p.private.retain_eval_clients), held_out=False)
        data = UnlearnData(forget=world.records_set(world.splits.forget[ratio], "forget"),
                           retain=pack(world.retain_set(ratio), p.private.model.max_len, seed),
                           generator=seed_everything(seed), device=session.device, retain_eval=retain_eval)
        log = get_method("UNDO", **method_cfg).run(model, data, **session.hardware)
        save_model(model, world.tokenizer, tmp)
        teacher_steps = read_json(Path(teacher_dir) / "metrics.json").get("steps", 0)
        write_json_atomic(tmp / "metrics.json", {"steps": log.steps + teacher_steps, "distill_steps": log.steps,
                                                 "tokens": log.tokens, "wall_s": log.wall_s})

    return Artifact(session.paths.artifacts, "unlearn", name, cfg).build(make)


# --------------------------------------------------------------------------------------------
# Evaluation and the relearning attack
# --------------------------------------------------------------------------------------------


def _mean(values: torch.Tensor) -> float:
    values = values.float()
    values = values[~values.isnan()]
    return float(values.mean()) if len(values) else float("nan")


EVAL_VERSION = 2  # part of every evaluation row's key: 2 = verbatim scored on private tokens


@torch.no_grad()
def private_token_accuracy(model, tokenizer, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                           starts: Sequence[int], batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Verbatim extraction, teacher-forced, one forward pass per batch: per text, the fraction of
    its tokens ending after character ``start`` that are the model's argmax given the gold prefix,
    (1) among the tokens overlapping ``spans`` (the client-specific values) and (2) among all of
    them (template included). Texts are tokenized as training saw them (``<bos> text <eos>``); a
    text without a private token after ``start`` scores NaN in (1).

    Why both: a note's second half is mostly template ("Exam:", "mg daily", "Follow up in"), which
    any model of the format predicts, so (2) barely separates a model that saw the client from one
    that did not; (1) asks for what only the client's note says."""
    prompts, answers, private, every = [], [], [], []
    for text, sp, start in zip(texts, spans, starts):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        after = [b > start for _, b in enc["offset_mapping"]]
        private.append([f and any(a < e and s < b for s, e in sp) for f, (a, b) in zip(after, enc["offset_mapping"])])
        every.append(after)
        prompts.append([tokenizer.bos_token_id])
        answers.append(list(enc["input_ids"]) + [tokenizer.eos_token_id])
    data = TokenSet(prompts, answers, [], pad_token_id(tokenizer))
    device = next(model.parameters()).device
    parts: dict[int, list[torch.Tensor]] = {0: [], 1: []}
    for first in range(0, len(data), batch_size):
        rows = range(first, min(first + batch_size, len(data)))
        batch = data.batch(rows, device)
        hit = (logits_of(model, batch)[:, :-1].argmax(-1) == batch["input_ids"][:, 1:]).float()
        for k, flags in enumerate((private, every)):
            mask = torch.zeros_like(hit)
            for r, i in enumerate(rows):  # hit[:, j] scores answer token j (the prompt is one BOS)
                mask[r, : len(flags[i])] = torch.tensor(flags[i], dtype=hit.dtype)
            n = mask.sum(-1)
            parts[k].append(torch.where(n > 0, (hit * mask).sum(-1) / n.clamp_min(1.0), float("nan")).cpu())
    empty = torch.zeros(0)
    return (torch.cat(parts[0]) if parts[0] else empty), (torch.cat(parts[1]) if parts[1] else empty)


def note_verbatim(model, tokenizer, records: Sequence[dict], texts: Sequence[str] | None = None) -> dict[str, float]:
    """Private-token and all-token verbatim accuracy on the second half of ``records``' notes
    (``texts``: the notes as trained, e.g. truncated; default the whole notes)."""
    texts = list(texts) if texts is not None else [med.note_text(r) for r in records]
    private, every = private_token_accuracy(model, tokenizer, texts,
                                            [med.private_spans(r, t) for r, t in zip(records, texts)],
                                            [med.verbatim_cut(t) for t in texts])
    return {"verbatim": _mean(private), "verbatim_all": _mean(every)}


def evaluate(model, world: MedicalWorld, ratio: float, session: Session) -> dict:
    """Forget / retain / holdout QA accuracy (held-out paraphrase), forget QA in trained
    wordings, per-field forget accuracy, verbatim extraction of the second half of the notes
    (private tokens, and all tokens), MIA AUC (forget notes vs holdout notes) for every attack,
    and English cross-entropy."""
    p = session.profile
    forget, holdout = world.splits.forget[ratio], world.splits.holdout
    questions = world.questions(forget)
    out = {"n_forget": len(forget), "n_forget_questions": len(questions),
           "forget_qa_acc": _mean(exact_match(model, questions)),
           "forget_qa_seen_acc": _mean(exact_match(model, world.questions(forget, held_out=False))),
           "retain_qa_acc": _mean(exact_match(model, world.questions(world.retain_eval_clients(
               ratio, p.private.retain_eval_clients)))),
           "holdout_qa_acc": _mean(exact_match(model, world.questions(holdout))),
           "english_ce": cross_entropy(model, world.english())}
    for name, clients in (("forget", forget), ("holdout", holdout)):
        verbatim = note_verbatim(model, world.tokenizer, [world.records[c] for c in clients])
        out.update({f"{name}_{k}": v for k, v in verbatim.items()})
    out.update({f"forget_{k}_acc": v for k, v in accuracy_by_label(model, world.questions(forget)).items()})
    (members, member_texts), (others, other_texts) = world.notes(forget), world.notes(holdout)
    aucs = mia_auc(model, members, others, member_texts, other_texts, k=p.private.mia_k)
    out.update({f"auc_{name}": value for name, value in aucs.items()})
    return out


def record(session: Session, world: MedicalWorld, model_dir: Path, method: str, ratio: float) -> dict:
    """Evaluate a saved model on one forget split (cached as a results-store row; a base or
    oracle is evaluated once per ratio, whatever the number of attack seeds)."""
    key = {"setting": SETTING, "method": method, "ratio": ratio, "model_id": model_id(session, model_dir),
           "eval": EVAL_VERSION}
    if session.store.has(MODELS_TABLE, key):
        return session.store.get(MODELS_TABLE, key)
    model = load_model(model_dir, session.device)
    cost = read_json(Path(model_dir) / "metrics.json")
    values = {**evaluate(model, world, ratio, session), "steps": cost.get("steps", 0)}
    session.store.put(MODELS_TABLE, key, values)
    return {**key, **values}


def relearn_split(world: MedicalWorld, ratio: float, seed: int) -> tuple[list[str], list[str]]:
    """Forget clients the attacker relearns on (half, at least one) and the others it is scored on."""
    forget = list(world.splits.forget[ratio])
    random.Random(seed).shuffle(forget)
    n = max(1, len(forget) // 2)
    return sorted(forget[:n]), sorted(forget[n:])


def relearn_config(session: Session) -> RelearnConfig:
    p = session.profile
    return RelearnConfig(lrs=p.private.relearn_lrs, steps=p.private.relearn_steps,
                         eval_every=p.private.relearn_eval_every, batch_size=p.private.unlearn_batch_size, n_items=0)


def relearn(session: Session, world: MedicalWorld, model_dir: Path, method: str, ratio: float, seed: int) -> dict:
    """Fine-tune on half of the forget clients' records; QA accuracy on the *other* forget
    clients before and after (worst case over the learning rates), and on the relearned ones."""
    cfg = relearn_config(session)
    key = {"setting": SETTING, "method": method, "ratio": ratio, "seed": seed,
           "model_id": model_id(session, model_dir), "attack_hash": config_hash(cfg)}
    if session.store.has(ATTACKS_TABLE, key):
        return session.store.get(ATTACKS_TABLE, key)
    attacked, others = relearn_split(world, ratio, seed)
    values: dict = {"n_relearned": len(attacked), "n_others": len(others)}
    if others:
        model = load_model(model_dir, session.device)
        curve = relearning_attack(model, world.records_set(attacked, "forget"), world.questions(others), ["forget"],
                                  cfg, seed, **session.hardware)
        before = next(r["forget_acc"] for r in curve if r["step"] == 0)
        after = worst_case(curve)
        values.update({"others_before": before, "others_after": after["post_attack_forget_acc"],
                       "worst_lr": after["worst_lr"], "curve": curve})
    session.store.put(ATTACKS_TABLE, key, values)
    return {**key, **values}


# --------------------------------------------------------------------------------------------
# The grid, in parallel one-thread processes on a multi-core CPU
# --------------------------------------------------------------------------------------------


def method_grid(session: Session) -> list[dict]:
    p = session.profile
    return [{"method": m, "lr": lr, "ratio": r, "seed": s}
            for m, lr in p.private.methods for r in p.private.forget_ratios for s in p.private.seeds]


def _finetune_job(args: tuple) -> str:
    session, world_dir, public_dir, ratio = args
    return str(finetune(session, MedicalWorld.load(world_dir), public_dir, ratio))


def _unlearn_job(args: tuple) -> str:
    session, world_dir, base_dir, job = args
    world = MedicalWorld.load(world_dir)
    path = unlearn(session, world, base_dir, job["method"], job["lr"], job["ratio"], job["seed"])
    record(session, world, path, job["method"], job["ratio"])
    relearn(session, world, path, job["method"], job["ratio"], job["seed"])
    return str(path)


def _reference_job(args: tuple) -> None:
    """Evaluate the base and the oracle of one ratio, and attack the oracle once per seed (the
    attack's client split depends on the seed, the models do not). The base is not attacked:
    it still knows every forget client, there is nothing to restore."""
    session, world_dir, base_dir, oracle_dir, ratio = args
    world = MedicalWorld.load(world_dir)
    record(session, world, base_dir, "base", ratio)
    record(session, world, oracle_dir, "oracle", ratio)
    for seed in session.profile.private.seeds:
        relearn(session, world, oracle_dir, "oracle", ratio, seed)


def _worker_init() -> None:
    torch.set_num_threads(1)
    quiet_libraries()


class _Serial:
    """Stand-in for a process pool (GPU, or one worker): runs each job when it is submitted."""

    class _Done:
        def __init__(self, value):
            self.value = value

        def get(self):
            return self.value

    def apply_async(self, fn, args):
        return self._Done(fn(*args))


def run(session: Session, world: MedicalWorld) -> dict:
    """Everything: public model, base, one oracle per ratio, the method grid with its
    evaluations and attacks, the references (base and oracle) per ratio. Returns the model
    directories; finished work is skipped.

    On a multi-core CPU the fine-tunes and the grid run in one-thread processes (small models
    do not scale across threads; independent runs do). Unlearning jobs are queued as soon as
    the base exists, behind the oracle fine-tunes, so no worker idles while the last oracle
    trains. The public pretraining runs first, alone, in a worker at a fixed ``PUBLIC_THREADS``:
    a matrix product's rounding depends on the thread count, so a model trained in the
    notebook's own process (threads = cores) would differ between machines.
    """
    p = session.profile
    wd = str(world.directory)
    if session.device != "cpu" or p.private.workers < 2:
        return _schedule(_Serial(), session, wd)
    with multiprocessing.get_context("spawn").Pool(p.private.workers, initializer=_worker_init) as pool:
        return _schedule(pool, session, wd)


PUBLIC_THREADS = 2  # the public pretraining runs alone: both cores, a fixed count for reproducible rounding


def _public_job(args: tuple) -> str:
    session, world_dir = args
    threads = torch.get_num_threads()
    torch.set_num_threads(PUBLIC_THREADS)
    try:
        return str(pretrain_public(session, MedicalWorld.load(world_dir)))
    finally:
        torch.set_num_threads(threads)


def _schedule(pool, session: Session, wd: str) -> dict:
    ratios, grid = list(session.profile.private.forget_ratios), method_grid(session)
    public_dir = Path(pool.apply_async(_public_job, ((session, wd),)).get())
    tuned = {r: pool.apply_async(_finetune_job, ((session, wd, public_dir, r),)) for r in [None, *ratios]}
    base_dir = Path(tuned[None].get())
    unlearned = [pool.apply_async(_unlearn_job, ((session, wd, base_dir, j),)) for j in grid]
    oracles = {r: Path(tuned[r].get()) for r in ratios}
    references = [pool.apply_async(_reference_job, ((session, wd, base_dir, oracles[r], r),)) for r in ratios]
    for job in references:
        job.get()  # re-raises a worker's exception here
    return {"public": public_dir, "base": base_dir, "oracles": oracles,
            "unlearned": [Path(job.get()) for job in unlearned]}


# --------------------------------------------------------------------------------------------
# Results: one frame, the paper table, and the text
# --------------------------------------------------------------------------------------------


def results(session: Session, dirs: dict) -> pd.DataFrame:
    """One row per (method, ratio, seed) of this profile's grid (``dirs``: what ``run``
    returned; rows of other models in the store, say from an earlier config, are left out):
    evaluation, privacy leak of every MIA attack relative to the oracle of the same ratio, and
    the relearning attack."""
    p = session.profile
    models, attacks = session.store.table(MODELS_TABLE), session.store.table(ATTACKS_TABLE)
    if models.empty or attacks.empty:
        raise ValueError("no private-records results yet; run private_records.run first")
    if not ("eval" in models and (models["eval"] == EVAL_VERSION).any()):
        raise ValueError(f"no private-records evaluation of version {EVAL_VERSION} yet; run private_records.run")
    ids = {model_id(session, d) for d in [dirs["base"], *dirs["oracles"].values(), *dirs["unlearned"]]}
    methods = ["base", "oracle", *[m for m, _ in p.private.methods]]
    current = models["eval"] == EVAL_VERSION if "eval" in models else False  # rows of an older evaluation: no
    models = models[current & models["model_id"].isin(ids) & models["ratio"].isin(p.private.forget_ratios)]
    attacks = attacks[attacks["seed"].isin(p.private.seeds) & (attacks["attack_hash"] == config_hash(relearn_config(session)))]
    attacks = attacks.drop(columns=["setting", "curve"])
    df = models.drop(columns=["setting"]).merge(attacks, on=["method", "ratio", "model_id"], how="left")
    df["seed"] = df["seed"].fillna(0).astype(int)  # the base is evaluated once and never attacked
    oracle = df[df["method"] == "oracle"].groupby("ratio")[[f"auc_{a}" for a in ATTACKS]].mean()
    for a in ATTACKS:
        df[f"leak_{a}"] = [privacy_leak(v, oracle[f"auc_{a}"].get(r, float("nan")))
                           for v, r in zip(df[f"auc_{a}"], df["ratio"])]
    order = {m: i for i, m in enumerate(methods)}
    return df.sort_values(["ratio", "method", "seed"], key=lambda c: c.map(order) if c.name == "method" else c)


def with_gain(df: pd.DataFrame) -> pd.DataFrame:
    """``relearn_gain``: what relearning on some forget clients adds to QA accuracy on the others
    (after − before, per attack)."""
    before, after = (pd.to_numeric(df.get(c, pd.Series(float("nan"), index=df.index)), errors="coerce")
                     for c in ("others_before", "others_after"))
    return df.assign(relearn_gain=after - before)


def _cell(values, scale: float, digits: int, interval: bool) -> str:
    """Mean ± 95 % CI (×``scale``), or the mean alone where there is no interval (one model)."""
    m, c = mean_ci([float(v) for v in values])
    return format_mean_ci(m, c if interval and len(values) >= 2 else float("nan"), scale, digits)


TABLE_COLUMNS = {"forget_qa_acc": ("forget QA (%)", 100.0), "retain_qa_acc": ("retain QA (%)", 100.0),
                 "forget_verbatim": ("verbatim (%)", 100.0), f"auc_{HEADLINE_ATTACK}": ("MIA AUC", 1.0),
                 f"leak_{HEADLINE_ATTACK}": ("privacy leak (%)", 100.0),
                 f"auc_note_{HEADLINE_ATTACK}": ("note MIA AUC", 1.0),
                 f"leak_note_{HEADLINE_ATTACK}": ("note leak (%)", 100.0),
                 "others_before": ("others before (%)", 100.0), "relearn_gain": ("relearn gain (pts)", 100.0),
                 "others_after": ("others after (%)", 100.0)}
ATTACK_COLUMNS = ("others_before", "relearn_gain", "others_after")  # one value per attack seed, not per model


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The paper table: per forget ratio and method, mean ± 95 % CI over seeds. A column whose
    values come from one model (base and oracle, or a one-seed grid) shows the mean alone; the
    relearning columns vary with the attack's client split (one per seed), so the oracle's have
    an interval. Columns the frame lacks (the real tier without notes: verbatim, note MIA) are
    left out."""
    df = with_gain(df)
    rows = []
    for (ratio, method), g in df.groupby(["ratio", "method"], sort=False):
        row = {"forget %": f"{100 * ratio:g}", "method": method}
        unique = g.drop_duplicates("model_id") if "model_id" in g else g  # one row per evaluated model
        models = len(unique)
        for col, (title, scale) in TABLE_COLUMNS.items():
            if col not in df:
                continue
            values = (g if col in ATTACK_COLUMNS else unique)[col].dropna()
            interval = col in ATTACK_COLUMNS or models >= 2
            row[title] = _cell(values, scale, 1 if scale == 100.0 else 2, interval)
        row["seeds"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows)


def field_table(df: pd.DataFrame) -> pd.DataFrame:
    """Forget-client QA accuracy per field (diagnosis, medication, date of birth, visit date:
    those the tier asks), per forget ratio and method, mean over seeds (%)."""
    cols = [f"forget_{f}_acc" for f in med.QA_FIELDS if f"forget_{f}_acc" in df]
    out = df.groupby(["ratio", "method"], sort=False)[cols].mean().mul(100).round(1)
    return out.rename(columns=lambda c: c.removeprefix("forget_").removesuffix("_acc") + " (%)")


def _pct(values) -> str:
    """'12.5 ± 3.0 %' over several values; the value alone for one (no interval)."""
    values = [float(v) for v in values if v == v]
    m, c = mean_ci(values)
    if m != m:
        return "--"
    return f"{round(100 * m, 1) + 0.0:.1f}" + (f" ± {100 * c:.1f}" if len(values) >= 2 else "") + " %"


def _interval(values) -> tuple[float, float]:
    m, c = mean_ci(list(values))
    return m - c, m + c


CRITERIA = {"qa_above_oracle": "forget QA above the oracle",
            "leak_positive": "positive privacy leak (notes still recognised as members)",
            "leak_negative": "negative privacy leak (notes pushed below never-seen ones)",
            "relearn_above_oracle": "after relearning on some forget clients, the others are answered above the "
                                    "oracle's level after the same attack"}


def verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """Per method and ratio: which 'not forgotten' criterion the 95 % CI over seeds separates from
    the oracle (False where fewer than two seeds give no interval)."""
    a = HEADLINE_ATTACK
    rows = []
    for (method, ratio), g in df[~df["method"].isin(REFERENCE_METHODS)].groupby(["method", "ratio"], sort=False):
        o = df[(df["ratio"] == ratio) & (df["method"] == "oracle")]
        row = {"method": method, "ratio": ratio, "seeds": len(g), **{k: False for k in CRITERIA}}
        if len(g) >= 2:
            row["qa_above_oracle"] = _interval(g["forget_qa_acc"])[0] > o["forget_qa_acc"].mean()
            lo, hi = _interval(g[f"leak_{a}"])
            row["leak_positive"], row["leak_negative"] = lo > 0, hi < 0
            others = g["others_after"].dropna()
            row["relearn_above_oracle"] = len(others) >= 2 and _interval(others)[0] > o["others_after"].mean()
        rows.append(row)
    return pd.DataFrame(rows)



def describe(df: pd.DataFrame) -> str:
    """The evidence in sentences, from the numbers: what 'not forgotten' means, the base and the
    oracle per ratio, then per method its numbers and which criteria separate it from the oracle."""
    a = HEADLINE_ATTACK
    lines = ["**What 'not forgotten' means here.** A forget client is forgotten when the unlearned model treats "
             "it like the oracle, which never saw it: (i) QA accuracy on the client in a held-out paraphrase at "
             "the oracle's (not necessarily zero: without the client, the oracle can still answer a frequent "
             "diagnosis or drug, whose frequencies it learned from the other clients); (ii) membership inference "
             "on the client's training texts (notes here; in the real tier question–answer texts, and notes where it trains them) at the oracle's "
             "AUC, i.e. privacy leak 0 (positive: still recognised as training members; negative: pushed below "
             "never-seen clients' texts, which an auditor can detect too); (iii) after relearning on some forget "
             "clients, the *other* forget clients are answered no better than the oracle answers them after the "
             "same attack. Criterion (iii) fails either because relearning brings knowledge back or because "
             "unlearning never removed it; 'others before' (ahead of the attack) tells which. A criterion counts as "
             "failed when the method's 95 % CI over seeds excludes the oracle's value. The oracle is one model per "
             "ratio (training seed 0), so its value is a point: the oracle's own variation across training seeds is "
             "not in the comparison, and a verdict says 'differs from this oracle', not from every oracle. "
             "Verbatim extraction is scored on the private tokens of the notes' second half (numbers, diagnosis, "
             "drug, symptoms, findings), not on the template.", "", "**Base and oracle** (one model each):"]
    for ratio, g in df.groupby("ratio"):
        o, b = g[g["method"] == "oracle"], g[g["method"] == "base"]
        lines.append(f"- forget {100 * ratio:g} % ({int(g['n_forget'].max())} clients, "
                     f"{int(g['n_forget_questions'].max())} held-out questions): forget QA base "
                     f"{100 * b['forget_qa_acc'].mean():.1f} %, oracle {100 * o['forget_qa_acc'].mean():.1f} %; "
                     f"MIA AUC ({a}) base {b[f'auc_{a}'].mean():.2f}, oracle {o[f'auc_{a}'].mean():.2f}; relearning "
                     f"on {int(o['n_relearned'].max())} clients takes the oracle's QA accuracy on the other "
                     f"{int(o['n_others'].max())} from {_pct(o['others_before'])} to {_pct(o['others_after'])}.")
    ver = verdicts(df)
    for method, g in df[~df["method"].isin(REFERENCE_METHODS)].groupby("method", sort=False):
        lines += ["", f"**{method}**: " + "; ".join(_method_ratio(g[g["ratio"] == r], df[df["ratio"] == r], r)
                                                  for r in sorted(g["ratio"].unique())) + ".",
                  _verdict(method, ver[ver["method"] == method])]
    if not ver.empty:
        lines += ["", _summary(ver), "", _transfer(df)]
    return "\n".join(lines)


def _transfer(df: pd.DataFrame) -> str:
    """Does relearning some forget clients bring the others back? The change it makes to the
    others' QA accuracy, pooled over ratios and seeds, for the methods and for the oracle."""
    attacked = with_gain(df).dropna(subset=["relearn_gain"])
    gain = attacked["relearn_gain"]
    is_oracle = attacked["method"] == "oracle"
    return (f"Relearning transfer: the attack changes QA accuracy on the forget clients it did not train on by "
            f"{_pct(gain[~is_oracle])} (points, unlearned models, {int((~is_oracle).sum())} attacks pooled over "
            f"methods, ratios and seeds) and {_pct(gain[is_oracle])} (oracle, {int(is_oracle.sum())} attacks); "
            "per cell: the table's 'relearn gain' column. Where 'others after' exceeds the oracle, the knowledge "
            "was mostly still there before the attack.")


def _method_ratio(g: pd.DataFrame, at_ratio: pd.DataFrame, ratio: float) -> str:
    a = HEADLINE_ATTACK
    o, b = at_ratio[at_ratio["method"] == "oracle"], at_ratio[at_ratio["method"] == "base"]
    return (f"at {100 * ratio:g} % forget QA {_pct(g['forget_qa_acc'])} (oracle {100 * o['forget_qa_acc'].mean():.1f} %), "
            f"retain QA {_pct(g['retain_qa_acc'])} (base {100 * b['retain_qa_acc'].mean():.1f} %), "
            + (f"verbatim private tokens {_pct(g['forget_verbatim'])} (oracle {100 * o['forget_verbatim'].mean():.1f} "
               "%), " if "forget_verbatim" in g else "") + f"MIA AUC "
            f"{g[f'auc_{a}'].mean():.2f}, privacy leak {_pct(g[f'leak_{a}'])}, other forget clients "
            f"{_pct(g['others_before'].dropna())} → {_pct(g['others_after'].dropna())} after relearning "
            f"(oracle → {100 * o['others_after'].mean():.1f} %)")


def _verdict(method: str, ver: pd.DataFrame) -> str:
    if ver.empty or ver["seeds"].min() < 2:
        return f"{method}: fewer than two seeds per ratio, so no confidence interval and no verdict."
    found = [f"{text} at {', '.join(f'{100 * r:g} %' for r in ver.loc[ver[key], 'ratio'])}"
             for key, text in CRITERIA.items() if ver[key].any()]
    if not found:
        return (f"{method} is indistinguishable from the oracle by these criteria at this grid's resolution "
                "(every CI includes the oracle's value).")
    return f"{method} is *not forgotten*: " + "; ".join(found) + "."


def _summary(ver: pd.DataFrame) -> str:
    untested = int((ver["seeds"] < 2).sum())
    ver = ver[ver["seeds"] >= 2]  # one seed gives no interval: such a cell is untested, not clean
    n = len(ver)
    if n == 0:
        return f"No verdicts: every one of the {untested} (method, forget ratio) cells has fewer than two seeds."
    counts = ", ".join(f"{text}: {int(ver[key].sum())}" for key, text in CRITERIA.items())
    clean = int((~ver[list(CRITERIA)].any(axis=1)).sum())
    return (f"Over all {n} (method, forget ratio) cells — {counts}; cells indistinguishable from the oracle on "
            f"every criterion: {clean}" + (f" ({untested} more cells with one seed: no verdict)." if untested else "."))


def grid_note(session: Session) -> str:
    """Which grid produced the numbers (the notebook prints it next to the figures)."""
    p = session.profile
    return (f"{p.name} profile: {p.private.clients} private clients (+{p.private.holdout_clients} holdout, "
            f"{p.private.public_clients} public), forget ratios {', '.join(f'{100 * r:g}%' for r in p.private.forget_ratios)} "
            f"(at least {p.private.min_forget} clients), methods {', '.join(f'{m} (lr {lr:g})' for m, lr in p.private.methods)}, "
            f"seeds {list(p.private.seeds)}; one base and one oracle per ratio (training seed 0)"
            + _grid_methods_note(p) + ".")


def _grid_methods_note(p) -> str:
    """What the grid says about UNDO and RMU (in it, or why not)."""
    names = {m for m, _ in p.private.methods}
    out = ""
    if "UNDO" in names:
        out += (f"; UNDO: noise α={p.private.undo_alpha:g} on the {p.private.undo_teacher} model, then at most "
                f"{p.private.undo_steps} distillation steps")
    missing = [m for m in ("RMU", "UNDO") if m not in names]
    if missing:
        verb = "exceeds" if len(missing) == 1 else "exceed"
        out += (f"; {' and '.join(missing)} not in this grid ({'it' if len(missing) == 1 else 'they'} {verb} the "
                "CPU budget of the default profile; the smoke and gpu grids run "
                f"{'it' if len(missing) == 1 else 'them'})")
    return out


def card_sizes(world: MedicalWorld) -> pd.DataFrame:
    """Clients per split (for the notebook's data section)."""
    rows = [{"split": "public (pretraining)", "clients": len(world.public)},
            {"split": "full (base)", "clients": len(world.splits.full)},
            {"split": "holdout (MIA non-members)", "clients": len(world.splits.holdout)}]
    rows += [{"split": f"forget {100 * r:g} %", "clients": len(c)} for r, c in world.splits.forget.items()]
    return pd.DataFrame(rows)


def example_note(world: MedicalWorld) -> str:
    """One forget client's record as JSON (seed field names)."""
    client = world.splits.forget[min(world.splits.forget)][0]
    return json.dumps(world.records[client], indent=2)
