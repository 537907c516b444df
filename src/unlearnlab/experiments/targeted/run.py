"""Targeted-UNDO on the arithmetic world: the sweep and its attacks (``report`` draws the
compute-vs-robustness frontier against global UNDO from the stored results).

Each run of seed s: the MaxEnt teacher of base_s → UNDO noise only inside a localization mask
computed on base_s (``localizations``: the localize study's ``localize_all`` with seed s) → distillation
until retain accuracy is back within ``retain_threshold`` of the teacher (else the largest
budget) → worst-case relearning attack on that model. The question: at equal post-attack forget
accuracy, how many distillation steps does Targeted-UNDO need relative to global UNDO?
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

from unlearnlab.data.world import ArithmeticWorld
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.localize.run import localize_all, mask_dir
from unlearnlab.experiments.session import Session
from unlearnlab.core.parallel import map_jobs

TEACHER = "MaxEnt"


def sweep(session: Session) -> list[dict]:
    """The profile's grid: mask source × mask budget × α × train-only-masked × seed."""
    p = session.profile
    grid = itertools.product(p.targeted.sources, p.targeted.budgets, p.targeted.alphas, p.targeted.train_only, p.arithmetic.seeds)
    return [{"source": s, "budget": b, "alpha": a, "only": o, "seed": seed} for s, b, a, o, seed in grid]


def final_snapshot(run_dir: Path) -> Path:
    """The model the frontier reports: at recovery, else at the largest budget."""
    recovered = run_dir / "budget_recovered"
    if recovered.is_dir():
        return recovered
    return max(run_dir.glob("budget_[0-9]*"), key=lambda d: int(d.name.removeprefix("budget_")))


def run_one(session: Session, world: ArithmeticWorld, teacher_dir: Path, localizations: dict[str, Path],
            job: dict) -> dict:
    """Distill one Targeted-UNDO configuration and attack its final model (both cached)."""
    mdir = mask_dir(localizations, job["source"], job["budget"])
    run_dir = arith.distill(session, world, teacher_dir, "TargetedUNDO", job["seed"], job["alpha"], mdir, job["only"])
    model_dir = final_snapshot(run_dir)
    hparam = (f"alpha={job['alpha']:g},mask={job['source']}@{job['budget']:g}"
              + (",only-masked" if job["only"] else "") + f",budget={model_dir.name.removeprefix('budget_')}")
    key = {"setting": arith.SETTING, "method": "TargetedUNDO", "seed": job["seed"], "hparam": hparam}
    return arith.attack(session, world, model_dir, key, job["seed"])


def _job(args: tuple) -> dict:
    session, world_dir, teacher_dir, localizations, job = args
    return run_one(session, ArithmeticWorld.load(world_dir), teacher_dir, localizations, job)


def _localize_job(args: tuple) -> dict[str, str]:
    session, world_dir, base_dir, seed = args
    out = localize_all(session, ArithmeticWorld.load(world_dir), Path(base_dir), seed)
    return {m: str(d) for m, d in out.items()}


def localizations(session: Session, world: ArithmeticWorld, base_dirs: dict[int, Path]) -> dict[int, dict[str, Path]]:
    """seed -> {source: localization directory} with masks computed on base_s. Only the targeted
    sources are scored (the localize study's artifacts are keyed per method, so seed 0's are the
    ones 20_localize computed); seeds run in the process pool."""
    p = session.profile
    only = Session(replace(p, localize=replace(p.localize, localizers=tuple(p.targeted.sources))), session.paths)
    seeds = list(p.arithmetic.seeds)
    jobs = [(only, str(world.directory), str(base_dirs[s]), s) for s in seeds]
    outs = map_jobs(_localize_job, jobs, session.device, p.arithmetic.workers or None)
    return {s: {m: Path(d) for m, d in out.items()} for s, out in zip(seeds, outs)}


def run_sweep(session: Session, world: ArithmeticWorld, base_dirs: dict[int, Path],
              localizations_by_seed: dict[int, dict[str, Path]]) -> int:
    """Every job of the sweep, seed s from base_s's teacher and base_s's masks; on a multi-core
    CPU in one-thread processes (small models do not scale across threads; independent runs do).
    Returns the number of jobs."""
    by_seed = arith.teachers(session, world, base_dirs, TEACHER)
    jobs = [(session, str(world.directory), by_seed[j["seed"]], localizations_by_seed[j["seed"]], j)
            for j in sweep(session)]
    map_jobs(_job, jobs, session.device, session.profile.arithmetic.workers or None)
    return len(jobs)
