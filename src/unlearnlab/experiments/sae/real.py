"""The real tier: SAEBench's evaluation on SmolLM2-135M-Instruct with fact-probe questions (one
relation forgotten, the others as side effects) and one TopK SAE at a middle layer; RMU and
GradDiff on the same forget / retain text. Every step is a config-keyed artifact."""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path

from unlearnlab.core import anatomy, distributed, jobs
from unlearnlab.core.artifacts import Artifact, write_json_atomic
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.precision import bf16_autocast
from unlearnlab.core.real_model import model_layers
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.timing import Laps
from unlearnlab.data import hazard
from unlearnlab.data.facts import FACTS
from unlearnlab.data.general_text import general_text_tokens
from unlearnlab.data.questions import CYCLIC_ORDERS, PERMUTATIONS, MCQFormat
from unlearnlab.evals.mcq import MCQSuite, build_suite
from unlearnlab.experiments.sae.suite import known_suite, save_known
from unlearnlab.experiments.sae.synthetic import EVAL_VERSION
from unlearnlab.experiments.session import Session
from unlearnlab.methods import UnlearnData, get_method
from unlearnlab.methods.sae_clamp import sweep
from unlearnlab.sae.features import importance_scores
from unlearnlab.sae.saelens_format import folder_digest, pretrained_sae_for, save_beside
from unlearnlab.sae.train import SAETrainConfig, sae_for

_REAL: dict[tuple, tuple] = {}  # one load per process; baselines train a copy


def questions(session: Session) -> tuple[list[dict], list[dict]]:
    """Fact-probe questions: the forget relation's and the other relations' (side effects), the
    first ``real_facts`` of each relation (all when None)."""
    p = session.profile.sae
    by_relation: dict[str, list[dict]] = {}
    for row in hazard.fact_questions(seed=0):
        by_relation.setdefault(row["relation"], []).append(row)
    rows = {r: v[: p.real_facts] for r, v in by_relation.items()}
    if p.real_forget not in rows:
        raise ValueError(f"unknown forget relation {p.real_forget!r}; choose from {sorted(rows)}")
    side = [q for r, v in rows.items() if r != p.real_forget for q in v]
    return rows[p.real_forget], side


def question_format(session: Session) -> MCQFormat:
    """Letter format as SAEBench (chat turn, "Answer: ("), or cloze scoring (``real_cloze``) for a
    model that cannot answer with letters."""
    return MCQFormat(chat=True, cloze=session.profile.sae.real_cloze)


def orders(session: Session) -> tuple[tuple[int, ...], ...]:
    return PERMUTATIONS if session.profile.sae.real_all_orders else CYCLIC_ORDERS


def model_and_tokenizer(session: Session, copy: bool = False) -> tuple:
    from unlearnlab.core.real_model import load_real_model

    key = (session.profile.sae.real_model, session.device)
    if key not in _REAL:
        _REAL[key] = load_real_model(key[0], device=key[1])
    model, tok = _REAL[key]
    return (fresh_copy(model) if copy else model), tok


def hardware(session: Session) -> dict:
    """Training settings of the real tier: the profile's, with bf16 from ``real_bf16``."""
    return {**session.hardware, "bf16": session.profile.real_bf16}


def in_precision(session: Session, make):
    """``make`` run inside the real tier's precision context (``core.precision``)."""
    def wrapped(tmp: Path) -> None:
        with bf16_autocast(session.profile.real_bf16, session.device):
            make(tmp)
    return wrapped


def suite_dir(session: Session) -> Path:
    """Which of the questions the real model knows (``known.json``) and the suite's sizes and cost
    (``info.json``): built once, shared by the SAE runs and the baselines."""
    p = session.profile.sae
    cfg = {"model": p.real_model, "forget": p.real_forget, "facts": p.real_facts, "cloze": p.real_cloze,
           "orders": len(orders(session)), "bf16": session.profile.real_bf16}

    def make(tmp: Path) -> None:
        laps = Laps()
        model, tok = model_and_tokenizer(session)
        laps.lap("load")
        forget_rows, side_rows = questions(session)
        suite = build_suite(model, tok, forget_rows, side_rows, question_format(session), batch_size=16,
                            orders=orders(session))
        laps.lap("suite")
        save_known(tmp / "known.json", suite)
        write_json_atomic(tmp / "info.json", {
            "n_asked": suite.n_asked, "n_known_forget": suite.n_forget, "n_known_side": len(suite.side_rows),
            "orders": cfg["orders"], "timing_s": laps.laps})

    return Artifact(session.paths.artifacts, "sae_real_suite", f"{p.real_model}_{p.real_forget}",
                    cfg).build(in_precision(session, make))


def load_suite(session: Session, tokenizer, directory: Path) -> MCQSuite:
    """The recorded suite, tokenized (no permutation pass again)."""
    forget_rows, side_rows = questions(session)
    return known_suite(Path(directory) / "known.json", forget_rows, side_rows, tokenizer, question_format(session))


def corpora(session: Session, tokenizer) -> tuple[TokenSet, TokenSet]:
    """Forget text (every fact of the forget relation as a completion sentence) and retain text
    (the other relations' facts and general English paragraphs)."""
    p = session.profile.sae
    per_relation: dict[str, list] = {}
    for fact in FACTS:
        per_relation.setdefault(fact.relation, []).append(fact)
    facts = [f for v in per_relation.values() for f in v[: p.real_corpus_facts]]
    forget = TokenSet.from_rows(hazard.fact_corpus([f for f in facts if f.relation == p.real_forget]), tokenizer,
                                label_key="domain")
    general = general_text_tokens(tokenizer)
    general = TokenSet(general.prompts, general.answers, ["general"] * len(general), general.pad_id)
    retain = TokenSet.from_rows(hazard.fact_corpus([f for f in facts if f.relation != p.real_forget]), tokenizer,
                                label_key="domain").concat(general)
    return forget, retain


def sae_run(session: Session, seed: int = 0) -> Path:
    """One TopK SAE on the real model: training, scores and the sweep (``sweep.json``), with
    timings (``info.json``)."""
    p = session.profile.sae
    suite_path = suite_dir(session)
    cfg = {"suite": suite_path.name, "layer": p.real_layer, "expansion": p.real_expansion, "k": p.real_k,
           "steps": p.real_steps, "batch_size": p.real_batch_size, "corpus_facts": p.real_corpus_facts,
           "ablate": p.real_ablate, "rules": p.rules, "thresholds": p.real_thresholds,
           "n_features": p.real_n_features, "multipliers": p.real_multipliers, "seed": seed, "eval": EVAL_VERSION,
           "bf16": session.profile.real_bf16}
    if p.real_sae_path:  # only when set, so the default's key (and every cached artifact) is unchanged
        cfg["sae_path"] = {"path": p.real_sae_path, "digest": folder_digest(p.real_sae_path)}

    def make(tmp: Path) -> None:
        jobs.launch(sae_job, tmp, session, seed=seed)

    return Artifact(session.paths.artifacts, "sae_real", f"{p.real_model}_{p.real_forget}_s{seed}",
                    cfg).build(make)


def sae_job(out: Path, session: Session, seed: int) -> None:
    """The training job behind ``sae_run`` (``core.jobs``: in this process, or under ``accelerate
    launch`` when the profile names an accelerate config): every process trains the SAE, the main
    process scores, sweeps and writes."""
    distributed.refuse_sharding("the SAE study's SAE training", "the main process scores and sweeps alone, "
                                "and the model is frozen (the SAE is small: data-parallel is what helps)")
    with bf16_autocast(session.profile.real_bf16, session.device):
        model, tok = model_and_tokenizer(session)
        suite = load_suite(session, tok, suite_dir(session))
        info: dict = {"n_known_forget": suite.n_forget, "n_known_side": len(suite.side_rows), "timing_s": {}}
        rows: list[dict] = []
        if suite.n_forget and suite.side_rows:
            rows = _sae_sweep(session, model, tok, suite, seed, out, info)
        if distributed.is_main():
            write_json_atomic(out / "sweep.json", rows)
            write_json_atomic(out / "info.json", info)
    distributed.barrier()


def _sae_sweep(session: Session, model, tok, suite: MCQSuite, seed: int, tmp: Path, info: dict) -> list[dict]:
    """Train the SAE on forget, retain and prompt text, score its features and sweep the grid (the
    scores and the sweep on the main process only)."""
    p = session.profile.sae
    forget_text, retain_text = corpora(session, tok)
    prompts = suite.tokens.subset(range(0, len(suite.tokens), 4)) if suite.fmt.cloze else suite.tokens
    sae_text = forget_text.concat(retain_text).concat(prompts)  # each cloze prompt once, not 4 times
    ids = tuple(i for i in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) if i is not None)
    laps = Laps()
    order = list(range(len(sae_text)))
    random.Random(seed).shuffle(order)
    tcfg = SAETrainConfig(steps=p.real_steps, lr=p.lr, batch_size=p.real_batch_size)
    if p.real_sae_path:  # a pretrained SAE in SAELens' format instead of training one, measured the same way
        sae, metrics = pretrained_sae_for(model, sae_text.subset(order), p.real_sae_path, special_ids=ids)
        curve: list[dict] = []
    else:
        sae, log, metrics = sae_for(model, sae_text.subset(order), p.real_sae_architecture(model.config.hidden_size,
                                                                                        anatomy.n_layers(model)),
                                    tcfg, seed, special_ids=ids, **hardware(session))
        curve = log.curve
    laps.lap("sae")
    if not distributed.is_main():  # the other processes of a launched job only trained
        return []
    scores, _, on_retain = importance_scores(model, sae, forget_text, retain_text, p.rules, ids)
    laps.lap("scores")
    evaluate = partial(suite.evaluate, batch_size=16, hits=True)
    rows = sweep(model, sae, evaluate, scores, on_retain.freq, p.real_grid()).to_dict("records")
    laps.lap("sweep")
    sae.save(tmp, extra={"metrics": metrics, "curve": curve})
    save_beside(sae, tmp, model_name=p.real_model)  # the same SAE in SAELens' format: <artifact>/saelens/
    info.update(sae_metrics=metrics, timing_s=laps.laps)
    return rows


def baseline(session: Session, method: str, lr: float, seed: int = 0) -> Path:
    """RMU or GradDiff on the real model's forget / retain text, evaluated on the real suite
    (``metrics.json``; the weights are not kept)."""
    p = session.profile.sae
    suite_path = suite_dir(session)
    method_cfg = p.real_baseline(method, lr, seed, model_layers(p.real_model))
    cfg = {"suite": suite_path.name, "method": method, "seed": seed, "config": method_cfg,
           "corpus_facts": p.real_corpus_facts, "eval": EVAL_VERSION, "bf16": session.profile.real_bf16}

    def make(tmp: Path) -> None:
        jobs.launch(baseline_job, tmp, session, method=method, lr=lr, seed=seed)

    return Artifact(session.paths.artifacts, "sae_real_baselines", f"{p.real_model}_{method}_lr{lr:g}_s{seed}",
                    cfg).build(make)


def baseline_job(out: Path, session: Session, method: str, lr: float, seed: int) -> None:
    """The training job behind ``baseline`` (``core.jobs``: in this process, or under ``accelerate
    launch`` when the profile names an accelerate config; then the main process evaluates and writes)."""
    p = session.profile.sae
    with bf16_autocast(session.profile.real_bf16, session.device):
        model, tok = model_and_tokenizer(session, copy=True)
        suite = load_suite(session, tok, suite_dir(session))
        forget, retain = corpora(session, tok)
        data = UnlearnData(forget=forget, retain=retain, generator=seed_everything(seed),
                           device=str(distributed.device() or session.device))
        method_cfg = p.real_baseline(method, lr, seed, model_layers(p.real_model))
        log = get_method(method, **method_cfg).run(model, data, **hardware(session))
        if distributed.evaluates_here():  # every process under FSDP2: each forward is a collective
            metrics = suite.evaluate(model.eval(), batch_size=16, hits=True)
        if distributed.is_main():
            write_json_atomic(out / "metrics.json", {**metrics, "steps": log.steps, "wall_s": log.wall_s})
    distributed.barrier()


def base(session: Session) -> Path:
    """The unmodified real model on its suite (``base.json``: accuracies and per-question hits):
    the side-effect accuracy the real tier's scores are relative to, measured (a few seconds)."""
    suite_path = suite_dir(session)

    def make(tmp: Path) -> None:
        model, tok = model_and_tokenizer(session)
        write_json_atomic(tmp / "base.json", load_suite(session, tok, suite_path).evaluate(
            model.eval(), batch_size=16, hits=True))

    return Artifact(session.paths.artifacts, "sae_real_base", session.profile.sae.real_model,
                    {"suite": suite_path.name, "eval": EVAL_VERSION, "bf16": session.profile.real_bf16}
                    ).build(in_precision(session, make))
