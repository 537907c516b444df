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
