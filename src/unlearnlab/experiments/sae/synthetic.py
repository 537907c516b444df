"""The synthetic tier's steps, each a config-keyed artifact (skipped when done).

1. ``build_world``: the hazard world of the profile (``data.hazard.HazardWorld``).
2. ``pretrain``: a tiny Llama learns the facts from the corpora and question → value pairs, and
   the multiple-choice format from questions in random choice orders plus "Which option is
   <value>?" binding questions (the letter lookup without the knowledge). Reading the answer
   letter is the slow skill for a model trained from scratch: it stays at chance for the first
   ~1,500 steps (batch 16) while it already completes ~95 % of the corpus facts. The artifact
   also records which questions the model knows under all 24 orderings: the evaluation suite.
   One model per seed (init and data order), each with its own suite: every later step of seed s
   starts from model s and is evaluated on model s's suite.
3. ``sae_job`` per (SAE kind, seed): train the SAE on the model's activations at the profile's
   site, measure it, compute feature statistics and every scoring rule on the forget / retain
   corpora, and sweep the clamp (and decoder-direction ablation) over the grid
   (``methods.sae_clamp.sweep``).
4. ``baseline_job`` per (method, grid point, seed): RMU and GradDiff on the same corpora,
   from the seed's model and on its suite: their unlearning score uses the same formula over their
   sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import save_file

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.logprobs import nll_of
from unlearnlab.core.models import build_llama, count_parameters, load_model, save_model
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.training import TrainConfig, train
from unlearnlab.data import hazard
from unlearnlab.data.hazard import HazardWorld
from unlearnlab.evals.mcq import MCQSuite, build_suite
from unlearnlab.experiments.sae.suite import known_suite, question_key, save_known
from unlearnlab.experiments.session import Session
from unlearnlab.methods import UnlearnData, get_method
from unlearnlab.methods.sae_clamp import sweep
from unlearnlab.sae.features import importance_scores_per_retain
from unlearnlab.sae.saelens_format import save_beside
from unlearnlab.sae.train import sae_for

EVAL_VERSION = "hits"  # evaluations record per-question hits (bootstrap over questions); older caches did not


def build_world(session: Session, seed: int = 0) -> Path:
    """Questions (parquet, WMDP schema), corpora and tokenizer of the profile's hazard world."""
    return HazardWorld.build(session.profile.sae.world_config(seed), session.paths.data)


@contextmanager
def one_thread(session: Session) -> Iterator[None]:
    """Run a tiny model on one CPU thread: a 64-wide Llama gains nothing from a second thread, and on
    a busy 2-core machine two threads spent 13 min of CPU in 20 min of pretraining without finishing
    (the whole one-thread run of every stage: 6 min of CPU)."""
    before = torch.get_num_threads()
    if session.device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pretrain(session: Session, world: HazardWorld, seed: int = 0) -> Path:
    """The hazard model of ``seed`` (its init and its data order: which choice orders it sees and
    in which order it reads them; the world stays the profile's one); ``known.json`` lists the
    questions it answers under all 24 orderings: its own suite."""
    p = session.profile.sae
    cfg = {"world": world.directory.name, "seed": seed, "model": asdict(p.model), "steps": p.pretrain_steps,
           "lr": p.pretrain_lr, "batch_size": p.pretrain_batch_size, "orders": p.mcq_orders,
           "binding": p.binding_orders, "qa": p.qa_repeats, "corpus_repeats": p.corpus_repeats}

    def make(tmp: Path) -> None:
        with one_thread(session):
            _pretrain(session, world, seed, tmp)

    return Artifact(session.paths.artifacts, "sae_pretrain", "hazard", cfg).build(make)


def _pretrain(session: Session, world: HazardWorld, seed: int, tmp: Path) -> None:
    p = session.profile.sae
    gen = seed_everything(seed)
    data = world.pretraining_set(p.mcq_orders, p.binding_orders, p.qa_repeats, p.corpus_repeats, seed)
    model = build_llama(p.model, len(world.tokenizer), world.tokenizer, seed).to(session.device)
    batches = data.sampler(p.pretrain_batch_size, gen, session.device)

    def step_loss(fwd, step):  # letters of questions, every token of text
        b = next(batches)
        return nll_of(fwd, b, answer_only=True), int(b["attention_mask"].sum())

    log = train(model, step_loss, TrainConfig(steps=p.pretrain_steps, lr=p.pretrain_lr,
                                              batch_size=p.pretrain_batch_size, **session.hardware),
                desc="pretrain hazard")
    suite = build_suite(model, world.tokenizer, world.forget_questions(), world.side_questions(), hazard.FMT)
    save_model(model, world.tokenizer, tmp)
    save_known(tmp / "known.json", suite)
    write_json_atomic(tmp / "metrics.json", {
        "steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s, "n_params": count_parameters(model),
        "final_loss": sum(log.losses[-20:]) / max(1, len(log.losses[-20:])),
        "n_asked": suite.n_asked, "n_known_forget": suite.n_forget, "n_known_side": len(suite.side_rows),
        "curve": log.losses[:: max(1, len(log.losses) // 200)]})


def load_suite(world: HazardWorld, base_dir: Path) -> MCQSuite:
    """The suite recorded with the model (no 24-ordering pass again)."""
    return known_suite(Path(base_dir) / "known.json", world.forget_questions(), world.side_questions(),
                       world.tokenizer, hazard.FMT)


def question_keys(world: HazardWorld, base_dir: Path) -> list[str]:
    """The identities (domain/entity/relation) of a model's forget questions, in its suite's
    order: question i of its per-question hits is ``question_keys(...)[i]``."""
    return [question_key(q) for q in load_suite(world, base_dir).forget_rows]


def base_evaluation(session: Session, world: HazardWorld, base_dir: Path) -> dict:
    """The unmodified model on the filtered suite (milliseconds): the side-effect accuracy every
    score is relative to. The permutation filter makes it 1 up to batching noise; it is measured,
    not assumed."""
    return load_suite(world, base_dir).evaluate(load_model(base_dir, session.device), hits=True)


def sae_job(session: Session, world: HazardWorld, base_dir: Path, kind: str, seed: int) -> Path:
    """Train, measure, score and sweep one SAE (one artifact)."""
    p = session.profile.sae
    model_cfg = read_json(Path(base_dir) / "config.json")
    scfg, tcfg, grid = p.sae_architecture(model_cfg["hidden_size"], kind), p.sae_training(kind), p.grid()
    cfg = {"base": Path(base_dir).name, "sae": asdict(scfg), "train": asdict(tcfg), "seed": seed,
           "rules": p.rules, "grid": asdict(grid), "retain_sets": p.retain_sets, "eval": EVAL_VERSION}

    def make(tmp: Path) -> None:
        seed_everything(seed)
        model = load_model(base_dir, session.device)
        ids = world.special_ids()
        sae, log, metrics = sae_for(model, world.sae_training_text(seed), scfg, tcfg, seed, special_ids=ids,
                                    loss_data=world.text([*hazard.DOMAINS, "english"]), **session.hardware)
        evaluate = partial(load_suite(world, base_dir).evaluate, hits=True)
        retains = {name: world.retain_corpus(with_format=name == "text+mcq") for name in p.retain_sets}
        all_scores, on_forget, all_retain = importance_scores_per_retain(model, sae, world.forget_corpus(), retains,
                                                                         p.rules, ids)
        tensors, tables = {}, []
        for retain_set in p.retain_sets:
            scores, on_retain = all_scores[retain_set], all_retain[retain_set]
            tables.append(sweep(model, sae, evaluate, scores, on_retain.freq, grid).assign(retain=retain_set))
            tensors.update({"forget_freq": on_forget.freq, "forget_mean": on_forget.mean_act,
                            f"retain_freq[{retain_set}]": on_retain.freq,
                            f"retain_mean[{retain_set}]": on_retain.mean_act,
                            **{f"score_{r}[{retain_set}]": s.float() for r, s in scores.items()}})
        sae.save(tmp, extra={"metrics": metrics, "curve": log.curve})
        save_beside(sae, tmp, model_name=Path(base_dir).name)  # the same SAE in SAELens' format: <artifact>/saelens/
        save_file(tensors, str(tmp / "features.safetensors"))
        write_json_atomic(tmp / "sweep.json", pd.concat(tables).to_dict("records"))

    return Artifact(session.paths.artifacts, "sae", f"hazard_{kind}_s{seed}", cfg).build(make)


def baseline_job(session: Session, world: HazardWorld, base_dir: Path, method: str, setting: dict,
                 seed: int) -> Path:
    """RMU or GradDiff at one grid point (``SAEStudyConfig.baseline_settings``) on the forget /
    retain corpora, evaluated on the whole suite (its parts are read later)."""
    method_cfg = session.profile.sae.baseline(method, setting, seed)
    lr = setting["lr"]
    cfg = {"base": Path(base_dir).name, "method": method, "seed": seed, "config": method_cfg, "eval": EVAL_VERSION}

    def make(tmp: Path) -> None:
        model = load_model(base_dir, session.device)
        data = UnlearnData(forget=world.forget_corpus(), retain=world.retain_corpus(),
                           generator=seed_everything(seed), device=session.device)
        log = get_method(method, **method_cfg).run(model, data, **session.hardware)
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "metrics.json", {**load_suite(world, base_dir).evaluate(model, hits=True),
                                                 "steps": log.steps, "wall_s": log.wall_s})

    name = "_".join([method, f"lr{lr:g}", *(f"{k[:5]}{v:g}" for k, v in setting.items() if k != "lr"), f"s{seed}"])
    return Artifact(session.paths.artifacts, "sae_baselines", name, cfg).build(make)
