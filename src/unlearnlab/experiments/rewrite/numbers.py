"""The numbers the fact-rewrite section of the paper states (``paper/numbers/rewrite.tex``), from
the same frames that build ``rewrite_ia3.tex`` and the profile: every cell of the table it
restates, the paired comparisons of the localized two-stage (IA)³ edit with full fine-tuning and
with random modules (with the comparison's word, chosen by the rule of ``direction``), the
relearning attack, and the grid's settings (rewrites, seeds, steps, k, runs).
"""

from __future__ import annotations

import math

import pandas as pd

from unlearnlab.core.stats import mean_ci, summarize
from unlearnlab.data import facts as fx
from unlearnlab.experiments.rewrite.config import RewriteConfig
from unlearnlab.experiments.rewrite.report import COLUMNS, VARIANT_LABELS, paired_difference
from unlearnlab.experiments.rewrite.run import targets
from unlearnlab.experiments.session import Session
from unlearnlab.reporting.numbers import Numbers, interval_word

# A variant's part of a macro name (letters only): \rewriteOursNewAcc, \rewriteFullFtControl
VARIANT_NAMES = {"base": "Base", "ia3_two_stage": "Ours", "ia3_one_stage": "OneStage", "ia3_all": "AllModules",
                 "ia3_random": "RandomModules", "lora_local": "Lora", "full_ft": "FullFt"}
# A table column's part of a macro name (the same columns as report.COLUMNS)
COLUMN_NAMES = {"f2_test": "NewAcc", "f2_train": "NewAccTrain", "f1_forget_test": "OldForget",
                "control_test": "Control", "control_train": "ControlTrain", "f1_preferred": "OldPreferred"}
OURS, FULL, RANDOM = "ia3_two_stage", "full_ft", "ia3_random"
# (other variant, column): the paired comparisons with OURS the prose states
COMPARISONS = ((FULL, "control_test"), (FULL, "f2_test"), (FULL, "f1_forget_test"),
               (RANDOM, "control_test"), (RANDOM, "f2_test"))


def direction(diff: float, ci: float, n: int) -> str:
    """The words for a paired difference a − b: 'higher than' or 'lower than' when its 95 % CI
    excludes zero, 'not distinguishable from' when it does not (or when fewer than two pairs give
    no interval). Written once here so that the prose never claims more than the interval shows."""
    neither = "not distinguishable from"
    return neither if n < 2 else interval_word(diff, ci, "higher than", "lower than", neither)


def _name(*parts: str) -> str:
    """A macro name from its parts, first letter lower-case (``Numbers`` adds the study prefix)."""
    joined = "".join(parts)
    return joined[0].lower() + joined[1:]


def absent(n: Numbers, name: str, about: str) -> None:
    """A quantity of a variant this grid does not run (the smoke grid runs two): 'n/a', so that
    the paper's prose still builds on any profile's numbers."""
    n.text(name, "n/a", about + " (not in this grid)")


def _rounded(mean: float, scale: float, digits: int) -> float:
    """``mean`` as the table prints it (rounded at ``scale``, no '-0.0'), back in its own units."""
    return mean if math.isnan(mean) else (round(mean * scale, digits) + 0.0) / scale


def add_settings(n: Numbers, df: pd.DataFrame, cfg: RewriteConfig, known: pd.DataFrame | None) -> None:
    """The grid the numbers come from: rewrites, seeds, steps, k, runs per variant, controls,
    held-out paraphrases per fact, relearning steps; the knowledge probe's counts."""
    edits = df[df.variant != "base"]
    n.count("targets", df.target.nunique(), "rewrites (target facts) in the grid")
    base = df[df.variant == "base"].drop_duplicates("target")
    n.count("knownTargets", int(base.known.astype(bool).sum()),
            "rewrites whose F1 the knowledge probe finds answered in every paraphrase")
    unknown = [t.split("->")[0] for t in base.target[~base.known.astype(bool)]]
    n.text("unknownTargets", ", ".join(unknown) if unknown else "none",
           "subjects of the rewrites whose F1 the probe does not find answered in every paraphrase")
    n.count("seeds", len(cfg.seeds), "seeds per (rewrite, variant)")
    n.count("steps", cfg.steps, "optimizer steps per stage (one-stage variants train twice as many)")
    n.count("topK", cfg.k, "modules kept by the localization (top k)")
    n.count("variants", len(cfg.variants), "edited variants in the grid")
    n.count("runs", int(edits.groupby("variant").size().min()) if len(edits) else 0,
            "edited models per variant behind each mean (rewrites x seeds)")
    n.count("controlFacts", sum(cfg.controls), "control facts per rewrite (same relation + other relations)")
    held_out = sorted({len(fx.rewrite_spec(t.fact(), t.new_object, ()).f1_test) for t in targets(cfg)})
    n.text("heldOut", str(held_out[0]) if held_out[0] == held_out[-1] else f"{held_out[0]}--{held_out[-1]}",
           "held-out paraphrases (prompts) per fact")
    n.count("relearnSteps", cfg.relearn_steps, "steps of the relearning attack on F1")
    if known is not None and len(known):
        n.count("probeKnown", int(known.known.sum()), "probed facts answered correctly in every paraphrase")
        n.count("probeFacts", len(known), "facts the knowledge probe asked")


def add_table_cells(n: Numbers, df: pd.DataFrame) -> None:
    """Every cell of ``report.table`` (mean ± 95 % CI over runs, in %), one macro each: the
    sentences that restate a cell use its macro and cannot drift from the table."""
    s = summarize(df, ["variant"], list(COLUMNS)).set_index("variant")
    for variant in VARIANT_LABELS:
        for col in COLUMNS:
            if variant not in s.index:
                absent(n, _name(VARIANT_NAMES[variant], COLUMN_NAMES[col]),
                       f"{VARIANT_LABELS[variant]}: {COLUMNS[col]}")
                continue
            mean, ci = s.loc[variant, f"{col}_mean"], s.loc[variant, f"{col}_ci"]
            n.mean_ci(_name(VARIANT_NAMES[variant], COLUMN_NAMES[col]),
                      _rounded(mean, 100, 1), ci, f"{VARIANT_LABELS[variant]}: {COLUMNS[col]}, mean and 95 % CI "
                      f"over {int(s.loc[variant, 'n'])} runs (table rewrite_ia3)")


def add_comparisons(n: Numbers, df: pd.DataFrame) -> None:
    """Paired differences OURS − other over the (rewrite, seed) pairs both ran, in points, and
    their words (``direction``)."""
    edits = df[df.variant != "base"]
    pairs = 0
    for other, col in COMPARISONS:
        name = f"oursVs{VARIANT_NAMES[other]}{COLUMN_NAMES[col]}"
        if not {OURS, other} <= set(edits.variant):
            absent(n, name, f"{COLUMNS[col]}: {OURS} minus {other}")
            absent(n, name + "Word", f"{name} in words")
            continue
        diff, ci, pairs = paired_difference(edits, col, OURS, other)
        n.mean_ci(name, _rounded(diff, 100, 1), ci, f"{COLUMNS[col]}: {OURS} minus {other}, paired over "
                  f"{pairs} runs, percentage points", unit="")
        n.text(name + "Word", direction(diff, ci, pairs), f"{name}: 'higher than'/'lower than' when the paired "
               "95 % CI excludes zero, else 'not distinguishable from'")
    n.count("pairs", pairs, "paired runs behind each paired difference (rewrites x seeds)")


def attack_lrs(finals: pd.DataFrame) -> dict[str, float]:
    """target -> the attacker's learning rate for that rewrite: the one whose mean final F1 exact
    match over the *other* rewrites' runs is highest (leave one rewrite out: the choice for a
    rewrite never reads that rewrite's prompts, whose numbers are the ones reported). Ties, and
    a grid of one rewrite, go to the sweep's first learning rate. ``finals``: one variant's
    curve rows at the last step."""
    sweep = list(dict.fromkeys(finals.lr))
    out = {}
    for target in dict.fromkeys(finals.target):
        others = finals[finals.target != target]
        means = others.groupby("lr", sort=False).exact.mean().reindex(sweep) if not others.empty else None
        out[target] = float(means.idxmax()) if means is not None and means.notna().any() else float(sweep[0])
    return out


def relearn_ends(curves: pd.DataFrame) -> pd.DataFrame:
    """Per relearning variant: F1's held-out exact match before (step 0) and after the attack
    (last step), mean and 95 % CI over runs, each rewrite's runs at the learning rate
    ``attack_lrs`` picks for it on the other rewrites (the worst case of the sweep, chosen
    without reading the reported rewrite; the default profile sweeps one). ``lr``: the picked
    rates, in sweep order."""
    if curves.empty:
        return pd.DataFrame(columns=["variant", "lr", "n", "before_mean", "before_ci", "after_mean", "after_ci"])
    last = curves.step.max()
    rows = []
    for variant, g in curves.groupby("variant", sort=False):
        chosen = attack_lrs(g[g.step == last])
        run = g[[lr == chosen[t] for t, lr in zip(g.target, g.lr)]]
        before = run[run.step == 0].exact.tolist()
        after = run[run.step == last].exact.tolist()
        lrs = "/".join(f"{lr:g}" for lr in dict.fromkeys(g.lr) if lr in set(chosen.values()))
        rows.append({"variant": variant, "lr": lrs, "n": len(after), **dict(zip(("before_mean", "before_ci"),
                     mean_ci(before))), **dict(zip(("after_mean", "after_ci"), mean_ci(after)))})
    return pd.DataFrame(rows)


def add_relearning(n: Numbers, curves: pd.DataFrame) -> None:
    """F1's held-out exact match before and after the relearning attack, per attacked variant
    (``absent`` for the others)."""
    ends = relearn_ends(curves)
    for variant in [v for v in VARIANT_LABELS if v != "base" and v not in set(ends.variant)]:
        for when in ("Before", "After"):
            absent(n, _name(VARIANT_NAMES[variant], "Relearn", when), f"{variant}: F1 exact match, relearning attack")
    for _, r in ends.iterrows():
        name = _name(VARIANT_NAMES[r.variant])
        for when in ("before", "after"):
            n.mean_ci(f"{name}Relearn{when.title()}", _rounded(r[f"{when}_mean"], 100, 1), r[f"{when}_ci"],
                      f"{r.variant}: F1 held-out exact match {when} the relearning attack (lr {r.lr}), "
                      f"mean and 95 % CI over {int(r.n)} runs")


def paper_numbers(df: pd.DataFrame, curves: pd.DataFrame, cfg: RewriteConfig,
                  known: pd.DataFrame | None = None) -> Numbers:
    """Everything ``paper/sec_rewrite.tex`` states, from ``results.results`` (``df``),
    ``results.relearn_frame`` (``curves``) and the probe (``known``). The logit lens is drawn
    (figure) but states no number: its mean rank of F1's first token is dominated by a few
    prompts where the object is not the next token (the unedited model's own mean rank is far
    from 0), so no sentence rests on it."""
    n = Numbers("rewrite")
    add_settings(n, df, cfg, known)
    add_table_cells(n, df)
    add_comparisons(n, df)
    add_relearning(n, curves)
    return n


def write_numbers(df: pd.DataFrame, curves: pd.DataFrame, cfg: RewriteConfig, session: Session,
                  known: pd.DataFrame | None = None, write: bool = True) -> Numbers:
    """``paper_numbers``, written to ``paper/numbers/rewrite.tex`` unless ``write`` is False (a
    custom rewrite leaves the paper's files alone, as ``report.write_table`` does)."""
    n = paper_numbers(df, curves, cfg, known)
    if write:
        n.write(session.paths)
    return n
