"""Attacks that test whether unlearned knowledge is gone or only hidden.

Relearning: fine-tune on a few *forget* examples over a learning-rate sweep and watch forget
accuracy on *other*, held-out forget items. An oracle that never learned the forget knowledge
recovers slowly; a model that only suppresses it recovers in a few steps. We report the curve
for every learning rate and the worst case (highest forget accuracy) over the sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.evals.exact_match import exact_match
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.training import TrainConfig, train


@dataclass(frozen=True)
class RelearnConfig:
    lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    steps: int = 60
    eval_every: int = 10
    batch_size: int = 16
    n_items: int = 64  # forget examples the attacker fine-tunes on


def check_forget_only(attack_data: TokenSet, forget_labels: Sequence[str]) -> None:
    """Refuse to 'relearn' on anything but forget data (UNDO's public code once relearned on
    the retain file by mistake; this guard makes that impossible here)."""
    stray = sorted(set(attack_data.labels) - set(forget_labels))
    if stray or len(attack_data) == 0:
        raise ValueError(f"relearning attack data must be forget data only ({list(forget_labels)}); "
                         f"found labels {stray or 'none (empty set)'}")


def relearn_curve(model: torch.nn.Module, attack_data: TokenSet, forget_eval: TokenSet, lr: float,
                  cfg: RelearnConfig, seed: int, **hardware) -> list[dict]:
    """Fine-tune a copy of ``model`` on ``attack_data``; forget accuracy every ``eval_every`` steps."""
    attacked = fresh_copy(model)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    batches = attack_data.sampler(min(cfg.batch_size, len(attack_data)), gen, device)
    rows = [{"lr": lr, "step": 0, "forget_acc": float(exact_match(attacked, forget_eval).float().mean())}]

    def step_loss(fwd, step):
        batch = next(batches)
        return nll(logits_of(fwd, batch), batch), int(batch["attention_mask"].sum())

    def on_eval(step, m) -> bool:
        rows.append({"lr": lr, "step": step, "forget_acc": float(exact_match(m, forget_eval).float().mean())})
        return False

    train(attacked, step_loss, TrainConfig(steps=cfg.steps, lr=lr, batch_size=cfg.batch_size,
                                           warmup_frac=0.0, schedule="constant",
                                           eval_every=cfg.eval_every, **hardware),
          on_eval=on_eval, desc=f"relearn lr={lr:g}")
    return rows


def relearning_attack(model: torch.nn.Module, attack_data: TokenSet, forget_eval: TokenSet,
                      forget_labels: Sequence[str], cfg: RelearnConfig, seed: int = 0,
                      **hardware) -> list[dict]:
    """Curves for every learning rate in ``cfg.lrs`` (rows: lr, step, forget_acc)."""
    check_forget_only(attack_data, forget_labels)
    rows: list[dict] = []
    for lr in cfg.lrs:
        rows += relearn_curve(model, attack_data, forget_eval, lr, cfg, seed, **hardware)
    return rows


def worst_case(rows: list[dict]) -> dict:
    """The learning rate whose final forget accuracy is highest, and that accuracy."""
    final_step = max(r["step"] for r in rows)
    finals = [r for r in rows if r["step"] == final_step]
    best = max(finals, key=lambda r: r["forget_acc"])
    return {"worst_lr": best["lr"], "post_attack_forget_acc": best["forget_acc"]}
