"""Feature-level unlearning with SAEs, scored as SAEBench does: the whole experiment of a profile.

``run``: the synthetic tier (``synthetic``: hazard world; per seed an independently pretrained
model (init and data order) with its own suite, one SAE per kind from it with its clamp sweep,
RMU / GradDiff per learning rate from it; pretrainings, SAE and baseline jobs in one pool of
one-thread worker processes on a multi-core CPU, ``core.parallel.worker_pool``), then the
relearning attack (``attack``); scores per model against its own unmodified model
(``per_model``), every choice on the suite's validation questions and every reported number on
its test questions (``validation``). ``real_results``: the SmolLM2 tier (``real``). Both
return the stored results in frames; ``report`` turns them into tables and text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.torch import load_file

from unlearnlab.core.artifacts import read_json
from unlearnlab.core.parallel import worker_pool
from unlearnlab.core.real_model import untrained_note
from unlearnlab.core.timing import Laps
from unlearnlab.data.hazard import HazardWorld
from unlearnlab.evals import unlearning_score as us
from unlearnlab.experiments.sae import per_model, real, validation
from unlearnlab.experiments.sae.attack import attack_job, attack_targets
from unlearnlab.experiments.sae.synthetic import base_evaluation, baseline_job, build_world, load_suite, pretrain, sae_job
from unlearnlab.experiments.session import Session


@dataclass
class SAEResults:
    base_dirs: dict[int, Path]  # seed -> that seed's independently pretrained hazard model
    bases: pd.DataFrame  # per seed: its pretrained model's metrics (suite sizes, steps, seconds)
    base_evals: dict[int, dict]  # per seed: its unmodified model on its own suite (test, and val_* columns)
    saes: pd.DataFrame  # reconstruction metrics per kind and seed
    curves: pd.DataFrame  # SAE training curves
    sweeps: pd.DataFrame  # every sweep row, with kind and seed
    baselines: pd.DataFrame  # RMU / GradDiff runs
    runs: pd.DataFrame  # sweeps and baselines in one frame (``unlearning_score.runs_frame``)
    scores: pd.DataFrame  # per variant and seed, against that seed's model (``per_model.score_rows``)
    stats: pd.DataFrame  # stratified bootstrap and forgotten questions per variant (``per_model.question_stats``)
    attacks: pd.DataFrame  # relearning curves per attacked target
    sae_dirs: dict
    wall_s: dict  # wall-clock seconds per stage of this call (cached stages cost ~0)

    @property
    def n_models(self) -> int:
        """Independently pretrained models behind every synthetic-tier number."""
        return len(self.base_dirs)

    @property
    def base_side_acc(self) -> float:
        """Mean over models of the unmodified models' measured side-effect accuracy (each run is
        scored against its own model's; this mean only draws the figure's reference lines)."""
        return float(np.mean([float(e["side_acc"]) for e in self.base_evals.values()]))

    @property
    def base_side(self) -> dict[int, float]:
        """Per seed: its unmodified model's measured side-effect accuracy."""
        return {seed: float(e["side_acc"]) for seed, e in self.base_evals.items()}

    def suite_sizes(self, column: str = "n_test_forget") -> list[int]:
        """Per model (in seed order): how many questions its suite holds (default: test forget
        questions; ``n_val_forget``, ``n_test_side``, ``n_val_side``, ``n_known_*`` for both parts)."""
        return [int(v) for v in self.bases.sort_values("seed")[column]]


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
    model: str = "smollm2"  # the profile's real_model (a name or a directory)

    @property
    def tier(self) -> str:
        """The tier's name in tables: SmolLM2, or the user's model by its folder name."""
        return "SmolLM2" if self.model == "smollm2" else Path(self.model).name

    @property
    def knows(self) -> bool:
        """Whether the suite has known forget and side-effect questions (else nothing was unlearned)."""
        return bool(self.suite["n_known_forget"] and self.suite["n_known_side"])

    @property
    def note(self) -> str:
        """One line: model, suite, scoring format and grid."""
        s = self.suite
        if not self.knows:  # nothing known: no SAE is trained (real.sae_run)
            return untrained_note(self.model, s["n_known_forget"] + s["n_known_side"], sum(s["n_asked"].values()),
                                  "questions (forget and side-effect)")
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


def run(session: Session, attack: bool = True) -> SAEResults:
    """The whole synthetic-tier experiment of the profile (cached step by step): per seed an
    independently pretrained model, and every SAE / baseline / attack of that seed from it."""
    p = session.profile.sae
    laps = Laps()
    world = _world(str(build_world(session)))
    laps.lap("world")
    with worker_pool(os.cpu_count() or 1, session.device) as pool:
        base_dirs, sae_dirs, base_dirs_by_run = _train(session, world, pool)
        laps.lap("pretrain+saes+baselines")
        suites = {seed: load_suite(world, d) for seed, d in base_dirs.items()}
        counts = p.suite_counts()  # fixed sizes per part (TooFewKnown when a model knows too little)
        where = {seed: validation.suite_parts(suite, counts, f"seed {seed}'s hazard model")
                 for seed, suite in suites.items()}  # val / test / unused per question
        bases = pd.DataFrame([{"seed": s, **read_json(d / "metrics.json"), **validation.sizes(*where[s])}
                              for s, d in base_dirs.items()])
        base_evals = {seed: validation.split_eval(base_evaluation(session, world, d), *where[seed])
                      for seed, d in base_dirs.items()}
        keys = {seed: validation.keys_of(suite, validation.TEST, counts) for seed, suite in suites.items()}
        saes, curves, sweeps = collect_saes(sae_dirs)
        sweeps = validation.split_frame(sweeps, where)  # test columns, and val_* for every choice
        baselines = validation.split_frame(collect_baselines(base_dirs_by_run), where)
        runs = us.runs_frame(sweeps, baselines)
        scores = per_model.score_rows(runs, base_evals)
        stats = per_model.question_stats(runs, base_evals, keys)
        laps.lap("scores")
        attacks = pd.DataFrame()
        if attack:
            side = {seed: float(e["val_side_acc"]) for seed, e in base_evals.items()}  # targets chosen on val
            targets = attack_targets(session, sae_dirs, runs, scores, side)
            jobs = [(attack_job, session, str(world.directory), (base_dirs[t["seed"]], t)) for t in targets]
            attacks = pd.DataFrame(pool.map(_job, jobs, chunksize=1))
            laps.lap("attacks")
    return SAEResults(base_dirs, bases, base_evals, saes, curves, sweeps, baselines, runs, scores, stats, attacks,
                      sae_dirs, laps.laps)


def _train(session: Session, world: HazardWorld, pool) -> tuple[dict, dict, dict]:
    """Every seed's pretraining, then its SAE and baseline jobs, in one pool: a seed's jobs are
    queued as soon as its model exists, behind the pretrainings still waiting, so no worker idles
    while the last model trains. Returns the model, SAE and baseline directories."""
    p = session.profile.sae
    wd = str(world.directory)

    def submit(fn, *args):
        return pool.apply_async(_job, ((fn, session, wd, args),))

    pretrained = {seed: submit(pretrain, seed) for seed in p.seeds}
    base_dirs, saes, baselines = {}, {}, {}
    for seed in p.seeds:
        base_dirs[seed] = Path(pretrained[seed].get())
        saes.update({(kind, seed): submit(_sae_or_baseline, "sae", (base_dirs[seed], kind, seed)) for kind in p.kinds})
        baselines.update({(m, tuple(cfg.items()), seed): submit(_sae_or_baseline, "baseline",
                                                                (base_dirs[seed], m, cfg, seed))
                          for m in p.methods for cfg in p.baseline_settings(m)})
    return (base_dirs, {k: Path(job.get()) for k, job in saes.items()},
            {k: Path(job.get()) for k, job in baselines.items()})


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
    """One row per baseline run: method, its grid point (a learning rate, or ``(name, value)``
    pairs of ``baseline_settings``), seed, model folder and evaluation."""
    def setting(key) -> dict:
        return dict(key) if isinstance(key, tuple) else {"lr": key}

    return pd.DataFrame([{"method": m, **setting(key), "seed": seed, "model_dir": str(d),
                          **read_json(Path(d) / "metrics.json")} for (m, key, seed), d in base_dirs.items()])


def feature_table(sae_dir: Path, retain_set: str = "text") -> pd.DataFrame:
    """Per feature: firing frequency and mean activation on forget and retain text, and every
    rule's score, for one retain corpus (columns ``forget_freq``, ``retain_freq``, ``score_<rule>``...)."""
    tensors = load_file(str(Path(sae_dir) / "features.safetensors"))
    suffix = f"[{retain_set}]"
    return pd.DataFrame({k.removesuffix(suffix): v.numpy() for k, v in tensors.items()
                         if "[" not in k or k.endswith(suffix)})


def cost_note(results: SAEResults) -> dict:
    """Seconds: this call's stages, and the recorded training times of the cached artifacts
    (pretraining summed over the independent models; each ran in a one-thread process)."""
    return {**results.wall_s, "pretrain_train_s_total": float(results.bases["wall_s"].sum()),
            "pretrain_models": results.n_models, "sae_train_s_total": float(results.saes["train_wall_s"].sum())}


def real_results(session: Session) -> RealResults:
    """The real tier of the profile: suite, one SAE per seed, RMU/GradDiff per learning rate."""
    p = session.profile.sae
    suite = read_json(real.suite_dir(session) / "info.json")
    if not (suite["n_known_forget"] and suite["n_known_side"]):  # an untrained-looking model: nothing to score
        empty = pd.DataFrame()
        return RealResults(suite, {}, empty, empty, empty, empty, empty, empty, dict(suite["timing_s"]), p.real_model)
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
    return RealResults(suite, base_eval, pd.DataFrame(saes), sweeps_df, baselines, runs, scores, stats, timing,
                       p.real_model)
