"""Real-tier training jobs through ``core.jobs`` (issue 18, item 4): the fact rewrite's run (notebook 32)
and the private-records real tier's LoRA fine-tune and unlearning (notebook 35) run in the notebook's
process, or under ``accelerate launch`` when the profile names an accelerate config.

The launched tests use two CPU processes (``test_jobs._two_process_config``) on tiny random Llamas and
hold the launched rewrite run and base fine-tune to the one-process ones: every process draws the same
whole batch from ``facts.answer_batches`` / ``grouped_sampler`` (those samplers are not sharded; the
smoke profile trains the private tier's notes, so its fine-tune batches through ``grouped_sampler``),
so the all-reduced gradient is the one-process gradient and the logged losses agree within 1e-5. (That
the all-reduce happens at all is tests/test_jobs.py's check, on sharded batches.)
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from test_jobs import LOSS_TOLERANCE, _two_process_config

from unlearnlab.core import jobs
from unlearnlab.core.job_args import as_args, from_args
from unlearnlab.data import facts as fx
from unlearnlab.experiments.rewrite import run as fr
from unlearnlab.experiments.rewrite.config import RewriteConfig
from unlearnlab.experiments.session import start

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------------------------
# Config dataclasses as JSON-able job arguments
# --------------------------------------------------------------------------------------------


def test_a_config_comes_back_equal_from_its_job_arguments():
    cfg = replace(RewriteConfig(), targets=(("Atlantis", "capital", "Poseidonia", None),), relearn_lrs=(1.0, 2e-5),
                  localize_prompts=None)
    args = json.loads(json.dumps(as_args(cfg)))  # what a launched process reads
    assert from_args(RewriteConfig, args) == cfg
    assert from_args(fr.Target, as_args(fr.Target("France", "capital", "Lyon", new_aliases=("Lyons",)))) == \
        fr.Target("France", "capital", "Lyon", new_aliases=("Lyons",))


def test_a_config_json_cannot_carry_is_refused_in_one_line():
    with pytest.raises(ValueError, match="cannot travel to a launched job") as err:
        as_args(replace(RewriteConfig(), model=Path("/somewhere")))
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------------------------
# The fact rewrite: run_grid's dispatch, and one run launched on two processes
# --------------------------------------------------------------------------------------------


def _known() -> pd.DataFrame:
    """Every capital and symbol fact marked known (a tiny random model knows none)."""
    return pd.DataFrame([{"subject": f.subject, "relation": f.relation, "object": f.object, "known": True}
                         for f in fx.FACTS if f.relation in ("capital", "symbol")])


def _grid_calls(tmp_path: Path, monkeypatch, overrides: dict) -> tuple[list, list]:
    """run_grid with probe and setup stubbed: (runs called here, runs handed to map_jobs)."""
    session = start("smoke", tmp_path / "root", overrides)
    here, pooled = [], []
    monkeypatch.setattr(fr, "probe", lambda *a: _known())
    monkeypatch.setattr(fr, "setup", lambda s, c, t, *a: tmp_path / f"setup_{t.subject}")
    monkeypatch.setattr(fr, "run", lambda s, c, t, v, seed, d: here.append((t.subject, v, seed)) or d)
    monkeypatch.setattr(fr, "map_jobs",
                        lambda fn, todo, device: pooled.extend((j[2].subject, j[3], j[4]) for j in todo))
    monkeypatch.setattr(fr.Lazy, "__call__", lambda self: None)
    fr.run_grid(session, session.profile.rewrite)
    return here, pooled


def test_rewrite_runs_go_to_worker_processes_in_process_and_one_launch_each_with_an_accelerate_config(
        tmp_path, monkeypatch):
    cfg = start("smoke", tmp_path / "root").profile.rewrite
    grid = [(fr.Target(*t).subject, v, s) for t in cfg.targets for v in cfg.variants for s in cfg.seeds]
    assert len(grid) > 1
    assert _grid_calls(tmp_path, monkeypatch, {}) == ([], grid)
    assert _grid_calls(tmp_path, monkeypatch, {"accelerate_config": str(tmp_path / "cpu2.yaml")}) == (grid, [])


def _setup(directory: Path, cfg: RewriteConfig, target: fr.Target, model) -> Path:
    """A setup as ``fr.setup`` writes what a run reads (the tiny model's random answers would leave
    the localizer no usable prompt): one control per kind, answers in the facts' own words, and the
    first four linear modules as the localized ones."""
    from unlearnlab.localization.modules import linear_modules

    fact = target.fact()
    controls = [f for f in fx.FACTS if f.relation == "capital" and f.subject != fact.subject][:1]
    controls += [f for f in fx.FACTS if f.relation == "symbol"][:1]
    spec = fx.rewrite_spec(fact, target.new_object, controls, n_control_paraphrases=2)
    said = f"The capital of {fact.subject} is {fact.object}."
    directory.mkdir()
    (directory / "setup.json").write_text(json.dumps({
        "controls": [{"subject": c.subject, "relation": c.relation, "object": c.object, "aliases": list(c.aliases)}
                     for c in controls],
        "own_answers": {"train": [said] * len(spec.f1_train), "test": [said] * len(spec.f1_test)},
        "f2_train_answers": [p.answer for p in spec.f2_train], "modules": linear_modules(model)[:cfg.k]}))
    return directory


@pytest.mark.integration
def test_a_rewrite_run_launched_on_two_processes_follows_the_one_process_run(tmp_path, monkeypatch):
    """(IA)³ two-stage rewrite and its relearning attack on a tiny Llama: in this process (root ``one``),
    then as an artifact whose job runs under ``accelerate launch`` with two CPU processes (root ``two``,
    the same setup): the same stage losses, relearning curve and measurements within 1e-5."""
    from unlearnlab.core.tiny_checkpoints import save_tiny

    model_dir = save_tiny("llama", tmp_path / "tiny")
    here = start("smoke", tmp_path / "one")
    cfg = fr.effective(here, replace(here.profile.rewrite, model=str(model_dir), variants=("ia3_two_stage",)))
    target = fr.targets(cfg)[0]
    assert "ia3_two_stage" in cfg.relearn_variants  # the job trains twice: the rewrite, then the attack
    setup_dir = _setup(tmp_path / "setup", cfg, target, fr.Lazy(here, cfg.model)()[0])
    one = json.loads((fr.run(here, cfg, target, "ia3_two_stage", 0, setup_dir) / "run.json").read_text())

    config = _two_process_config(tmp_path, monkeypatch)
    launched = start("smoke", tmp_path / "two", {"accelerate_config": str(config)})
    path = fr.run(launched, cfg, target, "ia3_two_stage", 0, setup_dir)
    two = json.loads((path / "run.json").read_text())
    assert (path / jobs.LOG_FILE).is_file() and not (setup_dir.parent / jobs.LOG_FILE).exists()

    assert set(one) == set(two) and len(one["losses"]) == 2  # unlearn F1, then learn F2
    for a, b in zip(one["losses"], two["losses"], strict=True):
        assert a and max(abs(x - y) for x, y in zip(a, b, strict=True)) <= LOSS_TOLERANCE
    curves = [[row["logprob"] for row in r["relearn"]] for r in (one, two)]
    assert len(curves[0]) > 1 and max(abs(x - y) for x, y in zip(*curves, strict=True)) <= LOSS_TOLERANCE
    scores = two["scores"]  # measured by the main process alone, on the same weights
    assert scores and all(math.isfinite(v) for v in scores.values())
    assert scores == pytest.approx(one["scores"], abs=LOSS_TOLERANCE)


# --------------------------------------------------------------------------------------------
# Private records, real tier: the LoRA fine-tune and unlearning launched on two processes
# --------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("fsdp2_layer", [None, "LlamaDecoderLayer"], ids=["ddp", "fsdp2"])
def test_private_real_finetune_and_unlearning_launched_on_two_processes(tmp_path, monkeypatch, fsdp2_layer):
    """The base's LoRA fine-tune and GradDiff on its adapter, each an artifact whose job runs under
    ``accelerate launch`` with two CPU processes (DDP, or FSDP2 sharding each decoder layer): the base's
    loss is the one-process job's within 1e-5, its adapter moved from LoRA's zero start (under FSDP2 the
    saved adapter is the one-process adapter within 1e-5: gathered whole), and unlearning changed it again."""
    from unlearnlab.core.models import ModelSize, build_llama, save_model
    from unlearnlab.experiments.private import real as rr
    from unlearnlab.experiments.private import run as pr

    config = _two_process_config(tmp_path, monkeypatch, fsdp2_layer)
    session = start("smoke", tmp_path / "root", {"accelerate_config": str(config)})
    world = pr.load_world(session)
    model_dir = tmp_path / "tiny"
    save_model(build_llama(ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64), len(world.tokenizer),
                           world.tokenizer, seed=0), world.tokenizer, model_dir)
    cfg = rr.real_config(session, str(model_dir))
    split = rr.real_split(world, cfg)

    base_dir = rr.finetune(session, world, cfg, split, "base")
    assert (base_dir / jobs.LOG_FILE).is_file()  # it went through the launcher
    two = json.loads((base_dir / "metrics.json").read_text())
    here = start("smoke", tmp_path / "root")
    rr.finetune_job(tmp_path / "one", here, world=str(world.directory), cfg=as_args(cfg), clients=split.members,
                    kind="base", seed=0)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert two["steps"] == one["steps"] == cfg.real_steps and math.isfinite(two["final_loss"])
    assert abs(two["final_loss"] - one["final_loss"]) <= LOSS_TOLERANCE

    base = load_file(base_dir / "adapter" / "adapter_model.safetensors")
    lora_b = [v for k, v in base.items() if "lora_B" in k]
    assert lora_b and any(v.abs().max() > 0 for v in lora_b)  # LoRA starts with B = 0: it trained
    alone = load_file(tmp_path / "one" / "adapter" / "adapter_model.safetensors")
    assert set(alone) == set(base) and all(torch.allclose(alone[k], base[k], rtol=0, atol=LOSS_TOLERANCE) for k in base)
    assert ("FSDP2" in (base_dir / jobs.LOG_FILE).read_text()) == bool(fsdp2_layer)

    path = rr.unlearn(session, world, cfg, split, base_dir, "GradDiff", 1e-3, 0)
    assert (path / jobs.LOG_FILE).is_file()
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["steps"] == cfg.real_unlearn_steps
    after = load_file(path / "adapter" / "adapter_model.safetensors")
    assert set(after) == set(base) and any(not torch.equal(base[k], after[k]) for k in base)


@pytest.mark.integration
def test_private_real_relearning_attack_launched_on_two_processes_returns_the_in_process_row(tmp_path, monkeypatch):
    """The real tier's relearning attack (a results-store row, ``jobs.result_of``) on a tiny model's
    adapter: run in this process, then under ``accelerate launch`` with two CPU processes (each its part
    of every attack batch): the same before/after values and curve within 1e-5, and no scratch left."""
    from unlearnlab.core.models import ModelSize, build_llama, save_model
    from unlearnlab.experiments.private import real as rr
    from unlearnlab.experiments.private import run as pr

    here = start("smoke", tmp_path / "root")
    world = pr.load_world(here)
    model_dir = tmp_path / "tiny"
    save_model(build_llama(ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64), len(world.tokenizer),
                           world.tokenizer, seed=0), world.tokenizer, model_dir)
    cfg = replace(rr.real_config(here, str(model_dir)), real_batch_size=2)  # splits over 2 processes
    split = rr.real_split(world, cfg)
    attacked, others = rr.relearn_split(split.forget, 0)
    assert attacked and others
    base_dir = rr.finetune(here, world, cfg, split, "base")
    args = {**rr._world_args(world, cfg), "attacked": list(attacked), "others": list(others),
            "model_dir": str(base_dir), "seed": 0}
    one = jobs.result_of(rr.relearn_job, here, **args)
    launches: list = []
    real_launcher = jobs.run_launcher
    monkeypatch.setattr(jobs, "run_launcher", lambda *a: launches.append(a) or real_launcher(*a))
    config = _two_process_config(tmp_path, monkeypatch)
    two = jobs.result_of(rr.relearn_job, start("smoke", tmp_path / "root", {"accelerate_config": str(config)}),
                         **args)
    assert len(launches) == 1 and set(one) == set(two)
    assert len(one["curve"]) == len(cfg.real_relearn_lrs) * 2  # before and after, per learning rate
    for a, b in zip(one["curve"], two["curve"], strict=True):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= LOSS_TOLERANCE for k in a)
    assert not list((tmp_path / "root" / "artifacts").glob(".job_*"))
