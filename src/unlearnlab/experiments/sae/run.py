"""Feature-level unlearning with SAEs, scored as SAEBench does: the whole experiment of a profile.

``run``: the synthetic tier (``synthetic``: hazard world, pretrained model and its suite, one SAE
per kind and seed with its clamp sweep, RMU / GradDiff per learning rate and seed; the SAE and
baseline jobs in one-thread worker processes on a multi-core CPU, ``core.parallel.map_jobs``),
then the relearning attack (``attack``). ``real_results``: the SmolLM2 tier (``real``). Both
return the stored results in frames; ``report`` turns them into tables and text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from safetensors.torch import load_file

from unlearnlab.core.artifacts import read_json
from unlearnlab.core.parallel import map_jobs
from unlearnlab.core.timing import Laps
from unlearnlab.data.hazard import HazardWorld
from unlearnlab.evals import unlearning_score as us
from unlearnlab.experiments.sae import real
from unlearnlab.experiments.sae.attack import attack_job, attack_targets
from unlearnlab.experiments.sae.synthetic import base_evaluation, baseline_job, build_world, pretrain, sae_job
from unlearnlab.experiments.session import Session


@dataclass
class SAEResults:
    base_dir: Path
    base: dict  # the pretrained model's metrics (incl. suite sizes)
    base_eval: dict  # the unmodified model on the suite: accuracies and per-question hits (measured)
    saes: pd.DataFrame  # reconstruction metrics per kind and seed
    curves: pd.DataFrame  # SAE training curves
    sweeps: pd.DataFrame  # every sweep row, with kind and seed
    baselines: pd.DataFrame  # RMU / GradDiff runs
    runs: pd.DataFrame  # sweeps and baselines in one frame (``unlearning_score.runs_frame``)
    scores: pd.DataFrame  # unlearning score per variant and seed (``unlearning_score.score_rows``)
    stats: pd.DataFrame  # bootstrap over questions and distinct forgotten questions per variant
    attacks: pd.DataFrame  # relearning curves per attacked target
    sae_dirs: dict
    wall_s: dict  # wall-clock seconds per stage of this call (cached stages cost ~0)

    @property
    def base_side_acc(self) -> float:
        return float(self.base_eval["side_acc"])


@dataclass
class RealResults:
    suite: dict  # sizes of the real suite and its cost
    base_eval: dict  # the unmodified model on the suite (measured side-effect accuracy, hits)
    saes: pd.DataFrame  # reconstruction metrics per seed
    sweeps: pd.DataFrame
    baselines: pd.DataFrame
    runs: pd.DataFrame  # sweeps and baselines in one frame
    scores: pd.DataFrame  # as ``unlearning_score.score_rows``
    stats: pd.DataFrame  # bootstrap over questions per variant (the CI of a one-seed tier)
    timing_s: dict  # recorded seconds per stage (SAE runs summed over seeds)

    @property
    def note(self) -> str:
        """One line: model, suite, scoring format and grid."""
        s = self.suite
        return (f"real tier: {s['n_known_forget']} forget and {s['n_known_side']} side-effect questions known "
                f"(of {sum(s['n_asked'].values())}; {s['orders']} choice order(s) checked); "
                f"{self.scores['seed'].nunique() if not self.scores.empty else 0} seed(s)")


@lru_cache(maxsize=None)
def _world(directory: str) -> HazardWorld:
    return HazardWorld.load(directory)


def _job(job: tuple) -> object:
    """``fn(session, world, *args)``, the world loaded once per process."""
    fn, session, world_dir, args = job
    return fn(session, _world(world_dir), *args)


def _map(session: Session, world: HazardWorld, fn, jobs: list[tuple]) -> list:
    return map_jobs(_job, [(fn, session, str(world.directory), job) for job in jobs], session.device)


def run(session: Session, attack: bool = True) -> SAEResults:
    """The whole synthetic-tier experiment of the profile (cached step by step)."""
    p = session.profile.sae
    laps = Laps()
    world = _world(str(build_world(session)))
    base_dir = pretrain(session, world)
    base = read_json(base_dir / "metrics.json")
    base_eval = base_evaluation(session, world, base_dir)
    laps.lap("world+pretrain")
    sae_jobs = [(base_dir, kind, seed) for kind in p.kinds for seed in p.seeds]
    baseline_jobs = [(base_dir, m, lr, seed) for m in p.methods for lr in p.unlearn_lrs for seed in p.seeds]
    dirs = _map(session, world, _sae_or_baseline, [("sae", job) for job in sae_jobs]
                + [("baseline", job) for job in baseline_jobs])
    sae_dirs = {job[1:]: d for job, d in zip(sae_jobs, dirs)}
    base_dirs = {job[1:]: d for job, d in zip(baseline_jobs, dirs[len(sae_jobs):])}
    saes, curves, sweeps = collect_saes(sae_dirs)
    baselines = collect_baselines(base_dirs)
    runs = us.runs_frame(sweeps, baselines)
    scores = us.score_rows(runs, float(base_eval["side_acc"]))
    stats = us.question_stats(runs, base_eval)
    laps.lap("saes+baselines")
    attacks = pd.DataFrame()
    if attack:
        targets = attack_targets(session, sae_dirs, runs, scores, float(base_eval["side_acc"]))
        attacks = pd.DataFrame(_map(session, world, attack_job, [(base_dir, t) for t in targets]))
        laps.lap("attacks")
    return SAEResults(base_dir, base, base_eval, saes, curves, sweeps, baselines, runs, scores, stats, attacks,
                      sae_dirs, laps.laps)


def _sae_or_baseline(session: Session, world: HazardWorld, kind: str, args: tuple) -> Path:
    """One job of the SAE / baseline pool (one pool for both keeps every core busy)."""
    return (sae_job if kind == "sae" else baseline_job)(session, world, *args)


def collect_saes(sae_dirs: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Metrics, training curves and sweep rows of every SAE, with kind and seed."""
    metrics, curves, sweeps = [], [], []
    for (kind, seed), directory in sae_dirs.items():
        info = read_json(Path(directory) / "sae_config.json")
        metrics.append({"kind": kind, "seed": seed, **info["metrics"]})
        curves += [{"kind": kind, "seed": seed, **row} for row in info["curve"]]
        sweeps += [{"kind": kind, "seed": seed, **row} for row in read_json(Path(directory) / "sweep.json")]
    return pd.DataFrame(metrics), pd.DataFrame(curves), pd.DataFrame(sweeps)


def collect_baselines(base_dirs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "lr": lr, "seed": seed, "model_dir": str(d),
                          **read_json(Path(d) / "metrics.json")} for (m, lr, seed), d in base_dirs.items()])


def feature_table(sae_dir: Path, retain_set: str = "text") -> pd.DataFrame:
    """Per feature: firing frequency and mean activation on forget and retain text, and every
    rule's score, for one retain corpus (columns ``forget_freq``, ``retain_freq``, ``score_<rule>``...)."""
    tensors = load_file(str(Path(sae_dir) / "features.safetensors"))
    suffix = f"[{retain_set}]"
    return pd.DataFrame({k.removesuffix(suffix): v.numpy() for k, v in tensors.items()
                         if "[" not in k or k.endswith(suffix)})


def cost_note(results: SAEResults) -> dict:
    """Seconds: this call's stages, and the recorded training times of the cached artifacts."""
    return {**results.wall_s, "pretrain_train_s": results.base["wall_s"],
            "sae_train_s_total": float(results.saes["train_wall_s"].sum())}


def real_results(session: Session) -> RealResults:
    """The real tier of the profile: suite, one SAE per seed, RMU/GradDiff per learning rate."""
    p = session.profile.sae
    suite = read_json(real.suite_dir(session) / "info.json")
    saes, sweeps, timing = [], [], dict(suite["timing_s"])
    for seed in p.real_seeds:
        path = real.sae_run(session, seed)
        info = read_json(path / "info.json")
        for key, value in info["timing_s"].items():
            timing[key] = timing.get(key, 0.0) + value
        if "sae_metrics" in info:
            saes.append({"seed": seed, **info["sae_metrics"]})
        sweeps += [{"kind": "topk", "seed": seed, "retain": "text", **row} for row in read_json(path / "sweep.json")]
    dirs = {(m, lr, seed): real.baseline(session, m, lr, seed)
            for m in p.real_methods for lr in p.real_unlearn_lrs for seed in p.real_seeds}
    baselines = collect_baselines(dirs)
    timing["baselines"] = float(baselines["wall_s"].sum()) if not baselines.empty else 0.0
    base_eval = read_json(real.base(session) / "base.json")
    sweeps_df = pd.DataFrame(sweeps)
    runs = us.runs_frame(sweeps_df, baselines)
    scores = us.score_rows(runs, float(base_eval["side_acc"]))
    stats = us.question_stats(runs, base_eval)
    return RealResults(suite, base_eval, pd.DataFrame(saes), sweeps_df, baselines, runs, scores, stats, timing)
