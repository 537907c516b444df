"""The fact-rewrite experiment on a real model (notebook 32_rewrite_ia3): probe what the model
knows, rewrite known facts F1 → F2 with every variant of ``methods.rewrite.VARIANTS``, and ask
whether F1 is gone or only hidden.

Per target fact, a *setup* artifact holds what every variant shares: the model's own answers
(training answers are phrased like them, see ``facts.in_model_style``), the module scores
(``localize("modules", ...)``) and the top-k modules, the control facts and the unedited model's
measurements. Per (target, variant, seed), a *run* artifact holds the rewritten model's
measurements (``measure.py``) and, for the profile's relearning variants, a relearning attack on
F1 (``attacks.relearn``). Models are not saved: a run is minutes of CPU and its numbers are what
the paper uses. ``results.py`` reads the artifacts back into frames. A run is a training job
(``core.jobs``, ``run_job``): in this process (or a ``map_jobs`` worker), or under ``accelerate
launch`` when the profile names an accelerate config.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from unlearnlab.attacks.relearn import RelearnConfig, answer_loss, relearn_sweep
from unlearnlab.core import distributed, jobs
from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.batching import token_ids
from unlearnlab.core.job_args import as_args, from_args
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.parallel import map_jobs
from unlearnlab.core.precision import bf16_autocast
from unlearnlab.data import facts as fx
from unlearnlab.evals.probes import answer_metric
from unlearnlab.experiments.rewrite.config import RewriteConfig
from unlearnlab.experiments.rewrite.measure import measure
from unlearnlab.experiments.session import Session
from unlearnlab.localization import LocalizationData, localize
from unlearnlab.localization.modules import chosen_modules
from unlearnlab.localization.pairs import corrupted_pairs
from unlearnlab.methods import rewrite as rw


@dataclass(frozen=True)
class Target:
    """A rewrite: the fact (subject, relation, old object) and the new object. ``old_object``
    None looks the fact up in ``facts.FACTS``; the relation must be one of ``facts.RELATIONS``
    (its templates ask the question)."""

    subject: str
    relation: str
    new_object: str
    old_object: str | None = None
    new_aliases: tuple[str, ...] = ()

    def fact(self) -> fx.Fact:
        if self.relation not in fx.RELATIONS:
            raise ValueError(f"unknown relation {self.relation!r}; the templates exist for {', '.join(fx.RELATIONS)}")
        known = [f for f in fx.FACTS if f.subject == self.subject and f.relation == self.relation]
        if self.old_object is None:
            if not known:
                raise ValueError(f"({self.subject!r}, {self.relation!r}) is not in facts.FACTS: give old_object")
            return known[0]
        if known and known[0].object == self.old_object:
            return known[0]
        return fx.Fact(self.subject, self.relation, self.old_object)

    @property
    def name(self) -> str:
        return f"{self.subject}->{self.new_object}"


def targets(cfg: RewriteConfig) -> tuple[Target, ...]:
    """The profile's rewrites (tuples of ``Target``'s fields)."""
    return tuple(Target(*t) for t in cfg.targets)


# --------------------------------------------------------------------------------------------
# The model and the knowledge probe
# --------------------------------------------------------------------------------------------


_LOADED: dict[tuple, tuple] = {}  # one model per process, shared by its jobs


class Lazy:
    """The real model and tokenizer, loaded on first use (once per process): a notebook rerun
    whose artifacts are all done never loads them."""

    def __init__(self, session: Session, name: str):
        self.key = (name, session.device)

    def __call__(self):
        if self.key not in _LOADED:
            from unlearnlab.core.real_model import load_real_model

            name, device = self.key
            _LOADED[self.key] = load_real_model(name, device=device)
        return _LOADED[self.key]


def effective(session: Session, cfg: RewriteConfig) -> RewriteConfig:
    """``cfg`` with bf16 training only where the profile's ``real_bf16`` allows it (the one
    switch of the real tier's precision; ``cfg.bf16`` alone can only turn training bf16 off)."""
    return replace(cfg, bf16=cfg.bf16 and session.profile.real_bf16)


def precision(session: Session):
    """The real tier's evaluation precision (``core.precision``): bf16 autocast when the
    profile's ``real_bf16`` is on."""
    return bf16_autocast(session.profile.real_bf16, session.device)


def probe(session: Session, cfg: RewriteConfig, load: Lazy) -> pd.DataFrame:
    """Which facts of the probed relations (plus the targets) the model knows: greedy answers
    on three paraphrases, all correct (cached; one row per fact)."""
    facts = [f for f in fx.FACTS if f.relation in cfg.probe_relations]
    facts += [t.fact() for t in targets(cfg) if t.fact() not in facts]
    key = {"model": cfg.model, "facts": [asdict(f) for f in facts], "n_paraphrases": 3, "tokens": cfg.probe_tokens,
           "bf16": session.profile.real_bf16}
    artifact = Artifact(session.paths.artifacts, "rewrite_probe", cfg.model, key)

    def make(tmp: Path) -> None:
        model, tokenizer = load()
        start = time.perf_counter()
        with precision(session):
            rows = fx.probe_knowledge(model, tokenizer, facts, n_paraphrases=3, max_new_tokens=cfg.probe_tokens,
                                      batch_size=48)
        write_json_atomic(tmp / "probe.json", {"rows": rows, "wall_s": time.perf_counter() - start})

    return pd.DataFrame(read_json(artifact.build(make) / "probe.json")["rows"])


def choose_controls(target: Target, known: pd.DataFrame, n_same: int, n_other: int) -> list[fx.Fact]:
    """Known facts that the rewrite must leave alone: ``n_same`` of the target's relation (the
    hardest: same question, other subject) and ``n_other`` of other relations, in list order;
    none whose object is F1's or F2's (a correct control answer must not count as F1 or F2)."""
    fact = target.fact()
    by_key = {(f.subject, f.relation): f for f in fx.FACTS}
    avoid = {fact.object, target.new_object}
    pool = [by_key[(r.subject, r.relation)] for r in known.itertuples()
            if r.known and (r.subject, r.relation) in by_key and r.subject != fact.subject and r.object not in avoid]
    same = [f for f in pool if f.relation == fact.relation][:n_same]
    other = [f for f in pool if f.relation != fact.relation][:n_other]
    return same + other


# --------------------------------------------------------------------------------------------
# Localization: the data the "modules" localizer sees for one fact
# --------------------------------------------------------------------------------------------


def localization_data(model, tokenizer, fact: fx.Fact, controls: Sequence[fx.Fact], *,
                      corrupt_subjects: Sequence[str] | None = None, n_templates: int = 4,
                      n_gradient: int | None = None, batch_size: int = 8) -> LocalizationData:
    """What the ``"modules"`` localizer needs to place an adapter for F1.

    ``clean``/``corrupt``: F1's completion-form training paraphrases, and the same prompts with
    the subject swapped for another of equal token length (completion prompts, because there the
    object follows directly, so the log-prob of its first token measures recall; a chat answer
    may start with "The capital of ..."). Default corrupt subjects are the relation's other
    subjects whose object starts with a different token (else the corruption would not remove
    the answer). ``forget``: ``n_gradient`` F1 paraphrases (all training ones if None);
    ``retain``: four paraphrases of each control fact.
    """
    answer = fx.answer_text(fact.object, chat=False)
    first = token_ids(tokenizer, answer)[:1]
    if corrupt_subjects is None:
        corrupt_subjects = [f.subject for f in fx.FACTS if f.relation == fact.relation and f.subject != fact.subject
                            and token_ids(tokenizer, fx.answer_text(f.object, False))[:1] != first]
    completions = [t.prompt for t in fx.RELATIONS[fact.relation].train if not t.chat]
    clean, corrupt, _ = corrupted_pairs(tokenizer, completions, fact.subject, corrupt_subjects, answer,
                                        limit=n_templates, skip_unmatched=True)
    forget = fx.to_tokens(tokenizer, fx.fact_pairs(fact, fx.spread(fx.RELATIONS[fact.relation].train, n_gradient)))
    retain = fx.to_tokens(tokenizer, [pair for c in controls
                                      for pair in fx.fact_pairs(c, fx.spread(fx.RELATIONS[c.relation].train, 4))])
    return LocalizationData(model, forget, retain, tokenizer, clean=clean, corrupt=corrupt, batch_size=batch_size,
                            max_batches=8)


# --------------------------------------------------------------------------------------------
# Setup per target, one run per (target, variant, seed)
# --------------------------------------------------------------------------------------------


def _styled_spec(model, tokenizer, target: Target, controls: list[fx.Fact], cfg: RewriteConfig
                 ) -> tuple[fx.RewriteSpec, dict]:
    """The rewrite spec with F2 training answers in the model's own phrasing, and the model's
    own F1 answers (training and test prompts: the relearning attack's data)."""
    fact = target.fact()
    spec = fx.rewrite_spec(fact, target.new_object, controls, new_aliases=target.new_aliases,
                           n_control_paraphrases=2)
    prompts = list(spec.f1_train) + list(spec.f1_test)
    said = fx.generate(model, tokenizer, prompts, cfg.probe_tokens, 48)
    f2_train = fx.in_model_style(spec.f2_train, said[:len(spec.f1_train)], fact.accepted, target.new_object)
    own = {"train": said[:len(spec.f1_train)], "test": said[len(spec.f1_train):]}
    return replace(spec, f2_train=f2_train), own


def f1_relearn_pairs(spec: fx.RewriteSpec, own: dict, split: str) -> tuple[fx.QA, ...]:
    """F1's ``split`` prompts answered as the unedited model answered them."""
    return fx.in_model_style(getattr(spec, f"f1_{split}"), own[split], spec.fact.accepted)


def setup_artifact(session: Session, cfg: RewriteConfig, target: Target, known: pd.DataFrame) -> Artifact:
    controls = choose_controls(target, known, *cfg.controls)
    key = {"model": cfg.model, "target": asdict(target), "controls": [asdict(c) for c in controls], "k": cfg.k,
           "eval_train": cfg.eval_train, "max_new_tokens": cfg.max_new_tokens,
           "localize_prompts": cfg.localize_prompts, "probe_tokens": cfg.probe_tokens,
           "bf16": session.profile.real_bf16}
    return Artifact(session.paths.artifacts, "rewrite_setup", target.name, key)


def setup(session: Session, cfg: RewriteConfig, target: Target, load: Lazy, known: pd.DataFrame) -> Path:
    """Artifact: controls, the model's own answers, module scores and the top-k modules, and
    the unedited model's measurements (the "base" row)."""
    artifact = setup_artifact(session, cfg, target, known)
    controls = _facts(artifact.config["controls"])

    @_in_precision(session)
    def make(tmp: Path) -> None:
        model, tokenizer = load()
        spec, own = _styled_spec(model, tokenizer, target, controls, cfg)
        start = time.perf_counter()
        localization = localize("modules", localization_data(model, tokenizer, target.fact(), controls,
                                                             n_gradient=cfg.localize_prompts))
        modules = chosen_modules(localization, cfg.k)
        localize_s = time.perf_counter() - start
        base = measure(model, tokenizer, spec, cfg)
        base["f1_own"] = answer_metric(tokenizer, f1_relearn_pairs(spec, own, "test"))(model)
        write_json_atomic(tmp / "setup.json", {
            "controls": [asdict(c) for c in controls], "own_answers": own,
            "components": localization.details["components"], "modules": modules,
            "f2_train_answers": [p.answer for p in spec.f2_train], "localize_s": localize_s, "base": base,
            "known": _is_known(known, target)})

    return artifact.build(make)


def _in_precision(session: Session):
    """Decorator: run an artifact's ``make`` inside the real tier's precision context."""
    def wrap(make):
        def wrapped(tmp: Path) -> None:
            with precision(session):
                make(tmp)
        return wrapped
    return wrap


def _facts(rows: list[dict]) -> list[fx.Fact]:
    return [fx.Fact(r["subject"], r["relation"], r["object"], tuple(r["aliases"])) for r in rows]


def _is_known(known: pd.DataFrame, target: Target) -> bool:
    fact = target.fact()
    row = known[(known.subject == fact.subject) & (known.relation == fact.relation) & (known.object == fact.object)]
    return bool(len(row) and row.known.iloc[0])


def _spec_from_setup(target: Target, info: dict) -> tuple[fx.RewriteSpec, dict]:
    """Rebuild the styled spec from a setup artifact (no generation)."""
    spec = fx.rewrite_spec(target.fact(), target.new_object, _facts(info["controls"]), new_aliases=target.new_aliases,
                           n_control_paraphrases=2)
    f2_train = tuple(fx.QA(p.prompt, a, p.accepted, p.chat, p.case_sensitive)
                     for p, a in zip(spec.f2_train, info["f2_train_answers"], strict=True))
    return replace(spec, f2_train=f2_train), info["own_answers"]


def method(cfg: RewriteConfig, variant: str, seed: int, modules: Sequence[str] = ()) -> rw.Rewrite:
    """The registered method behind ``variant`` with the profile's budget."""
    return rw.variant(variant, modules, steps=cfg.steps, batch_size=cfg.batch_size, seed=seed)


def run_artifact(session: Session, cfg: RewriteConfig, target: Target, variant: str, seed: int,
                 setup_dir: Path) -> Artifact:
    relearn = variant in cfg.relearn_variants
    edit = method(cfg, variant, seed)  # its modules come from the setup, which is in the key
    key = {"setup": setup_dir.name, "variant": variant, "method": edit.name, "config": asdict(edit.config),
           "bf16": cfg.bf16, "eval_bf16": session.profile.real_bf16,
           "relearn": {"steps": cfg.relearn_steps, "lrs": cfg.relearn_lrs,
                       "every": cfg.relearn_eval_every} if relearn else None}
    return Artifact(session.paths.artifacts, "rewrite_run", f"{target.name}_{variant}_s{seed}", key)


def run(session: Session, cfg: RewriteConfig, target: Target, variant: str, seed: int, setup_dir: Path) -> Path:
    """Artifact: one variant's rewrite of ``target`` with ``seed``, measured, and attacked by
    relearning when ``variant`` is one of the profile's relearning variants (the job ``run_job``)."""
    artifact = run_artifact(session, cfg, target, variant, seed, setup_dir)

    def make(tmp: Path) -> None:
        jobs.launch(run_job, tmp, session, cfg=as_args(cfg), target=as_args(target), variant=variant, seed=seed,
                    setup_dir=str(setup_dir))

    return artifact.build(make)


def run_job(out: Path, session: Session, cfg: dict, target: dict, variant: str, seed: int, setup_dir: str) -> None:
    """The training job behind ``run`` (``core.jobs``: in this process, or under ``accelerate launch``
    when the profile names an accelerate config). Every process trains the rewrite and runs the
    relearning attack (both train); the main process measures the rewritten model and writes ``run.json``."""
    config, fact = from_args(RewriteConfig, cfg), from_args(Target, target)
    info = read_json(Path(setup_dir) / "setup.json")
    edit = method(config, variant, seed, info["modules"])
    if edit.ADAPTER != "full":
        distributed.refuse_sharding(f"the rewrite variant {variant}", "its adapters are merged into the "
                                    "weights FSDP2 shards (adapters fit one device)")
    with precision(session):
        model, tokenizer = Lazy(session, config.model)()
        spec, own = _spec_from_setup(fact, info)
        start = time.perf_counter()
        edited = fresh_copy(model)
        log = edit.run(edited, rw.RewriteData(tokenizer, spec), bf16=config.bf16)
        result = {"train_s": time.perf_counter() - start, "losses": [stage.losses for stage in log.stages]}
        if distributed.evaluates_here():
            result.update(measure(edited, tokenizer, spec, config))
        if variant in config.relearn_variants:
            result["relearn"] = relearn_attack(edited, tokenizer, spec, own, config, seed)
        if distributed.is_main():
            write_json_atomic(out / "run.json", result)
    distributed.barrier()


def relearn_attack(model, tokenizer, spec: fx.RewriteSpec, own: dict, cfg: RewriteConfig, seed: int) -> list[dict]:
    """Per learning rate: fine-tune all weights on F1's training prompts answered as the
    unedited model answered them, and follow F1 on the held-out prompts (rows: lr, step,
    logprob, exact)."""
    train_pairs = f1_relearn_pairs(spec, own, "train")
    device = next(model.parameters()).device
    attack = RelearnConfig(lrs=cfg.relearn_lrs, steps=cfg.relearn_steps, eval_every=cfg.relearn_eval_every,
                           batch_size=cfg.batch_size)
    return relearn_sweep(model, lambda: fx.answer_batches(tokenizer, train_pairs, cfg.batch_size, seed, device),
                         answer_metric(tokenizer, f1_relearn_pairs(spec, own, "test")), attack, loss=answer_loss,
                         bf16=cfg.bf16)


def _run_job(args: tuple) -> str:
    session, cfg, target, variant, seed, setup_dir = args
    return str(run(session, cfg, target, variant, seed, Path(setup_dir)))


def run_grid(session: Session, cfg: RewriteConfig) -> dict:
    """Probe and setups in this process (they are few and their localization is matrix work that
    uses both threads), then every unfinished run in one-thread processes on a multi-core CPU
    (``parallel.map_jobs``: a run's evaluation is mostly per-token generation, Python-bound, and
    two processes did the 30 runs of the default grid in 12.5 s each instead of ~20 s). With an
    accelerate config the runs go one after another, each a launched job on every device.
    Returns what ``results.py`` reads."""
    cfg = effective(session, cfg)
    load = Lazy(session, cfg.model)
    known = probe(session, cfg, load)
    if not known.known.any():  # an untrained-looking model: nothing to rewrite (report.untrained)
        return {"known": known, "setups": {}, "runs": []}
    setups = {t: setup(session, cfg, t, load, known) for t in targets(cfg)}
    runs = [(t, v, s, run_artifact(session, cfg, t, v, s, setups[t]))
            for t in targets(cfg) for v in cfg.variants for s in cfg.seeds]
    pending = [(session, cfg, t, v, s, str(setups[t])) for t, v, s, a in runs if not a.done]
    if pending and session.profile.accelerate_config:
        for job in pending:  # each run is an `accelerate launch` of its own, over all devices
            _run_job(job)
    elif pending:
        load()  # the GGUF conversion happens here, once, not in racing workers
        map_jobs(_run_job, pending, session.device)
    return {"known": known, "setups": setups, "runs": [(t, v, s, a.path) for t, v, s, a in runs]}
