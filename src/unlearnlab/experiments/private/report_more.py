"""Private records, the three more attacks (``attacks_more``): their tables, captions and the
paired comparisons the paper's sentences state (``numbers.more_numbers`` turns them into macros).

Companion tables of ``private_records.tex`` / ``private_records_real.tex``: every cell is mean ±
95 % CI over the models of a (forget ratio, method) group (the mean alone for one model), and
'models' counts the independently pretrained models behind the row.
"""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.stats import mean_ci
from unlearnlab.experiments.private.attacks_more import MoreAttacksConfig
from unlearnlab.experiments.private.report import _cell, n_models
from unlearnlab.experiments.session import Session
from unlearnlab.reporting import tables

# column -> (title, scale, digits, interval)
QUANT_PROBE = {"quant_none_forget": ("forget QA (%)", 100.0, 1, True),
               "quant_int8_forget": ("int8 forget QA (%)", 100.0, 1, True),
               "quant_int4_forget": ("int4 forget QA (%)", 100.0, 1, True),
               "quant_int4_retain": ("int4 retain QA (%)", 100.0, 1, True),
               "probe_forget_acc": ("probe, forget (%)", 100.0, 1, True),
               "probe_holdout_acc": ("probe, holdout (%)", 100.0, 1, True),
               "probe_layer": ("probe layer", 1.0, 1, False),
               "others_after": ("relearned (%)", 100.0, 1, True)}
REAL_QUANT = {k: v for k, v in QUANT_PROBE.items() if k.startswith("quant_")} | {
    "others_before": ("others before (%)", 100.0, 1, True), "others_after": ("relearned (%)", 100.0, 1, True)}


def icl_columns(ks) -> dict:
    """ICL accuracy per k, the shots that fit at the largest k, relearning after (others)."""
    cols = {f"icl_k{k}": (f"k={k} (%)", 100.0, 1, True) for k in ks}
    cols[f"icl_shots_k{max(ks)}"] = (f"shots at k={max(ks)}", 1.0, 1, False)
    cols["others_after"] = ("relearned (%)", 100.0, 1, True)
    return cols


def table(more: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """Per forget ratio and method (in the frame's order), each column's cell and the models."""
    rows = []
    for (ratio, method), g in more.groupby(["ratio", "method"], sort=False):
        row = {"forget %": f"{100 * ratio:g}", "method": method}
        for col, (title, scale, digits, interval) in columns.items():
            if col in g:
                row[title] = _cell(g[col].dropna(), scale, digits, interval)
        row["models"] = n_models(g)
        rows.append(row)
    return pd.DataFrame(rows)


def ordered(more: pd.DataFrame, methods) -> pd.DataFrame:
    """Rows by ratio, then base, oracle, the grid's methods."""
    order = {m: i for i, m in enumerate(["base", "oracle", *methods])}
    return more.sort_values(["ratio", "method", "seed"],
                            key=lambda c: c.map(lambda m: order.get(m, len(order))) if c.name == "method" else c)


def write_tables(session: Session, more: pd.DataFrame, cfg: MoreAttacksConfig | None = None) -> tuple:
    """``private_attacks_more.tex`` (quantization and probe) and ``private_icl.tex`` (in-context
    relearning); both beside relearning's 'others after'."""
    cfg = cfg or MoreAttacksConfig()
    a, b = table(more, QUANT_PROBE), table(more, icl_columns(cfg.ks))
    tables.write_latex(a, session.paths.tables / "private_attacks_more.tex", caption=quant_probe_caption(session, cfg),
                       label="tab:private-more")
    tables.write_latex(b, session.paths.tables / "private_icl.tex", caption=icl_caption(session, more, cfg),
                       label="tab:private-icl")
    return a, b


def write_real_table(session: Session, real_more: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """``private_attacks_more_real.tex``: the real tier's quantization beside its relearning."""
    out = table(real_more, REAL_QUANT)
    if not model:
        tables.write_latex(out, session.paths.tables / "private_attacks_more_real.tex",
                           caption=real_caption(), label="tab:private-more-real")
    return out


def write_real_icl_table(session: Session, real_icl: pd.DataFrame, model: str | None = None,
                         cfg: MoreAttacksConfig | None = None) -> pd.DataFrame:
    """``private_icl_real.tex``: the real tier's in-context relearning (``attacks_more.real_icl_run``)
    beside its relearning attack; a user's ``model`` is shown, never written over the paper's table."""
    cfg = cfg or MoreAttacksConfig()
    out = table(real_icl, icl_columns(cfg.ks))
    if not model:
        tables.write_latex(out, session.paths.tables / "private_icl_real.tex", caption=real_icl_caption(real_icl, cfg),
                           label="tab:private-icl-real")
    return out


def _largest(frame: pd.DataFrame, col: str) -> str:
    """The largest value of ``col`` over the rows, as an integer; 'n/a' where there is none."""
    values = frame[col].dropna() if col in frame else pd.Series(dtype=float)
    return f"{int(values.max())}" if not values.empty else "n/a"


def real_icl_facts(real_icl: pd.DataFrame, cfg: MoreAttacksConfig | None = None) -> dict[str, str]:
    """What the real tier's in-context caption and sentence state besides the cells: the context,
    the questions scored and the pairs the shots come from per model (largest over seeds), the mean
    shots that fit at the largest k, and how many (method, seed) runs there are."""
    cfg = cfg or MoreAttacksConfig()
    kmax, col = max(cfg.ks), f"icl_shots_k{max(cfg.ks)}"
    shots = real_icl[col].dropna() if col in real_icl else pd.Series(dtype=float)
    pool = real_icl["n_pool"].dropna() if "n_pool" in real_icl else pd.Series(dtype=float)
    return {"context": _largest(real_icl, "context"), "questions": _largest(real_icl, "n_target"),
            "pool": _largest(real_icl, "n_pool"), "others": _largest(real_icl, "n_others"),
            "shots": f"{float(shots.mean()):.1f}" if not shots.empty else "n/a", "runs": str(len(real_icl)),
            "cap": shot_cap(shots, pool, kmax), "step": _step(_largest(real_icl, "n_target"))}


def _step(questions: str) -> str:
    """Points one question moves an accuracy cell (100 / questions); 'n/a' without questions."""
    return f"{100 / int(questions):.1f}" if questions not in ("n/a", "0") else "n/a"


def shot_cap(shots: pd.Series, pool: pd.Series, kmax: int) -> str:
    """What kept the largest k's prompts under ``kmax`` shots: 'the context' where a row has fewer
    shots than its pool allows (``attacks.in_context`` drops shots that pass the context), else
    'the pairs' where the pool is smaller than ``kmax``, else 'nothing'; 'n/a' without rows."""
    if shots.empty:
        return "n/a"
    allowed = pool.reindex(shots.index).clip(upper=kmax).fillna(kmax)
    if (shots < allowed - 1e-9).any():
        return "the context"
    return "the relearned clients' pairs" if (allowed < kmax).any() else "nothing"


def _count(n: str, noun: str) -> str:
    """'8 pairs' / '1 pair' (``n`` as ``real_icl_facts`` writes it)."""
    return f"{n} {noun}" + ("" if n == "1" else "s")


def real_icl_caption(real_icl: pd.DataFrame, cfg: MoreAttacksConfig) -> str:
    f = real_icl_facts(real_icl, cfg)
    return ("Private records, real tier: in-context relearning on SmolLM2 with each adapter (as "
            f"Table~\\ref{{tab:private-icl}}): k = {', '.join(str(k) for k in cfg.ks)} of the relearned clients' "
            f"{_count(f['pool'], 'trained question--answer pair')} before each of the "
            f"{_count(f['questions'], 'test-wording question')} about the other "
            f"{_count(f['others'], 'forget client')} (the relearning attack's split; no shot states a scored "
            f"client's fact). Prompts are capped at the model's context ({f['context']} tokens); 'shots' is the mean "
            f"number at the largest k (what capped it: {f['cap']}). Relearned: the same clients after the fine-tuning "
            "attack. One pretrained model: values without an interval come from one run; one question moves a cell "
            f"by {f['step']} points.")


def quant_probe_caption(session: Session, cfg: MoreAttacksConfig) -> str:
    return ("Private records, attacks without training. Forget / retain QA (test wording) of each model as it is "
            f"and rounded to {' and '.join(cfg.schemes)} (round-to-nearest, symmetric, per output channel, every "
            "decoder-layer linear weight; embeddings and norms kept; base and oracle rounded the same way). Probe: a "
            f"logistic regression per layer from the residual stream at the answer position to the {cfg.probe_field}, "
            "fitted on the retain clients' validation wording; the layer ('probe layer', mean over models, 0 = first "
            "decoder layer) is the one with the best two-fold accuracy on those items (fitted on half of the clients, "
            "scored on the other half, both ways); reported on the forget clients' "
            "test wording and on holdout clients no model saw (what the question alone gives away). Relearned: QA on "
            "the other forget clients after relearning (Table~\\ref{tab:private}). Mean $\\pm$ 95\\% CI over "
            "independently pretrained models (models: how many).")


def icl_caption(session: Session, more: pd.DataFrame, cfg: MoreAttacksConfig) -> str:
    ctx = more["context"].dropna() if "context" in more else pd.Series(dtype=float)
    context = f"{int(ctx.max())} tokens" if not ctx.empty else "n/a"
    return ("Private records, in-context relearning: QA accuracy (test wording) on the forget clients not relearned, "
            f"with k = {', '.join(str(k) for k in cfg.ks)} of the relearned clients' trained question--answer pairs "
            f"before each question (the relearning attack's split; no shot states a scored client's fact). Prompts are "
            f"capped at the models' context ({context}); 'shots' is the mean number that fit at the largest k (fewer "
            "when the relearned clients have fewer questions). Relearned: the same clients after the fine-tuning "
            "attack. Mean $\\pm$ 95\\% CI over independently pretrained models.")


def real_caption() -> str:
    return ("Private records, real tier: forget / retain QA (test wording) of SmolLM2 with each adapter merged, as "
            "it is and rounded (as in Table~\\ref{tab:private-more}), beside relearning on the other forget clients "
            "(before, after). One pretrained model: values without an interval come from one run.")


# --------------------------------------------------------------------------------------------
# Paired comparisons (the sentences' evidence)
# --------------------------------------------------------------------------------------------


def per_seed(more: pd.DataFrame, methods, value) -> pd.Series:
    """Per seed (independent models), the mean over ``methods`` and ratios of ``value(row)``."""
    rows = more[more["method"].isin(methods)]
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.assign(_v=rows.apply(value, axis=1)).dropna(subset=["_v"]).groupby("seed")["_v"].mean()


def versus_oracle(more: pd.DataFrame, methods, col: str) -> pd.Series:
    """Per seed, the mean over methods and ratios of (method − its own seed's oracle at that ratio)."""
    oracle = more[more["method"] == "oracle"].set_index(["ratio", "seed"])[col]
    return per_seed(more, methods, lambda r: r[col] - oracle.get((r["ratio"], r["seed"]), float("nan")))


def word(values: pd.Series, up: str, down: str, same: str) -> str:
    """``up``/``down`` when the 95 % CI over the values (one per model) excludes 0, else ``same``;
    'n/a' with fewer than two models."""
    values = [float(v) for v in values if v == v]
    if len(values) < 2:
        return "n/a"
    m, c = mean_ci(values)
    return up if m - c > 0 else down if m + c < 0 else same


def _pts(values: pd.Series) -> str:
    """'+3.1 ± 2.0 points (3 models)' over per-seed values; the value alone for one."""
    values = [float(v) for v in values if v == v]
    if not values:
        return "n/a"
    m, c = mean_ci(values)
    return f"{100 * m:+.1f}" + (f" ± {100 * c:.1f}" if len(values) >= 2 else "") + f" points ({len(values)} models)"


def describe(more: pd.DataFrame, cfg: MoreAttacksConfig | None = None) -> str:
    """The three attacks in sentences, from the numbers (paired per seed against the oracle)."""
    cfg = cfg or MoreAttacksConfig()
    kmax = max(cfg.ks)
    unlearned = [m for m in dict.fromkeys(more["method"]) if m not in ("base", "oracle")]
    lines = []
    for scheme in cfg.schemes:
        col = f"quant_{scheme}_forget"
        gain = lambda r, col=col: r[col] - r["quant_none_forget"]
        g_m, g_o = per_seed(more, unlearned, gain), per_seed(more, ["oracle"], gain)
        retain = per_seed(more, ["base"], lambda r: r[f"quant_{scheme}_retain"] - r["quant_none_retain"])
        lines.append(f"- **{scheme}**: rounding changes forget QA by {_pts(g_m)} for the unlearned models and "
                     f"{_pts(g_o)} for the oracles; relative to the oracle it "
                     f"{word((g_m - g_o).dropna(), 'raises', 'lowers', 'does not measurably change')} it. "
                     f"The base's retain QA changes by {_pts(retain)} (does the rounded model still work?).")
    probe = versus_oracle(more, unlearned, "probe_forget_acc")
    base = versus_oracle(more, ["base"], "probe_forget_acc")
    lines.append(f"- **Probe** ({cfg.probe_field}, layers chosen on validation: "
                 f"{sorted(int(v) for v in more['probe_layer'].dropna().unique())}): on the forget clients the unlearned "
                 f"models' probe is {_pts(probe)} from their oracle's ({word(probe, 'above', 'below', 'indistinguishable from')} "
                 f"it), the base's {_pts(base)}; majority class {100 * more['probe_majority_acc'].mean():.1f} %, holdout "
                 f"clients {100 * more['probe_holdout_acc'].mean():.1f} % (means over every model).")
    icl = lambda r: r[f"icl_k{kmax}"] - r["icl_k0"]
    g_m, g_o, g_b = (per_seed(more, ms, icl) for ms in (unlearned, ["oracle"], ["base"]))
    shots, context = more[f"icl_shots_k{kmax}"].mean(), more["context"].max()
    lines.append(f"- **In-context relearning** (k = {kmax} asked, {shots:.1f} shots fit on average in the "
                 f"{context:.0f}-token context): the other forget clients' QA changes by {_pts(g_m)} "
                 f"for the unlearned models, {_pts(g_o)} for the oracles and {_pts(g_b)} for the base (the shots "
                 f"{word(g_b, 'raise', 'lower', 'do not measurably change')} the base's accuracy; relative to the oracle "
                 f"they {word((g_m - g_o).dropna(), 'raise', 'lower', 'do not measurably change')} the unlearned models').")
    return "\n".join(lines)


def describe_real_icl(real_icl: pd.DataFrame, cfg: MoreAttacksConfig | None = None) -> str:
    """The real tier's in-context relearning in a sentence per model kind: accuracy at k = 0 and at
    the largest k (mean over seeds), and the paired change over seeds where there are two or more."""
    cfg = cfg or MoreAttacksConfig()
    kmax, f = max(cfg.ks), real_icl_facts(real_icl, cfg)
    if real_icl.empty or f"icl_k{kmax}" not in real_icl:
        return "- **In-context relearning, real tier**: no rows (no forget client left to score)."
    lines = [f"- **In-context relearning, real tier** ({_count(f['questions'], 'question')} about "
             f"{_count(f['others'], 'forget client')}, shots from {_count(f['pool'], 'pair')}; at k = {kmax}, "
             f"{f['shots']} shots on average, capped by {f['cap']}; one pretrained model, one question = {f['step']} "
             "points):"]
    gain = lambda r: r[f"icl_k{kmax}"] - r["icl_k0"]
    for method, g in real_icl.groupby("method", sort=False):
        change = per_seed(real_icl, [method], gain)
        lines.append(f"  - {method}: {100 * g['icl_k0'].mean():.1f} % at k = 0, {100 * g[f'icl_k{kmax}'].mean():.1f} % "
                     f"at k = {kmax} (change {_pts(change).split(' points')[0]} points, "
                     f"{_count(str(len(change)), 'seed')}).")
    return "\n".join(lines)
