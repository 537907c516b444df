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
import os
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


def _fsdp_on_cpu(accelerator: Accelerator) -> None:
    """Honour an FSDP config on CPU processes. accelerate 1.16 reads ``distributed_type: FSDP`` only
    for accelerator devices and gives CPU processes (gloo) DDP instead, silently; torch's FSDP2 shards
    over gloo as well, so when the launcher asked for FSDP (``ACCELERATE_USE_FSDP=true``) and the
    processes are on the CPU, the accelerator gets the state accelerate gives it on GPUs: FSDP, with
    the plugin read from the same environment. This is what lets the FSDP2 path run, and be tested,
    on a machine without GPUs (tests/test_fsdp.py)."""
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
    asked = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if not asked or accelerator.distributed_type != DistributedType.MULTI_CPU:
        return
    accelerator.state.fsdp_plugin = FullyShardedDataParallelPlugin()
    accelerator.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


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
        _fsdp_on_cpu(accelerator)
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

    def finish(self) -> None:
        """Called once training ends (nothing to release in one process)."""


class AcceleratedLoop(PlainLoop):
    """Several processes: the model and optimizer prepared by ``accelerator`` (DDP or FSDP2)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, accelerator: Accelerator) -> None:
        if accelerator.is_fsdp2 and any(is_sharded_module(m) for m in model.modules()):
            raise ValueError("a model FSDP2 sharded in an earlier training of this job trains again (an "
                             "adapter on it, or a second stage); FSDP2 here trains each model once (a "
                             "copy may train again): launch this job with a DDP accelerate config")
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

    def finish(self) -> None:
        """Drop the accelerator's references to this training's prepared model and optimizer, as
        accelerate asks between two trainings: else a relearning sweep keeps every copy it trained
        alive, and under FSDP2 the next ``clip_grad_norm_`` compares its parameters with an old
        model's (accelerate 1.16 then fails: "Boolean value of Tensor ... is ambiguous")."""
        self.accelerator.free_memory()


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


def sharded() -> bool:
    """Whether the prepared models are sharded over the processes (FSDP2): then every forward pass is a
    collective, so every process must run the same evaluation, not the main one alone."""
    acc = current()
    return acc is not None and acc.is_fsdp2


def evaluates_here() -> bool:
    """Whether this process runs the evaluation of a trained model: the main process alone (under DDP
    the others hold the same weights), except when the model is sharded (FSDP2): each forward pass is
    then a collective, so every process runs the same evaluation and the main one writes it."""
    return is_main() or sharded()


def refuse_sharding(what: str, why: str) -> None:
    """Stop at once, in one line, a job that cannot run with its model sharded (FSDP2), instead of a
    hang (the main process evaluating alone while the others wait) or an error deep in accelerate."""
    if sharded():
        raise ValueError(f"{what} cannot run under FSDP2: {why}; launch it with a DDP accelerate config "
                         "(distributed_type: MULTI_GPU, docs/several_gpus.md)")


def strategy() -> str:
    """How the processes train together: "one process", "DDP" or "FSDP2"."""
    acc = current()
    return "one process" if acc is None else "FSDP2" if acc.is_fsdp2 else "DDP"


def local_share(model: torch.nn.Module) -> float:
    """The fraction of the model's parameter elements this process holds (1 unless sharded: under FSDP2
    about 1 / the number of processes)."""
    from torch.distributed.tensor import DTensor
    held = sum((p.to_local() if isinstance(p, DTensor) else p).numel() for p in model.parameters())
    return held / sum(p.numel() for p in model.parameters())


def checkpointed_layers(model: torch.nn.Module) -> int:
    """How many of the model's modules recompute their activations in the backward pass (wrapped by
    the activation checkpointing of an FSDP config: ``fsdp_activation_checkpointing: true``)."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper
    return sum(isinstance(module, CheckpointWrapper) for module in model.modules())


def full_parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's parameters, whole, in float32 on the CPU, by name. Under FSDP2 each process holds a
    shard: every process takes part in gathering them and the main process gets them all (the others
    an empty dict)."""
    # the names a plain model has: activation checkpointing wraps layers, the state dict drops the wrapper
    names = [name.replace("_checkpoint_wrapped_module.", "") for name, _ in model.named_parameters()]
    acc = current()
    state = model.state_dict() if acc is None or not acc.is_fsdp2 else acc.get_state_dict(model)
    return {name: state[name].detach().float().cpu().clone() for name in names if name in state}


def is_sharded_module(model: torch.nn.Module) -> bool:
    """Whether ``model`` was sharded by FSDP2 (``fully_shard`` changes the module's class)."""
    from torch.distributed.fsdp import FSDPModule
    return isinstance(model, FSDPModule)


def unsharded_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A plain, independent copy of an FSDP2-sharded Hugging Face model, whole on every process (FSDP2
    refuses ``deepcopy``). Every process takes part in gathering the full state dict (a collective:
    call it on all of them), then builds the model's own class from its config on this process's
    device and loads it. The copy holds the whole model on each device until something shards it
    again (the relearning attack's ``train`` does, at once)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.fsdp import FSDPModule
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    plain = next(cls for cls in type(model).__mro__ if not issubclass(cls, FSDPModule))
    first = next(iter(state.values()))
    whole = plain._from_config(model.config, torch_dtype=first.dtype).to(first.device)
    whole.load_state_dict(state)
    return whole.train(model.training)


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
