"""The concept study's tables: the summary over seeds, relearning speed, the paper's suppression,
side-effect and answers tables, the base model's knowledge and the measured cost.

Every number is a mean ± 95 % CI over seeds; a single model or seed prints the mean alone (no
interval exists).
"""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.stats import format_mean_ci, summarize
from unlearnlab.data import concepts as cx
from unlearnlab.experiments.concept.config import BASE
from unlearnlab.experiments.concept.evaluate import probe_rows
from unlearnlab.experiments.concept.setup import ConceptSetup
from unlearnlab.reporting.tables import latex_box

HEADLINE = {  # column → what it says (higher is better for none of them by itself)
    "adversarial_leak": "held-out adversarial prompts without the film's name: answers naming it",
    "adversarial_correct": "held-out adversarial prompts: answers with a film fact the prompt does not give",
    "adversarial_keylogp": "held-out adversarial prompts: log-prob per token of the key answer",
    "direct_correct": "held-out direct prompts: answers with a film fact",
    "paraphrase_correct": "held-out paraphrases: answers with a film fact",
    "neighbour_retained": "neighbour films: base-correct answers still correct",
    "unrelated_retained": "unrelated facts: base-correct answers still correct",
    "neighbour_kl": "neighbour films: KL(base ‖ model) per answer token",
    "neighbour_refusal": "neighbour films: answers that refuse",
    "general_ce": "general English prose: cross-entropy (nats/token)",
    "all_degenerate": "all held-out answers: flagged degenerate",
    "all_distinct_2": "all held-out answers: distinct-2",
    "direct_leak": "held-out direct prompts without the film's name: answers naming it",
    "direct_keylogp": "held-out direct prompts: log-prob per token of the key answer",
    "paraphrase_keylogp": "held-out paraphrases: log-prob per token of the key answer",
    "adversarial_mention": ("held-out adversarial prompts: answers naming the film, title echo included "
                            "(no knowledge measure)"),
}

BAR_PANELS = {  # the bar figure: suppression (first row, lower is stronger) and side effects (second row)
    "direct_correct": "direct: states a fact",
    "paraphrase_correct": "paraphrase: states a fact",
    "adversarial_correct": "adversarial: states a fact",
    "direct_keylogp": "direct: key log-p/token",
    "adversarial_keylogp": "adversarial: key log-p/token",
    "neighbour_retained": "neighbour films kept (↑)",
    "unrelated_retained": "unrelated facts kept (↑)",
    "neighbour_kl": "neighbour KL to base (↓)",
    "general_ce": "general-text CE (↓)",
    "all_degenerate": "degenerate answers (↓)",
}


def summary(df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Mean and 95 % CI over seeds per variant (``<col>_mean``, ``<col>_ci``, ``n``)."""
    return summarize(df, ["variant"], columns or list(HEADLINE))


def cost(df: pd.DataFrame) -> pd.DataFrame:
    """Measured seconds per variant (mean over seeds): training, evaluation, relearning attack."""
    cols = [c for c in ("train_s", "train_cpu_s", "eval_s", "eval_cpu_s", "relearn_s", "relearn_cpu_s") if c in df]
    return df.groupby("variant", sort=False)[cols].mean()


def relearn_speed(curves: pd.DataFrame) -> pd.DataFrame:
    """Per relearning curve (variant, seed) of ``relearn_table``: the key-answer log-prob before
    and after the attack; ``gap``: after minus the attacked base model's after (negative: still
    suppressed); ``area``: the curve minus the base model's curve, averaged over the attack's
    evaluated steps after step 0 (negative: it relearns more slowly than the base model; this
    reads the whole curve, not only its end). (The steps until the base model's pre-attack
    log-prob were dropped: the attack's short-answer format lifts every model there within a step,
    so the measure could not move; issue 17.)"""
    base = curves[curves["variant"] == BASE].groupby("step")["logprob"].mean().sort_index()
    base_after = float(base.iloc[-1])
    rows = []
    for (variant, seed), group in curves.groupby(["variant", "seed"], sort=False):
        curve = group.set_index("step")["logprob"].sort_index()
        attack = curve[curve.index > curve.index[0]]
        rows.append({"variant": variant, "seed": seed, "steps": int(curve.index[-1]), "before": float(curve.iloc[0]),
                     "after": float(curve.iloc[-1]), "gap": float(curve.iloc[-1]) - base_after,
                     "area": float((attack - base.reindex(attack.index)).mean())})
    return pd.DataFrame(rows)


def relearn_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Per variant (the base model included): mean ± 95 % CI over seeds of ``relearn_speed``'s
    before, after, gap and area, the number of seeds ``n`` and the attack's steps."""
    speed = relearn_speed(curves)
    table = summarize(speed, ["variant"], ["before", "after", "gap", "area"])
    return table.assign(steps=speed.groupby("variant", sort=False)["steps"].max().values)


# summary column → header of the paper's suppression table (fractions in percent). Answers that
# state a film fact the prompt does not give, per forget kind, are what the base model shows (the
# screen chose a film it answers); "adversarial answers naming the film" (0 for the base model on
# Inception) and "steps to the base model's level" (at most 1 by construction) could not move and
# are left out (issue 17); ``adversarial_leak`` stays in the notebook's summary.
SUPPRESSION_COLUMNS = {
    "direct_correct": "direct fact %",
    "paraphrase_correct": "para. fact %",
    "adversarial_correct": "adv. fact %",
    "adversarial_keylogp": "adv. log-p",
}
FACT_COLUMNS = {"direct": "direct_correct", "paraphrase": "paraphrase_correct", "adversarial": "adversarial_correct"}
RELEARN_COLUMNS = {"gap": "relearn gap", "area": "relearn area"}
ANSWER_CHARS = 56  # answers table: 70 or more made the table taller than a page (3 lines a box)
SIDE_COLUMNS = {  # summary column → header of the side-effects table
    "neighbour_retained": "neighb. %",
    "neighbour_kl": "neighb. KL",
    "unrelated_retained": "unrel. %",
    "general_ce": "gen. CE",
    "all_degenerate": "degen. %",
}
_PERCENT = {"adversarial_leak", "direct_correct", "paraphrase_correct", "adversarial_correct", "neighbour_retained",
            "unrelated_retained", "all_degenerate"}
_DIGITS: dict[str, int] = {}  # per column; others: 0 for percentages, 2 for log-probs and nats


def cell_format(col: str) -> tuple[float, int]:
    """(scale, digits) of ``col``'s cells: percentages ×100 with no decimals, log-probs and nats
    with two. The paper's numbers (``numbers.py``) print the same way, so a
    sentence restates a cell exactly."""
    return (100.0, 0) if col in _PERCENT else (1.0, _DIGITS.get(col, 2))


def is_percent(col: str) -> bool:
    """Whether ``col`` is a fraction shown in percent."""
    return col in _PERCENT


def _formatted(table: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``variant`` and one 'mean ± CI' text column per entry of ``columns`` (from a table with
    ``<col>_mean``, ``<col>_ci`` and ``n``); rows of one model or seed print the mean alone."""
    out = pd.DataFrame({"variant": table["variant"].values})
    single = (table["n"] < 2).values
    for col, title in columns.items():
        scale, digits = cell_format(col)
        out[title] = [format_mean_ci(m, float("nan") if one else c, scale, digits)
                      for m, c, one in zip(table[f"{col}_mean"], table[f"{col}_ci"], single)]
    return out


def moving_kinds(knowledge: pd.DataFrame) -> list[str]:
    """The forget kinds whose held-out fact rate can show suppression: those on which the base
    model states a fact at least once (``base_knowledge``). A rate that is 0 for the unedited
    model is 0 for every edit too, so its column would only look like success."""
    return [kind for kind in FACT_COLUMNS if int(knowledge.loc[kind, "base_correct"]) > 0]


def paper_table(table: pd.DataFrame, relearn: pd.DataFrame | None = None,
                kinds: list[str] | None = None) -> pd.DataFrame:
    """The suppression table: per variant (base model first), mean ± 95 % CI over seeds of the
    held-out adversarial metrics of ``summary`` and, from ``relearn_summary``, the relearning gap,
    area and steps to the base model's pre-attack level (``--`` where a variant was not
    attacked). The seed count goes into the caption (``table["n"]``), not a column: the table
    must fit a page. ``kinds``: the forget kinds whose fact rate is shown (``moving_kinds``;
    None: all)."""
    dropped = {FACT_COLUMNS[k] for k in FACT_COLUMNS if kinds is not None and k not in kinds}
    out = _formatted(table, {c: t for c, t in SUPPRESSION_COLUMNS.items() if c not in dropped})
    if relearn is not None and len(relearn):
        attacked = _formatted(relearn, RELEARN_COLUMNS).set_index("variant")
        for title in RELEARN_COLUMNS.values():
            out[title] = [attacked.loc[v, title] if v in attacked.index else "--" for v in out["variant"]]
    return out


def side_table(table: pd.DataFrame) -> pd.DataFrame:
    """The side-effects table: retention and KL on neighbour films, retention of unrelated facts,
    general-text cross-entropy and degenerate answers, per variant (mean ± 95 % CI over seeds)."""
    return _formatted(table, SIDE_COLUMNS)


TEXT_WIDTH_CM = 15.5  # the paper's text width (6.5 in) less a margin, for the answers table's boxes


def answers_latex(answers: pd.DataFrame, concept: cx.ConceptSpec, per_kind: int = 2,
                  chars: int = ANSWER_CHARS) -> pd.DataFrame:
    """A short subset of ``answers_table`` for the paper: ``per_kind`` held-out prompts of each
    kind, prompts without the concept's name first (only their answers can reveal the name), the
    prompt labelled with its kind and form, every cell a fixed-width box cut at ``chars``."""
    models = [c for c in answers.columns if c not in ("kind", "form", "prompt")]
    width = round((TEXT_WIDTH_CM - 0.45 * (len(models) + 1)) / (len(models) + 1), 2)
    order = answers.assign(_named=[cx.mentions(concept, p) for p in answers["prompt"]])
    chosen = (order.sort_values(["_named"], kind="stable").groupby("kind", sort=False).head(per_kind)
              .assign(_kind=lambda d: d["kind"].map(cx.KINDS.index)).sort_values("_kind", kind="stable"))
    rows = [{"prompt": latex_box(r["prompt"], width, chars, f"{r['kind']}, {r['form'].replace('_', ' ')}"),
             **{m: latex_box(r[m], width, chars) for m in models}} for _, r in chosen.iterrows()]
    return pd.DataFrame(rows, columns=["prompt", *models])


def base_knowledge(s: ConceptSetup) -> pd.DataFrame:
    """What the base model shows of the concept on the held-out prompts, per kind: prompts,
    prompts without the concept's name (``name_free``) and how many of the base's answers to
    them name it (``base_names``), prompts that do not give the key fact (``fact_free``) and how
    many the base answers correctly (``base_correct``; for retain kinds: the prompts retention
    is measured on)."""
    test = cx.select(s.probes, split="test")
    rows = probe_rows(s, test, s.answers_of(test))
    out = []
    for kind in cx.KINDS:
        k = [r for r in rows if r["kind"] == kind]
        out.append({"kind": kind, "prompts": len(k), "name_free": sum(r["leak"] is not None for r in k),
                    "base_names": sum(bool(r["leak"]) for r in k),
                    "fact_free": sum(r["correct"] is not None for r in k),
                    "base_correct": sum(bool(r["correct"]) for r in k)})
    return pd.DataFrame(out).set_index("kind")


def probe_counts(s: ConceptSetup) -> pd.DataFrame:
    """Probes per kind and split (train / held-out test)."""
    return probe_table(s.probes)


def probe_table(probes) -> pd.DataFrame:
    """``probes`` counted per kind and split (train / held-out test)."""
    return (pd.DataFrame([{"kind": p.kind, "split": p.split} for p in probes])
            .value_counts().unstack(fill_value=0).reindex(cx.KINDS))
