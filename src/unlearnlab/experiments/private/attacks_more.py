"""Private records: three more attacks on every model (quantization, a linear probe, in-context relearning).

Relearning (``evaluate.relearn``) asks whether a short fine-tune brings forgotten clients back;
these ask it without training (``attacks/``):

* **quantization** (``attacks.quantize``): forget and retain QA (test wording) of the model
  rounded to int8 and int4 per output channel. An unlearning update smaller than a grid step may
  round back onto the base's weights; the oracle is quantized the same way, and so is the base
  (does the knowledge survive rounding at all?).
* **linear probe** (``attacks.probe``): per decoder layer, a logistic regression from the
  residual stream at the answer position to the private attribute (``probe_field``, the
  diagnosis), fitted on the validation wording of the retain clients (the model still knows
  them); the layer is the one with the best two-fold accuracy on those validation items (fitted on
  half of the clients, scored on the other half, both ways), and the probe fitted on all of them
  is reported at that layer on the forget clients' test wording (``probe_forget_acc``) and on
  holdout clients no model saw (``probe_holdout_acc``: what the prompt alone gives away). An
  oracle-like model keeps the forget clients at the holdout level; a model that only hides the
  answer keeps them readable.
* **in-context relearning** (``attacks.in_context``): the relearning attack without a gradient
  step: ``k`` of the attacked half's trained question-answer pairs before each test question of
  the *other* forget clients (the relearning split, ``evaluate.relearn_split``), so the shots
  never state a scored client's fact. Prompts are capped at the model's context; the rows say
  how many shots fit.

Each (model, attack) is a row of ``TABLE`` keyed by the model and the attack's settings
(``MoreAttacksConfig``): the existing evaluation and relearning rows are untouched. The real tier
(SmolLM2 adapters, ``real``) gets quantization and in-context relearning, rows of ``REAL_TABLE``
(``real_run``, ``real_icl_run``); not the probe: fitted on the retain members' validation
questions (one per member), it could name only the diagnoses they have, which most forget clients
lack (``real_probe_coverage`` counts them), so its forget accuracy would be capped alike for every
model, the oracle included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from unlearnlab.attacks.in_context import in_context_attack
from unlearnlab.attacks.probe import answer_states, check_disjoint, fit_logistic
from unlearnlab.attacks.quantize import quantization_attack
from unlearnlab.core.artifacts import config_hash
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.models import load_model
from unlearnlab.core.parallel import map_jobs
from unlearnlab.data.medical_world import MedicalWorld
from unlearnlab.evals.exact_match import exact_match
from unlearnlab.experiments.private import real
from unlearnlab.experiments.private.evaluate import SETTING, cached, nan_mean, relearn_split
from unlearnlab.experiments.session import Session, model_id

TABLE, REAL_TABLE = "medical_attacks_more", "medical_real_attacks_more"


@dataclass(frozen=True)
class MoreAttacksConfig:
    """The three attacks' settings; each attack's part is in its rows' keys (``settings``)."""

    schemes: tuple[str, ...] = ("int8", "int4")  # attacks.quantize.SCHEMES
    ks: tuple[int, ...] = (0, 1, 4, 16)  # shots before each question; 0: plain exact match
    probe_field: str = "diagnosis"  # the private attribute the probe predicts
    select_steps: int = 50  # L-BFGS iterations of the layer-selection folds (the final probe: fit_logistic's 200)

    def settings(self, attack: str) -> dict:
        return {"quant": {"schemes": self.schemes}, "probe": {"field": self.probe_field, "select": "val_2fold", "select_steps": self.select_steps},
                "icl": {"ks": self.ks, "pool": "attacked_trained"}}[attack]


# --------------------------------------------------------------------------------------------
# Quantization
# --------------------------------------------------------------------------------------------


def qa_metric(forget: TokenSet, retain: TokenSet, acc: Callable | None = None) -> Callable:
    """Forget and retain QA accuracy, the metric each quantized copy is scored on."""
    acc = acc or (lambda m, data: nan_mean(exact_match(m, data)))
    return lambda m: {"forget": acc(m, forget), "retain": acc(m, retain)}


def quant_scores(model, forget: TokenSet, retain: TokenSet, schemes: Sequence[str],
                 acc: Callable | None = None) -> dict:
    """``quant_<scheme>_forget`` / ``_retain`` for the float model (scheme ``none``) and each scheme."""
    rows = quantization_attack(model, qa_metric(forget, retain, acc), schemes)
    return {f"quant_{r['scheme']}_{part}": r[part] for r in rows for part in ("forget", "retain")}


# --------------------------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------------------------


@dataclass
class ProbeItems:
    """What the probe reads: ``fit`` and ``select`` (validation wording of two disjoint halves of
    the retain clients: the folds of layer selection, together the final probe's training items),
    ``forget`` and ``holdout`` (test wording); labels: the attribute."""

    fit: TokenSet  # first half of the validation items
    fit_y: list[str]
    select: TokenSet
    select_y: list[str]
    forget: TokenSet
    forget_y: list[str]
    holdout: TokenSet
    holdout_y: list[str]


def _field_rows(world: MedicalWorld, clients: Sequence[str], field: str, use: str) -> list[dict]:
    flag = {"test": "held_out", "val": "val"}[use]
    return [q for c in clients for q in world.probes(c) if q["field"] == field and q[flag]]


def probe_items(world: MedicalWorld, ratio: float, field: str) -> ProbeItems:
    """The probe's items at a forget ratio: the retain clients' validation wording in two halves
    (clients alternate), the forget and holdout clients' test wording."""
    retain = sorted(world.splits.retain(ratio))
    parts = {"fit": _field_rows(world, retain[0::2], field, "val"),
             "select": _field_rows(world, retain[1::2], field, "val"),
             "forget": _field_rows(world, world.splits.forget[ratio], field, "test"),
             "holdout": _field_rows(world, world.splits.holdout, field, "test")}
    empty = [name for name, rows in parts.items() if not rows]
    if empty:
        raise ValueError(f"the probe has no {'/'.join(empty)} items for field {field!r}: pick a field the world asks "
                         "(data.medical.QA_FIELDS) and a world with validation questions")
    out = {}
    for name, rows in parts.items():
        out[name], out[f"{name}_y"] = world.tokens(rows), [r["answer"] for r in rows]
    return ProbeItems(**out)


def _hits(train_x: torch.Tensor, train_y: torch.Tensor, n_classes: int, tests: dict,
          steps: int = 200) -> dict[str, torch.Tensor]:
    """A probe fitted on ``train_x`` (``attacks.probe.fit_logistic``); its hits on each ``(x, y)`` of ``tests``."""
    predict = fit_logistic(train_x, train_y, n_classes, steps)
    return {name: predict(x) == y for name, (x, y) in tests.items()}


def probe_scores(model, items: ProbeItems, select_steps: int = 50) -> dict:
    """Per layer (``probe_curve``): ``select_acc``, the two-fold accuracy on the validation items
    (fitted on ``fit``, scored on ``select``, and the other way round: clients the probe did not
    see), and ``forget_acc`` / ``holdout_acc`` of the probe fitted on both halves (every validation
    item). The layer with the best ``select_acc`` (ties: the lower layer) gives ``probe_layer`` and
    the ``probe_*_acc`` values. ``probe_majority_acc``: always the commonest validation label, on
    the forget items. The selection folds stop after ``select_steps`` L-BFGS iterations (a cheaper
    fit that only ranks the layers: the default run has 72 models); the final probe runs 200."""
    for a, b in ((items.fit, items.select), (items.fit, items.forget), (items.select, items.forget),
                 (items.fit, items.holdout), (items.select, items.holdout)):
        check_disjoint(a, b)
    labels = [*items.fit_y, *items.select_y]
    classes = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    index = {name: torch.tensor([classes.get(y, -1) for y in getattr(items, f"{name}_y")])
             for name in ("fit", "select", "forget", "holdout")}
    states = {name: answer_states(model, getattr(items, name)) for name in index}
    curve = []
    for layer in range(len(states["fit"])):
        x = {name: states[name][layer] for name in index}
        folds = [_hits(x["fit"], index["fit"], len(classes), {"v": (x["select"], index["select"])}, select_steps)["v"],
                 _hits(x["select"], index["select"], len(classes), {"v": (x["fit"], index["fit"])}, select_steps)["v"]]
        final = _hits(torch.cat([x["fit"], x["select"]]), torch.cat([index["fit"], index["select"]]), len(classes),
                      {name: (x[name], index[name]) for name in ("forget", "holdout")})
        curve.append({"layer": layer, "select_acc": float(torch.cat(folds).double().mean()),
                      **{f"{name}_acc": float(hits.double().mean()) for name, hits in final.items()}})
    best = max(curve, key=lambda r: (r["select_acc"], -r["layer"]))
    majority = Counter(labels).most_common(1)[0][0]
    return {"probe_curve": curve, "probe_layer": best["layer"], "probe_select_acc": best["select_acc"],
            "probe_forget_acc": best["forget_acc"], "probe_holdout_acc": best["holdout_acc"],
            "probe_majority_acc": sum(y == majority for y in items.forget_y) / len(items.forget_y)}


# --------------------------------------------------------------------------------------------
# In-context relearning
# --------------------------------------------------------------------------------------------


def icl_scores(model, pool: TokenSet, target: TokenSet, ks: Sequence[int], seed: int) -> dict:
    """``icl_k<k>`` (QA accuracy on ``target`` with ``k`` shots from ``pool``) and ``icl_shots_k<k>``
    (mean shots that fit the model's context), plus ``context`` (that context, in tokens)."""
    context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    rows = in_context_attack(model, target, pool, ks, seed=seed, max_tokens=context)
    out: dict = {"context": context}
    for r in rows:
        out[f"icl_k{r['k']}"], out[f"icl_shots_k{r['k']}"] = r["forget_acc"], r["shots"]
    return out


# --------------------------------------------------------------------------------------------
# The synthetic tier
# --------------------------------------------------------------------------------------------


def _computations(session: Session, world: MedicalWorld, ratio: float, seed: int,
                  cfg: MoreAttacksConfig) -> dict[str, Callable]:
    """Per attack, ``compute(model) -> values`` for one model at ``ratio`` (its seed's split)."""
    p = session.profile.private
    forget = world.questions(world.splits.forget[ratio])
    attacked, others = relearn_split(world.splits.forget[ratio], seed)

    def icl(model) -> dict:
        if not others:
            return {"n_others": 0}
        return {"n_others": len(others), **icl_scores(model, world.questions(attacked, "train"), world.questions(others),
                                                      cfg.ks, seed)}

    return {"quant": lambda m: quant_scores(m, forget, world.questions(world.retain_eval_clients(ratio, p.retain_eval_clients)),
                                            cfg.schemes),
            "probe": lambda m: probe_scores(m, probe_items(world, ratio, cfg.probe_field), cfg.select_steps),
            "icl": icl}


def attack_model(session: Session, world: MedicalWorld, model_dir: Path, method: str, ratio: float, seed: int,
                 cfg: MoreAttacksConfig | None = None) -> dict:
    """Every attack on one saved model (rows of ``TABLE``, computed once): one dict of values."""
    cfg = cfg or MoreAttacksConfig()
    head = {"setting": SETTING, "method": method, "ratio": ratio, "seed": seed, "model_id": model_id(session, model_dir)}
    loaded: list = []

    def model():
        if not loaded:
            loaded.append(load_model(model_dir, session.device).eval())
        return loaded[0]

    out = dict(head)
    for attack, compute in _computations(session, world, ratio, seed, cfg).items():
        key = {**head, "attack": attack, "attack_hash": config_hash(cfg.settings(attack))}
        row = cached(session, TABLE, key, lambda compute=compute: compute(model()))
        out.update({k: v for k, v in row.items() if k not in key})
    return out


def _job(args: tuple) -> dict:
    """One model's attacks on one thread, wherever it runs (a one-thread worker, or this process
    with a serial pool): these models are too small to gain from threads, and on a busy CPU a
    second thread only waits (measured: 6 s instead of 0.5 s per smoke model)."""
    session, world_dir, model_dir, method, ratio, seed = args
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return attack_model(session, MedicalWorld.load(world_dir), Path(model_dir), method, ratio, seed)
    finally:
        torch.set_num_threads(threads)


def jobs(dirs: dict) -> list[tuple[Path, str, float, int]]:
    """(model directory, method, ratio, seed) of every model ``run.run`` returned: the base and the
    oracle per ratio and seed, and each unlearned model."""
    out = [(dirs["bases"][s], "base", r, s) for r, s in dirs["oracles"]]
    out += [(d, "oracle", r, s) for (r, s), d in dirs["oracles"].items()]
    out += [(d, j["method"], j["ratio"], j["seed"]) for d, j in zip(dirs["unlearned"], dirs["unlearned_jobs"])]
    return out


def run(session: Session, world: MedicalWorld, dirs: dict) -> pd.DataFrame:
    """Every attack on every model of the grid (``run.run``'s ``dirs``), in ``core.parallel``
    workers on a multi-core CPU; one row per model and split."""
    args = [(session, str(world.directory), str(d), m, r, s) for d, m, r, s in jobs(dirs)]
    rows = map_jobs(_job, args, session.device, workers=session.profile.private.workers)
    return pd.DataFrame(rows)


def joined(df: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """``more`` with the columns the tables read beside it from ``evaluate.results`` (relearning
    before and after, the public model behind the row), one row per (method, ratio, seed)."""
    keep = ["method", "ratio", "seed", "model_id", "others_before", "others_after", "public_model"]
    main = df[[c for c in keep if c in df]].drop_duplicates(["method", "ratio", "seed"])
    return more.drop(columns=["setting"], errors="ignore").merge(main, on=["method", "ratio", "seed", "model_id"],
                                                                 how="left")


def probe_curves(more: pd.DataFrame) -> pd.DataFrame:
    """The per-layer probe rows, long: method, ratio, seed, layer, select/forget/holdout accuracy."""
    rows = [{"method": r.method, "ratio": r.ratio, "seed": r.seed, **c}
            for r in more.itertuples() for c in (r.probe_curve if isinstance(r.probe_curve, list) else [])]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The real tier: quantization and in-context relearning (the probe is synthetic-tier only)
# --------------------------------------------------------------------------------------------


def real_models(session: Session, world: MedicalWorld, model: str | None = None) -> list[tuple[Path, str, int]]:
    """(adapter directory, label, seed) of the real tier's base, oracle and unlearned models (all
    cached artifacts of ``real.run``: this builds nothing new after it)."""
    cfg = real.real_config(session, model)
    split = real.real_split(world, cfg)
    out = [(real.finetune(session, world, cfg, split, "base"), "base", 0),
           (real.finetune(session, world, cfg, split, "oracle"), "oracle", 0)]
    base_dir = out[0][0]
    for seed in cfg.real_seeds:
        out += [(real.unlearn(session, world, cfg, split, base_dir, m, lr, seed), real._label(cfg, m, lr), seed)
                for m, lr in cfg.real_methods]
    return out


def _real_key(session: Session, model_dir: Path, method: str, seed: int, attack: str,
              cfg: MoreAttacksConfig) -> dict:
    """The results-store key of one attack on one real-tier model (the model, the attack's settings)."""
    return {"setting": real.SETTING, "method": method, "seed": seed, "model_id": model_id(session, model_dir),
            "attack": attack, "attack_hash": config_hash(cfg.settings(attack)), **real.bf16_key(session)}


def real_quant(session: Session, world: MedicalWorld, model_dir: Path, method: str, seed: int,
               model: str | None = None, cfg: MoreAttacksConfig | None = None) -> dict:
    """Forget and retain QA (test wording) of one real-tier model, merged and quantized."""
    cfg = cfg or MoreAttacksConfig()
    rc = real.real_config(session, model)
    split = real.real_split(world, rc)
    key = _real_key(session, model_dir, method, seed, "quant", cfg)

    def compute() -> dict:
        adapted, tokenizer = real.load_adapted(session, rc, Path(model_dir) / "adapter")
        forget, retain = (real.tokens(tokenizer, real.qa_rows(world, c, rc, "test")) for c in (split.forget, split.retain))
        with real.precision(session):
            return quant_scores(adapted, forget, retain, cfg.schemes, acc=real._acc)

    row = cached(session, REAL_TABLE, key, compute)
    return {k: v for k, v in row.items() if k not in ("setting", "attack", "attack_hash")}


def real_run(session: Session, world: MedicalWorld, real_df: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """Quantization on every real-tier model, one row per row of ``real_df`` (``real.run``), with
    its relearning columns beside it (the oracle, one model, is attacked once per seed)."""
    quant = {(m, s): real_quant(session, world, d, m, s, model) for d, m, s in real_models(session, world, model)}
    rows = []
    for r in real_df.to_dict("records"):
        q = quant.get((r["method"], r["seed"])) or quant.get((r["method"], 0), {})
        rows.append({**{k: r.get(k) for k in ("method", "seed", "ratio", "model_id", "others_before", "others_after")},
                     **{k: v for k, v in q.items() if k.startswith("quant_")}})
    return pd.DataFrame(rows)


def real_icl(session: Session, world: MedicalWorld, model_dir: Path, method: str, seed: int,
             model: str | None = None, cfg: MoreAttacksConfig | None = None) -> dict:
    """In-context relearning on one real-tier model, the synthetic tier's attack (``icl_scores``)
    on the real tier's relearning split at ``seed`` (``evaluate.relearn_split`` of its forget
    clients, as ``real.relearn``): ``k`` of the relearned clients' trained question-answer pairs
    before each test-wording question about the other forget clients. ``n_pool`` / ``n_target``:
    the pairs the shots are drawn from and the questions scored (few in the real tier: the rows
    say so, and ``icl_shots_k<k>`` how many shots there were)."""
    cfg = cfg or MoreAttacksConfig()
    rc = real.real_config(session, model)
    split = real.real_split(world, rc)
    key = _real_key(session, model_dir, method, seed, "icl", cfg)

    def compute() -> dict:
        attacked, others = relearn_split(split.forget, seed)
        if not others:
            return {"n_relearned": len(attacked), "n_others": 0}
        adapted, tokenizer = real.load_adapted(session, rc, Path(model_dir) / "adapter")
        pool = real.tokens(tokenizer, real.qa_rows(world, attacked, rc, "train"))
        target = real.tokens(tokenizer, real.qa_rows(world, others, rc, "test"))
        with torch.no_grad(), real.precision(session):
            scores = icl_scores(adapted, pool, target, cfg.ks, seed)
        return {"n_relearned": len(attacked), "n_others": len(others), "n_pool": len(pool), "n_target": len(target),
                **scores}

    row = cached(session, REAL_TABLE, key, compute)
    return {k: v for k, v in row.items() if k not in ("setting", "attack", "attack_hash")}


def real_icl_run(session: Session, world: MedicalWorld, real_df: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """In-context relearning on every real-tier model: the base and the oracle at every seed of
    ``real_seeds`` (the seed draws the relearning split and the shots), each unlearned model at its
    own; one row per (method, seed), with relearning's ``others_before`` / ``others_after`` of the
    same model and split beside it (``real_df``: ``real.run``; the base has none)."""
    rc = real.real_config(session, model)
    models = {(m, s): d for d, m, s in real_models(session, world, model)}
    grid = [(d, m, s) for s in rc.real_seeds for (m, _), d in models.items() if m in ("base", "oracle")]
    grid += [(d, m, s) for (m, s), d in models.items() if m not in ("base", "oracle")]
    relearned = {(r["method"], r["seed"]): r for r in real_df.to_dict("records")}
    rows = []
    for d, m, s in grid:
        after = relearned.get((m, s), {})
        rows.append({"method": m, "seed": s, "ratio": rc.real_ratio, **real_icl(session, world, d, m, s, model),
                     **{k: after.get(k) for k in ("others_before", "others_after")}})
    return pd.DataFrame(rows)


def real_probe_coverage(session: Session, world: MedicalWorld, model: str | None = None,
                        cfg: MoreAttacksConfig | None = None) -> dict:
    """Why the real tier has no probe, in counts: a probe fitted on the retain members' validation
    questions (``val_items``, one per client: ``val_classes`` distinct ``probe_field`` values;
    ``val_repeated``: items whose value another retain member shares, the most a leave-one-out
    selection could score) can only name values it saw, and ``forget_covered`` of the
    ``forget_items`` forget clients' test questions (``holdout_covered`` of ``holdout_items``) have
    such a value: the probe's forget accuracy is capped at ``forget_covered / forget_items`` for
    every model alike, so it cannot tell an unlearned model from the oracle."""
    cfg = cfg or MoreAttacksConfig()
    split = real.real_split(world, real.real_config(session, model))
    rows = {name: _field_rows(world, clients, cfg.probe_field, use)
            for name, clients, use in (("val", split.retain, "val"), ("forget", split.forget, "test"),
                                       ("holdout", split.holdout, "test"))}
    seen = Counter(r["answer"] for r in rows["val"])
    return {"field": cfg.probe_field, "val_items": len(rows["val"]), "val_classes": len(seen),
            "val_repeated": sum(seen[r["answer"]] >= 2 for r in rows["val"]),
            "forget_items": len(rows["forget"]), "forget_covered": sum(r["answer"] in seen for r in rows["forget"]),
            "holdout_items": len(rows["holdout"]),
            "holdout_covered": sum(r["answer"] in seen for r in rows["holdout"])}
