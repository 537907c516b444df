"""FSDP2 for the shared training loop and the full-weight training jobs (issue 18, item 4: "FSDP for
models that do not fit one device").

accelerate 1.16 applies an FSDP config only to GPU-like devices; on CPU processes it silently trains DDP.
``core.distributed`` honours the config there (torch's FSDP2 shards over gloo too), so these tests run two
CPU processes that really hold half of every parameter each (``local_share``), and hold them to one
process within the tolerance of tests/test_ddp.py, 1e-5 absolute per logged loss (measured here: at most
1.9e-6, the float32 summation order of the gradient reduce-scatter). The jobs that merge adapters into
the weights, or evaluate on the main process alone, refuse FSDP2 in one line instead of hanging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from test_jobs import LOSS_TOLERANCE, _two_process_config
from test_jobs_rewrite_private import _setup

import unlearnlab
from unlearnlab.core import ddp_check, distributed, jobs
from unlearnlab.experiments.session import start

pytestmark = [pytest.mark.unit, pytest.mark.integration]

LAYER = "LlamaDecoderLayer"  # each decoder layer of the tiny Llama is one FSDP2 unit


def _max_diff(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "activation_checkpointing"])
def test_fsdp2_training_on_two_processes_follows_one_process_within_1e_5(tmp_path, monkeypatch, checkpointing):
    """``accelerate launch --config_file`` (FSDP2, two CPU processes; with and without the activation
    checkpointing of docs/several_gpus.md's 8-GPU config) of ``ddp_check``: each process held half the
    parameters while training, the loss curve and the gathered final parameters are the one-process
    run's within 1e-5, and the saved model is exactly the gathered parameters."""
    one = tmp_path / "one.json"
    ddp_check.main(["--out", str(one)])
    config = _two_process_config(tmp_path, monkeypatch, fsdp2_layer=LAYER)
    if checkpointing:
        config.write_text(config.read_text() + "  fsdp_activation_checkpointing: true\n")
    src = Path(unlearnlab.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    two = tmp_path / "two.json"
    done = subprocess.run(jobs.launcher_command(config, two)[:-2] + [
        "-m", "unlearnlab.core.ddp_check", "--accelerate", "--out", str(two), "--save", str(tmp_path / "model")],
        env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert (a["strategy"], b["strategy"], b["world_size"]) == ("one process", "FSDP2", 2)
    assert a["local_share"] == 1.0 and 0.45 < b["local_share"] < 0.55  # really sharded, not replicated
    assert (a["checkpointed_layers"], b["checkpointed_layers"]) == (0, 2 if checkpointing else 0)  # both layers
    assert a["tokens"] == b["tokens"] and a["losses"][-1] < a["losses"][0] - 1.0
    assert _max_diff(a["losses"], b["losses"]) <= LOSS_TOLERANCE
    saved = load_file(tmp_path / "model" / "model.safetensors")
    assert set(b["params"]) == set(a["params"])
    for name, values in a["params"].items():
        torch.testing.assert_close(torch.tensor(b["params"][name]), torch.tensor(values), rtol=0, atol=LOSS_TOLERANCE)
        assert torch.equal(saved[name].flatten(), torch.tensor(b["params"][name]))


@pytest.mark.parametrize("method", ["GradDiff", "RMU"])
def test_unlearning_methods_launched_with_fsdp2_follow_the_one_process_curve(tmp_path, monkeypatch, method):
    """A registry method (GradDiff; RMU with its frozen copy and activation hooks on the sharded layers)
    as a ``core.jobs`` job under FSDP2 on two processes: the one-process curve within 1e-5."""
    here = start("smoke", tmp_path / "root")
    jobs.launch(ddp_check.method_job, tmp_path / "one", here, method=method)
    config = _two_process_config(tmp_path, monkeypatch, fsdp2_layer=LAYER)
    launched = start("smoke", tmp_path / "root", {"accelerate_config": str(config)})
    jobs.launch(ddp_check.method_job, tmp_path / "two", launched, method=method)
    assert "2 processes, FSDP2" in (tmp_path / "two" / jobs.LOG_FILE).read_text()
    a, b = (json.loads((tmp_path / name / "curve.json").read_text()) for name in ("one", "two"))
    assert a["tokens"] == b["tokens"] and a["losses"][-1] < a["losses"][0]
    assert _max_diff(a["losses"], b["losses"]) <= LOSS_TOLERANCE


def test_a_full_fine_tune_rewrite_and_its_relearning_attack_launched_with_fsdp2(tmp_path, monkeypatch):
    """The rewrite study's full fine-tune (notebook 32's ``full_ft``) and the relearning attack that
    fine-tunes copies of it (FSDP2 refuses deepcopy: each copy is gathered whole, then sharded again)
    under FSDP2 on two processes: losses, measurements (every process evaluates: each forward is a
    collective) and the attack's curve are the one-process run's within 1e-5."""
    from unlearnlab.core.tiny_checkpoints import save_tiny
    from unlearnlab.experiments.rewrite import run as fr

    here = start("smoke", tmp_path / "one")
    cfg = fr.effective(here, replace(here.profile.rewrite, model=str(save_tiny("llama", tmp_path / "tiny")),
                                     variants=("full_ft",), relearn_variants=("full_ft",)))
    target = fr.targets(cfg)[0]
    setup_dir = _setup(tmp_path / "setup", cfg, target, fr.Lazy(here, cfg.model)()[0])
    one = json.loads((fr.run(here, cfg, target, "full_ft", 0, setup_dir) / "run.json").read_text())
    config = _two_process_config(tmp_path, monkeypatch, fsdp2_layer=LAYER)
    path = fr.run(start("smoke", tmp_path / "two", {"accelerate_config": str(config)}), cfg, target, "full_ft", 0,
                  setup_dir)
    assert "2 processes, FSDP2" in (path / jobs.LOG_FILE).read_text()
    two = json.loads((path / "run.json").read_text())
    assert _max_diff(one["losses"][0], two["losses"][0]) <= LOSS_TOLERANCE
    assert two["scores"] == pytest.approx(one["scores"], abs=LOSS_TOLERANCE)
    curves = [[row["logprob"] for row in r["relearn"]] for r in (one, two)]
    assert len(curves[0]) > 1 and _max_diff(*curves) <= LOSS_TOLERANCE


def test_the_sae_studys_rmu_baseline_launched_with_fsdp2_evaluates_on_every_process(tmp_path, monkeypatch):
    """The SAE study's real-model RMU baseline on the tiny Llama under FSDP2 (every process evaluates the
    suite: a forward pass on the main process alone would wait forever for the others' shards): it
    finishes and writes the one-process job's accuracies and per-question hits."""
    from unlearnlab.core.artifacts import read_json
    from unlearnlab.core.tiny_checkpoints import save_tiny
    from unlearnlab.experiments.sae import real

    overrides = {"sae.real_model": str(save_tiny("llama", tmp_path / "tiny")), "sae.real_facts": 4}
    one = read_json(real.baseline(start("smoke", tmp_path / "one", overrides), "RMU", 1e-3, 0) / "metrics.json")
    config = _two_process_config(tmp_path, monkeypatch, fsdp2_layer=LAYER)
    path = real.baseline(start("smoke", tmp_path / "two", {**overrides, "accelerate_config": str(config)}),
                         "RMU", 1e-3, 0)
    assert "2 processes, FSDP2" in (path / jobs.LOG_FILE).read_text()
    two = read_json(path / "metrics.json")
    assert set(one) == set(two) and one["forget_hits"] and one["steps"] == two["steps"] > 0
    assert {k: v for k, v in one.items() if k != "wall_s"} == pytest.approx(
        {k: v for k, v in two.items() if k != "wall_s"}, abs=LOSS_TOLERANCE)


def test_an_adapter_rewrite_under_fsdp2_stops_in_one_line_naming_the_fix(tmp_path, monkeypatch):
    from unlearnlab.core.tiny_checkpoints import save_tiny
    from unlearnlab.experiments.rewrite import run as fr

    config = _two_process_config(tmp_path, monkeypatch, fsdp2_layer=LAYER)
    session = start("smoke", tmp_path / "two", {"accelerate_config": str(config)})
    cfg = fr.effective(session, replace(session.profile.rewrite, model=str(save_tiny("llama", tmp_path / "tiny")),
                                        variants=("ia3_two_stage",)))
    target = fr.targets(cfg)[0]
    setup_dir = _setup(tmp_path / "setup", cfg, target, fr.Lazy(session, cfg.model)()[0])
    with pytest.raises(jobs.JobFailed, match="cannot run under FSDP2.*DDP accelerate config") as err:
        fr.run(session, cfg, target, "ia3_two_stage", 0, setup_dir)
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "two" / "artifacts").glob("rewrite_run/*/run.json"))


def test_an_fsdp_config_on_cpu_processes_is_honoured_and_nothing_changes_without_one(monkeypatch):
    """``_fsdp_on_cpu`` switches a CPU accelerator to FSDP2 only when the launcher asked for FSDP."""
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    state = SimpleNamespace(distributed_type=DistributedType.MULTI_CPU, fsdp_plugin=None)
    fake = SimpleNamespace(state=state, distributed_type=DistributedType.MULTI_CPU)
    monkeypatch.setitem(PartialState._shared_state, "distributed_type", DistributedType.MULTI_CPU)  # restored after
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    distributed._fsdp_on_cpu(fake)
    assert state.distributed_type == DistributedType.MULTI_CPU and state.fsdp_plugin is None
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", "2")
    distributed._fsdp_on_cpu(fake)
    assert state.distributed_type == DistributedType.FSDP and state.fsdp_plugin.fsdp_version == 2
    assert PartialState._shared_state["distributed_type"] == DistributedType.FSDP
    fake.distributed_type = DistributedType.MULTI_GPU  # on GPUs accelerate itself applies the config
    state.fsdp_plugin = None
    distributed._fsdp_on_cpu(fake)
    assert state.fsdp_plugin is None
