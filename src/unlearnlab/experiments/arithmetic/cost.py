"""What the arithmetic and Targeted-UNDO studies cost in a profile, before running it: optimizer
steps, evaluations and attacks per phase, priced with measured CPU seconds per unit.

The counts are exact for the fixed sweeps and bounds for the runs that stop at recovery
(Targeted-UNDO, extended global UNDO): ``low`` assumes recovery at the first check, ``high`` at
the cap. A projection multiplies them by CPU seconds per step measured on one thread
(``TrainLog.wall_s`` of one-thread pool workers, or ``core.timing.timed``); wall time on ``cores``
cores is CPU time / cores for the pooled phases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # the profile is passed in; experiments do not import the profiles layer
    from unlearnlab.profiles import Profile

BASELINES = 3  # GradDiff, MaxEnt, RMU (30_baselines)


@dataclass(frozen=True)
class UnitCost:
    """CPU seconds per unit on one thread (defaults: default-profile model, measured on the
    reference CPU with other jobs running; see the task note for the command)."""

    pretrain_step: float = 0.163  # batch 128
    unlearn_step: float = 0.07  # forget + retain batch of 32
    distill_step: float = 0.054  # batch 32, teacher forward included
    retain_check: float = 0.32  # exact match on the held-out + and − items (stopping rule)
    evaluate: float = 0.61  # every saved model: accuracy per operation and English CE
    attack: float = 5.4  # worst-case relearning sweep (3 lrs x 60 steps) with its evaluations


def work(profile: Profile, extended_alphas: int | None = None) -> pd.DataFrame:
    """Units per phase (rows) as ``low`` and ``high`` counts of steps, checks, evaluations and
    attacks. ``extended_alphas``: how many α of the extension ladder run (default: all)."""
    a, t = profile.arithmetic, profile.targeted
    n = len(a.seeds)
    std = max(a.distill_budgets)
    n_global = len(a.undo_alphas) + 1
    n_targeted = len(t.sources) * len(t.budgets) * len(t.alphas) * len(t.train_only) * n
    n_ext = len(a.extend_alphas) if extended_alphas is None else extended_alphas
    cap, first = a.distill_cap(), a.extend_eval_every
    rows = [
        ("pretrain", 2 * n * a.pretrain_steps, 2 * n * a.pretrain_steps, 0, 0, 2 * n, 2 * n, 0, 0),
        ("unlearn", BASELINES * len(a.unlearn_lrs) * n * a.unlearn_steps,
         BASELINES * len(a.unlearn_lrs) * n * a.unlearn_steps, 0, 0,
         BASELINES * len(a.unlearn_lrs) * n, BASELINES * len(a.unlearn_lrs) * n, BASELINES * n, BASELINES * n),
        ("global UNDO", n_global * n * std, n_global * n * std, n_global * n * std // a.distill_eval_every,
         n_global * n * std // a.distill_eval_every, n_global * n * (len(a.distill_budgets) + 1),
         n_global * n * (len(a.distill_budgets) + 1), n_global * n * len(a.distill_budgets),
         n_global * n * (len(a.distill_budgets) + 1)),
        ("Targeted-UNDO", n_targeted * a.distill_eval_every, n_targeted * std, n_targeted,
         n_targeted * std // a.distill_eval_every, n_targeted, 2 * n_targeted, n_targeted, n_targeted),
        ("base/oracle attacks", 0, 0, 0, 0, 0, 0, 2 * n, 2 * n),
        ("extended global UNDO", n_ext * n * first, n_ext * n * cap, n_ext * n, n_ext * n * cap // first,
         n_ext * n, n_ext * n * (len(a.extend_snapshots()) + 1),
         n_ext * n, n_ext * n * (len(a.extend_snapshots()) + 1)),
    ]
    cols = ["phase", "steps_low", "steps_high", "checks_low", "checks_high", "evals_low", "evals_high",
            "attacks_low", "attacks_high"]
    return pd.DataFrame(rows, columns=cols).set_index("phase")


def projection(profile: Profile, unit: UnitCost = UnitCost(), cores: int = 2,
               extended_alphas: int | None = None) -> pd.DataFrame:
    """CPU seconds per phase (``cpu_low``, ``cpu_high``) and wall seconds on ``cores`` cores when
    every phase keeps them busy (the studies' process pool)."""
    w = work(profile, extended_alphas)
    step = pd.Series({"pretrain": unit.pretrain_step, "unlearn": unit.unlearn_step})
    step = step.reindex(w.index).fillna(unit.distill_step)
    out = pd.DataFrame(index=w.index)
    for end in ("low", "high"):
        out[f"cpu_{end}"] = (w[f"steps_{end}"] * step + w[f"checks_{end}"] * unit.retain_check
                             + w[f"evals_{end}"] * unit.evaluate + w[f"attacks_{end}"] * unit.attack)
        out[f"wall_{end}"] = out[f"cpu_{end}"] / cores
    out.loc["total"] = out.sum()
    return out.round(0)
