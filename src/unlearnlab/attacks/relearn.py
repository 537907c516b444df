"""The relearning attack: does unlearned knowledge come back after a short fine-tune?

Fine-tune a copy of the model on a few *forget* examples and watch a metric (forget accuracy on
*other*, held-out forget items, an answer's log-prob, ...). An oracle that never learned the
knowledge recovers slowly; a model that only suppresses it recovers in a few steps. Every study
runs the same loop, ``relearn``, and differs only in its data order, metric, loss and trainable
parameters; ``relearn_sweep`` repeats it over learning rates and ``worst_case`` reports the
attacker's best one.

>>> make = sampled_batches(attack_set, cfg.batch_size, seed, device)
>>> rows = relearn_sweep(model, make, forget_accuracy(held_out), cfg, loss=answer_loss)
>>> worst_case(rows)  # {"worst_lr": ..., "post_attack_forget_acc": ...}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from unlearnlab.core.batching import Batch, TokenSet
from unlearnlab.core.logprobs import logits_of, nll, nll_of
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.training import TrainConfig, train
from unlearnlab.evals.exact_match import exact_match

Metric = Callable[[torch.nn.Module], dict[str, float]]
LossFn = Callable[[torch.nn.Module, Batch], torch.Tensor]
ParamsFn = Callable[[torch.nn.Module], Iterable[torch.nn.Parameter]]
BatchesFactory = Callable[[], Iterator[Batch]]


@dataclass(frozen=True)
class RelearnConfig:
    """The attack's budget (its fields are part of cached results' keys: add none lightly)."""

    lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    steps: int = 60
    eval_every: int = 10  # 0: the metric at step 0 only
    batch_size: int = 16
    n_items: int = 64  # forget examples the attacker fine-tunes on


def lm_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """The default attack loss: mean NLL over every real token of the batch."""
    return nll(logits_of(model, batch), batch)


def answer_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """NLL over the answer tokens only (the prompt is context, not a target)."""
    return nll_of(model, batch, answer_only=True)


def forget_accuracy(forget_eval: TokenSet, key: str = "forget_acc") -> Metric:
    """The usual metric: greedy exact-match accuracy on held-out forget items, as ``{key: acc}``."""
    return lambda model: {key: float(exact_match(model, forget_eval).float().mean())}


def sampled_batches(data: TokenSet, batch_size: int, seed: int,
                    device: str | torch.device = "cpu") -> BatchesFactory:
    """A factory of seeded random-batch streams over ``data`` (``TokenSet.sampler``): every call
    starts the same stream again, so each learning rate of a sweep sees the same batches."""
    return lambda: data.sampler(min(batch_size, len(data)), torch.Generator().manual_seed(seed), device)


def check_forget_only(attack_data: TokenSet, forget_labels: Sequence[str]) -> None:
    """Refuse to 'relearn' on anything but forget data (UNDO's public code once relearned on
    the retain file by mistake; this guard makes that impossible here)."""
    stray = sorted(set(attack_data.labels) - set(forget_labels))
    if stray or len(attack_data) == 0:
        raise ValueError(f"relearning attack data must be forget data only ({list(forget_labels)}); "
                         f"found labels {stray or 'none (empty set)'}")


def relearn(model: torch.nn.Module, batches: Iterator[Batch], metric: Metric, config: RelearnConfig, *,
            lr: float | None = None, loss: LossFn | None = None, params: ParamsFn | None = None,
            desc: str | None = None, ends: Metric | None = None, start: dict | None = None,
            **hardware) -> list[dict]:
    """Fine-tune a deep copy of ``model`` (``model`` is left untouched) for ``config.steps`` steps
    at ``lr`` (default: the single entry of ``config.lrs``) with a constant learning rate and no
    warm-up, on ``batches`` drawn in order; rows ``{"lr", "step", **metric(copy)}`` at step 0 and
    every ``config.eval_every`` steps (and after the last).

    ``loss(model, batch)`` defaults to ``lm_loss``; ``params(copy)`` picks the parameters trained
    (default: every parameter with ``requires_grad``, so a peft model trains its adapter only).
    ``ends`` is a metric whose readers need only the curve's two ends (a learning rate picked on
    validation items at the last step, the value before the attack): it is added to the rows of
    step 0 and of the last step only, not to those in between (each one is a pass over its items).
    ``start``: the step-0 values of ``metric`` (and ``ends``), already measured on ``model`` (a
    sweep measures them once; the copy's weights at step 0 are ``model``'s at every lr).
    ``hardware`` goes to ``TrainConfig`` (``bf16``, ``compile``, ``progress``).
    """
    lr = _single_lr(config) if lr is None else lr
    loss = loss or lm_loss
    attacked = fresh_copy(model).eval()
    rows = [{"lr": lr, "step": 0, **(start if start is not None else _measure(attacked, metric, ends))}]

    def step_loss(fwd: torch.nn.Module, step: int) -> tuple[torch.Tensor, int]:
        batch = next(batches)
        return loss(fwd, batch), int(batch["attention_mask"].sum())

    def on_eval(step: int, m: torch.nn.Module) -> bool:
        rows.append({"lr": lr, "step": step, **_measure(m, metric, ends if step == config.steps else None)})
        return False

    train_cfg = TrainConfig(steps=config.steps, lr=lr, batch_size=config.batch_size, warmup_frac=0.0,
                            schedule="constant", eval_every=config.eval_every, **hardware)
    train(attacked, step_loss, train_cfg, params=params(attacked) if params else None, on_eval=on_eval,
          desc=desc or f"relearn lr={lr:g}")
    return rows


def relearn_sweep(model: torch.nn.Module, make_batches: BatchesFactory, metric: Metric, config: RelearnConfig, *,
                  loss: LossFn | None = None, params: ParamsFn | None = None, ends: Metric | None = None,
                  **hardware) -> list[dict]:
    """``relearn`` at every learning rate in ``config.lrs``, each from ``model`` and a fresh
    ``make_batches()`` stream; the rows of all curves in one list. The step-0 row is measured once
    (on the first learning rate's copy, before it trains) and repeated for the others: every
    copy starts from the same weights, and every metric here is a pure function of the weights
    (greedy scoring, no sampling), so it would measure the same values again."""
    rows: list[dict] = []
    start: dict | None = None
    for lr in config.lrs:
        curve = relearn(model, make_batches(), metric, config, lr=lr, loss=loss, params=params, ends=ends,
                        start=start, **hardware)
        start = {k: v for k, v in curve[0].items() if k not in ("lr", "step")}
        rows += curve
    return rows


def relearning_attack(model: torch.nn.Module, attack_data: TokenSet, forget_eval: TokenSet,
                      forget_labels: Sequence[str], cfg: RelearnConfig, seed: int = 0,
                      forget_val: TokenSet | None = None, **hardware) -> list[dict]:
    """The standard attack: all-token NLL on forget data only, seeded random batches, exact-match
    accuracy on ``forget_eval`` (rows: lr, step, forget_acc) for every learning rate; with
    ``forget_val`` also ``val_forget_acc`` on those validation items, so the attacker's learning
    rate can be picked on them (``worst_case(rows, select_key="val_forget_acc")``). That key is in
    the rows of step 0 and of the last step only: no reader looks at it in between."""
    check_forget_only(attack_data, forget_labels)
    device = next(model.parameters()).device
    ends = forget_accuracy(forget_val, "val_forget_acc") if forget_val is not None else None
    batches = sampled_batches(attack_data, cfg.batch_size, seed, device)
    return relearn_sweep(model, batches, forget_accuracy(forget_eval), cfg, ends=ends, **hardware)


def worst_case(rows: list[dict], key: str = "forget_acc", higher_is_worse: bool = True,
               select_key: str | None = None) -> dict:
    """The learning rate whose metric at the final step is worst for the defender (highest, or
    lowest with ``higher_is_worse=False``): ``{"worst_lr", "post_attack_<key>"}``. Ties go to the
    first learning rate of the sweep.

    With ``select_key`` the learning rate is picked on that metric (validation items) and ``key``
    (test items) is reported at it, so the attack's own choice never looks at the reported items;
    ``post_attack_<select_key>`` is returned too."""
    final_step = max(r["step"] for r in rows)
    finals = [r for r in rows if r["step"] == final_step]
    sign = 1.0 if higher_is_worse else -1.0
    chooser = select_key or key
    best = max(finals, key=lambda r: sign * r[chooser])
    out = {"worst_lr": best["lr"], f"post_attack_{key}": best[key]}
    if select_key:
        out[f"post_attack_{select_key}"] = best[select_key]
    return out


def _measure(model: torch.nn.Module, metric: Metric, ends: Metric | None) -> dict:
    """``metric(model)``, then ``ends(model)`` if given (the order of the old combined metric)."""
    return {**metric(model), **(ends(model) if ends is not None else {})}


def _single_lr(config: RelearnConfig) -> float:
    if len(config.lrs) != 1:
        raise ValueError(f"relearn needs one learning rate: pass lr=..., or use relearn_sweep over "
                         f"config.lrs={config.lrs}")
    return config.lrs[0]
