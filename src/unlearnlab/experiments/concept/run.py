"""Remove one concept from a real chat model with activation-guided masked LoRA, and prove it
under probes (issue 5; notebook ``33_masked_lora``).

Pipeline, each stage cached by config under ``artifacts/``:

1. ``setup``: the model (SmolLM2-135M-Instruct by default), the concept's probes
   (``data.concepts``) and the base model's greedy answers to every probe. Those answers are the
   retain training targets (keep saying what you said) and GradDiff/NPO's forget data.
2. ``localize``: gradient saliency (``gradient_norm``: mean |∂loss/∂θ| on the concept's
   training prompts alone) and Fisher ratio (``fisher``: concept Fisher over retain Fisher) from
   the localization registry, with the base's own answers as targets, averaged into
   whole-neuron (and head) scores: a saliency grid layers × neurons. Only localizers named in
   ``variants`` (``masked:<localizer>``) have their masks trained; the others are shown.
3. ``run_variant``: one variant × seed. ``masked:<localizer>`` is masked LoRA on that
   localizer's top neurons at the profile's budget, ``masked:random`` on random neurons of the
   same number, ``lora`` a plain LoRA of the same rank on the same modules; all three train
   ``RefusalKL`` (neutral answer on concept prompts + KL to the base model on retain prompts).
   ``GradDiff`` and ``NPO`` (methods registry) train the same plain LoRA, same steps, same data.
   Each run is evaluated on held-out probes and, for ``relearn_variants``, attacked by
   relearning.
4. Tables for the notebook: ``results`` (one row per run), ``summary`` (mean ± CI over
   seeds), ``answers_table`` (before/after answers), ``relearn_table``, ``saliency_grid``,
   ``describe`` (which variant wins where, in words), ``paper_table`` / ``side_table`` /
   ``answers_latex`` (the paper's tables) and ``cost`` (measured seconds).

Metrics (all on held-out test prompts): per forget kind, ``leak``: answers naming the concept
on prompts that do not contain its name (``data.concepts.reveals``: an answer repeating the
title of its prompt knows nothing), ``correct``: answers with an accepted fact the prompt does
not give, ``mention``: answers naming the concept, title echo included (kept for comparison
only), and the mean per-token log-probability of the key answer (title or fact) after the
prompt; per retain kind, accuracy, retention (accuracy on the items the base model got right),
refusal rate and KL(base ‖ model) on the base's own answers; cross-entropy on general English
prose; degeneration (answers flagged by ``text_metrics.is_degenerate``, distinct-2).

A notebook calls::

    session = start(profile, output_root)
    cfg = ConceptConfig.from_profile(session.profile, name=concept, model=model)
    s = setup(session, cfg)
    df = run_grid(s)                      # cached; one-thread worker per core on a CPU
    table = summary(df)                   # mean ± CI per variant
    score_heatmaps(heatmap_grids(s))      # localization_plots: layers × neurons / heads
    variant_bars(table, HEADLINE)         # concept_plots
    relearn_curves(relearn_table(s))      # concept_plots
    answers_table(s); describe(table, f"masked:{cfg.reference_localizer}")
"""

from __future__ import annotations

import copy
import dataclasses
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from unlearnlab.methods import masked_lora as ml
from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.batching import TokenSet
from unlearnlab.data import concepts as cx
from unlearnlab.data.facts import QA, generate, render, to_tokens
from unlearnlab.data.general_text import general_text_tokens
from unlearnlab.evals.exact_match import cross_entropy
from unlearnlab.experiments.session import Session
from unlearnlab.localization.components import component_grid
from unlearnlab.localization.mask import Mask
from unlearnlab.core.logprobs import forward_kl, logits_of
from unlearnlab.core.stats import format_mean_ci, mean_ci, summarize
from unlearnlab.profiles import Profile
from unlearnlab.methods.rewrite import answer_scores, relearn
from unlearnlab.core.seeding import seed_everything
from unlearnlab.evals.text_quality import degeneration, is_degenerate

METRICS_VERSION = 2  # in every run's cache key (2: echo-free leak/correct): a bump re-runs cached runs
REFUSAL_METHOD = "RefusalKL"
REGISTRY_METHODS = ("GradDiff", "NPO")  # trained on the plain LoRA, forget data = the base's own answers
BASE = "base"


@dataclass(frozen=True)
class ConceptConfig:
    """The profile's ``concept_*`` fields without the prefix (``from_profile``)."""

    name: str
    model: str
    localizers: tuple[str, ...]
    granularity: str
    budget: float
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    train_kinds: tuple[str, ...]
    lora_r: int
    lora_alpha: int
    steps: int
    lr: float
    variant_lrs: tuple[tuple[str, float], ...]  # (variant, lr) pairs overriding ``lr``
    batch_size: int
    retain_weight: float
    localize_batches: int
    max_new_tokens: int
    relearn_variants: tuple[str, ...]
    relearn_steps: int
    relearn_lr: float
    relearn_eval_every: int
    relearn_items: int
    bf16: bool  # bfloat16 autocast while training and relearning (CPU with AVX-512 BF16, or GPU)
    workers: int  # one-thread processes for the grid on a CPU (1: in turn, in this process)

    @classmethod
    def from_profile(cls, profile: Profile, **overrides) -> "ConceptConfig":
        """The profile's concept settings, with ``overrides`` (e.g. ``name="Titanic"``)."""
        cfg = cls(**{f.name: getattr(profile.concept, f.name) for f in dataclasses.fields(cls)})
        return dataclasses.replace(cfg, **overrides)

    def __post_init__(self) -> None:
        bad = [v for v in self.variants + self.relearn_variants if not _known_variant(v, self.localizers)]
        if bad:
            raise ValueError(f"unknown variants {bad}; use masked:<localizer> (of {self.localizers}), "
                             f"masked:random, lora, {', '.join(REGISTRY_METHODS)}")

    def lr_of(self, variant: str) -> float:
        """The learning rate of ``variant``: its own from ``variant_lrs``, else ``lr``."""
        return dict(self.variant_lrs).get(variant, self.lr)

    @property
    def reference_localizer(self) -> str:
        """The localizer whose mask sets the modules of plain LoRA, GradDiff and NPO."""
        return self.localizers[0]


def _known_variant(variant: str, localizers: tuple[str, ...]) -> bool:
    kind, _, source = variant.partition(":")
    return variant in ("lora", *REGISTRY_METHODS) or (kind == "masked" and source in (*localizers, "random"))


# --------------------------------------------------------------------------------------------
# 1. Setup: model, probes, the base model's answers
# --------------------------------------------------------------------------------------------


@dataclass
class ConceptSetup:
    """What every stage shares. ``base_answers`` maps each probe prompt to the base model's
    greedy answer."""

    session: Session
    cfg: ConceptConfig
    concept: cx.ConceptSpec
    probes: tuple[cx.Probe, ...]
    model: torch.nn.Module
    tokenizer: object
    base_answers: dict[str, str]
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def root(self) -> Path:
        return self.session.paths.artifacts

    def answers_of(self, probes: list[cx.Probe]) -> list[str]:
        return [self.base_answers[p.prompt] for p in probes]

    def tokens(self, probes: list[cx.Probe], answers: list[str] | None = None) -> TokenSet:
        """Rendered prompts with ``answers`` (default: the base model's own answers)."""
        return to_tokens(self.tokenizer, [p.qa for p in probes], self.answers_of(probes) if answers is None else answers)


TINY_MODEL = "tiny-random"  # the smoke profile's model: the pipeline's plumbing in seconds, no knowledge


def tiny_model_dir(session: Session, concept: cx.ConceptSpec) -> Path:
    """A random two-layer Llama with a small tokenizer trained on the concept's probes and some
    English, saved once as a local model directory (cached), so that the smoke profile runs the
    notebook end to end in seconds; its numbers mean nothing."""
    from unlearnlab.data import english
    from unlearnlab.core.models import ModelSize, build_llama
    from unlearnlab.core.tokenizer import train_tokenizer

    size = ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64, max_len=256)

    def make(tmp: Path) -> None:
        probes = cx.concept_probes(concept)
        texts = [f"{p.prompt} {p.qa.answer} {concept.refusal}" for p in probes] + english.corpus(50, 0)
        tokenizer = train_tokenizer(texts, vocab_size=300)
        build_llama(size, len(tokenizer), tokenizer, seed=0).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return Artifact(session.paths.artifacts, "concept_model", TINY_MODEL, {"concept": concept, "size": size}).build(make)


def setup(session: Session, cfg: ConceptConfig, concept: cx.ConceptSpec | None = None) -> ConceptSetup:
    """Load the model, build the probes and get (cached) the base model's answers to all of them."""
    from unlearnlab.core.real_model import load_real_model

    concept = concept or cx.get_concept(cfg.name)
    name = str(tiny_model_dir(session, concept)) if cfg.model == TINY_MODEL else cfg.model
    model, tokenizer = load_real_model(name, cache_root=session.paths.artifacts / "real_models", device=session.device)
    probes = cx.concept_probes(concept)
    key = {"concept": concept, "model": cfg.model, "max_new_tokens": cfg.max_new_tokens}

    def make(tmp: Path) -> None:
        info: dict = {}
        with _Clock(info, "generate"):
            answers = generate(model, tokenizer, [p.qa for p in probes], cfg.max_new_tokens, batch_size=32)
        write_json_atomic(tmp / "answers.json", dict(zip([p.prompt for p in probes], answers)))
        write_json_atomic(tmp / "info.json", info)

    path = Artifact(session.paths.artifacts, "concept_base", f"{concept.name}_{cfg.model}", key).build(make)
    return ConceptSetup(session, cfg, concept, probes, model, tokenizer, read_json(path / "answers.json"))


def forget_train(s: ConceptSetup) -> list[cx.Probe]:
    """The concept prompts unlearning trains on (chat prompts of the configured kinds)."""
    return cx.select(s.probes, s.cfg.train_kinds, "train", chat=True)


def retain_train(s: ConceptSetup) -> list[cx.Probe]:
    return cx.select(s.probes, cx.RETAIN_KINDS, "train")


# --------------------------------------------------------------------------------------------
# 2. Localization: neuron (and head) scores, masks
# --------------------------------------------------------------------------------------------


def localize(s: ConceptSetup, method: str) -> Path:
    """Whole-neuron and whole-head scores of registry ``method`` on the concept (cached): the
    base's answers to the forget training prompts are the forget data, to the retain training
    prompts the retain data."""
    from unlearnlab.localization import LocalizationData

    cfg = s.cfg
    key = {"concept": s.concept, "model": cfg.model, "method": method, "train_kinds": cfg.train_kinds,
           "batches": cfg.localize_batches, "max_new_tokens": cfg.max_new_tokens}

    def make(tmp: Path) -> None:
        info = {"method": method}
        data = LocalizationData(s.model, s.tokens(forget_train(s)), s.tokens(retain_train(s)), s.tokenizer,
                                batch_size=8, max_batches=cfg.localize_batches)
        with _Clock(info, "localize"):
            _localize_into(tmp, s, method, data)
        write_json_atomic(tmp / "info.json", info)

    return Artifact(s.root, "concept_localize", f"{s.concept.name}_{method}", key).build(make)


def _localize_into(directory: Path, s: ConceptSetup, method: str, data) -> None:
    """Run registry ``method`` and save its neuron and head scores as grids."""
    from unlearnlab.localization import localize as run_localizer

    loc = run_localizer(method, data)
    c = s.model.config
    grids = {"neuron": component_grid(ml.component_scores(s.model, loc, "neuron"), "N", c.num_hidden_layers,
                                      c.intermediate_size),
             "head": component_grid(ml.component_scores(s.model, loc, "head"), "H", c.num_hidden_layers,
                                    c.num_attention_heads)}
    save_file({k: v.contiguous() for k, v in grids.items()}, str(directory / "scores.safetensors"))


def saliency_grid(s: ConceptSetup, method: str, unit: str = "neuron") -> torch.Tensor:
    """Scores of ``method`` as a (layers × neurons) or (layers × heads) grid, for a heatmap."""
    return load_file(str(localize(s, method) / "scores.safetensors"))[unit]


def heatmap_grids(s: ConceptSetup, log: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """``{localizer: {"heads": grid, "neurons": grid}}`` for ``localization_plots.score_heatmaps``;
    with ``log``, nonnegative grids in decades above 1e-4 of the grid's maximum (0 to 4):
    neuron scores are so heavy-tailed that on a linear scale all but a few pixels are dark."""
    return {m: {"heads": _display(saliency_grid(s, m, "head"), log), "neurons": _display(saliency_grid(s, m, "neuron"), log)}
            for m in s.cfg.localizers}


def _display(grid: torch.Tensor, log: bool) -> torch.Tensor:
    finite = grid[torch.isfinite(grid)]
    if not log or not finite.numel() or float(finite.min()) < 0 or float(finite.max()) <= 0:
        return grid
    return torch.log10(grid.clamp_min(1e-4 * float(finite.max())) / float(finite.max())) + 4  # 0..4: decades above the floor


def _grid_scores(grid: torch.Tensor, unit: str) -> dict[str, float]:
    return {f"L{i}.{unit}{j}": float(v) for (i, j), v in zip(torch.cartesian_prod(
        torch.arange(grid.shape[0]), torch.arange(grid.shape[1])).tolist(), grid.flatten().tolist())}


def concept_mask(s: ConceptSetup, source: str, seed: int = 0) -> Mask:
    """The mask of ``source`` at the configured granularity and budget: a localizer's top
    components, or for ``"random"`` as many components as the reference localizer's mask, drawn
    with ``seed``."""
    from unlearnlab.localization.mask import mask_from_component_scores

    cfg = s.cfg
    if source == "random":
        return ml.random_neuron_mask(s.model, concept_mask(s, cfg.reference_localizer), seed)
    key = ("mask", source)
    if key not in s._cache:
        scores = {}
        for unit, letter in (("neuron", "N"), ("head", "H")):
            if unit in cfg.granularity.split("+"):
                scores.update(_grid_scores(saliency_grid(s, source, unit), letter))
        s._cache[key] = mask_from_component_scores(s.model, scores, cfg.granularity, cfg.budget, source)
    return s._cache[key]


# --------------------------------------------------------------------------------------------
# 3. One variant: train, evaluate, attack
# --------------------------------------------------------------------------------------------


def adapted(s: ConceptSetup, variant: str, seed: int) -> torch.nn.Module:
    """A fresh copy of the base model with the variant's adapter (LoRA init seeded by ``seed``)."""
    cfg = s.cfg
    seed_everything(seed)
    work = copy.deepcopy(s.model)
    kind, _, source = variant.partition(":")
    if kind == "masked":
        return ml.apply_masked_lora(work, concept_mask(s, source, seed), cfg.lora_r, cfg.lora_alpha)
    return ml.plain_lora(work, concept_mask(s, cfg.reference_localizer), cfg.lora_r, cfg.lora_alpha)


def unlearn_data(s: ConceptSetup, variant: str, seed: int):
    """(method name, UnlearnData): the neutral answer as forget target for LoRA variants, the
    base's own concept answers for GradDiff/NPO; the base's own retain answers for all."""
    from unlearnlab.methods import UnlearnData

    probes = forget_train(s)
    if variant in REGISTRY_METHODS:
        method, forget = variant, s.tokens(probes)
    else:
        method, forget = REFUSAL_METHOD, to_tokens(s.tokenizer, cx.refusal_pairs(s.concept, probes))
    data = UnlearnData(forget, s.tokens(retain_train(s)), torch.Generator().manual_seed(seed), s.session.device)
    return method, data


def train_variant(s: ConceptSetup, variant: str, seed: int) -> tuple[torch.nn.Module, dict]:
    """The trained peft model of ``variant`` and its training log."""
    from unlearnlab.methods import get_method

    cfg = s.cfg
    wrapped = adapted(s, variant, seed)
    name, data = unlearn_data(s, variant, seed)
    method = get_method(name, steps=cfg.steps, lr=cfg.lr_of(variant), batch_size=cfg.batch_size, answer_only=True,
                        retain_weight=cfg.retain_weight)
    log = method.run(wrapped, data, **{**s.session.hardware, "bf16": cfg.bf16})
    info = {"method": name, "losses": log.losses, "steps": log.steps,
            "trainable": sum(p.numel() for p in wrapped.parameters() if p.requires_grad),
            "update_size": ml.update_size(wrapped)}
    return wrapped.eval(), info


def _key_pairs(s: ConceptSetup, probes: list[cx.Probe]) -> list[QA]:
    """Probes as already-rendered prompts (chat template applied) followed by their key answer
    and no end-of-turn token: scoring them gives the log-prob of exactly the title or fact,
    however the answer would go on."""
    return [QA(render(s.tokenizer, p.qa), p.qa.answer, p.qa.accepted, chat=False) for p in probes]


@torch.no_grad()
def _base_logits(s: ConceptSetup, kind: str) -> list[torch.Tensor]:
    """The base model's logits on the held-out retain prompts of ``kind`` with its own answers
    (computed once per setup)."""
    key = ("base_logits", kind)
    if key not in s._cache:
        data = s.tokens(cx.select(s.probes, [kind], "test"))
        s._cache[key] = [logits_of(s.model, b) for b in data.batches(16, s.session.device)]
    return s._cache[key]


@torch.no_grad()
def _kl_to_base(s: ConceptSetup, model: torch.nn.Module, kind: str) -> float:
    """Mean KL(base ‖ model) per answer token on the base's own answers to held-out ``kind``."""
    data = s.tokens(cx.select(s.probes, [kind], "test"))
    batches = list(data.batches(16, s.session.device))
    values = [float(forward_kl(t, logits_of(model, b), b, answer_only=True)) * int(b["answer_mask"].sum())
              for t, b in zip(_base_logits(s, kind), batches)]
    return sum(values) / max(1, sum(int(b["answer_mask"].sum()) for b in batches))


def probe_rows(s: ConceptSetup, probes: list[cx.Probe], answers: list[str]) -> list[dict]:
    """Per probe and answer: leak (names the concept, the prompt does not; ``None`` when the
    prompt does), correct (an accepted fact the prompt does not give; ``None`` when it gives all),
    mention (names the concept, echo included), refusal, degenerate."""
    return [{"kind": p.kind, "form": p.form, "prompt": p.prompt, "answer": a,
             "leak": cx.leaks(s.concept, p.prompt, a),
             "correct": cx.reveals(p.qa.accepted, p.prompt, a, p.qa.case_sensitive),
             "mention": cx.mentions(s.concept, a), "refusal": cx.refuses(s.concept, a), "degenerate": is_degenerate(a)}
            for p, a in zip(probes, answers)]


@torch.no_grad()
def evaluate(s: ConceptSetup, model: torch.nn.Module, answers: list[str] | None = None
             ) -> tuple[dict[str, float], list[dict]]:
    """Metrics of ``model`` on the held-out probes, and its answers (one row per probe); pass
    ``answers`` when they are known already (the base model's, from ``setup``)."""
    test = cx.select(s.probes, split="test")
    if answers is None:
        answers = generate(model, s.tokenizer, [p.qa for p in test], s.cfg.max_new_tokens, batch_size=32)
    rows = probe_rows(s, test, answers)
    base_rows = {r["prompt"]: r for r in probe_rows(s, test, s.answers_of(test))}
    out: dict[str, float] = {}
    for kind in cx.KINDS:
        kind_rows = [r for r in rows if r["kind"] == kind]
        out[f"{kind}_leak"] = _mean(r["leak"] for r in kind_rows)
        out[f"{kind}_mention"] = _mean(r["mention"] for r in kind_rows)
        out[f"{kind}_correct"] = _mean(r["correct"] for r in kind_rows)
        out[f"{kind}_refusal"] = _mean(r["refusal"] for r in kind_rows)
        out[f"{kind}_degenerate"] = _mean(r["degenerate"] for r in kind_rows)
    forget = cx.select(s.probes, cx.FORGET_KINDS, "test")
    keys = to_tokens(s.tokenizer, _key_pairs(s, forget))
    logprobs, _ = answer_scores(model, keys)
    lengths = [len(a) for a in keys.answers]
    for kind in cx.FORGET_KINDS:
        out[f"{kind}_keylogp"] = _mean(lp / n for p, lp, n in zip(forget, logprobs, lengths) if p.kind == kind)
    for kind in cx.RETAIN_KINDS:
        known = [r for r in rows if r["kind"] == kind and base_rows[r["prompt"]]["correct"]]
        out[f"{kind}_retained"] = _mean(r["correct"] for r in known)
        out[f"{kind}_kl"] = _kl_to_base(s, model, kind)
    out.update({f"all_{k}": v for k, v in degeneration(answers).items()})
    out["general_ce"] = cross_entropy(model, general_text_tokens(s.tokenizer), batch_size=16)
    return out, rows


def _mean(values) -> float:
    """The mean of the values that are not ``None`` (probes that cannot tell); NaN if none."""
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else float("nan")


def relearn_attack(s: ConceptSetup, model: torch.nn.Module, seed: int) -> list[dict]:
    """Fine-tune all weights of ``model`` on ``relearn_items`` concept training prompts with their
    true answers; every ``relearn_eval_every`` steps, the mean summed log-prob of the held-out
    forget probes' key answers (no end-of-turn) and their exact match. Returns the curve.

    Training on short direct answers also teaches the *format* (answer with the name at once),
    which raises these log-probs for any model, so curves are read against the base model's own
    curve under the same attack."""
    cfg = s.cfg
    train = forget_train(s)
    items = [train[i * len(train) // cfg.relearn_items].qa for i in range(cfg.relearn_items)]
    held_out = _key_pairs(s, cx.select(s.probes, cx.FORGET_KINDS, "test"))
    return relearn(model, s.tokenizer, items, cfg.relearn_steps, cfg.relearn_lr, cfg.relearn_eval_every,
                   eval_pairs=held_out, batch_size=min(4, len(items)), seed=seed, bf16=cfg.bf16)


class _Clock:
    """Records wall and CPU seconds of a block as ``<name>_s`` and ``<name>_cpu_s``: CPU time is
    what a projection on an idle machine needs when other jobs share the cores."""

    def __init__(self, info: dict, name: str):
        self.info, self.name = info, name

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc) -> None:
        self.info[f"{self.name}_s"] = time.perf_counter() - self.wall
        self.info[f"{self.name}_cpu_s"] = time.process_time() - self.cpu


def _run_key(s: ConceptSetup, variant: str, seed: int) -> dict:
    cfg = {**dataclasses.asdict(s.cfg), "lr": s.cfg.lr_of(variant)}
    for name in ("variants", "seeds", "relearn_variants", "name", "variant_lrs", "workers"):
        cfg.pop(name)
    if variant == BASE:  # the base model: nothing trained
        cfg = {k: cfg[k] for k in ("model", "max_new_tokens", "relearn_steps", "relearn_lr", "relearn_eval_every",
                                   "relearn_items", "train_kinds", "bf16")}
    return {**cfg, "concept": s.concept, "variant": variant, "seed": seed, "metrics": METRICS_VERSION,
            "relearn": variant == BASE or variant in s.cfg.relearn_variants}


def _run_artifact(s: ConceptSetup, variant: str, seed: int) -> Artifact:
    name = f"{s.concept.name}_{variant.replace(':', '-')}_s{seed}"
    return Artifact(s.root, "concept_runs", name, _run_key(s, variant, seed))


def run_variant(s: ConceptSetup, variant: str, seed: int) -> Path:
    """Train (unless ``variant`` is ``"base"``), save the adapter, merge, evaluate and attack one
    variant and seed (cached). Writes ``metrics.json``, ``answers.json``, ``train.json`` and,
    when attacked, ``relearn.json``."""
    artifact = _run_artifact(s, variant, seed)
    key = artifact.config

    def make(tmp: Path) -> None:
        info: dict = {}
        with _Clock(info, "train"):
            if variant == BASE:
                model = s.model
            else:
                wrapped, log = train_variant(s, variant, seed)
                info.update(log)
                ml.save_adapter(wrapped, tmp / "adapter")
                model = ml.merge_adapter(wrapped)
        with _Clock(info, "eval"):
            known = s.answers_of(cx.select(s.probes, split="test")) if variant == BASE else None
            metrics, rows = evaluate(s, model, known)
        if key["relearn"]:
            with _Clock(info, "relearn"):
                write_json_atomic(tmp / "relearn.json", relearn_attack(s, model, seed))
            info["relearn_steps"] = s.cfg.relearn_steps
        write_json_atomic(tmp / "metrics.json", metrics)
        write_json_atomic(tmp / "answers.json", rows)
        write_json_atomic(tmp / "train.json", info)

    return artifact.build(make)


def runs(s: ConceptSetup) -> list[tuple[str, int]]:
    """(variant, seed) of the grid, the base model first (seed 0)."""
    return [(BASE, 0)] + [(v, seed) for v in s.cfg.variants for seed in s.cfg.seeds]


def run_grid(s: ConceptSetup, workers: int | None = None) -> pd.DataFrame:
    """Every run of the grid (cached), as ``results``.

    The reference localization comes first (every variant's modules depend on it); the other
    localizations, the base model and the trained runs then go, on a CPU, to ``workers``
    one-thread processes (default: the profile's, at most one per core), because two independent runs on two cores
    finish sooner than one run at a time on two threads. On a GPU they run in turn.
    """
    localize(s, s.cfg.reference_localizer)
    todo = [(f"{LOCALIZE}{m}", 0) for m in s.cfg.localizers[1:]] + [
        (v, seed) for v, seed in runs(s) if not _run_artifact(s, v, seed).done]
    workers = workers or (min(len(todo), s.cfg.workers, os.cpu_count() or 1) if s.session.device == "cpu" else 1)
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(_job, [(s.session, s.cfg, s.concept, v, seed) for v, seed in todo], chunksize=1)
    for variant, seed in todo:
        _run_or_localize(s, variant, seed)  # a no-op for what the workers finished
    return results(s)


LOCALIZE = "localize:"  # a pseudo-variant: a localization as a job of the pool


def _run_or_localize(s: ConceptSetup, variant: str, seed: int) -> Path:
    if variant.startswith(LOCALIZE):
        return localize(s, variant.removeprefix(LOCALIZE))
    return run_variant(s, variant, seed)


_WORKER: dict = {}  # a worker process's setup, built once and reused for its later jobs


def _job(args: tuple) -> str:
    """One (variant, seed) in a worker process, on one thread."""
    session, cfg, concept, variant, seed = args
    torch.set_num_threads(1)
    key = (str(session.paths.root), cfg, concept)
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, setup=setup(session, cfg, concept))
    return str(_run_or_localize(_WORKER["setup"], variant, seed))


# --------------------------------------------------------------------------------------------
# 4. Tables
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


HEADLINE = {  # column → what it says (higher is better for none of them by itself)
    "adversarial_leak": "held-out adversarial prompts without the film's name: answers naming it",
    "adversarial_correct": "held-out adversarial prompts: answers with a film fact the prompt does not give",
    "adversarial_keylogp": "held-out adversarial prompts: log-prob per token of the key answer",
    "direct_correct": "held-out direct prompts: answers with a film fact",
    "paraphrase_correct": "held-out paraphrases: answers with a film fact",
    "neighbour_retained": "neighbour films: base-correct answers still correct",
    "unrelated_retained": "unrelated facts: base-correct answers still correct",
    "neighbour_kl": "neighbour films: KL(base ‖ model) per answer token",
    "neighbour_refusal": "neighbour films: answers that refuse",
    "general_ce": "general English prose: cross-entropy (nats/token)",
    "all_degenerate": "all held-out answers: flagged degenerate",
    "all_distinct_2": "all held-out answers: distinct-2",
    "direct_leak": "held-out direct prompts without the film's name: answers naming it",
    "direct_keylogp": "held-out direct prompts: log-prob per token of the key answer",
    "paraphrase_keylogp": "held-out paraphrases: log-prob per token of the key answer",
    "adversarial_mention": ("held-out adversarial prompts: answers naming the film, title echo included "
                            "(no knowledge measure)"),
}

BAR_PANELS = {  # the bar figure: suppression (first row, lower is stronger) and side effects (second row)
    "adversarial_leak": "adv., no name in prompt: names it",
    "adversarial_correct": "adversarial: states a fact",
    "adversarial_keylogp": "adversarial: key log-p/token",
    "direct_keylogp": "direct: key log-p/token",
    "paraphrase_keylogp": "paraphrase: key log-p/token",
    "neighbour_retained": "neighbour films kept (↑)",
    "unrelated_retained": "unrelated facts kept (↑)",
    "neighbour_kl": "neighbour KL to base (↓)",
    "general_ce": "general-text CE (↓)",
    "all_degenerate": "degenerate answers (↓)",
}


def summary(df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Mean and 95 % CI over seeds per variant (``<col>_mean``, ``<col>_ci``, ``n``)."""
    return summarize(df, ["variant"], columns or list(HEADLINE))


def answers_table(s: ConceptSetup, variants: tuple[str, ...] | None = None, seed: int = 0,
                  kinds: tuple[str, ...] = cx.KINDS) -> pd.DataFrame:
    """Before/after answers on the held-out prompts: one row per prompt, one column per model."""
    variants = variants or tuple(v for v in s.cfg.variants if v in ("lora", f"masked:{s.cfg.reference_localizer}"))
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


def cost(df: pd.DataFrame) -> pd.DataFrame:
    """Measured seconds per variant (mean over seeds): training, evaluation, relearning attack."""
    cols = [c for c in ("train_s", "train_cpu_s", "eval_s", "eval_cpu_s", "relearn_s", "relearn_cpu_s") if c in df]
    return df.groupby("variant", sort=False)[cols].mean()


def fixed_cost(s: ConceptSetup) -> dict[str, float]:
    """Measured CPU seconds of the stages every grid pays once: the base model's answers, each
    localizer, and the base model's evaluation and relearning."""
    key = {"concept": s.concept, "model": s.cfg.model, "max_new_tokens": s.cfg.max_new_tokens}
    base = Artifact(s.root, "concept_base", f"{s.concept.name}_{s.cfg.model}", key).path
    out = {"base_answers": read_json(base / "info.json")["generate_cpu_s"]}
    out.update({f"localize_{m}": read_json(localize(s, m) / "info.json")["localize_cpu_s"] for m in s.cfg.localizers})
    info = read_json(run_variant(s, BASE, 0) / "train.json")
    out.update({"base_eval": info["eval_cpu_s"] + info.get("relearn_cpu_s", 0.0)})
    return out


def projected_cost(df: pd.DataFrame, cfg: ConceptConfig, fixed: dict[str, float]) -> pd.DataFrame:
    """Projected single-thread CPU seconds of ``cfg``'s grid from measured runs ``df``
    (``results`` of any grid with the same variants): per variant, training seconds per step ×
    ``cfg.steps`` plus evaluation, plus relearning scaled to ``cfg.relearn_steps`` for relearn
    variants, times the number of seeds; a last row with the total including ``fixed``."""
    measured = df[df["variant"] != BASE].groupby("variant")
    rows = []
    for variant in cfg.variants:
        m = measured.get_group(variant)
        train = float((m["train_cpu_s"] / m["steps"]).mean()) * cfg.steps
        relearn = 0.0
        if variant in cfg.relearn_variants and "relearn_cpu_s" in m and m["relearn_cpu_s"].notna().any():
            relearn = float((m["relearn_cpu_s"] / m["relearn_steps"]).mean()) * cfg.relearn_steps
        per_seed = train + float(m["eval_cpu_s"].mean()) + relearn
        rows.append({"stage": variant, "per_seed_s": per_seed, "seeds": len(cfg.seeds), "total_s": per_seed * len(cfg.seeds)})
    rows += [{"stage": k, "per_seed_s": v, "seeds": 1, "total_s": v} for k, v in fixed.items()]
    rows.append({"stage": "total", "per_seed_s": float("nan"), "seeds": 0, "total_s": sum(r["total_s"] for r in rows)})
    return pd.DataFrame(rows)


VERDICT_COLUMNS = (  # (summary column, which value is better) for ``describe``
    ("adversarial_leak", min), ("adversarial_correct", min), ("adversarial_keylogp", min),
    ("neighbour_retained", max), ("unrelated_retained", max), ("neighbour_kl", min), ("general_ce", min),
    ("all_degenerate", min))


def describe(table: pd.DataFrame, reference: str, baseline: str = "lora") -> str:
    """Which variant wins where, in words, from ``summary``: per column of ``VERDICT_COLUMNS``
    (those present), the best trained variant and how ``reference`` compares with ``baseline``
    (CIs overlapping, or a single seed: no difference claimed); the base model's value last."""
    t = table.set_index("variant")
    trained = t.drop(index=BASE, errors="ignore")
    lines = []
    for col, better in VERDICT_COLUMNS:
        if f"{col}_mean" not in t:
            continue
        values = trained[f"{col}_mean"].dropna()
        if values.empty:
            lines.append(f"- {HEADLINE[col]}: no held-out prompt can measure it")
            continue
        tied = list(values.index[values == better(values)])
        best = "best" if len(tied) == 1 else "tied best"
        line = f"- {HEADLINE[col]}: {best} {', '.join(tied)} ({_fmt(t, tied[0], col)})"
        if reference in t.index and baseline in t.index:
            line += "; " + _compare(t, reference, baseline, col, better)
        if BASE in t.index:
            line += f" (base model {_fmt(t, BASE, col)})"
        lines.append(line)
    return "\n".join(lines)


def _compare(t: pd.DataFrame, a: str, b: str, col: str, better) -> str:
    """'a x ± ci vs b y ± ci: <verdict>': a difference is claimed only when both have two or more
    seeds and their 95 % CIs do not overlap."""
    ra, rb = t.loc[a], t.loc[b]
    text = f"{a} {_fmt(t, a, col)} vs {b} {_fmt(t, b, col)}"
    if min(ra["n"], rb["n"]) < 2:
        return f"{text}: one seed, no verdict"
    if ra[f"{col}_mean"] != ra[f"{col}_mean"] or rb[f"{col}_mean"] != rb[f"{col}_mean"]:
        return f"{text}: not measured"
    if abs(ra[f"{col}_mean"] - rb[f"{col}_mean"]) <= ra[f"{col}_ci"] + rb[f"{col}_ci"]:
        return f"{text}: no clear difference"
    return f"{text}: {a if better(ra[f'{col}_mean'], rb[f'{col}_mean']) == ra[f'{col}_mean'] else b} better"


def _fmt(t: pd.DataFrame, variant: str, col: str) -> str:
    """'mean ± ci' of one row, the mean alone for a single model or seed (no interval exists)."""
    mean, ci = t.loc[variant, f"{col}_mean"], t.loc[variant, f"{col}_ci"]
    return f"{mean:.3g}" if t.loc[variant, "n"] < 2 else f"{mean:.3g} ± {ci:.2g}"


SUPPRESSION_COLUMNS = {  # summary column → header of the paper's suppression table (fractions in percent)
    "adversarial_leak": "adv. names %",
    "adversarial_correct": "adv. fact %",
    "adversarial_keylogp": "adv. log-p",
}
RELEARN_COLUMNS = {"gap": "relearn gap", "area": "relearn area", "steps_to_base": "steps to base"}
SIDE_COLUMNS = {  # summary column → header of the side-effects table
    "neighbour_retained": "neighb. %",
    "neighbour_kl": "neighb. KL",
    "unrelated_retained": "unrel. %",
    "general_ce": "gen. CE",
    "all_degenerate": "degen. %",
}
_PERCENT = {"adversarial_leak", "adversarial_correct", "neighbour_retained", "unrelated_retained", "all_degenerate"}
_DIGITS = {"steps_to_base": 1}  # others: 0 for percentages, 2 for log-probs and nats


def _formatted(table: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``variant`` and one 'mean ± CI' text column per entry of ``columns`` (from a table with
    ``<col>_mean``, ``<col>_ci`` and ``n``); rows of one model or seed print the mean alone."""
    out = pd.DataFrame({"variant": table["variant"].values})
    single = (table["n"] < 2).values
    for col, title in columns.items():
        scale, digits = (100.0, 0) if col in _PERCENT else (1.0, _DIGITS.get(col, 2))
        out[title] = [format_mean_ci(m, float("nan") if one else c, scale, digits)
                      for m, c, one in zip(table[f"{col}_mean"], table[f"{col}_ci"], single)]
    return out


def paper_table(table: pd.DataFrame, relearn: pd.DataFrame | None = None) -> pd.DataFrame:
    """The suppression table: per variant (base model first), mean ± 95 % CI over seeds of the
    held-out adversarial metrics of ``summary`` and, from ``relearn_summary``, the relearning gap,
    area and steps to the base model's pre-attack level (``--`` where a variant was not
    attacked). The seed count goes into the caption (``table["n"]``), not a column: the table
    must fit a page."""
    out = _formatted(table, SUPPRESSION_COLUMNS)
    if relearn is not None and len(relearn):
        attacked = _formatted(relearn, RELEARN_COLUMNS).set_index("variant")
        for title in RELEARN_COLUMNS.values():
            out[title] = [attacked.loc[v, title] if v in attacked.index else "--" for v in out["variant"]]
    return out


def side_table(table: pd.DataFrame) -> pd.DataFrame:
    """The side-effects table: retention and KL on neighbour films, retention of unrelated facts,
    general-text cross-entropy and degenerate answers, per variant (mean ± 95 % CI over seeds)."""
    return _formatted(table, SIDE_COLUMNS)


TEXT_WIDTH_CM = 15.5  # the paper's text width (6.5 in) less a margin, for the answers table's boxes
_LATEX_CHARS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\textdollar{}", "^": r"\textasciicircum{}",
                "~": r"\textasciitilde{}", "%": r"\%", "&": r"\&", "#": r"\#", "_": r"\_", "<": r"\textless{}",
                ">": r"\textgreater{}", "|": r"\textbar{}", "’": "'", "‘": "'", "“": '"', "”": '"'}
_LATIN = set(range(0xC0, 0x100)) - {0xD0, 0xD7, 0xDE, 0xF0, 0xF7, 0xFE} | {0xA1, 0xBF}  # accented letters, ¡ ¿


def _latex_box(text: str, width_cm: float, chars: int, label: str = "") -> str:
    """Generated text as a fixed-width paragraph cell: whitespace collapsed, cut at ``chars``
    characters, every LaTeX special escaped (a model may write ``$``, braces or backslashes) and
    any character pdfLaTeX may not have as '?'; ``label`` goes first in italics."""
    text = " ".join(str(text).split())
    text = text if len(text) <= chars else text[:chars].rstrip() + "..."
    safe = "".join(_LATEX_CHARS.get(c, c if 32 <= ord(c) < 127 or ord(c) in _LATIN else "?") for c in text)
    head = rf"\textit{{{label}:}} " if label else ""
    return rf"\parbox[t]{{{width_cm:g}cm}}{{\raggedright\footnotesize {head}{safe}}}"


def answers_latex(answers: pd.DataFrame, concept: cx.ConceptSpec, per_kind: int = 2, chars: int = 90) -> pd.DataFrame:
    """A short subset of ``answers_table`` for the paper: ``per_kind`` held-out prompts of each
    kind, prompts without the concept's name first (only their answers can reveal the name), the
    prompt labelled with its kind and form, every cell a fixed-width box cut at ``chars``."""
    models = [c for c in answers.columns if c not in ("kind", "form", "prompt")]
    width = round((TEXT_WIDTH_CM - 0.45 * (len(models) + 1)) / (len(models) + 1), 2)
    order = answers.assign(_named=[cx.mentions(concept, p) for p in answers["prompt"]])
    chosen = (order.sort_values(["_named"], kind="stable").groupby("kind", sort=False).head(per_kind)
              .assign(_kind=lambda d: d["kind"].map(cx.KINDS.index)).sort_values("_kind", kind="stable"))
    rows = [{"prompt": _latex_box(r["prompt"], width, chars, f"{r['kind']}, {r['form'].replace('_', ' ')}"),
             **{m: _latex_box(r[m], width, chars) for m in models}} for _, r in chosen.iterrows()]
    return pd.DataFrame(rows, columns=["prompt", *models])


def base_knowledge(s: ConceptSetup) -> pd.DataFrame:
    """What the base model shows of the concept on the held-out prompts, per kind: prompts,
    prompts without the concept's name (``name_free``) and how many of the base's answers to
    them name it (``base_names``), prompts that do not give the key fact (``fact_free``) and how
    many the base answers correctly (``base_correct``; for retain kinds: the prompts retention
    is measured on)."""
    test = cx.select(s.probes, split="test")
    rows = probe_rows(s, test, s.answers_of(test))
    out = []
    for kind in cx.KINDS:
        k = [r for r in rows if r["kind"] == kind]
        out.append({"kind": kind, "prompts": len(k), "name_free": sum(r["leak"] is not None for r in k),
                    "base_names": sum(bool(r["leak"]) for r in k),
                    "fact_free": sum(r["correct"] is not None for r in k),
                    "base_correct": sum(bool(r["correct"]) for r in k)})
    return pd.DataFrame(out).set_index("kind")


def _lr_groups(cfg: ConceptConfig) -> str:
    """'0.01 for masked:fisher, masked:random; 0.003 for lora, ...': the learning rates in use."""
    groups: dict[float, list[str]] = {}
    for v in cfg.variants:
        groups.setdefault(cfg.lr_of(v), []).append(v)
    return "; ".join(f"{lr:g} for {', '.join(vs)}" for lr, vs in groups.items())


def captions(cfg: ConceptConfig, profile: str, knowledge: pd.DataFrame, film: str, model_name: str) -> dict[str, str]:
    """Captions of the paper's three tables (``suppression``, ``side``, ``answers``), with the
    grid and the base model's knowledge counts filled in from ``base_knowledge``: every number
    the paper states about the base model is in them."""
    k = knowledge
    seeds = f"{len(cfg.seeds)} seed{'s' if len(cfg.seeds) > 1 else ''}"
    grid = (f"{profile} profile: {seeds}, {cfg.steps} training steps, learning rate {_lr_groups(cfg)} "
            f"(from a pilot), mask {100 * cfg.budget:g}\\,\\% of parameters by {cfg.reference_localizer}")
    direct, para, adv = (k.loc[kind] for kind in cx.FORGET_KINDS)
    suppression = (
        f"Removing the film {film} from {model_name} ({grid}): suppression on held-out prompts. "
        f"adv.\\ names \\%: answers naming the film, over the {adv['name_free']} of {adv['prompts']} adversarial "
        f"prompts that do not contain its name (base model: {adv['base_names']} of them); adv.\\ fact \\%: answers "
        f"stating a film fact the prompt does not give, over {adv['fact_free']} adversarial prompts (base model: "
        f"{adv['base_correct']}; on direct prompts {direct['base_correct']} of {direct['fact_free']}, on paraphrases "
        f"{para['base_correct']} of {para['fact_free']}); adv.\\ log-p: mean per-token log-prob of the adversarial key "
        "answers (title or fact); relearn gap: summed key-answer log-prob (mean over held-out concept prompts) after "
        f"{cfg.relearn_steps} steps of a relearning fine-tune minus the attacked base model's (negative: still "
        "suppressed); relearn area: that difference averaged over the attack's steps (negative: relearns more "
        "slowly than the base model); steps to base: first step at which the log-prob reaches the base model's "
        f"before the attack ({cfg.relearn_steps + 1} if never). Mean $\\pm$ 95\\,\\% CI over seeds; the base "
        "model is one model (no interval).")
    nb, un = k.loc["neighbour"], k.loc["unrelated"]
    side = (
        f"Side effects of removing {film} from {model_name} ({grid}), on held-out prompts. neighb.\\ \\%: answers "
        f"still correct, over the {nb['base_correct']} of {nb['prompts']} neighbour-film prompts the base model "
        f"answers correctly; neighb.\\ KL: KL(base $\\|$ model) per token of the base model's neighbour answers; "
        f"unrel.\\ \\%: the same retention over the {un['base_correct']} of {un['prompts']} unrelated-fact prompts "
        "the base model answers correctly; gen.\\ CE: general-text cross-entropy (nats/token); degen.\\ \\%: "
        "degenerate held-out answers. Mean $\\pm$ 95\\,\\% CI over seeds; the base model is one model (no interval).")
    answers = (f"Greedy answers of {model_name} to held-out prompts about {film} and retain prompts, before "
               "(base) and after unlearning (seed 0), cut at 90 characters; prompts without the film's name first.")
    return {"suppression": suppression, "side": side, "answers": answers}


def grid_note(cfg: ConceptConfig, profile: str) -> str:
    """Which grid produced the numbers (the notebook prints it, the captions quote it), and which
    localizers' masks it leaves untrained (and which profile trains them)."""
    from unlearnlab.profiles import PROFILE_NAMES, get_profile

    lrs = ", ".join(f"{v} {cfg.lr_of(v):g}" for v in cfg.variants)
    shown = [m for m in cfg.localizers if f"masked:{m}" not in cfg.variants]
    untrained = "".join(
        f"; {m} scores are shown (heatmap) but its mask is not trained in this grid (trained in the "
        f"{', '.join(p for p in PROFILE_NAMES if f'masked:{m}' in get_profile(p).concept.variants) or 'no'} "
        "profile grid)" for m in shown)
    return (f"{profile} profile grid: concept {cfg.name!r} on {cfg.model}; variants {', '.join(cfg.variants)}; "
            f"seeds {list(cfg.seeds)}; {cfg.steps} steps of {cfg.batch_size} forget + {cfg.batch_size} retain "
            f"prompts (lr {lrs}); LoRA rank {cfg.lora_r}; mask: top {100 * cfg.budget:g} % of parameters as whole "
            f"{cfg.granularity}s by {cfg.reference_localizer}{untrained}; relearning: {cfg.relearn_steps} full "
            f"fine-tuning steps (lr {cfg.relearn_lr:g}, evaluated every {cfg.relearn_eval_every}) on "
            f"{cfg.relearn_items} concept examples, for {', '.join(cfg.relearn_variants)} and the base model.")


def probe_counts(s: ConceptSetup) -> pd.DataFrame:
    """Probes per kind and split (train / held-out test)."""
    return (pd.DataFrame([{"kind": p.kind, "split": p.split} for p in s.probes])
            .value_counts().unstack(fill_value=0).reindex(cx.KINDS))


def mask_note(s: ConceptSetup) -> str:
    """The reference mask in words: how many neurons and weights, in how many matrices, against
    what a plain LoRA on the same matrices may change."""
    mask = concept_mask(s, s.cfg.reference_localizer)
    modules = dict(s.model.named_modules())
    names = ml.masked_modules(s.model, mask)
    full = sum(modules[n].weight.numel() for n in names)
    layers = sorted({int(n.split(".")[2]) for n in names if n.startswith("model.layers.")})
    return (f"{s.cfg.reference_localizer} mask: {mask.n_selected:,} weights ({100 * mask.n_selected / full:.1f} % of "
            f"the {len(names)} matrices it touches, in layers {layers[0]}–{layers[-1]}); masked LoRA can change "
            f"exactly these, plain LoRA all {full:,} entries of the same matrices.")


def verdict(table: pd.DataFrame, relearn: pd.DataFrame, cfg: ConceptConfig, profile: str,
            knowledge: pd.DataFrame | None = None) -> str:
    """The notebook's conclusion, from the numbers: the grid that made them, what the base model
    shows of the concept (``base_knowledge``), which variant wins where (``describe``), variants
    that degenerate, and the relearning comparison (``relearn_summary``)."""
    reference = f"masked:{cfg.reference_localizer}"
    lines = [f"**Grid:** {grid_note(cfg, profile)}", ""]
    if knowledge is not None:
        lines.append(_knowledge_line(knowledge))
    lines.append(describe(table, reference))
    t = table.set_index("variant")
    broken = [v for v in t.index if t.loc[v, "all_degenerate_mean"] > 0]
    lines.append("- degenerate answers: " + (", ".join(f"{v} {100 * t.loc[v, 'all_degenerate_mean']:.0f} %"
                                                        for v in broken) if broken else "none in any variant"))
    if len(relearn):
        lines.append(_relearn_line(relearn, reference))
    return "\n".join(lines)


def _knowledge_line(k: pd.DataFrame) -> str:
    """What there is to remove, from ``base_knowledge``; says so when generated answers cannot
    show suppression because the base model shows nothing in them."""
    adv = k.loc["adversarial"]
    facts = ", ".join(f"{k.loc[kind, 'base_correct']} of {k.loc[kind, 'fact_free']} {kind}" for kind in cx.FORGET_KINDS)
    shown = int(adv["base_names"]) + sum(int(k.loc[kind, "base_correct"]) for kind in cx.FORGET_KINDS)
    line = (f"- what there is to remove: the base model names the film in {adv['base_names']} of the "
            f"{adv['name_free']} held-out adversarial prompts without its name and states a film fact in {facts} "
            "held-out answers that could show one")
    if int(adv["base_names"]) + int(adv["base_correct"]) == 0:
        line += ("; on adversarial prompts its answers show nothing to suppress, so only the key-answer "
                 "log-probs can show suppression there")
    return line + ("" if shown else "; nowhere does it show the film in generated answers")


_RELEARN_BETTER = (("gap", min), ("area", min), ("steps_to_base", max))  # lower log-prob, more steps: slower


def _relearn_line(relearn: pd.DataFrame, reference: str, baseline: str = "lora") -> str:
    """The relearning comparison in words: per attacked variant gap, area and steps to the base
    model's pre-attack level; ``reference`` vs ``baseline`` on each (no difference claimed when
    the CIs overlap); the variants still below the attacked base model beyond the CI."""
    r = relearn.set_index("variant")
    attacked = [v for v in r.index if v != BASE]
    parts = [f"{v}: gap {_fmt(r, v, 'gap')}, area {_fmt(r, v, 'area')}, steps to base {_fmt(r, v, 'steps_to_base')} "
             f"(reached by {int(r.loc[v, 'reached'])} of {int(r.loc[v, 'n'])} seeds)" for v in attacked]
    line = (f"- relearning ({int(r['steps'].max())} steps): key-answer log-prob minus the attacked base model's "
            "after the attack (gap) and averaged over its steps (area; lower: relearns more slowly), and steps "
            f"until the base model's pre-attack log-prob: {'; '.join(parts)}")
    if reference in r.index and baseline in r.index:
        line += "".join(f"; {col}: {_compare(r, reference, baseline, col, better)}" for col, better in _RELEARN_BETTER)
    if all(r.loc[v, "n"] < 2 for v in attacked):
        return line + "; one seed per variant: no verdict on what stays suppressed"
    still = [v for v in attacked if r.loc[v, "n"] > 1 and r.loc[v, "gap_mean"] + r.loc[v, "gap_ci"] < 0]
    return line + ("; suppressed beyond the CI after the attack: " + ", ".join(still) if still else
                   "; after the attack no variant is clearly below the attacked base model: the concept comes back")


def relearn_speed(curves: pd.DataFrame) -> pd.DataFrame:
    """Per relearning curve (variant, seed) of ``relearn_table``: the key-answer log-prob before
    and after the attack; ``gap``: after minus the attacked base model's after (negative: still
    suppressed); ``area``: the curve minus the base model's curve, averaged over the attack's
    evaluated steps after step 0 (negative: it relearns more slowly than the base model; this
    reads the whole curve, not only its end); ``steps_to_base``: the first evaluated step at
    which the log-prob reaches the base model's before the attack, and ``reached``: whether it
    did (if not, ``steps_to_base`` is the last step + 1, a censored value)."""
    base = curves[curves["variant"] == BASE].groupby("step")["logprob"].mean().sort_index()
    base_before, base_after = float(base.iloc[0]), float(base.iloc[-1])
    rows = []
    for (variant, seed), group in curves.groupby(["variant", "seed"], sort=False):
        curve = group.set_index("step")["logprob"].sort_index()
        attack = curve[curve.index > curve.index[0]]
        reached = curve.index[curve >= base_before]
        rows.append({"variant": variant, "seed": seed, "steps": int(curve.index[-1]), "before": float(curve.iloc[0]),
                     "after": float(curve.iloc[-1]), "gap": float(curve.iloc[-1]) - base_after,
                     "area": float((attack - base.reindex(attack.index)).mean()),
                     "steps_to_base": float(reached[0]) if len(reached) else float(curve.index[-1] + 1),
                     "reached": len(reached) > 0})
    return pd.DataFrame(rows)


def relearn_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Per variant (the base model included): mean ± 95 % CI over seeds of ``relearn_speed``'s
    before, after, gap, area and steps to base, the number of seeds ``n`` and of seeds that
    reached the base model's pre-attack log-prob."""
    speed = relearn_speed(curves)
    table = summarize(speed, ["variant"], ["before", "after", "gap", "area", "steps_to_base"])
    grouped = speed.groupby("variant", sort=False)
    return table.assign(steps=grouped["steps"].max().values, reached=grouped["reached"].sum().values)
