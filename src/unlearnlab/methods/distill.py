"""Distillation on outputs: full distillation from a random init, and UNDO.

UNDO (Lee et al. 2025, "Distillation Robustifies Unlearning"): take the unlearned model as
teacher, perturb a copy of it, ``p <- (1 - alpha) p + alpha * beta * xavier_uniform(p)`` for
matrices and ``p <- (1 - alpha) p`` for 1-D parameters, then train the copy with forward KL on
the teacher's outputs over retain + general data, stopping once retain accuracy is back within a
threshold of the teacher's. alpha = 1 (beta = 1) is a fresh init: full distillation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from unlearnlab.core import anatomy
from unlearnlab.evals.exact_match import exact_match, exact_match_reaching, hits_needed, mean_accuracy
from unlearnlab.core.logprobs import forward_kl, logits_of
from unlearnlab.methods.base import ContractCase, MethodConfig, TinySetup, UnlearnData, UnlearningMethod, register
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.training import TrainConfig, TrainLog, train


@dataclass(frozen=True)
class DistillConfig(MethodConfig):
    steps: int = 400  # the maximum budget
    lr: float = 1e-3
    batch_size: int = 64
    warmup_frac: float = 0.02
    eval_every: int = 25
    retain_threshold: float = 0.05  # stop when retain acc >= teacher's - threshold
    stop_on_recovery: bool = True
    snapshot_steps: tuple[int, ...] = ()  # keep copies of the student at these steps
    seed: int = 0
    pack_width: int = 0  # > 0: retain batches packed into rows this wide (same examples, less padding)


@dataclass
class DistillResult:
    """The student, its training log, and when retain accuracy recovered."""

    student: torch.nn.Module
    log: TrainLog
    teacher_retain_acc: float
    recovered_step: int | None
    retain_curve: list[tuple[int, float | None]] = field(default_factory=list)  # None: not needed (``distill``)
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


@torch.no_grad()
def apply_undo_noise(model: torch.nn.Module, alpha: float, beta: float = 1.0,
                     generator: torch.Generator | None = None,
                     mask: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """Perturb ``model`` in place with UNDO's noise; with ``mask`` only masked entries change.

    ``mask`` maps parameter names to boolean tensors of the parameter's shape; parameters absent
    from the mask are left unchanged (Targeted-UNDO).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    for name, p in model.named_parameters():
        if mask is not None and name not in mask:
            continue
        if p.dim() >= 2:
            noise = torch.empty(p.shape, dtype=torch.float32)
            torch.nn.init.xavier_uniform_(noise, generator=generator)
            new = (1 - alpha) * p.float() + alpha * beta * noise.to(p.device)
        else:
            new = (1 - alpha) * p.float()
        if mask is not None:
            new = torch.where(mask[name].to(p.device), new, p.float())
        p.copy_(new.to(p.dtype))
    return model


@register("Distill")
class Distill(UnlearningMethod):
    """Full distillation: a randomly initialised student learns the teacher's outputs."""

    Config = DistillConfig

    def init_student(self, teacher: torch.nn.Module) -> torch.nn.Module:
        student = fresh_copy(teacher)
        gen = torch.Generator().manual_seed(self.config.seed)
        return apply_undo_noise(student, alpha=1.0, beta=1.0, generator=gen)

    def train_config(self, **hardware) -> TrainConfig:
        c = self.config
        return TrainConfig(steps=c.steps, lr=c.lr, batch_size=c.batch_size, warmup_frac=c.warmup_frac,
                           grad_clip=c.grad_clip, schedule="constant", eval_every=c.eval_every, **hardware)

    def trainable_parameters(self, student: torch.nn.Module) -> list[torch.nn.Parameter]:
        """What distillation may change (everything, for global UNDO and full distillation)."""
        return list(student.parameters())

    def release(self, student: torch.nn.Module) -> None:
        """Undo whatever ``trainable_parameters`` attached to the student (nothing here)."""

    def distill(self, teacher: torch.nn.Module, data: UnlearnData, teacher_acc: float | None = None,
                **hardware) -> DistillResult:
        """Distill ``teacher`` until the stopping rule fires (or the budget ends).

        ``teacher_acc``: the teacher's retain accuracy on ``data.retain_eval`` when the caller
        already has it (the same value for every run of one teacher); computed here otherwise.
        ``retain_curve`` holds (step, accuracy) at every check, the accuracy None where it was not
        needed: a check whose scoring stopped once recovery was out of reach, or any check after
        recovery in a run that goes on (only the decision is read there).
        """
        if data.retain_eval is None:
            raise ValueError("distillation needs data.retain_eval for its stopping rule")
        bad = [b for b in self.config.snapshot_steps if b % self.config.eval_every]
        if bad:
            raise ValueError(f"snapshot steps {bad} are not multiples of eval_every={self.config.eval_every}")
        teacher = teacher.eval().requires_grad_(False)
        if teacher_acc is None:
            teacher_acc = mean_accuracy(exact_match(teacher, data.retain_eval))
        needed = hits_needed(len(data.retain_eval), teacher_acc - self.config.retain_threshold)
        student = self.init_student(teacher).requires_grad_(True)
        params = self.trainable_parameters(student)
        batches = data.retain.sampler(self.config.batch_size, data.generator, data.device, self.config.pack_width)
        result = DistillResult(student, TrainLog(), teacher_acc, None)
        wanted = set(self.config.snapshot_steps)

        def step_loss(fwd, step):
            batch = next(batches)
            with torch.no_grad():
                t_logits = logits_of(teacher, batch)
            return forward_kl(t_logits, logits_of(fwd, batch), batch), int(batch["attention_mask"].sum())

        def on_eval(step: int, model) -> bool:
            hits = None if result.recovered_step is not None else exact_match_reaching(model, data.retain_eval, needed)
            acc = None if hits is None else mean_accuracy(hits)
            result.retain_curve.append((step, acc))
            if step in wanted:
                result.snapshots[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if result.recovered_step is None and acc is not None and acc >= teacher_acc - self.config.retain_threshold:
                result.recovered_step = step
                result.snapshots.setdefault(step, {k: v.detach().clone() for k, v in model.state_dict().items()})
                return self.config.stop_on_recovery
            return False

        result.log = train(student, step_loss, self.train_config(**hardware), params=params,
                           on_eval=on_eval, desc=self.name)
        self.release(student)
        teacher.requires_grad_(True)
        return result

    def run(self, model: torch.nn.Module, data: UnlearnData, **hardware) -> TrainLog:
        """Replace ``model``'s weights by the distilled student's."""
        result = self.distill(model, data, **hardware)
        model.load_state_dict(result.student.state_dict())
        return result.log


@dataclass(frozen=True)
class UNDOConfig(DistillConfig):
    alpha: float = 0.6
    beta: float = 1.0


@register("UNDO")
class UNDO(Distill):
    """Noise a copy of the (unlearned) teacher, then distill it on the teacher's outputs."""

    Config = UNDOConfig

    def init_student(self, teacher: torch.nn.Module) -> torch.nn.Module:
        gen = torch.Generator().manual_seed(self.config.seed)
        return apply_undo_noise(fresh_copy(teacher), self.config.alpha, self.config.beta, gen)


@dataclass(frozen=True)
class TargetedUNDOConfig(UNDOConfig):
    mask_path: str = ""  # directory of a saved localization ``Mask``
    train_only_masked: bool = False  # distill only the noised entries (the rest stay the teacher's)


@register("TargetedUNDO")
class TargetedUNDO(UNDO):
    """UNDO with the noise confined to a localization mask: inside, ``(1-α)p + αβ·xavier``;
    outside, the teacher's weights unchanged. Distillation then trains every parameter, or with
    ``train_only_masked`` only the noised entries (gradients of the others are zeroed; AdamW has
    no weight decay here, so zero-gradient entries do not move)."""

    Config = TargetedUNDOConfig

    def __init__(self, config: TargetedUNDOConfig):
        if not config.mask_path:
            raise ValueError("TargetedUNDO needs mask_path: the directory of a saved localization Mask")
        super().__init__(config)
        self._hooks: list = []

    def mask(self) -> dict[str, torch.Tensor]:
        from unlearnlab.localization.mask import Mask

        return Mask.load(self.config.mask_path).entries

    @classmethod
    def example(cls, tiny: TinySetup) -> ContractCase:
        """Two steps, noise and training confined to half the entries of two first-layer matrices,
        the MLP's last input projection and the attention's first (Llama: ``up_proj``, ``q_proj``;
        fused ones elsewhere; named by ``core.anatomy``), in a mask saved under ``tiny.directory``."""
        from unlearnlab.localization.mask import Mask

        gen = torch.Generator().manual_seed(tiny.seed)
        params = dict(tiny.model.named_parameters())
        lay, prefix = anatomy.layout(tiny.model), anatomy.layer_prefix(tiny.model, 0)
        names = [f"{prefix}.{lay.mlp}.{lay.mlp_inputs[-1]}.weight",
                 f"{prefix}.{lay.attention}.{lay.attention_inputs[0]}.weight"]
        Mask({n: torch.rand(params[n].shape, generator=gen) < 0.5 for n in names}).save(tiny.directory / "mask")
        config = cls.Config(mask_path=str(tiny.directory / "mask"), train_only_masked=True, alpha=0.5, steps=2,
                            batch_size=4)
        return ContractCase(cls(config), tiny.model, tiny.data())

    def init_student(self, teacher: torch.nn.Module) -> torch.nn.Module:
        gen = torch.Generator().manual_seed(self.config.seed)
        return apply_undo_noise(fresh_copy(teacher), self.config.alpha, self.config.beta, gen, mask=self.mask())

    def trainable_parameters(self, student: torch.nn.Module) -> list[torch.nn.Parameter]:
        if not self.config.train_only_masked:
            return list(student.parameters())
        mask = self.mask()
        chosen = []
        for name, p in student.named_parameters():
            if name not in mask:
                p.requires_grad_(False)
                continue
            keep = mask[name].to(device=p.device, dtype=p.dtype)
            self._hooks.append(p.register_hook(lambda g, keep=keep: g * keep))
            chosen.append(p)
        return chosen

    def release(self, student: torch.nn.Module) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        student.requires_grad_(True)
