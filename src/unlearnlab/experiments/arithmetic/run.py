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
from unlearnlab.evals.exact_match import accuracy_by_label, cross_entropy
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
    """Accuracy per operation on held-out eval items, retain/forget means, English CE."""
    acc = accuracy_by_label(model, world.tokens("eval"))
    return {**{f"acc_{op}": v for op, v in acc.items()},
            "retain_acc": sum(acc[o] for o in RETAIN_OPS) / len(RETAIN_OPS),
            "forget_acc": sum(acc[o] for o in FORGET_OPS) / len(FORGET_OPS),
            "english_ce": cross_entropy(model, world.tokens("english_eval"))}


def _save(model, world: ArithmeticWorld, directory: Path, metrics: dict) -> None:
    save_model(model, world.tokenizer, directory)
    write_json_atomic(directory / "metrics.json", metrics)


def _register(session: Session, model_dir: Path, key: dict, extra: dict) -> None:
    """(Re)write the results-store row of a saved model from its ``metrics.json``, also when the
    artifact was cached, so the store always describes the models on disk for this config."""
    metrics = read_json(model_dir / "metrics.json")
    session.store.put("models", key, {**metrics, **extra, "model_dir": str(model_dir)})


def pretrain(session: Session, world: ArithmeticWorld, kind: str, seed: int = 0) -> Path:
    """Train the ``base`` model (all operations) or the ``oracle`` (never sees x/÷)."""
    if kind not in ("base", "oracle"):
        raise ValueError(f"kind must be 'base' or 'oracle', got {kind!r}")
    p = session.profile
    cfg = {"kind": kind, "seed": seed, "world": world.card["config"], "model": asdict(p.arithmetic.model),
           "steps": p.arithmetic.pretrain_steps, "lr": p.arithmetic.pretrain_lr, "batch_size": p.arithmetic.pretrain_batch_size,
           "upsample": dict(p.arithmetic.upsample)}
    artifact = Artifact(session.paths.artifacts, "pretrain", kind, cfg)

    def make(tmp: Path) -> None:
        gen = seed_everything(seed)
        data = world.pretraining_set(kind == "base", dict(p.arithmetic.upsample))
        model = build_llama(p.arithmetic.model, len(world.tokenizer), world.tokenizer, seed).to(session.device)
        batches = data.sampler(p.arithmetic.pretrain_batch_size, gen, session.device)

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
    _register(session, path, {"setting": SETTING, "method": kind, "seed": seed}, {"hparam": ""})
    return path


def _pretrain_job(args: tuple[Session, str, str, int]) -> str:
    session, world_dir, kind, seed = args
    return str(pretrain(session, ArithmeticWorld.load(world_dir), kind, seed))


def pretrain_all(session: Session, world: ArithmeticWorld, kinds: tuple[str, ...] = ("base", "oracle"),
                 seed: int = 0) -> dict[str, Path]:
    """Pretrain several models; on a multi-core CPU, in parallel processes of one thread each
    (``parallel.map_jobs``: base and oracle are independent)."""
    dirs = map_jobs(_pretrain_job, [(session, str(world.directory), k, seed) for k in kinds], session.device)
    return {k: Path(d) for k, d in zip(kinds, dirs)}


def unlearn_data(session: Session, world: ArithmeticWorld, seed: int) -> UnlearnData:
    return UnlearnData(forget=world.tokens("forget_train"), retain=world.retain_set(),
                       generator=seed_everything(seed), device=session.device,
                       retain_eval=world.tokens("eval", RETAIN_OPS))


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
        metrics = {**evaluate(model, world), "steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s}
        _save(model, world, tmp, metrics)

    path = artifact.build(make)
    _register(session, path, {"setting": SETTING, "method": method, "seed": seed, "hparam": f"lr={lr:g}"},
              {"lr": lr})
    return path


def distill(session: Session, world: ArithmeticWorld, teacher_dir: Path, method: str, seed: int,
            alpha: float = 1.0, mask_dir: Path | None = None, train_only_masked: bool = False) -> Path:
    """UNDO (noise level ``alpha``), Targeted-UNDO (noise only inside the mask saved at
    ``mask_dir``) or full distillation (``method='Distill'``) of a teacher.

    UNDO and Distill run to the largest budget with a constant learning rate, so the snapshot
    after ``b`` steps is exactly a run with budget ``b``; each snapshot is saved as a model
    directory ``budget_<b>``. The step at which UNDO's stopping rule (retain accuracy back within
    ``retain_threshold`` of the teacher) fires is recorded and saved as ``budget_recovered``.
    Targeted-UNDO stops there (only its cost to recover matters), else at the largest budget.
    """
    p = session.profile
    budgets = tuple(p.arithmetic.distill_budgets)
    targeted = method == "TargetedUNDO"
    method_cfg = {"steps": max(budgets), "lr": p.arithmetic.distill_lr, "batch_size": p.arithmetic.batch_size,
                  "eval_every": p.arithmetic.distill_eval_every, "retain_threshold": p.arithmetic.retain_threshold,
                  "stop_on_recovery": targeted, "snapshot_steps": budgets, "seed": seed}
    if method != "Distill":
        method_cfg["alpha"] = alpha
    cfg = {"method": method, "teacher": Path(teacher_dir).name, "config": method_cfg}
    name = f"{method}_a{alpha:g}_s{seed}" if method != "Distill" else f"{method}_s{seed}"
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
        result = runner.distill(teacher, unlearn_data(session, world, seed), **session.hardware)
        n = count_parameters(teacher)
        steps_per_budget = {b: b for b in budgets if b in result.snapshots}
        if result.recovered_step is not None:
            steps_per_budget["recovered"] = result.recovered_step
        for label, step in steps_per_budget.items():
            result.student.load_state_dict(result.snapshots[step])
            tokens = result.log.tokens * step / max(1, result.log.steps)
            metrics = {**evaluate(result.student, world), "distill_steps": step,
                       "unlearn_steps": teacher_metrics.get("steps", 0),
                       "steps": step + teacher_metrics.get("steps", 0),
                       "distill_flops": 8 * n * tokens,  # 6N per trained token + 2N teacher forward
                       "recovered_step": result.recovered_step}
            _save(result.student, world, tmp / f"budget_{label}", metrics)
        write_json_atomic(tmp / "retain_curve.json", {"teacher_retain_acc": result.teacher_retain_acc,
                                                      "curve": result.retain_curve,
                                                      "recovered_step": result.recovered_step})

    path = artifact.build(make)
    extra = {"alpha": alpha}
    hparam = f"alpha={alpha:g}"
    if targeted:
        extra.update({"mask_source": source, "mask_budget": mbudget, "train_only_masked": train_only_masked})
        hparam += f",mask={source}@{mbudget:g}" + (",only-masked" if train_only_masked else "")
    for snapshot in sorted(path.glob("budget_*")):
        label = snapshot.name.removeprefix("budget_")
        _register(session, snapshot, {"setting": SETTING, "method": method, "seed": seed,
                                      "hparam": f"{hparam},budget={label}"}, {**extra, "budget": label})
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
    rows = relearning_attack(model, world.attack_set(cfg.n_items, seed),
                             world.tokens("eval", FORGET_OPS), FORGET_OPS, cfg, seed, **session.hardware)
    summary = {**worst_case(rows), "curve": rows}
    store.put("attacks", key, summary)
    return {**key, **summary}


def run_baselines(session: Session, world: ArithmeticWorld, base_dir: Path, methods: tuple[str, ...]) -> None:
    """Every method at every learning rate of the profile's sweep, for every seed (notebook 30)."""
    p = session.profile.arithmetic
    for method in methods:
        for lr in p.unlearn_lrs:
            for seed in p.seeds:
                unlearn(session, world, base_dir, method, lr, seed)


def run_undo(session: Session, world: ArithmeticWorld, base_dir: Path, teacher_method: str) -> list[dict]:
    """UNDO at every α of the profile and full distillation, from the ``teacher_method`` model at
    its chosen learning rate, per seed (notebook 31); returns each run's retain-recovery curve."""
    lr = selection.selected_lrs(session, [teacher_method])[teacher_method]
    curves = []
    for seed in session.profile.arithmetic.seeds:
        teacher = unlearn(session, world, base_dir, teacher_method, lr, seed)
        runs = [(f"UNDO α={a:g}", "UNDO", a) for a in session.profile.arithmetic.undo_alphas]
        for label, method, alpha in runs + [("Distill (α=1)", "Distill", 1.0)]:
            out = distill(session, world, teacher, method, seed, alpha)
            curves.append({"label": label, "seed": seed, **read_json(out / "retain_curve.json")})
    return curves


def attack_all(session: Session, world: ArithmeticWorld) -> int:
    """The relearning attack on every model the paper reports (notebook 40); returns how many."""
    targets = selection.attack_targets(session)
    for key, model_dir, seed in targets:
        attack(session, world, model_dir, key, seed)
    return len(targets)
