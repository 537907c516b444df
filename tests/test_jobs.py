"""Training jobs (``core.jobs``): a study's training step runs in the notebook's process, or under
``accelerate launch`` when the profile names an accelerate config (issue 18, item 4).

The two-process test launches a registry method (GradDiff, through its own samplers) exactly as a study
launches its job, and requires the one-process loss curve within 1e-5 absolute per step (the tolerance
of tests/test_ddp.py: float32 all-reduce changes the summation order, nothing more).
"""

from __future__ import annotations

import gc
import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unlearnlab.core import ddp_check, distributed, jobs
from unlearnlab.core.batching import TokenSet
from unlearnlab.experiments.session import start

pytestmark = pytest.mark.unit

LOSS_TOLERANCE = 1e-5

# Two CPU processes: accelerate's `use_cpu: true` (and `--cpu`) starts a single process, so the config
# says MULTI_GPU and the environment ACCELERATE_USE_CPU=true puts torchrun's processes on the CPU (gloo)
CPU_TWO_PROCESSES = """compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_machines: 1
num_processes: 2
machine_rank: 0
mixed_precision: 'no'
rdzv_backend: static
same_network: true
main_process_port: {port}
"""


# The same two CPU processes with FSDP2 full sharding: accelerate ignores an FSDP config on CPU
# processes, core.distributed honours it (`_fsdp_on_cpu`); each decoder layer is one FSDP unit
FSDP2_SETTINGS = """fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_transformer_layer_cls_to_wrap: {layer}
  fsdp_reshard_after_forward: true
  fsdp_state_dict_type: FULL_STATE_DICT
  fsdp_offload_params: false
  fsdp_cpu_ram_efficient_loading: false
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_process_config(tmp_path: Path, monkeypatch, fsdp2_layer: str | None = None) -> Path:
    """An accelerate config for two CPU processes: DDP, or FSDP2 sharding each ``fsdp2_layer``."""
    config = tmp_path / "cpu2.yaml"
    text = CPU_TWO_PROCESSES.format(port=_free_port())
    if fsdp2_layer:
        text = text.replace("distributed_type: MULTI_GPU", "distributed_type: FSDP")
        text += FSDP2_SETTINGS.format(layer=fsdp2_layer)
    config.write_text(text)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no user accelerate config applies
    return config


def _recording_job(out: Path, session, **kwargs) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "called.json").write_text(json.dumps({"session_id": id(session), **kwargs}))


def test_without_an_accelerate_config_the_job_runs_here_with_the_notebooks_session(tmp_path):
    session = start("smoke", tmp_path / "root")
    jobs.launch(_recording_job, tmp_path / "out", session, seed=3)
    called = json.loads((tmp_path / "out" / "called.json").read_text())
    assert called == {"session_id": id(session), "seed": 3}
    assert not (tmp_path / "out" / jobs.SPEC_FILE).exists()  # no launcher involved


def test_a_missing_accelerate_config_is_one_line_naming_the_file_and_nothing_is_written(tmp_path):
    session = start("smoke", tmp_path / "root", {"accelerate_config": str(tmp_path / "nope.yaml")})
    with pytest.raises(FileNotFoundError, match="nope.yaml not found") as err:
        jobs.launch(ddp_check.method_job, tmp_path / "out", session)
    assert "\n" not in str(err.value) and "accelerate config" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_an_object_handed_over_comes_back_itself_and_a_missing_one_is_built_and_freed_with_its_holders():
    class World:
        pass

    mine = World()
    jobs.hand_over(mine, "world", "/data/w1", {"seed": 3})
    assert jobs.at_hand(World, "world", "/data/w1", {"seed": 3}) is mine  # the caller's own object
    built = jobs.at_hand(World, "world", "/data/w2", {"seed": 3})  # a launched process builds its own
    assert built is not mine and jobs.at_hand(World, "world", "/data/w2", {"seed": 3}) is built
    del mine, built
    gc.collect()
    assert not [k for k in jobs._AT_HAND if "/data/w" in k]  # weak: nothing kept once nobody holds it


def test_a_job_must_be_importable_by_the_launched_processes():
    def local_job(out, session):
        pass
    with pytest.raises(ValueError, match="module-level function"):
        jobs.function_path(local_job)
    assert jobs.resolve(jobs.function_path(ddp_check.method_job)) is ddp_check.method_job


def test_a_sampler_gives_each_launched_process_its_part_of_the_global_batch():
    data = TokenSet(prompts=[[] for _ in range(8)], answers=[[i + 3, i + 4] for i in range(8)])
    whole = next(data.sampler(4, torch.Generator().manual_seed(0)))["input_ids"]
    for rank in (0, 1):
        fake = SimpleNamespace(num_processes=2, process_index=rank, is_main_process=rank == 0,
                               distributed_type=None, is_fsdp2=False, device=torch.device("cpu"))
        with distributed.scaled_out(fake):
            part = next(data.sampler(4, torch.Generator().manual_seed(0)))["input_ids"]
        assert torch.equal(part, whole[2 * rank: 2 * rank + 2])


@pytest.mark.integration
def test_a_method_job_launched_on_two_processes_follows_the_one_process_curve_within_1e_5(tmp_path, monkeypatch):
    """GradDiff on the tiny Llama through ``jobs.launch``: in this process, then under ``accelerate
    launch`` with two CPU processes (each half of every global batch of 8 rows): the logged losses agree
    within 1e-5 at every step, the same tokens are trained on, and the job wrote its result once."""
    here = start("smoke", tmp_path / "root")
    jobs.launch(ddp_check.method_job, tmp_path / "one", here)
    config = _two_process_config(tmp_path, monkeypatch)
    launched = start("smoke", tmp_path / "root", {"accelerate_config": str(config)})
    jobs.launch(ddp_check.method_job, tmp_path / "two", launched)
    a, b = (json.loads((tmp_path / name / "curve.json").read_text()) for name in ("one", "two"))
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["tokens"] == b["tokens"] == 12 * 2 * 8 * 16  # steps x (forget + retain) x rows x tokens
    assert a["losses"][-1] < a["losses"][0] - 0.5  # the curve moves, so parted curves would show
    diffs = [abs(x - y) for x, y in zip(a["losses"], b["losses"], strict=True)]
    assert max(diffs) <= LOSS_TOLERANCE, f"loss curves differ by up to {max(diffs):.2e}"


@pytest.mark.integration
def test_a_failed_launched_job_is_one_line_with_the_cause_and_the_log(tmp_path, monkeypatch):
    config = _two_process_config(tmp_path, monkeypatch)
    session = start("smoke", tmp_path / "root", {"accelerate_config": str(config)})
    with pytest.raises(jobs.JobFailed, match="failed under accelerate launch") as err:
        jobs.launch(ddp_check.method_job, tmp_path / "out", session, method="NoSuchMethod")
    message = str(err.value)
    assert "\n" not in message and "NoSuchMethod" in message
    assert (tmp_path / "out" / jobs.LOG_FILE).is_file() and not (tmp_path / "out" / "curve.json").exists()
    assert os.environ["ACCELERATE_USE_CPU"] == "true"
