"""The arithmetic UNDO slice: pretrain base/oracle, unlearn, UNDO, relearning attacks.

One function per notebook step (``pretrain_all`` for 10, ``run_baselines`` for 30, ``run_undo``
for 31, ``attack_all`` for 40) over the building blocks ``pretrain``, ``unlearn``, ``distill`` and
``attack``. Every function is resumable: its output is a config-keyed artifact (model directory) or a row
of the results store, and finished work is skipped on rerun.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from unlearnlab.core.artifacts import Artifact, config_hash, read_json, write_json_atomic
from unlearnlab.attacks.relearn import relearning_attack, worst_case
from unlearnlab.data.arithmetic import FORGET_OPS, RETAIN_OPS
from unlearnlab.data.world import ArithmeticWorld
from unlearnlab.evals.exact_match import accuracy_by_label, cross_entropy, exact_match, mean_accuracy
from unlearnlab.experiments.arithmetic import selection
from unlearnlab.experiments.arithmetic.config import SETTING
from unlearnlab.experiments.session import Session, model_id
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.methods import UnlearnData, get_method
from unlearnlab.core.models import build_llama, count_parameters, load_model, save_model
from unlearnlab.core.parallel import map_jobs
from unlearnlab.core.seeding import seed_everything
from unlearnlab.core.training import TrainConfig, train

# Retain-term weight of the GradDiff family here. Measured on an earlier 2,500-step base model (MaxEnt,
# lr 3e-4, 100 steps): weight 1 kept 56 % retain accuracy, weight 5 kept 73 %, forget 0.6 % both.
RETAIN_WEIGHT = {"GradDiff": 5.0, "MaxEnt": 5.0, "NPO": 5.0, "SimNPO": 5.0}


def load_world(session: Session) -> ArithmeticWorld:
    """Build (once) and load the arithmetic world of this profile."""
    return ArithmeticWorld.load(ArithmeticWorld.build(session.profile.arithmetic.world(), session.paths.data))


def evaluate(model, world: ArithmeticWorld) -> dict:
    """Accuracy per operation on the test (eval) items, retain/forget means, English CE, and the
    retain/forget means on the validation items (``val_retain_acc``, ``val_forget_acc``), which
    the study's choices read instead of the test numbers."""
    acc = accuracy_by_label(model, world.tokens("eval"))
    val = accuracy_by_label(model, world.tokens("val"))
    return {**{f"acc_{op}": v for op, v in acc.items()},
            "retain_acc": sum(acc[o] for o in RETAIN_OPS) / len(RETAIN_OPS),
            "forget_acc": sum(acc[o] for o in FORGET_OPS) / len(FORGET_OPS),
            "val_retain_acc": sum(val[o] for o in RETAIN_OPS) / len(RETAIN_OPS),
            "val_forget_acc": sum(val[o] for o in FORGET_OPS) / len(FORGET_OPS),
            "english_ce": cross_entropy(model, world.tokens("english_eval"))}


def _save(model, world: ArithmeticWorld, directory: Path, metrics: dict) -> None:
    save_model(model, world.tokenizer, directory)
    write_json_atomic(directory / "metrics.json", metrics)


def _register(session: Session, model_dir: Path, key: dict, extra: dict) -> None:
    """(Re)write the results-store row of a saved model from its ``metrics.json``, also when the
    artifact was cached, so the store always describes the models on disk for this config."""
    metrics = read_json(model_dir / "metrics.json")
    session.store.put("models", key, {**metrics, **extra, "model_dir": str(model_dir)})


def packing(width: int) -> dict:
    """The artifact-key entry of packed batches: none when unpacked, so padded runs keep their keys."""
    return {"pack_width": width} if width else {}


def pretrain(session: Session, world: ArithmeticWorld, kind: str, seed: int = 0) -> Path:
    """Train the ``base`` model (all operations) or the ``oracle`` (never sees x/÷)."""
    if kind not in ("base", "oracle"):
        raise ValueError(f"kind must be 'base' or 'oracle', got {kind!r}")
    p = session.profile
    cfg = {"kind": kind, "seed": seed, "world": world.card["config"], "model": asdict(p.arithmetic.model),
           "steps": p.arithmetic.pretrain_steps, "lr": p.arithmetic.pretrain_lr, "batch_size": p.arithmetic.pretrain_batch_size,
           "upsample": dict(p.arithmetic.upsample), **packing(p.arithmetic.pack_width)}
    artifact = Artifact(session.paths.artifacts, "pretrain", kind, cfg)

    def make(tmp: Path) -> None:
        gen = seed_everything(seed)
        data = world.pretraining_set(kind == "base", dict(p.arithmetic.upsample))
        model = build_llama(p.arithmetic.model, len(world.tokenizer), world.tokenizer, seed).to(session.device)
        batches = data.sampler(p.arithmetic.pretrain_batch_size, gen, session.device, p.arithmetic.pack_width)

        def step_loss(fwd, step):
            b = next(batches)
            return nll(logits_of(fwd, b), b), int(b["attention_mask"].sum())

        log = train(model, step_loss, TrainConfig(steps=p.arithmetic.pretrain_steps, lr=p.arithmetic.pretrain_lr,
                                                  batch_size=p.arithmetic.pretrain_batch_size, **session.hardware),
                    desc=f"pretrain {kind}")
        metrics = {**evaluate(model, world), "steps": log.steps, "tokens": log.tokens,
                   "wall_s": log.wall_s, "n_params": count_parameters(model),
                   "final_loss": sum(log.losses[-20:]) / max(1, len(log.losses[-20:]))}
        _save(model, world, tmp, metrics)

    path = artifact.build(make)
    _register(session, path, {"setting": SETTING, "method": kind, "seed": seed},
              {"hparam": "", "base_model": path.name})
    return path


def _workers(session: Session) -> int | None:
    """Processes for independent jobs: the profile's ``workers``, 0 meaning one per core."""
    return session.profile.arithmetic.workers or None


def _pretrain_job(args: tuple[Session, str, str, int]) -> str:
    session, world_dir, kind, seed = args
    return str(pretrain(session, ArithmeticWorld.load(world_dir), kind, seed))


def pretrain_all(session: Session, world: ArithmeticWorld, kinds: tuple[str, ...] = ("base", "oracle"),
                 seeds: tuple[int, ...] | None = None) -> dict[tuple[str, int], Path]:
    """Pretrain ``kinds`` for every seed of the profile (init and data order ``seed``): one
    independent base/oracle pair per seed. On a multi-core CPU the jobs run in parallel processes
    of one thread each (``parallel.map_jobs``). Returns (kind, seed) -> model directory."""
    seeds = tuple(session.profile.arithmetic.seeds if seeds is None else seeds)
    jobs = [(k, s) for s in seeds for k in kinds]
    dirs = map_jobs(_pretrain_job, [(session, str(world.directory), k, s) for k, s in jobs], session.device,
                    _workers(session))
    return {job: Path(d) for job, d in zip(jobs, dirs)}


def bases(session: Session, world: ArithmeticWorld) -> dict[int, Path]:
    """seed -> base model directory for every profile seed (pretrained by 10_pretrain; cached)."""
    return {s: d for (_, s), d in pretrain_all(session, world, ("base",)).items()}


def unlearn_data(session: Session, world: ArithmeticWorld, seed: int) -> UnlearnData:
    return UnlearnData(forget=world.tokens("forget_train"), retain=world.retain_set(),
                       generator=seed_everything(seed), device=session.device,
                       retain_eval=world.tokens("val", RETAIN_OPS))  # UNDO's stopping rule reads val


def unlearn(session: Session, world: ArithmeticWorld, base_dir: Path, method: str, lr: float,
            seed: int, **config) -> Path:
    """Run one registered loss-based method on the base model; save model and metrics.

    The forget term scores answer tokens only (the knowledge is the answer; the prompt's
    digits and words are shared with retain data).
    """
    p = session.profile
    method_cfg = {"steps": p.arithmetic.unlearn_steps, "lr": lr, "batch_size": p.arithmetic.batch_size, "answer_only": True, **config}
    if method in RETAIN_WEIGHT:
        method_cfg.setdefault("retain_weight", RETAIN_WEIGHT[method])
    cfg = {"method": method, "seed": seed, "base": str(Path(base_dir).name), "config": method_cfg}
    artifact = Artifact(session.paths.artifacts, "unlearn", f"{method}_lr{lr:g}_s{seed}", cfg)

    def make(tmp: Path) -> None:
        model = load_model(base_dir, session.device)
        runner = get_method(method, **method_cfg)
        log = runner.run(model, unlearn_data(session, world, seed), **session.hardware)
        metrics = {**evaluate(model, world), "steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s,
                   "base_model": Path(base_dir).name}
        _save(model, world, tmp, metrics)

    path = artifact.build(make)
    metrics = read_json(path / "metrics.json")
    if "base_model" not in metrics:  # cached before models were traced to their base: add it
        write_json_atomic(path / "metrics.json", {**metrics, "base_model": Path(base_dir).name})
    _register(session, path, {"setting": SETTING, "method": method, "seed": seed, "hparam": f"lr={lr:g}"},
              {"lr": lr})
    return path


_TEACHER_ACC: dict[tuple[str, int], float] = {}  # (teacher dir, items' fingerprint) -> retain accuracy


def teacher_retain_acc(teacher, teacher_dir: Path, data: UnlearnData) -> float:
    """The teacher's accuracy on UNDO's stopping-rule items, once per teacher and process: every
    distillation run of one teacher (each alpha, mask and seed of a sweep in one pool worker) needs
    the same value, computed exactly as ``Distill.distill`` would (a saved model never changes)."""
    items = data.retain_eval
    fingerprint = hash((tuple(map(tuple, items.prompts)), tuple(map(tuple, items.answers)), items.pad_id))
    key = (str(Path(teacher_dir).resolve()), fingerprint)
    if key not in _TEACHER_ACC:
        _TEACHER_ACC[key] = mean_accuracy(exact_match(teacher.eval(), data.retain_eval))
    return _TEACHER_ACC[key]


def warmup_fraction(warmup_steps: int, steps: int) -> float:
    """The ``warmup_frac`` that gives exactly ``warmup_steps`` warm-up steps in a run of ``steps``
    (``TrainConfig`` takes a fraction): with it, runs of every length share their first steps."""
    return (warmup_steps + 0.5) / steps


def distill(session: Session, world: ArithmeticWorld, teacher_dir: Path, method: str, seed: int,
            alpha: float = 1.0, mask_dir: Path | None = None, train_only_masked: bool = False,
            extended: bool = False) -> Path:
    """UNDO (noise level ``alpha``), Targeted-UNDO (noise only inside the mask saved at
    ``mask_dir``) or full distillation (``method='Distill'``) of a teacher.

    Every run uses a constant learning rate after a warm-up of ``distill_warmup_steps`` steps, so
    the snapshot after ``b`` steps is a run with budget ``b``; each snapshot is saved as a model
    directory ``budget_<b>``. The step at which UNDO's stopping rule (retain accuracy back within
    ``retain_threshold`` of the teacher) fires is recorded and saved as ``budget_recovered``.
    Standard runs (notebook 31) go to the largest of ``distill_budgets``; Targeted-UNDO stops at
    recovery (only its cost to recover matters), global UNDO does not (its curve beyond recovery is
    drawn). ``extended`` runs (notebook 41) stop at recovery or at ``distill_cap()`` steps, with
    snapshots at ``extend_snapshots()``. ``retain_curve.json``'s ``curve`` holds None at checks whose
    accuracy was not needed (``Distill.distill``); its ``recovered_step`` and ``steps`` are exact.
    """
    p = session.profile.arithmetic
    targeted = method == "TargetedUNDO"
    budgets = p.extend_snapshots() if extended else tuple(p.distill_budgets)
    steps = max(budgets)
    method_cfg = {"steps": steps, "lr": p.distill_lr, "batch_size": p.batch_size,
                  "warmup_frac": warmup_fraction(p.distill_warmup_steps, steps),
                  "eval_every": p.extend_eval_every if extended else p.distill_eval_every,
                  "retain_threshold": p.retain_threshold, "stop_on_recovery": targeted or extended,
                  "snapshot_steps": budgets, "seed": seed, **packing(p.pack_width)}
    if method != "Distill":
        method_cfg["alpha"] = alpha
    cfg = {"method": method, "teacher": Path(teacher_dir).name, "config": method_cfg}
    name = f"{method}_a{alpha:g}_s{seed}" if method != "Distill" else f"{method}_s{seed}"
    name += "_ext" * extended
    if targeted:
        if mask_dir is None:
            raise ValueError("TargetedUNDO needs mask_dir (a saved localization Mask)")
        info = read_json(Path(mask_dir) / "mask.json")
        source, mbudget = info["source"], float(info["meta"]["budget"])
        cfg["mask"] = {"source": source, "budget": mbudget, "n_selected": info["n_selected"],
                       "localization": Path(mask_dir).parent.name, "train_only_masked": train_only_masked}
        name = f"{method}_{source}_{mbudget:g}{'_only' * train_only_masked}_a{alpha:g}_s{seed}"
        method_cfg = {**method_cfg, "mask_path": str(mask_dir), "train_only_masked": train_only_masked}
    artifact = Artifact(session.paths.artifacts, "distill", name, cfg)
    teacher_metrics = read_json(Path(teacher_dir) / "metrics.json")

    def make(tmp: Path) -> None:
        teacher = load_model(teacher_dir, session.device)
        runner = get_method(method, **method_cfg)
        data = unlearn_data(session, world, seed)
        result = runner.distill(teacher, data, teacher_acc=teacher_retain_acc(teacher, teacher_dir, data),
                                **session.hardware)
        n = count_parameters(teacher)
        steps_per_budget = {b: b for b in budgets if b in result.snapshots}
        if result.recovered_step is not None:
            steps_per_budget["recovered"] = result.recovered_step
        evaluated: dict[int, dict] = {}  # step -> evaluate(): budget_recovered at a budget's step is that snapshot
        for label, step in steps_per_budget.items():
            result.student.load_state_dict(result.snapshots[step])
            tokens = result.log.tokens * step / max(1, result.log.steps)
            if step not in evaluated:
                evaluated[step] = evaluate(result.student, world)
            metrics = {**evaluated[step], "distill_steps": step,
                       "unlearn_steps": teacher_metrics.get("steps", 0),
                       "steps": step + teacher_metrics.get("steps", 0),
                       "distill_flops": 8 * n * tokens,  # 6N per trained token + 2N teacher forward
                       "recovered_step": result.recovered_step, "run_steps": result.log.steps,
                       "run_wall_s": result.log.wall_s}
            _save(result.student, world, tmp / f"budget_{label}", metrics)
        write_json_atomic(tmp / "retain_curve.json", {"teacher_retain_acc": result.teacher_retain_acc,
                                                      "curve": result.retain_curve,
                                                      "recovered_step": result.recovered_step,
                                                      "steps": result.log.steps, "wall_s": result.log.wall_s})

    path = artifact.build(make)
    extra = {"alpha": alpha, "base_model": teacher_metrics["base_model"], "extended": extended}
    hparam = f"alpha={alpha:g}"
    if targeted:
        extra.update({"mask_source": source, "mask_budget": mbudget, "train_only_masked": train_only_masked})
        hparam += f",mask={source}@{mbudget:g}" + (",only-masked" if train_only_masked else "")
    for snapshot in sorted(path.glob("budget_*")):
        label = snapshot.name.removeprefix("budget_")
        _register(session, snapshot, {"setting": SETTING, "method": method, "seed": seed,
                                      "hparam": f"{hparam},budget={label}" + ",extended" * extended},
                  {**extra, "budget": label})
    return path


def attack(session: Session, world: ArithmeticWorld, model_dir: str | Path, key: dict, seed: int) -> dict:
    """Relearning attack on a saved model; stores the curves and the worst case, returns the latter."""
    store = session.store
    cfg = session.profile.arithmetic.relearn()
    # another attack config, or another model under the same name (say, after a change of
    # distillation settings), is another row: never reuse an attack of a different model
    key = {**key, "attack_hash": config_hash(cfg), "model_id": model_id(session, model_dir)}
    if store.has("attacks", key):
        return store.get("attacks", key)
    model = load_model(model_dir, session.device)
    rows = relearning_attack(model, world.attack_set(cfg.n_items, seed), world.tokens("eval", FORGET_OPS), FORGET_OPS,
                             cfg, seed, forget_val=world.tokens("val", FORGET_OPS), **session.hardware)
    # the worst-case learning rate is picked on validation; its test accuracy is what is reported
    summary = {**worst_case(rows, select_key="val_forget_acc"), "curve": rows}
    store.put("attacks", key, summary)
    return {**key, **summary}


def _unlearn_job(args: tuple) -> str:
    session, world_dir, base_dir, method, lr, seed = args
    return str(unlearn(session, ArithmeticWorld.load(world_dir), base_dir, method, lr, seed))


def run_baselines(session: Session, world: ArithmeticWorld, base_dirs: dict[int, Path],
                  methods: tuple[str, ...]) -> None:
    """Every method at every learning rate of the profile's sweep, for every seed, each from that
    seed's own base model (notebook 30); independent runs in the process pool."""
    p = session.profile.arithmetic
    jobs = [(session, str(world.directory), base_dirs[seed], m, lr, seed)
            for m in methods for lr in p.unlearn_lrs for seed in p.seeds]
    map_jobs(_unlearn_job, jobs, session.device, _workers(session))


def teachers(session: Session, world: ArithmeticWorld, base_dirs: dict[int, Path], method: str) -> dict[int, Path]:
    """seed -> the ``method``-unlearned model of base_s at its chosen learning rate (in this
    process: 30_baselines has trained them all, so they are read from the cache)."""
    lr = selection.selected_lrs(session, [method])[method]
    return {s: unlearn(session, world, base_dirs[s], method, lr, s) for s in session.profile.arithmetic.seeds}


def _distill_job(args: tuple) -> str:
    session, world_dir, teacher, method, seed, alpha, extended = args
    return str(distill(session, ArithmeticWorld.load(world_dir), teacher, method, seed, alpha, extended=extended))


def global_runs(alphas) -> list[tuple[str, str, float]]:
    """(label, method, α) of global UNDO at each α, α = 1 being full distillation."""
    return [("Distill (α=1)", "Distill", 1.0) if a >= 1 else (f"UNDO α={a:g}", "UNDO", float(a)) for a in alphas]


def run_undo(session: Session, world: ArithmeticWorld, base_dirs: dict[int, Path], teacher_method: str,
             alphas=None, extended: bool = False) -> list[dict]:
    """UNDO at every α (default: the profile's, and full distillation) from each seed's
    ``teacher_method`` model (notebook 31; notebook 41 with ``extended``), in the process pool;
    returns each run's retain-recovery curve."""
    p = session.profile.arithmetic
    alphas = (*p.undo_alphas, 1.0) if alphas is None else alphas
    by_seed = teachers(session, world, base_dirs, teacher_method)
    runs = [(label, method, a, seed) for label, method, a in global_runs(alphas) for seed in p.seeds]
    jobs = [(session, str(world.directory), by_seed[seed], method, seed, a, extended) for _, method, a, seed in runs]
    outs = map_jobs(_distill_job, jobs, session.device, _workers(session))
    return [{"label": label, "seed": seed, "extended": extended, **read_json(Path(out) / "retain_curve.json")}
            for (label, _, _, seed), out in zip(runs, outs)]


def _attack_job(args: tuple) -> dict:
    session, world_dir, model_dir, key, seed = args
    return attack(session, ArithmeticWorld.load(world_dir), model_dir, key, seed)


def attack_many(session: Session, world: ArithmeticWorld, targets: list[tuple[dict, str, int]]) -> list[dict]:
    """The relearning attack on (store key, model directory, seed) targets, in the process pool
    (cached attacks are read back, not rerun)."""
    jobs = [(session, str(world.directory), str(d), key, seed) for key, d, seed in targets]
    return map_jobs(_attack_job, jobs, session.device, _workers(session))


def attack_all(session: Session, world: ArithmeticWorld) -> int:
    """The relearning attack on every model the paper reports (notebook 40); returns how many."""
    targets = selection.attack_targets(session)
    attack_many(session, world, targets)
    return len(targets)
