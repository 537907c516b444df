"""Private records (35_private_records): are unlearned clients' notes really gone?

The synthetic tier, in the fine-tuning protocol of TOFU/MUSE:

1. per seed, a small Llama is pretrained from scratch on *public* clients' SOAP notes, every
   question about them, and grammar English (it learns the note format and how questions map to
   fields); the seed sets its init and data order, the world is the profile's one;
2. that seed's public model is fine-tuned on the private clients: the seed's **base** on all of
   them (``full``), one **oracle** per forget ratio on ``full`` minus that ratio's forget clients
   (nothing else differs: same start, data order seed, steps);
3. each registered method unlearns each forget split from the base of its seed, for every seed;
   it is compared with the oracle of its seed (independent replicates: CIs over models);
4. every model is evaluated (``evaluate.record``) on forget-client questions in a paraphrase no
   training set contains, retain-client questions, verbatim continuation of forget notes,
   membership inference and general-text loss; and attacked (``evaluate.relearn``) by relearning
   on half of the forget clients, measuring the *other* half.

Every step is resumable: models are config-keyed artifacts, evaluations and attacks rows of the
results store keyed by the model they describe. The real tier (SmolLM2 with LoRA) is ``real``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from unlearnlab.core.artifacts import Artifact, config_hash, read_json, write_json_atomic
from unlearnlab.core.batching import TokenSet, pack
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.core.models import build_llama, count_parameters, load_model, save_model
from unlearnlab.core.parallel import worker_pool
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.training import TrainConfig, train
from unlearnlab.data import medical as med
from unlearnlab.data.medical_world import MedicalWorld, MedicalWorldConfig
from unlearnlab.experiments.private.evaluate import record, relearn
from unlearnlab.experiments.session import Session
from unlearnlab.methods import UnlearnData, get_method

# Method settings beyond steps/lr/batch (the learning rates are the profile's ``private.methods``).
# Chosen by hand with them in the pilot of config.LR_PILOT (10 % split, seed 0, test wording; not at
# run time): with retain weight 1, GradDiff at lr 1e-3 kept 0.23 retain QA of the base's 0.36 (weight
# 5 at 3e-3: 0.29); NPO at weight 5 kept 0.19 (weight 20: 0.32); RMU's default weight 100 left forget
# QA at the base's 0.48 (weight 10: 0.30).
METHOD_CONFIG: dict[str, dict] = {"GradDiff": {"retain_weight": 5.0}, "NPO": {"retain_weight": 20.0},
                                  "SimNPO": {"retain_weight": 5.0}, "RMU": {"retain_weight": 10.0}}
# the public pretrainings are independent pool jobs (one per seed); each runs on one thread wherever it runs (a
# one-thread worker, or this process with a serial pool): a fixed count, so rounding does not depend on the machine
PUBLIC_THREADS = 1

# --------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------


def world_config(session: Session, seed: int = 0) -> MedicalWorldConfig:
    """The medical world of this profile's private section."""
    p = session.profile.private
    return MedicalWorldConfig(public=p.public_clients, clients=p.clients, holdout=p.holdout_clients,
                              ratios=tuple(p.forget_ratios), min_forget=p.min_forget, n_english=p.n_english,
                              vocab_size=p.vocab_size, seed=seed)


def load_world(session: Session) -> MedicalWorld:
    """The profile's world, generated first if needed."""
    return MedicalWorld.load(MedicalWorld.build(world_config(session), session.paths.data))


# --------------------------------------------------------------------------------------------
# Models: public pretraining, base / oracle fine-tunes, unlearning
# --------------------------------------------------------------------------------------------


def _train_lm(model, data: TokenSet, steps: int, lr: float, session: Session, seed: int, desc: str) -> dict:
    """Language-model training on packed rows (all tokens scored), constant learning rate after
    warm-up; returns what it cost. (Memorising clients is a late phase transition: with a cosine
    decay over 250 steps the public model answered 20 % of diagnoses, with a constant rate 76 %.)"""
    p = session.profile.private
    batches = pack(data, p.model.max_len, seed).sampler(p.batch_size, seed_everything(seed), session.device)

    def step_loss(fwd, step):
        b = next(batches)
        return nll(logits_of(fwd, b), b), int(b["attention_mask"].sum())

    log = train(model, step_loss, TrainConfig(steps=steps, lr=lr, batch_size=p.batch_size, schedule="constant",
                                              **session.hardware), desc=desc)
    return {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s,
            "final_loss": sum(log.losses[-10:]) / max(1, len(log.losses[-10:]))}


def pretrain_public(session: Session, world: MedicalWorld, seed: int = 0) -> Path:
    """The starting point of every private model of ``seed``: public clients (all paraphrases) +
    English, from the seed's init in the seed's data order."""
    p = session.profile.private
    cfg = {"world": world.directory.name, "model": asdict(p.model), "steps": p.pretrain_steps,
           "lr": p.pretrain_lr, "batch_size": p.batch_size, "seed": seed}

    def make(tmp: Path) -> None:
        seed_everything(seed)
        model = build_llama(p.model, len(world.tokenizer), world.tokenizer, seed).to(session.device)
        cost = _train_lm(model, world.corpus(world.public, all_paraphrases=True), p.pretrain_steps,
                         p.pretrain_lr, session, seed, "pretrain public")
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "metrics.json", {**cost, "n_params": count_parameters(model)})

    return Artifact(session.paths.artifacts, "pretrain", f"medical_public_s{seed}", cfg).build(make)


def finetune(session: Session, world: MedicalWorld, public_dir: Path, ratio: float | None, seed: int = 0) -> Path:
    """The base (``ratio=None``: every private client) or the oracle of a forget ratio (every
    client but that ratio's forget set), fine-tuned from the public model of the same ``seed``
    (data order ``seed``)."""
    p = session.profile.private
    clients = world.splits.full if ratio is None else world.splits.retain(ratio)
    kind = "base" if ratio is None else f"oracle{med.ratio_tag(ratio)}"
    cfg = {"kind": kind, "start": Path(public_dir).name, "n_clients": len(clients), "clients": config_hash(clients),
           "steps": p.finetune_steps, "lr": p.finetune_lr, "batch_size": p.batch_size, "seed": seed}

    def make(tmp: Path) -> None:
        seed_everything(seed)
        model = load_model(public_dir, session.device)
        cost = _train_lm(model, world.corpus(clients), p.finetune_steps, p.finetune_lr, session, seed,
                         f"finetune {kind}")
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "metrics.json", cost)

    return Artifact(session.paths.artifacts, "pretrain", f"medical_{kind}_s{seed}", cfg).build(make)


def _save_unlearned(tmp: Path, model, world: MedicalWorld, log, **extra) -> None:
    save_model(model, world.tokenizer, tmp)
    write_json_atomic(tmp / "metrics.json", {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s, **extra})


def unlearn(session: Session, world: MedicalWorld, base_dir: Path, method: str, lr: float, ratio: float,
            seed: int) -> Path:
    """One registered method on one forget split: forget = the forget clients' notes and trained
    questions, retain = the other clients' and English; scored on answers (whole notes).
    ``UNDO`` distills a noised copy of the ``private.undo_teacher`` model of the same split and
    seed (built first if needed)."""
    if method == "UNDO":
        return _undo(session, world, base_dir, lr, ratio, seed)
    p = session.profile.private
    method_cfg = {"steps": p.unlearn_steps, "lr": lr, "batch_size": p.unlearn_batch_size, "answer_only": True,
                  **METHOD_CONFIG.get(method, {})}
    cfg = {"method": method, "ratio": ratio, "seed": seed, "base": Path(base_dir).name, "config": method_cfg}

    def make(tmp: Path) -> None:
        model = load_model(base_dir, session.device)
        data = UnlearnData(forget=world.records_set(world.splits.forget[ratio], "forget"), retain=world.retain_set(ratio),
                           generator=seed_everything(seed), device=session.device)
        _save_unlearned(tmp, model, world, get_method(method, **method_cfg).run(model, data, **session.hardware))

    name = f"medical_{method}_r{med.ratio_tag(ratio)}_lr{lr:g}_s{seed}"
    return Artifact(session.paths.artifacts, "unlearn", name, cfg).build(make)


def undo_teacher_lr(session: Session) -> float:
    """The learning rate of UNDO's teacher method in this profile's grid (its first entry)."""
    p = session.profile.private
    lrs = [lr for m, lr in p.methods if m == p.undo_teacher]
    if not lrs:
        raise ValueError(f"UNDO's teacher {p.undo_teacher!r} is not in private.methods "
                         f"{[m for m, _ in p.methods]}: add it or change private.undo_teacher")
    return lrs[0]


def undo_stop_items(world: MedicalWorld, ratio: float, n_clients: int):
    """What UNDO's stopping rule reads: the retain clients' questions in the *validation*
    paraphrase (never trained, never reported), of the same clients whose test paraphrase the
    table's retain QA scores."""
    return world.questions(world.retain_eval_clients(ratio, n_clients), "val")


def _undo(session: Session, world: MedicalWorld, base_dir: Path, lr: float, ratio: float, seed: int) -> Path:
    """UNDO (registry): noise a copy of the unlearned teacher (``private.undo_alpha``), then distill
    it on the teacher's outputs over the retain data (packed rows, every token), stopping when
    retain-client QA on validation items (``undo_stop_items``) is back within the method's
    threshold of the teacher's, or after ``private.undo_steps``. A shortened UNDO: the paper
    distills for far longer."""
    p = session.profile.private
    teacher_dir = unlearn(session, world, base_dir, p.undo_teacher, undo_teacher_lr(session), ratio, seed)
    method_cfg = {"steps": p.undo_steps, "lr": lr, "batch_size": p.batch_size, "eval_every": max(1, p.undo_steps // 6),
                  "alpha": p.undo_alpha, "seed": seed}
    cfg = {"method": "UNDO", "ratio": ratio, "seed": seed, "teacher": Path(teacher_dir).name, "config": method_cfg,
           "stop_on": "val"}

    def make(tmp: Path) -> None:
        model = load_model(teacher_dir, session.device)
        retain_eval = undo_stop_items(world, ratio, p.retain_eval_clients)
        data = UnlearnData(forget=world.records_set(world.splits.forget[ratio], "forget"),
                           retain=pack(world.retain_set(ratio), p.model.max_len, seed),
                           generator=seed_everything(seed), device=session.device, retain_eval=retain_eval)
        log = get_method("UNDO", **method_cfg).run(model, data, **session.hardware)
        teacher_steps = read_json(Path(teacher_dir) / "metrics.json").get("steps", 0)
        _save_unlearned(tmp, model, world, log, steps=log.steps + teacher_steps, distill_steps=log.steps)

    name = f"medical_UNDO_r{med.ratio_tag(ratio)}_lr{lr:g}_s{seed}"
    return Artifact(session.paths.artifacts, "unlearn", name, cfg).build(make)


# --------------------------------------------------------------------------------------------
# The grid, in one-thread worker processes on a multi-core CPU
# --------------------------------------------------------------------------------------------


def method_grid(session: Session) -> list[dict]:
    p = session.profile.private
    return [{"method": m, "lr": lr, "ratio": r, "seed": s} for m, lr in p.methods for r in p.forget_ratios
            for s in p.seeds]


def _public_job(session: Session, world_dir: str, seed: int) -> str:
    """One seed's public pretraining at ``PUBLIC_THREADS`` threads, whatever the process."""
    threads = torch.get_num_threads()
    torch.set_num_threads(PUBLIC_THREADS)
    try:
        return str(pretrain_public(session, MedicalWorld.load(world_dir), seed))
    finally:
        torch.set_num_threads(threads)


def _finetune_job(session: Session, world_dir: str, public_dir: Path, ratio: float | None, seed: int) -> str:
    return str(finetune(session, MedicalWorld.load(world_dir), public_dir, ratio, seed))


def _unlearn_job(session: Session, world_dir: str, base_dir: Path, job: dict) -> str:
    """Unlearn one grid cell from its seed's base, then evaluate and attack the result."""
    world = MedicalWorld.load(world_dir)
    path = unlearn(session, world, base_dir, job["method"], job["lr"], job["ratio"], job["seed"])
    record(session, world, path, job["method"], job["ratio"], job["seed"])
    relearn(session, world, path, job["method"], job["ratio"], job["seed"])
    return str(path)


def _reference_job(session: Session, world_dir: str, base_dir: Path, oracle_dir: Path, ratio: float,
                   seed: int) -> None:
    """Evaluate one seed's base and its oracle of one ratio, and attack the oracle with that seed's
    client split (the split its unlearned models are attacked with). The base is not attacked:
    it still knows every forget client, there is nothing to restore."""
    world = MedicalWorld.load(world_dir)
    record(session, world, base_dir, "base", ratio, seed)
    record(session, world, oracle_dir, "oracle", ratio, seed)
    relearn(session, world, oracle_dir, "oracle", ratio, seed)


def run(session: Session, world: MedicalWorld) -> dict:
    """Everything, per seed: a public model, its base and one oracle per ratio, the method grid
    from that base with its evaluations and attacks, the references (base and oracle) per ratio.
    Returns the model directories (``publics``, ``bases`` by seed; ``oracles`` by (ratio, seed);
    ``unlearned``, with the grid cell of each in ``unlearned_jobs``); finished work is skipped.

    On a multi-core CPU the jobs run in ``core.parallel.worker_pool`` processes (small models do
    not scale across threads; independent runs do); on a GPU or with one worker, in this process.
    The public pretrainings are queued first, each seed's fine-tunes as soon as its public model
    exists, each seed's unlearning jobs as soon as its base exists (behind the fine-tunes still
    waiting), so no worker idles while the last model trains.
    """
    p = session.profile.private
    ratios, seeds, wd = list(p.forget_ratios), list(p.seeds), str(world.directory)
    with worker_pool(p.workers, session.device) as pool:
        publics = {s: pool.apply_async(_public_job, (session, wd, s)) for s in seeds}
        tuned = {}
        for s in seeds:
            public_dir = Path(publics[s].get())
            tuned.update({(r, s): pool.apply_async(_finetune_job, (session, wd, public_dir, r, s))
                          for r in [None, *ratios]})
        bases, unlearned, jobs = {}, [], []
        for s in seeds:
            bases[s] = Path(tuned[(None, s)].get())
            jobs += [j for j in method_grid(session) if j["seed"] == s]
            unlearned += [pool.apply_async(_unlearn_job, (session, wd, bases[s], j)) for j in jobs if j["seed"] == s]
        oracles = {(r, s): Path(tuned[(r, s)].get()) for r in ratios for s in seeds}
        references = [pool.apply_async(_reference_job, (session, wd, bases[s], oracles[(r, s)], r, s))
                      for s in seeds for r in ratios]
        for job in references:
            job.get()  # re-raises a worker's exception here
        return {"publics": {s: Path(publics[s].get()) for s in seeds}, "bases": bases, "oracles": oracles,
                "unlearned": [Path(job.get()) for job in unlearned], "unlearned_jobs": jobs}
