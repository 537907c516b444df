"""Remove one concept from a real chat model with activation-guided masked LoRA, and prove it
under probes (issue 5; notebook ``33_masked_lora``). This module trains the grid and reads its
stored results back.

The stages, each cached by config under ``artifacts/``:

1. ``setup.setup``: the model (SmolLM2-135M-Instruct by default), the concept's probes
   (``data.concepts``) and the base model's greedy answers to every probe.
2. ``localize.localize_concept``: whole-neuron (and head) scores of each localizer.
3. ``run_variant`` (here): one variant × seed. What a variant trains is in ``config.variant_table``:
   ``masked:<localizer>`` is the ``MaskedLoRA`` method on that localizer's top neurons at the
   profile's budget, ``masked:random`` on random neurons of the same number, ``lora`` a plain LoRA
   of the same rank on the same modules; all three train ``RefusalKL`` (neutral answer on concept
   prompts + KL to the base model on retain prompts). ``GradDiff`` and ``NPO`` train the same
   plain LoRA, same steps, same data. Each run is evaluated on held-out probes and, for
   ``relearn_variants``, attacked by relearning (``evaluate``).
4. ``tables`` and ``report``: the notebook's tables, the paper's tables, captions and verdict.

A notebook calls::

    session = start(profile, output_root)
    cfg = replace(session.profile.concept, name=concept)
    s = setup(session, cfg)
    df = run_grid(s)                      # cached; one-thread worker per core on a CPU
    table = tables.summary(df)            # mean ± CI per variant
    answers_table(s); relearn_table(s)    # stored answers and relearning curves
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import pandas as pd
import torch

from unlearnlab.core import distributed, jobs
from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.parallel import map_jobs
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.timing import timed
from unlearnlab.data import concepts as cx
from unlearnlab.data.facts import to_tokens
from unlearnlab.experiments.concept.config import BASE, ConceptConfig
from unlearnlab.experiments.concept.evaluate import evaluate, relearn_attack
from unlearnlab.experiments.concept.localize import concept_mask, localize_concept
from unlearnlab.experiments.concept.setup import (ConceptSetup, forget_train, retain_train, setup, setup_args,
                                                  setup_from)
from unlearnlab.experiments.session import Session
from unlearnlab.methods import UnlearnData, UnlearningMethod, get_method
from unlearnlab.methods import masked_lora as ml

METRICS_VERSION = 2  # in every run's cache key (2: echo-free leak/correct): a bump re-runs cached runs


# --------------------------------------------------------------------------------------------
# One variant: train, evaluate, attack
# --------------------------------------------------------------------------------------------


def make_method(s: ConceptSetup, variant: str) -> UnlearningMethod:
    """The registry method ``variant`` trains, with the grid's budget and its learning rate."""
    cfg, spec = s.cfg, s.cfg.variant(variant)
    fields = {"mask": spec.mask, "lora_r": cfg.lora_r, "lora_alpha": cfg.lora_alpha} if spec.masked else {}
    return get_method(spec.method, steps=cfg.steps, lr=cfg.lr_of(variant), batch_size=cfg.batch_size,
                      answer_only=True, retain_weight=cfg.retain_weight, **fields)


def adapted(s: ConceptSetup, method: UnlearningMethod, seed: int) -> torch.nn.Module:
    """A fresh copy of the base model with the variant's adapter (LoRA init seeded by ``seed``):
    masked LoRA in its mask, any other variant a plain LoRA on the modules of the reference mask."""
    cfg = s.cfg
    seed_everything(seed)
    work = copy.deepcopy(s.model)
    if isinstance(method, ml.MaskedLoRA):
        return method.adapt(work, concept_mask(s, method.config.mask, seed))
    return ml.plain_lora(work, concept_mask(s, cfg.reference_localizer), cfg.lora_r, cfg.lora_alpha)


def unlearn_data(s: ConceptSetup, variant: str, seed: int) -> UnlearnData:
    """The neutral answer as forget target (``Variant.refusal``), else the base's own concept
    answers; the base's own retain answers for all."""
    probes = forget_train(s)
    if s.cfg.variant(variant).refusal:
        forget = to_tokens(s.tokenizer, cx.refusal_pairs(s.concept, probes))
    else:
        forget = s.tokens(probes)
    return UnlearnData(forget, s.tokens(retain_train(s)), torch.Generator().manual_seed(seed), s.session.device)


def train_variant(s: ConceptSetup, variant: str, seed: int) -> tuple[torch.nn.Module, dict]:
    """The trained peft model of ``variant`` and its training log."""
    method = make_method(s, variant)
    wrapped = adapted(s, method, seed)
    log = method.run(wrapped, unlearn_data(s, variant, seed), **{**s.session.hardware, "bf16": s.cfg.bf16})
    info = {"method": method.name, "losses": log.losses, "steps": log.steps,
            "trainable": sum(p.numel() for p in wrapped.parameters() if p.requires_grad),
            "update_size": ml.update_size(wrapped)}
    return wrapped.eval(), info


def _run_key(s: ConceptSetup, variant: str, seed: int) -> dict:
    cfg = {**dataclasses.asdict(s.cfg), "lr": s.cfg.lr_of(variant)}
    for name in ("variants", "seeds", "relearn_variants", "name", "variant_lrs", "workers", "candidates",
                 "screen_threshold"):  # the concept itself is in the key; how it was chosen is not
        cfg.pop(name)
    if variant == BASE:  # the base model: nothing trained
        cfg = {k: cfg[k] for k in ("model", "max_new_tokens", "relearn_steps", "relearn_lr", "relearn_eval_every",
                                   "relearn_items", "train_kinds", "bf16")}
    return {**cfg, "concept": s.concept, "variant": variant, "seed": seed, "metrics": METRICS_VERSION,
            "relearn": variant == BASE or variant in s.cfg.relearn_variants, "eval_bf16": s.bf16}


def _run_artifact(s: ConceptSetup, variant: str, seed: int) -> Artifact:
    name = f"{s.concept.name}_{variant.replace(':', '-')}_s{seed}"
    return Artifact(s.root, "concept_runs", name, _run_key(s, variant, seed))


def run_variant(s: ConceptSetup, variant: str, seed: int) -> Path:
    """Train (unless ``variant`` is ``"base"``), save the adapter, merge, evaluate and attack one
    variant and seed (cached). Writes ``metrics.json``, ``answers.json``, ``train.json`` and,
    when attacked, ``relearn.json``. The work is a training job (``variant_job``): in this
    process, or under ``accelerate launch`` when the profile names an accelerate config."""
    artifact = _run_artifact(s, variant, seed)

    def make(tmp: Path) -> None:
        jobs.launch(variant_job, tmp, s.session, **setup_args(s), variant=variant, seed=seed,
                    attack=artifact.config["relearn"])

    return artifact.build(make)


def variant_job(out: Path, session: Session, cfg: dict, concept: dict, variant: str, seed: int,
                attack: bool) -> None:
    """``run_variant``'s job: the setup of ``cfg`` and ``concept`` (``setup.setup_from``: the
    notebook's own in its process), then ``_train_and_measure`` into ``out``."""
    distributed.refuse_sharding("a masked-LoRA run", "its adapter is merged into the weights FSDP2 shards, "
                                "and the main process evaluates alone (adapters fit one device)")
    s = setup_from(session, cfg, concept)
    with s.precision():
        _train_and_measure(s, variant, seed, attack, out)
    distributed.barrier()


def _train_and_measure(s: ConceptSetup, variant: str, seed: int, attack: bool, tmp: Path) -> None:
    """``run_variant``'s work, written into ``tmp``. Under ``accelerate launch`` every process
    trains and runs the relearning attack (it trains too: each step is a collective), and the
    main process alone saves, evaluates and writes."""
    main = distributed.is_main()
    info: dict = {}
    with timed(info, "train"):
        if variant == BASE:
            model = s.model
        else:
            wrapped, log = train_variant(s, variant, seed)
            info.update(log)
            if main:
                ml.save_adapter(wrapped, tmp / "adapter")
            model = ml.merge_adapter(wrapped)
    if main:
        with timed(info, "eval"):
            known = s.answers_of(cx.select(s.probes, split="test")) if variant == BASE else None
            metrics, rows = evaluate(s, model, known)
    if attack:
        with timed(info, "relearn"):
            curve = relearn_attack(s, model, seed)
            if main:
                write_json_atomic(tmp / "relearn.json", curve)
        info["relearn_steps"] = s.cfg.relearn_steps
    if main:
        write_json_atomic(tmp / "metrics.json", metrics)
        write_json_atomic(tmp / "answers.json", rows)
        write_json_atomic(tmp / "train.json", info)


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------


def runs(s: ConceptSetup) -> list[tuple[str, int]]:
    """(variant, seed) of the grid, the base model first (seed 0)."""
    return [(BASE, 0)] + [(v, seed) for v in s.cfg.variants for seed in s.cfg.seeds]


LOCALIZE = "localize:"  # a pseudo-variant: a localization as a job of the pool


def run_grid(s: ConceptSetup, workers: int | None = None) -> pd.DataFrame:
    """Every run of the grid (cached), as ``results``.

    The reference localization comes first (every variant's modules depend on it); the other
    localizations, the base model and the trained runs then go, on a CPU, to ``workers``
    one-thread processes (default: the profile's, at most one per core), because two
    independent runs on two cores finish sooner than one run at a time on two threads. On a GPU,
    or with an accelerate config (each run an ``accelerate launch`` over every device), they run
    in turn.
    """
    localize_concept(s, s.cfg.reference_localizer)
    todo = [(f"{LOCALIZE}{m}", 0) for m in s.cfg.localizers[1:]] + [
        (v, seed) for v, seed in runs(s) if not _run_artifact(s, v, seed).done]
    pooled = s.session.device == "cpu" and not s.session.profile.accelerate_config  # a launch uses every device
    workers = workers or (min(len(todo), s.cfg.workers, os.cpu_count() or 1) if pooled else 1)
    if workers > 1:
        map_jobs(_job, todo, s.session.device, workers, initializer=_start_worker,
                 initargs=(s.session, s.cfg, s.concept))
    for variant, seed in todo:
        _run_or_localize(s, variant, seed)  # a no-op for what the workers finished
    return results(s)


def _run_or_localize(s: ConceptSetup, variant: str, seed: int) -> Path:
    if variant.startswith(LOCALIZE):
        return localize_concept(s, variant.removeprefix(LOCALIZE))
    return run_variant(s, variant, seed)


_WORKER: dict = {}  # a worker process's setup, built once by ``_start_worker`` and reused for its jobs


def _start_worker(session: Session, cfg: ConceptConfig, concept: cx.ConceptSpec) -> None:
    _WORKER["setup"] = setup(session, cfg, concept)


def _job(job: tuple[str, int]) -> str:
    """One (variant, seed) in a worker process."""
    return str(_run_or_localize(_WORKER["setup"], *job))


# --------------------------------------------------------------------------------------------
# Stored results
# --------------------------------------------------------------------------------------------


def results(s: ConceptSetup) -> pd.DataFrame:
    """One row per run: variant, seed, every metric, and the training/eval/attack seconds."""
    rows = []
    for variant, seed in runs(s):
        path = run_variant(s, variant, seed)
        info = read_json(path / "train.json")
        rows.append({"variant": variant, "seed": seed, **read_json(path / "metrics.json"),
                     **{k: v for k, v in info.items() if k != "losses"}})
    return pd.DataFrame(rows)


def answers_table(s: ConceptSetup, variants: tuple[str, ...] | None = None, seed: int = 0,
                  kinds: tuple[str, ...] = cx.KINDS) -> pd.DataFrame:
    """Before/after answers on the held-out prompts: one row per prompt, one column per model."""
    variants = variants or tuple(v for v in s.cfg.variants if v in ("lora", s.cfg.reference_variant))
    base = read_json(run_variant(s, BASE, 0) / "answers.json")
    table = pd.DataFrame([{"kind": r["kind"], "form": r["form"], "prompt": r["prompt"], BASE: r["answer"]}
                          for r in base])
    for variant in variants:
        table[variant] = [r["answer"] for r in read_json(run_variant(s, variant, seed) / "answers.json")]
    return table[table["kind"].isin(kinds)].reset_index(drop=True)


def relearn_table(s: ConceptSetup) -> pd.DataFrame:
    """Relearning curves: variant, seed, step, mean log-prob and exact match of the held-out key
    answers, the base model's curve under the same attack included as ``base``."""
    rows = []
    for variant, seed in runs(s):
        path = run_variant(s, variant, seed) / "relearn.json"
        if path.is_file():
            rows += [{"variant": variant, "seed": seed, **r} for r in read_json(path)]
    return pd.DataFrame(rows)
