"""The concept study's masked LoRA runs and the SAE study's real-model SAE as training jobs
(``core.jobs``, issue 18 item 4): each launched on two CPU processes (``accelerate launch``,
gloo) on the smoke profile's smallest setting, and the concept setup's JSON-able job arguments.

What could fail: the launched job must write the artifact's files from one process, with finite
numbers, an adapter (or SAE) that moved from its initialisation, and a launcher spec next to them
(so the run went through ``accelerate launch``, not the in-process path).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from test_jobs import _two_process_config

from unlearnlab.core import jobs
from unlearnlab.core.artifacts import read_json
from unlearnlab.core.tiny_checkpoints import save_tiny
from unlearnlab.data import concepts as cx
from unlearnlab.experiments.concept import run
from unlearnlab.experiments.concept.localize import localize_concept
from unlearnlab.experiments.concept.setup import concept_from, setup, setup_args, setup_from
from unlearnlab.experiments.sae import real
from unlearnlab.experiments.session import start

pytestmark = pytest.mark.integration


def _concept_setup(session):
    return setup(session, replace(session.profile.concept, name="Inception"))


def test_a_concept_setup_round_trips_through_its_json_job_arguments(tmp_path):
    """In its own process the job gets the notebook's setup back (the very object: same calls as
    before); in a fresh session (a launched process) an equal one is rebuilt from the arguments."""
    session = start("smoke", tmp_path / "root")
    cfg = replace(session.profile.concept, name="Inception", seeds=(0, 1), variant_lrs=(("lora", 1e-3),), budget=1)
    s = setup(session, cfg)
    args = json.loads(json.dumps(setup_args(s)))
    assert setup_from(session, **args) is s
    twin = setup(session, cfg)  # an equal setup: the job gets the one whose arguments were taken last
    assert setup_from(session, **json.loads(json.dumps(setup_args(twin)))) is twin
    again = setup_from(start("smoke", tmp_path / "root"), **args)
    assert again is not s and (again.cfg, again.concept, again.base_answers) == (s.cfg, s.concept, s.base_answers)
    assert isinstance(again.cfg.budget, float) and again.cfg.variant_lrs == (("lora", 1e-3),)
    custom = cx.make_concept("Jaws", director="Steven Spielberg", star="Roy Scheider", year="1975",
                             logline="a shark terrorises a beach town", plot_words=["shark"], themes=["a shark"],
                             neighbours=["Jurassic Park"], distractors=["James Cameron"], other_titles=["Alien"])
    assert concept_from(json.loads(json.dumps(dataclasses.asdict(custom)))) == custom


def _finite(values) -> bool:
    return all(math.isfinite(v) for v in values)


def test_a_masked_lora_run_launched_on_two_processes_writes_a_trained_adapter_and_its_metrics(tmp_path, monkeypatch):
    config = _two_process_config(tmp_path, monkeypatch)
    session = start("smoke", tmp_path / "root", {"accelerate_config": str(config)})
    s = _concept_setup(session)
    localize_concept(s, s.cfg.reference_localizer)  # run_grid's first step: the mask the variant trains in
    path = run.run_variant(s, s.cfg.reference_variant, 0)
    assert (path / jobs.SPEC_FILE).is_file()  # through accelerate launch
    train = read_json(path / "train.json")
    assert train["steps"] == s.cfg.steps and _finite(train["losses"]) and train["trainable"] > 0
    metrics = read_json(path / "metrics.json")
    assert math.isfinite(metrics["general_ce"]) and len(read_json(path / "answers.json")) > 0
    curve = read_json(path / "relearn.json")
    assert [r["step"] for r in curve] == list(range(s.cfg.relearn_steps + 1))
    adapter = load_file(str(path / "adapter" / "adapter_model.safetensors"))
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    assert lora_b and any(bool(t.abs().sum() > 0) for t in lora_b)  # B starts at zero: it trained


def test_the_real_model_sae_launched_on_two_processes_writes_a_trained_sae_and_its_sweep(tmp_path, monkeypatch):
    model_dir = save_tiny("llama", tmp_path / "tiny")
    config = _two_process_config(tmp_path, monkeypatch)
    session = start("smoke", tmp_path / "root", {"accelerate_config": str(config), "sae.real_model": str(model_dir),
                                                  "sae.real_facts": 4})
    path = real.sae_run(session)
    assert (path / jobs.SPEC_FILE).is_file()  # through accelerate launch
    info = read_json(path / "info.json")
    assert info["n_known_forget"] and info["n_known_side"], "the tiny model knows no question: nothing to train"
    sweep = read_json(path / "sweep.json")
    assert sweep and all(_finite(v for v in row.values() if isinstance(v, float)) for row in sweep)
    saved = read_json(path / "sae_config.json")
    assert _finite(saved["metrics"][k] for k in ("mse", "explained_variance", "delta_loss"))
    losses = [row["loss"] for row in saved["curve"]]
    assert len(losses) >= 2 and _finite(losses) and losses[-1] < losses[0]  # the SAE trained
    assert all(bool(torch.isfinite(t).all()) for t in load_file(str(path / "sae.safetensors")).values())


def _pooled_runs(tmp_path, monkeypatch, overrides: dict) -> list:
    """The (variant, seed) jobs ``run_grid`` hands to worker processes (localization and runs stubbed)."""
    session = start("smoke", tmp_path / "root", overrides)
    s = setup(session, replace(session.profile.concept, name="Inception", workers=2))
    pooled: list = []
    monkeypatch.setattr(run, "localize_concept", lambda *a: None)
    monkeypatch.setattr(run, "_run_or_localize", lambda *a: None)
    monkeypatch.setattr(run, "results", lambda s: None)
    monkeypatch.setattr(run, "map_jobs", lambda fn, todo, *a, **k: pooled.extend(todo))
    monkeypatch.setattr(run.os, "cpu_count", lambda: 2)  # a pool needs two cores
    run.run_grid(s)
    return pooled


def test_concept_runs_go_to_worker_processes_on_a_cpu_but_in_turn_with_an_accelerate_config(tmp_path, monkeypatch):
    assert len(_pooled_runs(tmp_path, monkeypatch, {})) > 1
    assert _pooled_runs(tmp_path, monkeypatch, {"accelerate_config": str(tmp_path / "cpu2.yaml")}) == []
