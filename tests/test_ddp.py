"""Scale-out of the shared training loop on accelerate (issue 18, item 4; ``core.distributed``).

Two promises: one process trains exactly as before (bit for bit, against a copy of the loop as it was
before the hook), and two data-parallel processes with half the batch each follow the one-process loss
curve of the same global batch. The tolerance, 1e-5 in the loss (absolute), is ten times the largest
difference measured (9.5e-7 = 2 float32 ulps at a loss of 4: summation order, over 5 seeds x 30 steps and
one run of 150 steps); training without the gradient all-reduce parts the curves by 0.6, logging one
process's half-batch loss instead of the mean by 0.2.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import unlearnlab
from conftest import TINY
from unlearnlab.core import ddp_check, distributed
from unlearnlab.core.models import build_llama
from unlearnlab.core.precision import cpu_training_attention
from unlearnlab.core.training import TrainConfig, lr_at, train

pytestmark = pytest.mark.unit

LOSS_TOLERANCE = 1e-5


def _old_train(model, step_loss, cfg: TrainConfig, params=None, on_eval=None) -> tuple[list[float], int, bool]:
    """``core.training.train`` before the scale-out hook, verbatim minus tqdm, compile and phase timing."""
    with cpu_training_attention(model, cfg.bf16, next(model.parameters()).device):
        return _old_loop(model, step_loss, cfg, params, on_eval)


def _old_loop(model, step_loss, cfg: TrainConfig, params, on_eval) -> tuple[list[float], int, bool]:
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95), fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, cfg))
    losses, tokens, stopped = [], 0, False
    model.train()
    for step in range(cfg.steps):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss, n_tokens = step_loss(model, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        tokens += int(n_tokens)
        losses.append(float(loss.detach()))
        last = step == cfg.steps - 1
        if on_eval is not None and cfg.eval_every and ((step + 1) % cfg.eval_every == 0 or last):
            model.eval()
            stop = on_eval(step + 1, model)
            model.train()
            if stop:
                stopped = not last
                break
    model.eval()
    return losses, tokens, stopped


def _batches(vocab: int):
    gen = torch.Generator().manual_seed(0)

    def step_loss(fwd, step):
        ids = torch.randint(3, vocab, (4, 12), generator=gen)
        return fwd(input_ids=ids, labels=ids).loss, ids.numel()
    return step_loss


@pytest.mark.parametrize("bf16,clip,weight_decay,mlp_only", [(False, 1.0, 0.0, False), (True, 1.0, 0.1, True),
                                                              (False, 0.0, 0.1, True), (True, 0.0, 0.0, False)])
def test_one_process_training_is_the_old_loop_bit_for_bit(bf16, clip, weight_decay, mlp_only):
    """Without ``scaled_out`` the hooked loop computes what the loop before the hook computed: the same
    losses, tokens, early stop and final parameters, compared with ``==`` (no tolerance)."""
    assert distributed.current() is None
    cfg = TrainConfig(steps=9, lr=3e-3, bf16=bf16, grad_clip=clip, weight_decay=weight_decay, eval_every=4)
    models = [build_llama(TINY, 64, seed=1) for _ in range(2)]
    params = [[p for n, p in m.named_parameters() if "mlp" in n] if mlp_only else None for m in models]
    log = train(models[0], _batches(64), cfg, params=params[0], on_eval=lambda s, m: s >= 8)
    old = _old_train(models[1], _batches(64), cfg, params=params[1], on_eval=lambda s, m: s >= 8)
    assert (log.losses, log.tokens, log.stopped_early) == old
    assert log.steps == 8 and log.stopped_early
    for new, ref in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(new, ref)


def _fake_accelerator(rank: int, world: int, fsdp1: bool = False) -> SimpleNamespace:
    from accelerate.utils import DistributedType
    kind = DistributedType.FSDP if fsdp1 else DistributedType.MULTI_CPU
    return SimpleNamespace(num_processes=world, process_index=rank, is_main_process=rank == 0,
                           distributed_type=kind, is_fsdp2=False, device=torch.device("cpu"))


def test_shard_gives_each_process_its_equal_part_and_refuses_an_uneven_batch():
    assert list(distributed.shard(range(8))) == list(range(8))
    with distributed.scaled_out(_fake_accelerator(rank=1, world=2)):
        assert list(distributed.shard(range(8))) == [4, 5, 6, 7]
        assert not distributed.is_main() and distributed.world_size() == 2
        with pytest.raises(ValueError, match="divisible by 2"):
            distributed.shard(range(7))
    assert distributed.current() is None and distributed.is_main()


def test_fsdp1_is_refused_with_the_setting_that_fixes_it():
    with pytest.raises(ValueError, match="fsdp_version: 2"):
        with distributed.scaled_out(_fake_accelerator(rank=0, world=2, fsdp1=True)):
            pass
    assert distributed.current() is None


def test_ddp_check_launched_without_accelerate_stops_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit, match="pass --accelerate"):
        ddp_check.main(["--out", str(tmp_path / "curve.json"), "--steps", "1"])
    assert not list(tmp_path.iterdir())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_two_process_ddp_training_matches_one_process_loss_curve_within_1e_5(tmp_path):
    """``accelerate launch`` with two CPU processes (gloo), each on half of a global batch of 8 rows, logs
    (as the mean of the two halves' losses) the one-process loss curve of the same batches within
    1e-5 absolute at every one of 30 steps, trains on the same number of tokens (the batch is split,
    not repeated), and the main process saves the trained model."""
    one = tmp_path / "one.json"
    ddp_check.main(["--out", str(one)])
    src = Path(unlearnlab.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
           "ACCELERATE_USE_CPU": "true",  # torchrun's processes on the CPU: gloo (accelerate's --cpu starts one)
           "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}  # no user accelerate config applies
    two = tmp_path / "two.json"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "unlearnlab.core.ddp_check", "--accelerate",
           "--out", str(two), "--save", str(tmp_path / "model")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["tokens"] == b["tokens"] == 8 * 32 * 30
    assert a["losses"][-1] < a["losses"][0] - 1.0  # the curve moves, so parted curves would show
    diffs = [abs(x - y) for x, y in zip(a["losses"], b["losses"], strict=True)]
    assert max(diffs) <= LOSS_TOLERANCE, f"loss curves differ by up to {max(diffs):.2e}"
    saved = load_file(tmp_path / "model" / "model.safetensors")  # written once, by the main process
    for name, values in a["params"].items():
        torch.testing.assert_close(torch.tensor(b["params"][name]), torch.tensor(values), rtol=0, atol=1e-5)
        assert torch.equal(saved[name].flatten(), torch.tensor(b["params"][name]))
