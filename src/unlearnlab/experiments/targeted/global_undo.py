"""Global UNDO extended until it is as robust as Targeted-UNDO, or has spent the pretraining compute.

Decision rule (written before any extended run was looked at)
-------------------------------------------------------------
*Models.* Everything is per seed s: base_s, its MaxEnt teacher, Targeted-UNDO with masks computed
on base_s, global UNDO from the same teacher. Every comparison below is within one seed.

*Recovers.* A run recovers when UNDO's own stopping rule fires: retain accuracy on the held-out
+ and − items back within ``retain_threshold`` of its teacher's (checked every
``distill_eval_every`` steps, ``extend_eval_every`` in extended runs). Its cost is the step at
which it fired; its robustness is the worst-case post-attack forget accuracy of that snapshot.

*Validation.* Every decision below reads validation items (the world's ``val`` split: recovery
is retain accuracy on val + and − items, robustness the post-attack forget accuracy on val x and
÷ items, the attack's learning rate itself picked on val); the tables and the ratio report the
test (``eval``) items. (Until 2026-12-03 the arithmetic world had no validation split and these
choices read the test items; the rule is otherwise unchanged.)

*Best mask.* Among the Targeted-UNDO configurations of the profile's grid that recovered in every
seed, the one with the lowest mean post-attack validation forget accuracy over the seeds. It
only sets how far global UNDO is pushed (the lowest value makes the target harder to reach,
never easier); the Fisher 5 % mask, named in advance, involves no choice, and its ratio is
reported too.

*Target and reaches.* Seed s's target is the lower of the best mask's and the Fisher 5 % mask's
post-attack validation forget accuracy on seed s (so both ratios can be interpolated, not
bounded). Global UNDO reaches it on seed s when some global configuration recovered on seed s
with post-attack validation forget accuracy at or below that target.

*Ladder and stop.* Standard global runs (31_undo: ``undo_alphas`` and full distillation, to the
largest of ``distill_budgets``, without stopping at recovery) count as they are. Then the α of
``extend_alphas`` in ascending order (1.0: full distillation), each as one constant-learning-rate
run per seed that stops at recovery or at ``distill_cap()`` steps (the pretraining compute:
``pretrain_steps x pretrain_batch_size`` sequences), its snapshots at ``extend_snapshots()`` and
at recovery attacked. The ladder stops as soon as global UNDO reaches the target on every seed;
it also stops when an α recovers on no seed (more noise only needs more distillation); otherwise
it stops when the ladder is exhausted, and the table then says that global UNDO did not get there
with the compute it spent.

*Ratio.* Per seed: Targeted-UNDO's steps to recover divided by the steps global UNDO needs to
recover at the same post-attack forget accuracy, interpolated linearly between the recovered
global configurations of that seed (``report.global_steps_at``); mean and 95 % CI over seeds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unlearnlab.data.world import ArithmeticWorld
from unlearnlab.experiments.arithmetic import extra_attacks
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.arithmetic import selection
from unlearnlab.experiments.session import Session

TEACHER = "MaxEnt"
NAMED_MASK = ("fisher", 0.05)  # the mask the headline ratio is about, named before any result


def rule() -> str:
    """The decision rule of this module's docstring (notebook 41 shows it before any result)."""
    return __doc__.split("-----\n", 1)[1].strip()


def extension_table(log: list[dict]) -> pd.DataFrame:
    """One row per α the ladder ran (``extend``'s records); empty when no extension was needed."""
    return pd.DataFrame(log, columns=["alpha", "recovered_seeds", "steps_run", "wall_s"])


def global_points(att: pd.DataFrame) -> pd.DataFrame:
    """One row per global configuration (label) and seed: the extended run if there is one, else
    the standard one; its ``recovered`` snapshot, else its largest budget (``recovered`` False)."""
    glob = att[att["method"].isin(["UNDO", "Distill"])]
    rows = []
    for _, group in glob.groupby(["label", "seed"], sort=False):
        ext = group[group["extended"]]
        run = ext if not ext.empty else group[~group["extended"]]
        rec = run[run["budget"] == "recovered"]
        if rec.empty:
            biggest = max(int(b) for b in run["budget"] if b != "recovered")
            rec = run[run["budget"] == str(biggest)]
        rows.append(rec.iloc[0])
    out = pd.DataFrame(rows).reset_index(drop=True)
    if out.empty:
        return out
    out["recovered"] = out["recovered_step"].notna()
    out["steps_to_recover"] = out["recovered_step"].astype(float)
    return out


def best_mask(targeted: pd.DataFrame) -> str | None:
    """The label of the best Targeted-UNDO configuration (see the module's rule), None if none
    recovered in every seed."""
    ok = targeted.groupby("label").filter(lambda g: bool(g["recovered"].all()))
    if ok.empty:
        return None
    return str(ok.groupby("label")["post_attack_val_forget_acc"].mean().idxmin())


def targets(targeted: pd.DataFrame) -> pd.Series:
    """seed -> post-attack forget accuracy global UNDO must reach: the lower of the best mask's
    and the named (Fisher 5 %) mask's on that seed; empty when no mask qualifies."""
    best = best_mask(targeted)
    named = targeted[(targeted["mask_source"] == NAMED_MASK[0]) & (targeted["mask_budget"] == NAMED_MASK[1])
                     & targeted["recovered"]]
    pool = [targeted[(targeted["label"] == best)]] if best is not None else []
    pool.append(named)
    both = pd.concat(pool)
    return both.groupby("seed")["post_attack_val_forget_acc"].min() if not both.empty else pd.Series(dtype=float)


def reached(points: pd.DataFrame, target: pd.Series) -> pd.Series:
    """seed -> whether some recovered global configuration of that seed is at least as robust as
    the seed's target."""
    rec = points[points["recovered"]]
    return pd.Series({s: bool(((rec["seed"] == s) & (rec["post_attack_val_forget_acc"] <= t)).any())
                      for s, t in target.items()}, dtype=bool)


def _attack_extended(session: Session, world: ArithmeticWorld) -> None:
    targets_ = [t for t in selection.attack_targets(session) if t[0]["hparam"].endswith(",extended")]
    arith.attack_many(session, world, targets_)
    extra_attacks.attack_extra_all(session, world)  # quantization, probe, in-context (cached ones read back)


def extend(session: Session, world: ArithmeticWorld, base_dirs: dict[int, Path],
           front: pd.DataFrame) -> list[dict]:
    """Run the ladder of the module's rule (``front``: ``report.frontier``, whose Targeted-UNDO
    rows set the target); returns one record per α tried (seeds recovered, steps run). Cached
    runs and attacks are read back, so a rerun repeats the same decisions at no cost."""
    p = session.profile.arithmetic
    target = targets(front[front["family"] == "Targeted-UNDO"])
    log = []
    for alpha in sorted(p.extend_alphas):
        points = global_points(selection.attacked(session))
        done = reached(points, target)
        if target.empty or done.all():
            break
        curves = arith.run_undo(session, world, base_dirs, TEACHER, alphas=(alpha,), extended=True)
        _attack_extended(session, world)
        recovered = [c["seed"] for c in curves if c["recovered_step"] is not None]
        log.append({"alpha": alpha, "recovered_seeds": recovered, "steps_run": [c["steps"] for c in curves],
                    "wall_s": [c["wall_s"] for c in curves]})
        if not recovered:
            break
    return log


def outcome(front: pd.DataFrame, cap: int) -> dict:
    """What the rule concluded, from stored results (``front``: ``report.frontier``): the target
    per seed, whether global UNDO reached it on every seed, the configurations that did, the cap
    it was allowed and the most steps it ran."""
    points, targeted = front[front["family"] == "global UNDO"], front[front["family"] == "Targeted-UNDO"]
    target = targets(targeted)
    done = reached(points, target) if not target.empty else pd.Series(dtype=bool)
    rec = points[points["recovered"]]
    reaching = sorted({r["label"] for _, r in rec.iterrows()
                       if r["seed"] in target and r["post_attack_val_forget_acc"] <= target[r["seed"]]})
    return {"best_mask": best_mask(targeted), "target": target.to_dict(), "reached_seeds": int(done.sum()),
            "seeds": int(len(target)), "all_reached": bool(len(done) and done.all()), "reaching": reaching,
            "cap": cap, "max_steps_run": _steps_run(points)}


def _steps_run(points: pd.DataFrame) -> int:
    """The most distillation steps any global run took (to its stop, not its reported snapshot)."""
    if points.empty:
        return 0
    col = points["run_steps"] if "run_steps" in points else points["distill_steps"]
    return int(col.fillna(points["distill_steps"]).max())
