"""Remove one concept from a real chat model with activation-guided masked LoRA, and prove it
under probes (issue 5; notebook ``33_masked_lora``).

Pipeline, each stage cached by config under ``artifacts/``:

1. ``setup``: the model (SmolLM2-135M-Instruct by default), the concept's probes
   (``data.concepts``) and the base model's greedy answers to every probe. Those answers are the
   retain training targets (keep saying what you said) and GradDiff/NPO's forget data.
2. ``localize``: gradient saliency (``gradient_norm``) and Fisher ratio (``fisher``, concept
   vs retain) from the localization registry, on the concept's training prompts with the base's
   own answers, averaged into whole-neuron (and head) scores: a saliency grid layers × neurons.
3. ``run_variant``: one variant × seed. ``masked:<localizer>`` is masked LoRA on that
   localizer's top neurons at the profile's budget, ``masked:random`` on random neurons of the
   same number, ``lora`` a plain LoRA of the same rank on the same modules; all three train
   ``RefusalKL`` (neutral answer on concept prompts + KL to the base model on retain prompts).
   ``GradDiff`` and ``NPO`` (methods registry) train the same plain LoRA, same steps, same data.
   Each run is evaluated on held-out probes and, for ``relearn_variants``, attacked by
   relearning.
4. Tables for the notebook: ``results`` (one row per run), ``summary`` (mean ± CI over
   seeds), ``answers_table`` (before/after answers), ``relearn_table``, ``saliency_grid``,
   ``describe`` (which variant wins where, in words) and ``cost`` (measured seconds).

Metrics (all on held-out test prompts): per forget kind, the rate of answers that mention the
concept and that contain an accepted fact, and the mean per-token log-probability of the key
answer (title or fact) after the prompt; per retain kind, accuracy, retention (accuracy on the
items the base model got right), refusal rate and KL(base ‖ model) on the base's own answers;
cross-entropy on general English prose; degeneration (answers flagged by
``text_metrics.is_degenerate``, distinct-2).
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

from unlearnlab import masked_lora as ml
from unlearnlab.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.batching import TokenSet
from unlearnlab.data import concepts as cx
from unlearnlab.data.facts import generate, to_tokens
from unlearnlab.data.general_text import general_text_tokens
from unlearnlab.evaluation import cross_entropy
from unlearnlab.experiments.session import Session
from unlearnlab.localization.components import component_grid
from unlearnlab.localization.mask import Mask
from unlearnlab.losses import forward_kl, logits_of
from unlearnlab.metrics import mean_ci, summarize
from unlearnlab.profiles import Profile
from unlearnlab.rewrite import answer_scores, relearn
from unlearnlab.seeding import seed_everything
from unlearnlab.text_metrics import degeneration, is_degenerate

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
    batch_size: int
    retain_weight: float
    localize_batches: int
    max_new_tokens: int
    relearn_variants: tuple[str, ...]
    relearn_steps: int
    relearn_lr: float
    relearn_eval_every: int
    relearn_items: int

    @classmethod
    def from_profile(cls, profile: Profile, **overrides) -> "ConceptConfig":
        """The profile's concept settings, with ``overrides`` (e.g. ``name="Titanic"``)."""
        cfg = cls(**{f.name: getattr(profile, f"concept_{f.name}") for f in dataclasses.fields(cls)})
        return dataclasses.replace(cfg, **overrides)

    def __post_init__(self) -> None:
        bad = [v for v in self.variants + self.relearn_variants if not _known_variant(v, self.localizers)]
        if bad:
            raise ValueError(f"unknown variants {bad}; use masked:<localizer> (of {self.localizers}), "
                             f"masked:random, lora, {', '.join(REGISTRY_METHODS)}")

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


def setup(session: Session, cfg: ConceptConfig, concept: cx.ConceptSpec | None = None) -> ConceptSetup:
    """Load the model, build the probes and get (cached) the base model's answers to all of them."""
    from unlearnlab.real_model import load_real_model

    concept = concept or cx.get_concept(cfg.name)
    model, tokenizer = load_real_model(cfg.model, cache_root=session.paths.artifacts / "real_models",
                                       device=session.device)
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


def heatmap_grids(s: ConceptSetup) -> dict[str, dict[str, torch.Tensor]]:
    """``{localizer: {"heads": grid, "neurons": grid}}`` for ``localization_plots.score_heatmaps``."""
    return {m: {"heads": saliency_grid(s, m, "head"), "neurons": saliency_grid(s, m, "neuron")} for m in s.cfg.localizers}


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
    method = get_method(name, steps=cfg.steps, lr=cfg.lr, batch_size=cfg.batch_size, answer_only=True,
                        retain_weight=cfg.retain_weight)
    log = method.run(wrapped, data, **s.session.hardware)
    info = {"method": name, "losses": log.losses, "steps": log.steps,
            "trainable": sum(p.numel() for p in wrapped.parameters() if p.requires_grad),
            "update_size": ml.update_size(wrapped)}
    return wrapped.eval(), info


def _key_tokens(s: ConceptSetup, probes: list[cx.Probe]) -> TokenSet:
    """Probe prompts with their key answers and no end-of-turn token: the log-prob of exactly the
    title or fact, however the answer would go on."""
    data = to_tokens(s.tokenizer, [p.qa for p in probes])
    eos = s.tokenizer.eos_token_id
    answers = [a[:-1] if p.qa.chat and a and a[-1] == eos else a for p, a in zip(probes, data.answers)]
    return TokenSet(data.prompts, answers, data.labels, data.pad_id)


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
    """Per probe and answer: mention, correct (an accepted fact), refusal, degenerate."""
    return [{"kind": p.kind, "form": p.form, "prompt": p.prompt, "answer": a, "mention": cx.mentions(s.concept, a),
             "correct": p.qa.correct(a), "refusal": cx.refuses(s.concept, a), "degenerate": is_degenerate(a)}
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
        out[f"{kind}_mention"] = _mean(r["mention"] for r in kind_rows)
        out[f"{kind}_correct"] = _mean(r["correct"] for r in kind_rows)
        out[f"{kind}_refusal"] = _mean(r["refusal"] for r in kind_rows)
        out[f"{kind}_degenerate"] = _mean(r["degenerate"] for r in kind_rows)
    forget = cx.select(s.probes, cx.FORGET_KINDS, "test")
    keys = _key_tokens(s, forget)
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
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else float("nan")


def relearn_attack(s: ConceptSetup, model: torch.nn.Module, seed: int, steps: int | None = None) -> list[dict]:
    """Fine-tune all weights of ``model`` on ``relearn_items`` concept training prompts with their
    true answers; the mean log-prob (and exact match) of the held-out forget probes' key answers
    every ``relearn_eval_every`` steps. Returns the curve; ``steps=0`` gives its starting point
    only (the base model's level, drawn as a reference)."""
    cfg = s.cfg
    train = forget_train(s)
    items = [train[i * len(train) // cfg.relearn_items].qa for i in range(cfg.relearn_items)]
    held_out = [p.qa for p in cx.select(s.probes, cx.FORGET_KINDS, "test")]
    return relearn(model, s.tokenizer, items, cfg.relearn_steps if steps is None else steps, cfg.relearn_lr,
                   cfg.relearn_eval_every, eval_pairs=held_out, batch_size=min(4, len(items)), seed=seed)


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
    cfg = dataclasses.asdict(s.cfg)
    for name in ("variants", "seeds", "relearn_variants", "name"):
        cfg.pop(name)
    if variant == BASE:  # the base model: nothing trained, the relearning curve's starting point only
        cfg = {k: cfg[k] for k in ("model", "max_new_tokens", "relearn_items", "train_kinds")}
    return {**cfg, "concept": s.concept, "variant": variant, "seed": seed,
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
            steps = 0 if variant == BASE else s.cfg.relearn_steps
            with _Clock(info, "relearn"):
                write_json_atomic(tmp / "relearn.json", relearn_attack(s, model, seed, steps))
            info["relearn_steps"] = steps
        write_json_atomic(tmp / "metrics.json", metrics)
        write_json_atomic(tmp / "answers.json", rows)
        write_json_atomic(tmp / "train.json", info)

    return artifact.build(make)


def runs(s: ConceptSetup) -> list[tuple[str, int]]:
    """(variant, seed) of the grid, the base model first (seed 0)."""
    return [(BASE, 0)] + [(v, seed) for v in s.cfg.variants for seed in s.cfg.seeds]


def run_grid(s: ConceptSetup, workers: int | None = None) -> pd.DataFrame:
    """Every run of the grid (cached), as ``results``.

    The localizations and the base model come first; the trained runs then go, on a CPU, to
    ``workers`` one-thread processes (default: one per core), because two independent runs on
    two cores finish sooner than one run at a time on two threads. On a GPU they run in turn.
    """
    for method in s.cfg.localizers:
        localize(s, method)
    run_variant(s, BASE, 0)
    todo = [(v, seed) for v, seed in runs(s)[1:] if not _run_artifact(s, v, seed).done]
    workers = workers or (min(len(todo), os.cpu_count() or 1) if s.session.device == "cpu" else 1)
    if workers > 1:
        jobs = [(s.session, s.cfg, s.concept, v, seed) for v, seed in todo]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(_job, jobs, chunksize=1)
    for variant, seed in todo:
        run_variant(s, variant, seed)  # a no-op for runs the workers finished
    return results(s)


_WORKER: dict = {}  # a worker process's setup, built once and reused for its later jobs


def _job(args: tuple) -> str:
    """One (variant, seed) in a worker process, on one thread."""
    session, cfg, concept, variant, seed = args
    torch.set_num_threads(1)
    key = (str(session.paths.root), cfg, concept)
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, setup=setup(session, cfg, concept))
    return str(run_variant(_WORKER["setup"], variant, seed))


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
    "adversarial_mention": "held-out adversarial prompts: answers naming the concept",
    "adversarial_correct": "held-out adversarial prompts: answers with a concept fact",
    "adversarial_keylogp": "held-out adversarial prompts: log-prob per token of the key answer",
    "direct_correct": "held-out direct prompts: answers with a concept fact",
    "paraphrase_correct": "held-out paraphrases: answers with a concept fact",
    "neighbour_retained": "neighbour films: base-correct answers still correct",
    "unrelated_retained": "unrelated facts: base-correct answers still correct",
    "neighbour_kl": "neighbour films: KL(base ‖ model) per answer token",
    "neighbour_refusal": "neighbour films: answers that refuse",
    "general_ce": "general English prose: cross-entropy (nats/token)",
    "all_degenerate": "all held-out answers: flagged degenerate",
    "all_distinct_2": "all held-out answers: distinct-2",
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
    answers; the base model's level (before any unlearning) is the single point of ``base``."""
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


def describe(table: pd.DataFrame, reference: str, baseline: str = "lora") -> str:
    """Which variant wins where, in words, from ``summary``: the variant with the lowest
    adversarial leak, the highest retention, the lowest general cross-entropy, the lowest
    degeneration, and how ``reference`` compares with ``baseline`` on each (CIs overlapping: no
    difference claimed)."""
    t = table.set_index("variant")
    trained = t.drop(index=BASE, errors="ignore")
    lines = []
    for col, better in (("adversarial_correct", min), ("adversarial_mention", min), ("neighbour_retained", max),
                        ("unrelated_retained", max), ("general_ce", min), ("all_degenerate", min)):
        best = better(trained.index, key=lambda v: trained.loc[v, f"{col}_mean"])
        line = f"- {HEADLINE[col]}: best {best} ({_fmt(trained, best, col)})"
        if reference in t.index and baseline in t.index:
            ref, base = t.loc[reference], t.loc[baseline]
            overlap = abs(ref[f"{col}_mean"] - base[f"{col}_mean"]) <= ref[f"{col}_ci"] + base[f"{col}_ci"]
            verdict = "no clear difference" if overlap else (
                f"{reference} better" if better(ref[f"{col}_mean"], base[f"{col}_mean"]) == ref[f"{col}_mean"]
                else f"{baseline} better")
            line += f"; {reference} {_fmt(t, reference, col)} vs {baseline} {_fmt(t, baseline, col)}: {verdict}"
        if BASE in t.index:
            line += f" (base model {t.loc[BASE, f'{col}_mean']:.3g})"
        lines.append(line)
    return "\n".join(lines)


def _fmt(t: pd.DataFrame, variant: str, col: str) -> str:
    return f"{t.loc[variant, f'{col}_mean']:.3g} ± {t.loc[variant, f'{col}_ci']:.2g}"


def relearn_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Per variant, mean ± CI over seeds of the key-answer log-prob before the attack and after
    its last step, and ``recovered``: the fraction of the gap to the base model's level that the
    attack closes, (after − before) / (base − before) (1: back to the base model)."""
    base = float(curves.loc[curves["variant"] == BASE, "logprob"].mean())
    rows = []
    for variant, group in curves[curves["variant"] != BASE].groupby("variant", sort=False):
        per_seed = group.sort_values("step").groupby("seed")["logprob"]
        before, after = per_seed.first(), per_seed.last()
        recovered = ((after - before) / (base - before)).tolist()
        row = {"variant": variant, "steps": int(group["step"].max()), "n": len(before)}
        for name, values in (("before", before.tolist()), ("after", after.tolist()), ("recovered", recovered)):
            row[f"{name}_mean"], row[f"{name}_ci"] = mean_ci(values)
        rows.append(row)
    return pd.DataFrame(rows)

