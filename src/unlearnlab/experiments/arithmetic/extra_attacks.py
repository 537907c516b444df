"""Attacks beyond relearning on every model notebook 40 attacks: weight quantization, linear probes
and in-context relearning (issue 19). None of them trains the model; each reads the test items.

* **Quantization** (``attacks.quantize``): forget and retain accuracy on the test items after
  round-to-nearest int8 and int4 per-channel quantization of the decoder-layer weights. Retain is
  kept beside forget: a quantized model that cannot add any more says nothing by forgetting x/÷.
* **Linear probe** (``attacks.probe``): per layer, a logistic regression on the residual stream at
  the answer position predicts the answer's *first token*, fitted on the validation forget items
  and scored on the test forget items. Why the first token and not the whole answer: x/÷ answers
  take about two hundred values over a few hundred validation items, so most test answers would
  be classes the probe never saw (each a guaranteed miss), while the first token has one class
  per digit the answers start with (every digit is its own token, ``first_answer_token``), each
  seen many times; and it is exactly what the model's next-token prediction at that position must
  produce, so probe accuracy and exact match read the same position for the same target. The
  layer reported in the table is chosen by ``probe_folds``-fold cross-validation on the
  validation facts (a fact's equation and word problem in the same fold), never by test accuracy;
  the figure draws every layer.
* **In-context relearning** (``attacks.in_context``): greedy exact match on the test forget items
  with k forget-train examples (disjoint facts) before each question, for every k of ``icl_ks``;
  a prompt keeps only the shots that fit the model's context (``max_position_embeddings``), and
  each row says how many shots it used on average.

Results go into three tables of the results store (``quant_attacks``, ``probe_attacks``,
``icl_attacks``), keyed like the relearning attack's (``run.attack``): the model's key, its
``model_id`` and the hash of the attack's own settings, so a cached row is never a different
model's or a different setting's, and a rerun skips finished models.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import torch

from unlearnlab.attacks.in_context import in_context_attack
from unlearnlab.attacks.probe import answer_states, first_answer_token, probe_layers
from unlearnlab.attacks.quantize import quantization_attack
from unlearnlab.core.artifacts import config_hash
from unlearnlab.core.models import load_model
from unlearnlab.core.parallel import map_jobs
from unlearnlab.core.timing import phase
from unlearnlab.data.arithmetic import FORGET_OPS, RETAIN_OPS
from unlearnlab.data.world import ArithmeticWorld
from unlearnlab.evals.exact_match import accuracy_by_label
from unlearnlab.experiments.arithmetic import report, selection
from unlearnlab.experiments.arithmetic.config import ArithmeticConfig
from unlearnlab.experiments.session import Session, model_id

TABLES = {"quant": "quant_attacks", "probe": "probe_attacks", "icl": "icl_attacks"}


def settings(p: ArithmeticConfig) -> dict[str, dict]:
    """Each attack's settings (their hashes key its rows), with the version of what it computes."""
    if not p.quant_schemes or p.probe_folds < 2:
        raise ValueError(f"arithmetic.quant_schemes must name a scheme (got {p.quant_schemes}) and "
                         f"arithmetic.probe_folds must be >= 2 (got {p.probe_folds})")
    return {"quant": {"schemes": list(p.quant_schemes), "items": "eval", "v": 1},
            "probe": {"folds": p.probe_folds, "site": "resid_post", "label": "first_answer_token",
                      "train": "val", "test": "eval", "v": 1},
            "icl": {"ks": list(p.icl_ks), "pool": "forget_train", "items": "eval", "max_tokens": p.model.max_len,
                    "v": 1}}


def hashes(p: ArithmeticConfig) -> dict[str, str]:
    """The settings' hash per attack: the ``<attack>_hash`` column of its rows."""
    return {name: config_hash(cfg) for name, cfg in settings(p).items()}


# ---- the three attacks on one model ---------------------------------------------------------------

def quant_row(model: torch.nn.Module, world: ArithmeticWorld, schemes: Sequence[str], batch_size: int) -> dict:
    """Forget and retain accuracy on the test items of the model as it is (``none``) and of each
    quantized copy: columns ``<scheme>_forget_acc`` and ``<scheme>_retain_acc``."""
    items = world.tokens("eval")

    def metric(m: torch.nn.Module) -> dict[str, float]:
        acc = accuracy_by_label(m, items, batch_size)
        return {"forget_acc": sum(acc[o] for o in FORGET_OPS) / len(FORGET_OPS),
                "retain_acc": sum(acc[o] for o in RETAIN_OPS) / len(RETAIN_OPS)}

    rows = quantization_attack(model, metric, schemes)
    flat = {f"{r['scheme']}_{k}": r[k] for r in rows for k in ("forget_acc", "retain_acc")}
    return {**flat, "rows": rows}


def fact_folds(world: ArithmeticWorld, split: str, n_folds: int) -> list[int]:
    """Per forget item of ``split`` (in ``world.tokens(split, FORGET_OPS)`` order), its fold: a
    fixed hash of the fact (operation and operands), so a fact's equation and word problem share
    a fold and cross-validation never scores a fact it was fitted on."""
    rows = [r for r in world.splits[split].to_list() if r["op"] in FORGET_OPS]
    return [zlib.crc32(f"{r['op']}:{r['a']}:{r['b']}".encode()) % n_folds for r in rows]


def cross_validated(states: Sequence[torch.Tensor], labels: Sequence, folds: Sequence[int]) -> list[float]:
    """Per layer, probe accuracy averaged over folds (fitted on the other folds, scored on this one;
    ``attacks.probe.probe_layers``): what picks the reported layer, from validation items only."""
    fold_ids = sorted(set(folds))
    if len(fold_ids) < 2:
        raise ValueError(f"cross-validation needs at least 2 non-empty folds, got {len(fold_ids)}; "
                         "set arithmetic.probe_folds >= 2")
    total = [0.0] * len(states)
    for f in fold_ids:
        fit = torch.tensor([i for i, g in enumerate(folds) if g != f])
        held = torch.tensor([i for i, g in enumerate(folds) if g == f])
        rows = probe_layers([s[fit] for s in states], [labels[i] for i in fit],
                            [s[held] for s in states], [labels[i] for i in held])
        total = [t + r["probe_acc"] for t, r in zip(total, rows)]
    return [t / len(fold_ids) for t in total]


def probe_summary(states_train: Sequence[torch.Tensor], y_train: Sequence, states_test: Sequence[torch.Tensor],
                  y_test: Sequence, folds: Sequence[int]) -> dict:
    """Per layer, a probe fitted on the training (validation) states and scored on the test states
    (``layers``, each with its cross-validated accuracy ``val_cv_acc``); the layer that
    cross-validation over ``folds`` of the training items picks (``best_layer``, ties to the
    earliest) and its test accuracy (``probe_acc``): the test items never choose the layer."""
    layers = probe_layers(states_train, y_train, states_test, y_test)
    cv = cross_validated(states_train, y_train, folds)
    best = max(range(len(cv)), key=lambda i: (cv[i], -i))
    for row, acc in zip(layers, cv):
        row["val_cv_acc"] = acc
    return {"best_layer": best, "probe_acc": layers[best]["probe_acc"], "majority_acc": layers[best]["majority_acc"],
            "n_classes": len(set(y_train)), "n_train": len(y_train), "n_test": len(y_test), "layers": layers}


def probe_row(model: torch.nn.Module, world: ArithmeticWorld, n_folds: int, batch_size: int) -> dict:
    """``probe_summary`` for the answer's first token: fitted on the validation forget items (folds by
    fact, ``fact_folds``), scored on the test forget items."""
    train, test = world.tokens("val", FORGET_OPS), world.tokens("eval", FORGET_OPS)
    return probe_summary(answer_states(model, train, batch_size=batch_size), first_answer_token(train),
                         answer_states(model, test, batch_size=batch_size), first_answer_token(test),
                         fact_folds(world, "val", n_folds))


def icl_row(model: torch.nn.Module, world: ArithmeticWorld, ks: Sequence[int], seed: int, max_tokens: int,
            batch_size: int) -> dict:
    """Forget accuracy on the test items with k forget-train shots per question, for each k:
    columns ``icl<k>_forget_acc`` and ``icl<k>_shots`` (mean shots that fit ``max_tokens``)."""
    ks = sorted({0, *ks})  # k = 0 (no shots) is the reference every k is read against
    rows = in_context_attack(model, world.tokens("eval", FORGET_OPS), world.tokens("forget_train"), ks, seed,
                             max_tokens, batch_size)
    flat = {f"icl{r['k']}_{c}": r[v] for r in rows for c, v in (("forget_acc", "forget_acc"), ("shots", "shots"))}
    return {**flat, "max_tokens": max_tokens, "rows": rows}


# ---- every attacked model, resumable --------------------------------------------------------------

def attack_extra(session: Session, world: ArithmeticWorld, model_dir: str, key: dict, seed: int) -> dict[str, dict]:
    """The three attacks on one saved model; each result is stored (and read back when cached)
    under the model's key, its ``model_id`` and the attack's settings hash."""
    p = session.profile.arithmetic
    model, out = None, {}
    for name, h in hashes(p).items():
        full = {**key, "model_id": model_id(session, model_dir), f"{name}_hash": h}
        if session.store.has(TABLES[name], full):
            out[name] = session.store.get(TABLES[name], full)
            continue
        model = model if model is not None else load_model(model_dir, session.device).eval()
        with phase("attack"):
            if name == "quant":
                row = quant_row(model, world, p.quant_schemes, p.extra_batch_size)
            elif name == "probe":
                row = probe_row(model, world, p.probe_folds, p.extra_batch_size)
            else:
                row = icl_row(model, world, p.icl_ks, seed, p.model.max_len, p.extra_batch_size)
        session.store.put(TABLES[name], full, row)
        out[name] = {**full, **row}
    return out


def _extra_job(args: tuple) -> dict:
    session, world_dir, model_dir, key, seed = args
    return attack_extra(session, ArithmeticWorld.load(world_dir), model_dir, key, seed)


def reported_targets(session: Session) -> list[tuple[dict, str, int]]:
    """The relearning attack's targets (``selection.attack_targets``) that the main table reports
    (``report.table_rows``: base, oracle, each baseline at its chosen learning rate, each UNDO α
    and full distillation at its reported snapshot, every seed). Not every distillation snapshot:
    these attacks sit beside the table's rows, and the snapshots in between would triple their cost."""
    rows = report.table_rows(selection.label_runs(session))
    chosen = {(m, h if isinstance(h, str) else "", int(s)) for m, h, s in zip(rows["method"], rows["hparam"], rows["seed"])}
    return [t for t in selection.attack_targets(session) if (t[0]["method"], t[0]["hparam"], t[0]["seed"]) in chosen]


def attack_extra_all(session: Session, world: ArithmeticWorld) -> int:
    """Quantization, probe and in-context attacks on every model the main table reports
    (``reported_targets``; cached ones are read back), in the process pool; returns how many."""
    targets = reported_targets(session)
    jobs = [(session, str(world.directory), str(d), key, seed) for key, d, seed in targets]
    map_jobs(_extra_job, jobs, session.device, session.profile.arithmetic.workers or None)
    return len(targets)
