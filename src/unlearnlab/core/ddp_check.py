"""Does the shared training loop give the same loss curve data-parallel as in one process?

Trains the tiny random Llama (``core.tiny_checkpoints``) for ``--steps`` steps on a fixed synthetic token
stream (step ``s`` draws its global batch of ``--batch`` rows from a generator seeded with ``seed + s``),
through ``core.training.train``, and writes the logged losses (under ``--accelerate``: the mean over
processes of each one's half-batch loss) and the final parameters to ``--out``::

    python -m unlearnlab.core.ddp_check --out one.json
    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no -m unlearnlab.core.ddp_check --accelerate --out two.json

With an accelerate config that says ``distributed_type: FSDP`` (``fsdp_version: 2``) the same check runs
FSDP2 (on CPU processes too: ``distributed._fsdp_on_cpu``); the JSON then says ``"strategy": "FSDP2"``
and the main process's ``local_share`` of the parameters is about 1 / the number of processes::

    ACCELERATE_USE_CPU=true accelerate launch --config_file cpu_fsdp2.yaml \\
        -m unlearnlab.core.ddp_check --accelerate --out fsdp2.json

Every row has the same number of tokens (no padding), so each process's mean loss weighs its rows as the
global mean does and DDP's averaged gradient is the global batch's gradient: the curves differ only by
float32 summation order. (accelerate 1.16's ``--cpu`` starts one process on one machine unless MPI is
set up; ``--multi_gpu`` with ``ACCELERATE_USE_CPU=true`` starts torchrun's processes on the CPU, gloo.)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from unlearnlab.core import distributed
from unlearnlab.core.tiny_checkpoints import tiny_model
from unlearnlab.core.training import TrainConfig, TrainLog, train

if TYPE_CHECKING:
    from unlearnlab.experiments.session import Session


def global_batch(step: int, batch: int, seq_len: int, vocab: int, seed: int) -> torch.Tensor:
    """The token ids of step ``step``'s global batch, identical in every process: rows counting up from
    a random start by a random stride of 1-4 (learnable, so the loss falls and the curves can part)."""
    gen = torch.Generator().manual_seed(seed + step)
    start = torch.randint(3, vocab, (batch, 1), generator=gen)
    stride = torch.randint(1, 5, (batch, 1), generator=gen)
    return 3 + (start - 3 + stride * torch.arange(seq_len)) % (vocab - 3)


def run(steps: int, batch: int, seq_len: int, lr: float, seed: int, arch: str = "llama",
        vocab: int = 128, save: Path | None = None) -> tuple[TrainLog, dict[str, torch.Tensor], dict]:
    """Train ``arch``'s tiny model (saved to ``save`` by the main process, if given); return the
    training log, the final parameters (on the CPU; gathered whole under FSDP2) and how this process
    trained: the share of the parameters it held (under FSDP2, its shard) and how many layers
    recomputed their activations (activation checkpointing)."""
    model = tiny_model(arch, vocab_size=vocab, seed=seed)
    where = distributed.device() or torch.device("cpu")
    model.to(where)

    def step_loss(fwd: torch.nn.Module, step: int) -> tuple[torch.Tensor, int]:
        ids = global_batch(step, batch, seq_len, vocab, seed)
        mine = ids[list(distributed.shard(range(batch)))].to(where)
        return fwd(input_ids=mine, labels=mine).loss, int(mine.numel())

    log = train(model, step_loss, TrainConfig(steps=steps, lr=lr, batch_size=batch, warmup_frac=0.1),
                desc="ddp_check")
    if save is not None:
        distributed.save_pretrained(model, save)
    how = {"local_share": distributed.local_share(model), "checkpointed_layers": distributed.checkpointed_layers(model)}
    return log, distributed.full_parameters(model), how


def method_job(out: Path, session: Session, method: str = "GradDiff", steps: int = 12, batch: int = 8,
               seq_len: int = 16, lr: float = 3e-3, seed: int = 0) -> None:
    """A ``core.jobs`` job: a registry method unlearns the tiny Llama through ``method.run`` (its own
    samplers, so each launched process takes its part of every global batch in ``core.batching``), on
    forget and retain rows of equal length (no padding: each process's mean loss weighs tokens as the
    global mean does). Writes the logged losses and tokens to ``out/curve.json``."""
    from unlearnlab.core.batching import TokenSet
    from unlearnlab.methods import UnlearnData, get_method

    vocab = 128
    model = tiny_model("llama", vocab_size=vocab, seed=seed).to(distributed.device() or session.device)
    rows = [global_batch(i, 1, seq_len, vocab, seed)[0].tolist() for i in range(4 * batch)]
    forget = TokenSet(prompts=[[] for _ in rows[::2]], answers=rows[::2])
    retain = TokenSet(prompts=[[] for _ in rows[1::2]], answers=rows[1::2])
    data = UnlearnData(forget=forget, retain=retain, generator=torch.Generator().manual_seed(seed),
                       device=str(distributed.device() or session.device))
    log = get_method(method, steps=steps, lr=lr, batch_size=batch).run(model, data, bf16=False)
    distributed.write_json(out / "curve.json", {"world_size": distributed.world_size(), "losses": log.losses,
                                                "tokens": log.tokens})


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the loss curve")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8, help="global batch (rows), split over processes")
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)  # the loss falls from 4.9 to 2.4 in 30 steps
    parser.add_argument("--vocab", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arch", default="llama")
    parser.add_argument("--save", type=Path, default=None, help="save_pretrained the trained model here")
    parser.add_argument("--accelerate", action="store_true",
                        help="train through accelerate (pass it under `accelerate launch`)")
    return parser.parse_args(argv)


def payload(log: TrainLog, state: dict[str, torch.Tensor], how: dict, batch: int) -> dict:
    """What the check writes: how the processes trained (strategy, the main process's share of the
    parameters, checkpointed layers), losses, tokens trained on (all processes together) and final
    parameters."""
    return {"world_size": distributed.world_size(), "strategy": distributed.strategy(), **how,
            "global_batch": batch, "losses": log.losses,
            "tokens": log.tokens, "params": {k: v.flatten().tolist() for k, v in state.items()}}


def main(argv: list[str] | None = None) -> None:
    """Train once and write ``payload`` to ``--out`` (from the main process only)."""
    args = _parse(argv)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and not args.accelerate:
        raise SystemExit(f"launched as {launched} processes without --accelerate: each would train alone "
                         "on the whole batch; pass --accelerate")
    setting = (args.steps, args.batch, args.seq_len, args.lr, args.seed, args.arch, args.vocab, args.save)
    if args.accelerate:
        with distributed.scaled_out():
            distributed.write_json(args.out, payload(*run(*setting), args.batch))
    else:
        distributed.write_json(args.out, payload(*run(*setting), args.batch))


if __name__ == "__main__":
    main()
