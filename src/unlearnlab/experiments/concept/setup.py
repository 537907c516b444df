"""Stage 1 of the concept study: the model, the concept's probes and the base model's answers.

The base model's greedy answers to every probe are the retain training targets (keep saying what
you said) and GradDiff/NPO's forget data; they are generated once and cached.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from unlearnlab.core import jobs
from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.job_args import as_args, from_args
from unlearnlab.core.precision import bf16_autocast
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.timing import timed
from unlearnlab.data import concepts as cx
from unlearnlab.data.fact_catalog import Fact
from unlearnlab.data.facts import generate, to_tokens
from unlearnlab.experiments.concept.config import ConceptConfig
from unlearnlab.experiments.session import Session

TINY_MODEL = "tiny-random"  # the smoke profile's model: the pipeline's plumbing in seconds, no knowledge


@dataclass
class ConceptSetup:
    """What every stage shares. ``base_answers`` maps each probe prompt to the base model's
    greedy answer; ``cache`` holds what a stage computes once per setup (masks, base logits)."""

    session: Session
    cfg: ConceptConfig
    concept: cx.ConceptSpec
    probes: tuple[cx.Probe, ...]
    model: torch.nn.Module
    tokenizer: object
    base_answers: dict[str, str]
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def root(self) -> Path:
        return self.session.paths.artifacts

    @property
    def bf16(self) -> bool:
        """Whether this setup's forwards run in bf16 autocast (``uses_bf16``)."""
        return uses_bf16(self.session, self.cfg)

    def precision(self) -> torch.autocast:
        """The context every forward of this setup runs in (``core.precision``)."""
        return bf16_autocast(self.bf16, self.session.device)

    def answers_of(self, probes: list[cx.Probe]) -> list[str]:
        return [self.base_answers[p.prompt] for p in probes]

    def tokens(self, probes: list[cx.Probe], answers: list[str] | None = None) -> TokenSet:
        """Rendered prompts with ``answers`` (default: the base model's own answers)."""
        answers = self.answers_of(probes) if answers is None else answers
        return to_tokens(self.tokenizer, [p.qa for p in probes], answers)


def uses_bf16(session: Session, cfg: ConceptConfig) -> bool:
    """bf16 autocast for the real model when the profile's ``real_bf16`` is on; the smoke
    profile's tiny random model stays in float32 (bf16 is slower for small matrices)."""
    return session.profile.real_bf16 and cfg.model != TINY_MODEL


def tiny_model_dir(session: Session, concept: cx.ConceptSpec) -> Path:
    """A random two-layer Llama with a small tokenizer trained on the concept's probes and some
    English, saved once as a local model directory (cached), so that the smoke profile runs the
    notebook end to end in seconds; its numbers mean nothing."""
    from unlearnlab.core.models import ModelSize, build_llama
    from unlearnlab.core.tokenizer import train_tokenizer
    from unlearnlab.data import english

    size = ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64, max_len=256)

    def make(tmp: Path) -> None:
        probes = cx.concept_probes(concept)
        texts = [f"{p.prompt} {p.qa.answer} {concept.refusal}" for p in probes] + english.corpus(50, 0)
        tokenizer = train_tokenizer(texts, vocab_size=300)
        build_llama(size, len(tokenizer), tokenizer, seed=0).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    key = {"concept": concept, "size": size}
    return Artifact(session.paths.artifacts, "concept_model", TINY_MODEL, key).build(make)


def setup(session: Session, cfg: ConceptConfig, concept: cx.ConceptSpec | None = None) -> ConceptSetup:
    """Load the model, build the probes and get (cached) the base model's answers to all of them."""
    from unlearnlab.core.real_model import load_real_model

    concept = concept or cx.get_concept(cfg.name)
    cfg = replace(cfg, bf16=cfg.bf16 and session.profile.real_bf16)  # real_bf16 off: all float32
    name = str(tiny_model_dir(session, concept)) if cfg.model == TINY_MODEL else cfg.model
    model, tokenizer = load_real_model(name, device=session.device)
    probes = cx.concept_probes(concept)
    key = {"concept": concept, "model": cfg.model, "max_new_tokens": cfg.max_new_tokens,
           "bf16": uses_bf16(session, cfg)}

    def make(tmp: Path) -> None:
        info: dict = {}
        with timed(info, "generate"), bf16_autocast(uses_bf16(session, cfg), session.device):
            answers = generate(model, tokenizer, [p.qa for p in probes], cfg.max_new_tokens, batch_size=32)
        write_json_atomic(tmp / "answers.json", dict(zip([p.prompt for p in probes], answers)))
        write_json_atomic(tmp / "info.json", info)

    path = Artifact(session.paths.artifacts, "concept_base", f"{concept.name}_{cfg.model}", key).build(make)
    return ConceptSetup(session, cfg, concept, probes, model, tokenizer, read_json(path / "answers.json"))


# --------------------------------------------------------------------------------------------
# A setup as JSON-able arguments, for a training job (``core.jobs``)
# --------------------------------------------------------------------------------------------


def setup_args(s: ConceptSetup) -> dict[str, Any]:
    """What ``setup_from`` rebuilds ``s`` from (a launched job's arguments must be JSON): its
    config's fields and its concept's fields. Remembers ``s``, so that a job run in this process
    gets ``s`` itself back from ``setup_from``."""
    concept = json.loads(json.dumps(dataclasses.asdict(s.concept)))
    if concept_from(concept) != s.concept:
        raise ValueError(f"concept {s.concept.name!r} does not come back equal from JSON; build it with make_concept")
    args = {"cfg": as_args(s.cfg), "concept": concept}
    jobs.hand_over(s, "concept_setup", id(s.session), args)
    return args


def setup_from(session: Session, cfg: dict[str, Any], concept: dict[str, Any]) -> ConceptSetup:
    """The setup of ``setup_args``: in the process that called it, that very setup (its model and
    caches: a job run in the notebook's process makes exactly the calls it made before); in a
    process of ``accelerate launch``, a new ``setup`` (the model loaded, the base answers read
    from their artifact)."""
    return jobs.at_hand(lambda: setup(session, from_args(ConceptConfig, cfg), concept_from(concept)),
                        "concept_setup", id(session), {"cfg": cfg, "concept": concept})


def concept_from(fields: dict[str, Any]) -> cx.ConceptSpec:
    """The ``ConceptSpec`` of ``dataclasses.asdict(spec)`` read back from JSON (lists become
    tuples, facts ``Fact``: ``core.job_args`` rebuilds a nested config, not a tuple of them)."""
    def value(key: str, v: Any) -> Any:
        if key in ("neighbours", "unrelated"):
            return tuple(Fact(**{**f, "aliases": tuple(f["aliases"])}) for f in v)
        return tuple(v) if isinstance(v, list) else v
    return cx.ConceptSpec(**{k: value(k, v) for k, v in fields.items()})



def forget_train(s: ConceptSetup) -> list[cx.Probe]:
    """The concept prompts unlearning trains on (chat prompts of the configured kinds)."""
    return cx.select(s.probes, s.cfg.train_kinds, "train", chat=True)


def retain_train(s: ConceptSetup) -> list[cx.Probe]:
    return cx.select(s.probes, cx.RETAIN_KINDS, "train")
