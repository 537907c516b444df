"""Localization on the arithmetic world: score every method on the base model, turn the scores
into masks at each budget and validate the masks causally; Targeted-UNDO
(``experiments.targeted``) then confines its noise to them.

Everything is a config-keyed artifact (scores, masks, causal rows) or a distillation artifact
of ``arithmetic.distill``, so reruns skip finished work.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.batching import Batch, TokenSet
from unlearnlab.data.arithmetic import FORGET_OPS, RETAIN_OPS, SYMBOL
from unlearnlab.data.world import ArithmeticWorld
from unlearnlab.evals.exact_match import accuracy_by_label
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.session import Session
from unlearnlab.localization import LocalizationData, Localization, causal_validation, localize
from unlearnlab.localization.mask import Mask
from unlearnlab.core.models import load_model

# The corrupted prompt swaps the operator for its retain counterpart: same tokens, same length,
# and the model's answer changes, so patching measures where "x / ÷" is computed.
CORRUPT_OP = {"mul": "add", "div": "sub"}


def patching_pairs(world: ArithmeticWorld, n: int, seed: int) -> tuple[Batch, Batch]:
    """(clean, corrupt) batches of ``n`` forget-train equations, e.g. '7 * 8 =' vs '7 + 8 ='."""
    rows = [r for r in world.splits["forget_train"].to_list() if r["format"] == "equation"]
    rows = random.Random(seed).sample(rows, min(n, len(rows)))
    corrupt = [{**r, "prompt": r["prompt"].replace(SYMBOL[r["op"]], SYMBOL[CORRUPT_OP[r["op"]]])} for r in rows]
    clean_set = TokenSet.from_rows(rows, world.tokenizer)
    corrupt_set = TokenSet.from_rows(corrupt, world.tokenizer)
    if [len(p) for p in clean_set.prompts] != [len(p) for p in corrupt_set.prompts]:
        raise ValueError("operator swap changed prompt lengths; the tokenizer must keep operators single tokens")
    return clean_set.batch(range(len(rows))), corrupt_set.batch(range(len(rows)))


def _sample(tokens: TokenSet, n: int, seed: int) -> TokenSet:
    return tokens.subset(random.Random(seed).sample(range(len(tokens)), min(n, len(tokens))))


def localization_data(session: Session, world: ArithmeticWorld, base_dir: Path, seed: int = 0) -> LocalizationData:
    """The base model, shuffled forget/retain samples, patching pairs and the short-GradDiff reference."""
    p = session.profile
    reference_dir = arith.unlearn(session, world, base_dir, "GradDiff", p.localize.reference_lr, seed)
    clean, corrupt = patching_pairs(world, p.localize.patching_items, seed)
    return LocalizationData(
        model=load_model(base_dir, session.device), tokenizer=world.tokenizer,
        forget=_sample(world.tokens("forget_train"), p.localize.items, seed),
        retain=_sample(world.tokens("retain_train"), p.localize.items, seed),
        clean=clean, corrupt=corrupt, reference=load_model(reference_dir, session.device),
        batch_size=p.arithmetic.batch_size, max_batches=None, seed=seed)


def _save_localization(loc: Localization, directory: Path) -> None:
    if loc.granularity == "parameter":
        save_file({k: v.float().contiguous() for k, v in loc.scores.items()}, str(directory / "scores.safetensors"))
    else:
        write_json_atomic(directory / "scores.json", loc.scores)
    write_json_atomic(directory / "localization.json", {"method": loc.method, "granularity": loc.granularity,
                                                        "details": loc.details})


def load_localization(directory: Path) -> Localization:
    info = read_json(directory / "localization.json")
    scores = (load_file(str(directory / "scores.safetensors")) if info["granularity"] == "parameter"
              else read_json(directory / "scores.json"))
    return Localization(info["method"], info["granularity"], scores, info["details"])


def localize_all(session: Session, world: ArithmeticWorld, base_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Scores of every method in ``profile.localize.localizers`` and their masks at every budget.

    Returns method -> artifact directory holding ``scores``, ``localization.json``, ``wall_s``
    and ``mask_<budget>/`` for each of ``profile.localize.mask_budgets``.
    """
    p = session.profile
    data = None
    out = {}
    for method in p.localize.localizers:
        cfg = {"method": method, "base": Path(base_dir).name, "seed": seed, "items": p.localize.items,
               "patching_items": p.localize.patching_items, "reference_lr": p.localize.reference_lr,
               "budgets": list(p.localize.mask_budgets)}
        artifact = Artifact(session.paths.artifacts, "localize", method, cfg)

        def make(tmp: Path, method: str = method) -> None:
            nonlocal data
            data = data or localization_data(session, world, base_dir, seed)
            start = time.perf_counter()
            loc = localize(method, data)
            wall = time.perf_counter() - start
            _save_localization(loc, tmp)
            for budget in p.localize.mask_budgets:
                loc.mask(data.model, budget).save(tmp / f"mask_{budget:g}")
            write_json_atomic(tmp / "timing.json", {"wall_s": wall})

        out[method] = artifact.build(make)
    return out


def mask_dir(localizations: dict[str, Path], method: str, budget: float) -> Path:
    path = localizations[method] / f"mask_{budget:g}"
    if not (path / "mask.json").is_file():
        raise FileNotFoundError(f"no {method} mask at budget {budget:g} in {localizations[method]}; "
                                f"add {budget:g} to the profile's mask_budgets and rerun 20_localize")
    return path


def load_masks(localizations: dict[str, Path], budget: float) -> dict[str, Mask]:
    """Every localizer's mask at ``budget`` but the random control's."""
    return {m: Mask.load(mask_dir(localizations, m, budget)) for m in localizations if m != "random"}


def eval_forget_retain(world: ArithmeticWorld, split: str = "eval"):
    """model -> (forget acc, retain acc) on held-out ``split`` items: ``eval`` (test, what the
    figures report) or ``val`` (validation, what the most selective mask is named on); one
    forward pass per batch."""
    tokens = world.tokens(split)

    def evaluate(model: torch.nn.Module) -> tuple[float, float]:
        acc = accuracy_by_label(model, tokens)
        return (sum(acc[o] for o in FORGET_OPS) / len(FORGET_OPS), sum(acc[o] for o in RETAIN_OPS) / len(RETAIN_OPS))

    return evaluate


def causal_table(session: Session, world: ArithmeticWorld, base_dir: Path,
                 localizations: dict[str, Path], seed: int = 0) -> pd.DataFrame:
    """Ablation of every non-random mask vs ``profile.localize.causal_random_draws`` random masks each,
    measured on the test items (``forget_drop``, ``retain_drop``, ``selectivity``) and on the
    validation items (the same columns with ``val_``; the random draws are the same masks)."""
    p = session.profile
    methods = [m for m in localizations if m != "random"]
    cfg = {"base": Path(base_dir).name, "localizations": {m: localizations[m].name for m in methods},
           "budgets": list(p.localize.mask_budgets), "draws": p.localize.causal_random_draws, "seed": seed,
           "splits": ["eval", "val"]}
    artifact = Artifact(session.paths.artifacts, "causal", "ablation", cfg)

    def make(tmp: Path) -> None:
        model = load_model(base_dir, session.device)
        masks = {(m, b): Mask.load(mask_dir(localizations, m, b)) for m in methods for b in p.localize.mask_budgets}
        labelled = {f"{m}@{b:g}": mask for (m, b), mask in masks.items()}
        rows = causal_validation(model, labelled, eval_forget_retain(world), p.localize.causal_random_draws, seed)
        val = causal_validation(model, labelled, eval_forget_retain(world, "val"), p.localize.causal_random_draws, seed)
        for row, v in zip(rows, val, strict=True):
            row.update({f"val_{k}": v[k] for k in ("forget_drop", "retain_drop", "selectivity")})
            method, budget = row["mask"].split("@")
            row.update({"method": method, "budget": float(budget)})
        write_json_atomic(tmp / "rows.json", rows)

    return pd.DataFrame(read_json(artifact.build(make) / "rows.json"))
