"""Scale-out of the shared training loop on Hugging Face ``accelerate`` (DDP, FSDP2, bf16 mixed precision).

Why a switch and not a second loop: ``core.training.train`` asks ``loop_for(model, optimizer)`` for the
four things that differ between one process and many (the model the forward runs on, the backward, the
gradient clip, the logged loss). Unless a script installs an ``Accelerator`` with ``scaled_out()``, the
answer is ``PlainLoop``, which makes exactly the calls the loop made before this module existed, in the
same order: one process computes what it computed (tests/test_ddp.py compares against a copy of the old
loop, bit for bit). Nothing here reads the environment or imports ``accelerate`` until a script asks.

Under ``accelerate launch`` (one process per device) ``AcceleratedLoop`` prepares the model and optimizer
(DDP, or FSDP2 when the accelerate config says ``distributed_type: FSDP`` with ``fsdp_version: 2``; bf16
autocast when it says ``mixed_precision: bf16``), backpropagates through the accelerator, clips the global
gradient norm and logs the mean of the processes' losses and the sum of their tokens. Each process must
train on its own part of the global batch: a ``step_loss`` takes its rows with ``shard`` (with equal token
counts per process, DDP's average of the processes' mean-loss gradients is the global batch's gradient).
Only the main process writes files (``is_main``, ``write_json``, ``save_pretrained``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

if TYPE_CHECKING:  # imported lazily: a single-process run never loads accelerate
    from accelerate import Accelerator

T = TypeVar("T")

_ACTIVE: list[Accelerator] = []  # the installed accelerator (at most one), set by ``scaled_out``


def current() -> Accelerator | None:
    """The accelerator ``scaled_out`` installed, or None (one process: training is unchanged)."""
    return _ACTIVE[-1] if _ACTIVE else None


def _check_supported(accelerator: Accelerator) -> None:
    """FSDP1 wraps the module in a new object, so the caller's model (which ``train`` trains in place and
    evaluates in ``on_eval``) would hold flat shards; FSDP2 shards the caller's own module."""
    from accelerate.utils import DistributedType
    if accelerator.distributed_type == DistributedType.FSDP and not accelerator.is_fsdp2:
        raise ValueError("FSDP1 is not supported by core.training; set `fsdp_version: 2` in the accelerate config")


@contextmanager
def scaled_out(accelerator: Accelerator | None = None) -> Iterator[Accelerator]:
    """Route every ``train`` call inside the block through ``accelerator`` (default: one built from
    ``accelerate launch``'s settings). Call it in the launched script, once, around the training: an
    accelerator built here ends its process group on leaving (a process that exits with a live gloo
    group aborted at interpreter exit in 1 of 5 two-process CPU runs, "terminate called without an
    active exception")."""
    if _ACTIVE:
        raise RuntimeError("an accelerator is already installed; nest no scaled_out blocks")
    owned = accelerator is None
    if owned:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs
        # find_unused_parameters: a method that freezes part of a layer leaves DDP parameters without grads
        accelerator = Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    _check_supported(accelerator)
    _ACTIVE.append(accelerator)
    try:
        yield accelerator
        if owned:
            accelerator.wait_for_everyone()
            accelerator.end_training()  # destroys the process group
    finally:
        _ACTIVE.pop()


def world_size() -> int:
    """How many processes train together (1 without an accelerator)."""
    acc = current()
    return 1 if acc is None else acc.num_processes


def rank() -> int:
    """This process's index among them (0 without an accelerator)."""
    acc = current()
    return 0 if acc is None else acc.process_index


def is_main() -> bool:
    """Whether this process writes files, logs and progress bars (always, without an accelerator)."""
    acc = current()
    return True if acc is None else acc.is_main_process


def device() -> torch.device | None:
    """The device this process trains on, or None without an accelerator (the caller's own choice)."""
    acc = current()
    return None if acc is None else acc.device


def shard(items: Sequence[T]) -> Sequence[T]:
    """This process's contiguous, equal part of a global batch (all of it in one process)."""
    n = world_size()
    if n == 1:
        return items
    if len(items) % n:
        raise ValueError(f"a global batch of {len(items)} does not split over {n} processes; "
                         f"use a batch size divisible by {n}")
    size = len(items) // n
    return items[rank() * size: (rank() + 1) * size]


class PlainLoop:
    """One process: the calls ``train`` made before scale-out existed, unchanged."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss``."""
        loss.backward()

    def clip(self, params: list[torch.nn.Parameter], max_norm: float) -> None:
        """Clip the gradient norm of the trained parameters to ``max_norm``."""
        torch.nn.utils.clip_grad_norm_(params, max_norm)

    def record(self, loss: torch.Tensor, n_tokens: int) -> tuple[float, int]:
        """The loss and token count to log for this step."""
        return float(loss.detach()), int(n_tokens)

    def agree(self, stop: bool) -> bool:
        """Whether to stop after an evaluation (one process decides alone)."""
        return stop


class AcceleratedLoop(PlainLoop):
    """Several processes: the model and optimizer prepared by ``accelerator`` (DDP or FSDP2)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, accelerator: Accelerator) -> None:
        prepared_model, prepared_optimizer = accelerator.prepare(model, optimizer)
        super().__init__(prepared_model, prepared_optimizer)
        self.accelerator = accelerator

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate through the accelerator (gradients averaged over processes)."""
        self.accelerator.backward(loss)

    def clip(self, params: list[torch.nn.Parameter], max_norm: float) -> None:
        """Clip the global gradient norm; the optimizer's parameters, because FSDP2 replaces the
        module's parameters (and so the caller's list) by sharded ones."""
        trained = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.accelerator.clip_grad_norm_(trained, max_norm)

    def record(self, loss: torch.Tensor, n_tokens: int) -> tuple[float, int]:
        """The mean of the processes' losses and the sum of their tokens (one all-reduce)."""
        both = torch.stack([loss.detach().float(), torch.tensor(float(n_tokens), device=loss.device)])
        total = self.accelerator.reduce(both, reduction="sum")
        return float(total[0]) / self.accelerator.num_processes, int(round(float(total[1])))

    def agree(self, stop: bool) -> bool:
        """Stop when any process says so, so that no process waits forever in a collective."""
        flag = torch.tensor([1.0 if stop else 0.0], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)


def loop_for(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> PlainLoop:
    """The loop steps for this process: plain unless ``scaled_out`` installed an accelerator."""
    acc = current()
    return PlainLoop(model, optimizer) if acc is None else AcceleratedLoop(model, optimizer, acc)


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON from the main process only (the others wait for it)."""
    if is_main():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1))
    barrier()


def barrier() -> None:
    """Wait for every process (nothing to wait for in one process)."""
    acc = current()
    if acc is not None:
        acc.wait_for_everyone()


def save_pretrained(model: torch.nn.Module, directory: Path, tokenizer: Any = None) -> None:
    """``save_pretrained`` (safetensors) of a trained model from the main process; under FSDP2 every
    process takes part in gathering the full state dict first, so call it on all of them."""
    acc = current()
    if acc is None:
        model.save_pretrained(directory)
    else:
        state = acc.get_state_dict(model)
        if acc.is_main_process:
            acc.unwrap_model(model).save_pretrained(directory, state_dict=state, save_function=acc.save)
    if tokenizer is not None and is_main():
        tokenizer.save_pretrained(directory)
    barrier()
