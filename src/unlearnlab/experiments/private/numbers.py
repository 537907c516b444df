"""The numbers ``paper/sec_private.tex`` states, as LaTeX macros (``paper/numbers/private.tex``).

Built from the frames that build the study's tables (``report.table`` of ``evaluate.results`` and
of ``real.run``) and from the profile, in the notebook step that writes the tables. A value the
prose restates from a table cell is that cell's text; a range over forget ratios spans the
cells' means. Verdicts are ``report.verdicts`` (per seed against that seed's own oracle; a
criterion fails when the 95 % CI over models of the paired difference excludes 0). Every macro
is always written ("n/a" where a grid lacks a method or ratio), so the paper compiles from any run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from unlearnlab.core.stats import mean_ci
from unlearnlab.data import medical as med
from unlearnlab.experiments.private import report, report_more
from unlearnlab.experiments.private.attacks_more import MoreAttacksConfig
from unlearnlab.experiments.private.config import LR_PILOT, REAL_LR_PILOT
from unlearnlab.experiments.private.real import real_config
from unlearnlab.experiments.session import Session
from unlearnlab.reporting.numbers import PM, Numbers

NA = "n/a"
PAPER_METHODS = ("GradDiff", "NPO", "SimNPO", "RMU")  # the methods the prose names (others: the grid's)
PAPER_REAL_METHODS = ("GradDiff", "NPO")
A = report.HEADLINE_ATTACK
CRITERIA = {"qa_above_oracle": "forget QA above the oracle", "leak_positive": "positive privacy leak",
            "leak_negative": "negative privacy leak",
            "relearn_above_oracle": "other forget clients above the oracle after relearning"}
COLUMNS = {"forgetQa": "forget QA (%)", "retainQa": "retain QA (%)", "auc": "MIA AUC", "leak": "privacy leak (%)",
           "othersBefore": "others before (%)", "othersAfter": "others after (%)", "gain": "relearn gain (pts)"}
UNITS = {"forgetQa": "%", "retainQa": "%", "auc": "", "leak": "%", "othersBefore": "%", "othersAfter": "%", "gain": ""}


def _key(method: str) -> str:
    """A method's part of a macro name: 'GradDiff' → 'GradDiff' (letters only)."""
    return "".join(c for c in method if c.isalpha())


def _name(*parts: str) -> str:
    """camelCase name (first letter lower) of parts that may start upper-case."""
    joined = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return joined[:1].lower() + joined[1:]


def _tex(text: str) -> str:
    """A table cell (``$\\pm$``) as prose LaTeX; a missing one ('--') as 'n/a'."""
    return NA if text.strip() == "--" else text.replace("$\\pm$", PM)


def _minus(text: str) -> str:
    return text.replace("-", "$-$") if not text.startswith("n/a") else text


def cell_macro(n: Numbers, name: str, cell: str | None, unit: str, about: str) -> str:
    """A table cell restated: its text, with ± as in the prose, a math minus and its unit."""
    if cell is None or str(cell).strip() in ("--", "", "nan"):
        return n.text(name, NA, about)
    tex = _minus(_tex(str(cell))) + ("\\,\\%" if unit == "%" else "")
    return n.text(name, tex, about, str(cell).replace("$\\pm$", "±") + unit)


def _cell(table: pd.DataFrame, ratio: float | None, method: str, column: str) -> str | None:
    """The cell of ``table`` (``report.table``) at a forget ratio (None: the only one) and method."""
    if table.empty or column not in table:
        return None
    rows = table[table["method"] == method]
    if ratio is not None:
        rows = rows[rows["forget %"] == f"{100 * ratio:g}"]
    return None if rows.empty else str(rows.iloc[0][column])


def _fmt(x: float, scale: float, digits: int) -> str:
    return _minus(f"{round(scale * x, digits) + 0.0:.{digits}f}")


def span(values: Sequence[float], scale: float = 100.0, digits: int = 1, unit: str = "%") -> tuple[str, str]:
    """(LaTeX, plain) 'lo--hi' of per-ratio means, or the one value where they agree; 'n/a' for none."""
    values = [float(v) for v in values if v == v]
    if not values:
        return NA, NA
    lo, hi = _fmt(min(values), scale, digits), _fmt(max(values), scale, digits)
    text = lo if lo == hi else f"{lo} to {hi}"
    suffix = "\\,\\%" if unit == "%" else ""
    return text + suffix, text.replace("$-$", "-") + ("%" if unit == "%" else "")


def ratio_means(df: pd.DataFrame, method: str, col: str) -> list[float]:
    """Per forget ratio: the mean of ``col`` over the method's evaluated models (one row per model,
    as the table's cells average them)."""
    rows = df[df["method"] == method]
    if rows.empty or col not in rows:
        return []
    rows = rows.drop_duplicates(["ratio", "model_id"]) if "model_id" in rows else rows
    return rows.groupby("ratio")[col].mean().dropna().tolist()


def _put_span(n: Numbers, name: str, df: pd.DataFrame, method: str, col: str, about: str, scale: float = 100.0,
              digits: int = 1, unit: str = "%") -> str:
    tex, plain = span(ratio_means(df, method, col), scale, digits, unit)
    return n.text(name, tex, about + " (range over forget ratios of the mean over models)", plain)


def _ratios_text(ratios: Sequence[float]) -> tuple[str, str]:
    parts = [f"{100 * r:g}" for r in ratios]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text + "\\,\\%", text + "%"


# --------------------------------------------------------------------------- the profile


def profile_numbers(n: Numbers, session: Session) -> None:
    """Settings the prose states: clients, ratios, seeds (independent models), steps, methods."""
    p = session.profile.private
    n.count("clients", p.clients, "private clients of the base model")
    n.count("publicClients", p.public_clients, "public clients of the pretraining")
    n.count("holdoutClients", p.holdout_clients, "holdout clients (membership-inference non-members)")
    n.count("diagnoses", len(med.CONDITIONS), "diagnoses the note grammar draws from")
    tex, plain = _ratios_text(p.forget_ratios)
    n.text("ratios", tex, "forget ratios", plain)
    n.count("minForget", p.min_forget, "fewest forget clients of a split")
    n.count("models", len(p.seeds), "independently pretrained public models (one per seed), each with its own base "
            "and oracles")
    n.count("pretrainSteps", p.pretrain_steps, "public pretraining steps")
    n.count("finetuneSteps", p.finetune_steps, "base / oracle fine-tuning steps")
    n.count("unlearnSteps", p.unlearn_steps, "unlearning steps")
    n.count("relearnSteps", p.relearn_steps, "relearning attack steps")
    names = [m for m, _ in p.methods]
    n.text("methods", ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0],
           "methods of the grid")
    n.text("undoNote", "UNDO (noise, then distillation of the GradDiff model) runs in this grid" if "UNDO" in names
           else "UNDO (noise, then distillation of the GradDiff model) is not in this grid (CPU budget); the "
           "\\texttt{smoke} and \\texttt{gpu} grids run it", "whether UNDO is in the grid")


def pilot_numbers(n: Numbers, session: Session) -> None:
    """How the fixed learning rates were chosen (``config.LR_PILOT``, ``REAL_LR_PILOT``) and the
    rates themselves: the protocol paragraph states them."""
    p = session.profile.private
    n.percent("pilotRatio", LR_PILOT["ratio"], "learning-rate pilot: forget ratio", digits=0)
    n.count("pilotSeed", LR_PILOT["seed"], "learning-rate pilot: seed")
    n.count("pilotSteps", LR_PILOT["steps"], "learning-rate pilot: unlearning steps")
    n.count("pilotRetainDrop", round(100 * LR_PILOT["retain_drop"]), "learning-rate pilot: retain QA drop allowed "
            "(points)")
    n.text("lrs", "; ".join(f"{m} {_sci(lr)}" for m, lr in p.methods), "the grid's fixed learning rates",
           "; ".join(f"{m} {lr:g}" for m, lr in p.methods))
    n.text("relearnLrs", ", ".join(_sci(lr) for lr in p.relearn_lrs), "relearning attack learning rate(s)",
           ", ".join(f"{lr:g}" for lr in p.relearn_lrs))
    n.count("retainEvalClients", p.retain_eval_clients, "retain clients whose QA is scored (test and validation)")
    n.count("realPilotSeed", REAL_LR_PILOT["seed"], "SmolLM2 learning-rate pilot: seed")
    n.count("realPilotSteps", REAL_LR_PILOT["steps"], "SmolLM2 learning-rate pilot: unlearning steps")
    n.text("realPilotLrs", " and ".join(_sci(lr) for lr in REAL_LR_PILOT["lrs"]),
           "SmolLM2 learning-rate pilot: rates tried", " and ".join(f"{lr:g}" for lr in REAL_LR_PILOT["lrs"]))


def real_profile_numbers(n: Numbers, session: Session, model: str | None = None) -> None:
    """The real tier's settings (``real_*`` fields of the profile)."""
    cfg = real_config(session, model)
    n.count("realClients", cfg.real_clients, "SmolLM2 tier: members (forget + retain)")
    n.count("realHoldout", cfg.real_holdout, "SmolLM2 tier: non-members of membership inference")
    n.percent("realRatio", cfg.real_ratio, "SmolLM2 tier: forget ratio", digits=0)
    n.count("realLoraLayers", cfg.real_lora_layers, "SmolLM2 tier: adapted (last) layers")
    n.count("realSteps", cfg.real_steps, "SmolLM2 tier: base / oracle adapter steps")
    n.count("realUnlearnSteps", cfg.real_unlearn_steps, "SmolLM2 tier: unlearning steps")
    n.count("realSeeds", len(cfg.real_seeds), "SmolLM2 tier: seeds (one model: SmolLM2)")
    n.count("realFields", len(cfg.real_fields), "SmolLM2 tier: fields asked per client")
    lrs = sorted({lr for _, lr in cfg.real_methods})
    n.text("realLr", ", ".join(_sci(lr) for lr in lrs), "SmolLM2 tier: unlearning learning rate(s)",
           ", ".join(f"{lr:g}" for lr in lrs))
    n.text("realTrained", "question--answer texts and notes" if cfg.real_train_notes else "question--answer texts only",
           "what the SmolLM2 adapters train on")


def _sci(x: float) -> str:
    """$3\\cdot10^{-3}$ for 0.003."""
    mantissa, exponent = f"{x:e}".split("e")
    m = f"{float(mantissa):g}"
    factor = "" if m == "1" else m + r"\cdot "
    return f"${factor}10^{{{int(exponent)}}}$"


# --------------------------------------------------------------------------- the synthetic tier


def reference_numbers(n: Numbers, df: pd.DataFrame) -> None:
    """Base and oracle across forget ratios: forget QA, retain QA, MIA AUC; forget clients."""
    for method, key in (("base", "Base"), ("oracle", "Oracle")):
        _put_span(n, _name(key, "forgetQa"), df, method, "forget_qa_acc", f"{method}: forget-client QA accuracy")
        _put_span(n, _name(key, "retainQa"), df, method, "retain_qa_acc", f"{method}: retain-client QA accuracy")
        _put_span(n, _name(key, "auc"), df, method, f"auc_{A}", f"{method}: MIA AUC ({A})", 1.0, 2, "")
    clients = df.groupby("ratio")["n_forget"].max() if "n_forget" in df and not df.empty else pd.Series(dtype=float)
    n.count("forgetClientsMin", int(clients.min()) if not clients.empty else 0, "forget clients at the smallest ratio")
    n.count("forgetClientsMax", int(clients.max()) if not clients.empty else 0, "forget clients at the largest ratio")


def method_numbers(n: Numbers, df: pd.DataFrame, methods: Sequence[str]) -> None:
    """Per method: ranges over ratios of forget QA, retain QA, AUC and leak, and its verdict."""
    ver = report.verdicts(df) if not df.empty else pd.DataFrame()
    for method in methods:
        k = _key(method)
        _put_span(n, _name(k, "forgetQa"), df, method, "forget_qa_acc", f"{method}: forget-client QA accuracy")
        _put_span(n, _name(k, "retainQa"), df, method, "retain_qa_acc", f"{method}: retain-client QA accuracy")
        _put_span(n, _name(k, "auc"), df, method, f"auc_{A}", f"{method}: MIA AUC ({A})", 1.0, 2, "")
        _put_span(n, _name(k, "leak"), df, method, f"leak_{A}", f"{method}: privacy leak ({A})")
        mine = ver[ver["method"] == method] if not ver.empty else ver
        n.text(_name(k, "verdict"), verdict_text(mine), f"{method}: criteria separating it from the oracle")


def verdict_text(ver: pd.DataFrame) -> str:
    """'forget QA above the oracle at 5, 10 and 20\\,\\%; positive privacy leak at 20\\,\\%', 'none at
    any ratio', or why there is no verdict."""
    if ver.empty:
        return NA
    if ver["seeds"].min() < 2:
        return "no verdict (one model per cell)"
    found = [f"{text} at {_ratios_text(ver.loc[ver[key], 'ratio'].tolist())[0]}"
             for key, text in CRITERIA.items() if ver[key].any()]
    return "; ".join(found) if found else "none at any ratio"


def verdict_numbers(n: Numbers, df: pd.DataFrame, table: pd.DataFrame) -> None:
    """How many (method, ratio) cells the verdicts separate from the oracle, and which are clean."""
    ver = report.verdicts(df) if not df.empty else pd.DataFrame()
    tested = ver[ver["seeds"] >= 2] if not ver.empty else ver
    n.count("cells", len(tested), "(method, forget ratio) cells with a verdict (>= 2 models)")
    clean = tested[~tested[list(CRITERIA)].any(axis=1)] if not tested.empty else tested
    n.count("cleanCells", len(clean), "cells indistinguishable from the oracle on every criterion")
    parts = []
    for _, r in clean.iterrows():
        leak = _cell(table, r["ratio"], r["method"], COLUMNS["leak"])
        parts.append(f"{r['method']} at {100 * r['ratio']:g}\\,\\% (privacy leak {_minus(_tex(leak or '--'))}\\,\\%)")
    n.text("cleanList", "; ".join(parts) if parts else "none", "the clean cells, with their privacy leak")
    for key, text in CRITERIA.items():
        n.count(_name(key.replace("_", " ").title().replace(" ", ""), "cells"),
                int(tested[key].sum()) if not tested.empty else 0, f"cells failing: {text}")
    above = tested[tested["relearn_above_oracle"]] if not tested.empty else tested
    no_gain = 0
    for _, r in above.iterrows():
        g = report.with_gain(df[(df["method"] == r["method"]) & (df["ratio"] == r["ratio"])])["relearn_gain"].dropna()
        m, c = mean_ci(g.tolist())
        no_gain += int(len(g) >= 2 and m - c <= 0)
    n.count("relearnAboveNoGain", no_gain, "of the cells above the oracle after relearning: those whose relearning "
            "gain's 95 % CI includes 0 or lies below it (the answers were there before the attack)")


def transfer_numbers(n: Numbers, df: pd.DataFrame) -> None:
    """What relearning on some forget clients does to the others, pooled over methods, ratios and
    seeds (``report._transfer``), for the unlearned models and for the oracle."""
    attacked = report.with_gain(df).dropna(subset=["relearn_gain"]) if not df.empty else pd.DataFrame()
    for is_oracle, key in ((False, "Methods"), (True, "Oracle")):
        part = attacked[(attacked["method"] == "oracle") == is_oracle]["relearn_gain"] if not attacked.empty else []
        m, c = mean_ci(list(part))
        tex = NA if m != m else _fmt(m, 100, 1) + (f" {PM} {100 * c:.1f}" if len(part) >= 2 else "")
        n.text(_name("transfer", key), tex, f"relearning gain on the other forget clients, points ({key.lower()}, "
               "pooled; mean and 95 % CI)", tex.replace("$-$", "-").replace(PM, "±"))
        n.count(_name("transfer", key, "attacks"), len(part), f"attacks pooled ({key.lower()})")
    gains = attacked[attacked["method"] != "oracle"]["relearn_gain"].tolist() if not attacked.empty else []
    m, c = mean_ci(gains)
    word = NA if len(gains) < 2 else "raises" if m - c > 0 else "lowers" if m + c < 0 else "does not measurably change"
    n.text("transferWord", word, "what relearning does to the other forget clients of unlearned models (CI rule)")


# --------------------------------------------------------------------------- the real tier


def real_numbers(n: Numbers, real: pd.DataFrame | None, methods: Sequence[str], clients: int) -> None:
    """The SmolLM2 tier's cells: base, oracle and each method (one seed: values without interval)."""
    table = report.table(real) if real is not None and not real.empty else pd.DataFrame()
    for col, name in (("n_forget", "realForgetClients"), ("n_forget_questions", "realQuestions"),
                      ("n_relearned", "realRelearned"), ("n_others", "realOthers")):
        values = real[col].dropna() if real is not None and col in real else pd.Series(dtype=float)
        n.count(name, int(values.max()) if not values.empty else 0, f"SmolLM2 tier: {col}")
    forget = real["n_forget"].dropna() if real is not None and "n_forget" in real else pd.Series(dtype=float)
    n.count("realRetainClients", clients - int(forget.max()) if not forget.empty else 0,
            "SmolLM2 tier: retain members (the oracle's)")
    for method, key in [("base", "Base"), ("oracle", "Oracle"), *[(m, _key(m)) for m in methods]]:
        for col, title in COLUMNS.items():
            if method == "base" and col in ("othersBefore", "othersAfter", "gain"):
                continue
            cell_macro(n, _name("real", key, col), _cell(table, None, method, title), UNITS[col],
                       f"SmolLM2 tier, {method}: {title}")


# --------------------------------------------------------------------------- the three more attacks


def _seed_ci(n: Numbers, name: str, values: pd.Series, about: str) -> str:
    """Mean ± 95 % CI over per-seed values (independent models), in points; the mean alone for one."""
    values = [float(v) for v in values if v == v]
    m, c = mean_ci(values)
    tex = NA if m != m else _fmt(m, 100, 1) + (f" {PM} {100 * c:.1f}" if len(values) >= 2 else "")
    return n.text(name, tex, about + " (points; mean ± 95 % CI over models, each the mean over methods and ratios)",
                  tex.replace("$-$", "-").replace(PM, "±"))


def more_numbers(n: Numbers, more: pd.DataFrame | None, methods: Sequence[str], ks: Sequence[int],
                 schemes: Sequence[str]) -> None:
    """Quantization, probe and in-context relearning (``attacks_more``; ``report_more``): per model
    kind ranges over ratios, and per-seed paired comparisons of the unlearned models with their
    own oracle (a word only where the 95 % CI over models excludes 0)."""
    more = more if more is not None else pd.DataFrame(columns=["method", "ratio", "seed", "model_id"])
    kmax = max(ks)
    n.text("quantSchemes", " and ".join(schemes), "quantization schemes")
    n.count("iclMaxK", kmax, "largest number of in-context shots asked")
    n.text("iclKs", ", ".join(str(k) for k in ks), "numbers of in-context shots")
    ctx = more["context"].dropna() if "context" in more else pd.Series(dtype=float)
    n.text("iclContext", str(int(ctx.max())) if not ctx.empty else NA, "the tiny models' context (tokens)")
    for method, key in [("base", "Base"), ("oracle", "Oracle"), *[(m, _key(m)) for m in methods]]:
        for col, part in (("quant_int8_forget", "IntEightForget"), ("quant_int4_forget", "IntFourForget"),
                          ("quant_int4_retain", "IntFourRetain"), ("probe_forget_acc", "ProbeForget"),
                          ("icl_k0", "IclZero"), (f"icl_k{kmax}", "IclMax")):
            _put_span(n, _name(key, part), more, method, col, f"{method}: {col}")
    for col, part in (("probe_holdout_acc", "ProbeHoldout"), ("probe_majority_acc", "ProbeMajority"),
                      (f"icl_shots_k{kmax}", "IclShotsMax")):
        vals = [ratio_means(more, m, col) for m in ["base", "oracle", *methods]]
        scale, digits, unit = (1.0, 1, "") if "shots" in col else (100.0, 1, "%")
        tex, plain = span([v for vs in vals for v in vs], scale, digits, unit)
        n.text(_name("all", part), tex, f"{col}, every model (range over methods and ratios)", plain)
    layers = more["probe_layer"].dropna() if "probe_layer" in more else pd.Series(dtype=float)
    n.text("probeLayers", ", ".join(str(int(v)) for v in sorted(layers.unique())) if not layers.empty else NA,
           "layers chosen on validation (0: first decoder layer)")
    n_layers = more["probe_curve"].dropna().map(len).max() if "probe_curve" in more and not more.empty else float("nan")
    n.text("probeNLayers", NA if n_layers != n_layers else str(int(n_layers)), "decoder layers probed")
    unlearned = [m for m in methods if m in set(more["method"])]
    for scheme, part in (("int8", "IntEight"), ("int4", "IntFour")):
        gain = lambda r, s=scheme: r.get(f"quant_{s}_forget", float("nan")) - r.get("quant_none_forget", float("nan"))
        if f"quant_{scheme}_forget" not in more:
            gain = lambda r: float("nan")
        g_m, g_o = report_more.per_seed(more, unlearned, gain), report_more.per_seed(more, ["oracle"], gain)
        _seed_ci(n, _name("quant", part, "gainMethods"), g_m, f"{scheme}: forget QA change by rounding, unlearned")
        _seed_ci(n, _name("quant", part, "gainOracle"), g_o, f"{scheme}: forget QA change by rounding, oracle")
        n.text(_name("quant", part, "word"), report_more.word((g_m - g_o).dropna(), "raises", "lowers",
                                                              "does not measurably change"),
               f"{scheme}: what rounding does to unlearned models' forget QA, relative to the oracle's change")
    cols = ("probe_forget_acc", f"icl_k{kmax}", "icl_k0")
    has = all(c in more for c in cols)
    probe = report_more.versus_oracle(more, unlearned, "probe_forget_acc") if has else pd.Series(dtype=float)
    _seed_ci(n, "probeVsOracle", probe, "probe accuracy on forget clients, unlearned minus own oracle")
    n.text("probeWord", report_more.word(probe, "above", "below", "indistinguishable from"),
           "probe accuracy on forget clients of unlearned models against the oracle's")
    icl = lambda r: r.get(f"icl_k{kmax}", float("nan")) - r.get("icl_k0", float("nan"))
    g_m, g_o, g_b = (report_more.per_seed(more, ms, icl) if has else pd.Series(dtype=float)
                     for ms in (unlearned, ["oracle"], ["base"]))
    _seed_ci(n, "iclGainMethods", g_m, f"in-context relearning, k={kmax} minus k=0, unlearned")
    _seed_ci(n, "iclGainOracle", g_o, f"in-context relearning, k={kmax} minus k=0, oracle")
    _seed_ci(n, "iclGainBase", g_b, f"in-context relearning, k={kmax} minus k=0, base")
    n.text("iclWord", report_more.word((g_m - g_o).dropna(), "raises", "lowers", "does not measurably change"),
           "what the shots do to unlearned models' accuracy, relative to what they do to the oracle's")
    n.text("iclBaseWord", report_more.word(g_b, "raise", "lower", "do not measurably change"),
           "what the shots do to the base's accuracy (does in-context prompting work at all)")


def real_more_numbers(n: Numbers, real_more: pd.DataFrame | None, methods: Sequence[str]) -> None:
    """The real tier's quantized cells (``report_more.write_real_table``)."""
    table = (report_more.table(real_more, report_more.REAL_QUANT) if real_more is not None and not real_more.empty
             else pd.DataFrame())
    for method, key in [("base", "Base"), ("oracle", "Oracle"), *[(m, _key(m)) for m in methods]]:
        for col, part in (("quant_none_forget", "FloatForget"), ("quant_int8_forget", "IntEightForget"),
                          ("quant_int4_forget", "IntFourForget"), ("quant_int4_retain", "IntFourRetain")):
            title = report_more.REAL_QUANT[col][0]
            cell_macro(n, _name("real", key, part), _cell(table, None, method, title), "%",
                       f"SmolLM2 tier, {method}: {title}")


def real_icl_numbers(n: Numbers, real_icl: pd.DataFrame | None, methods: Sequence[str], ks: Sequence[int],
                     coverage: dict | None = None) -> None:
    """The real tier's in-context relearning (``report_more.write_real_icl_table``): each model's
    cells at k = 0 and the largest k, what the caption counts (questions, pairs, shots, context),
    and why it has no probe (``attacks_more.real_probe_coverage``)."""
    kmax = max(ks)
    frame = real_icl if real_icl is not None else pd.DataFrame(columns=["method", "seed", "ratio"])
    table = report_more.table(frame, report_more.icl_columns(ks)) if not frame.empty else pd.DataFrame()
    for method, key in [("base", "Base"), ("oracle", "Oracle"), *[(m, _key(m)) for m in methods]]:
        for k, part in ((0, "IclZero"), (kmax, "IclMax")):
            cell_macro(n, _name("real", key, part), _cell(table, None, method, f"k={k} (%)"), "%",
                       f"SmolLM2 tier, {method}: in-context relearning, k={k}")
    facts = report_more.real_icl_facts(frame)
    for fact, part, about in (("context", "Context", "the model's context (tokens)"),
                              ("questions", "Questions", "questions scored (other forget clients, test wording)"),
                              ("pool", "Pool", "trained pairs of the relearned clients the shots come from"),
                              ("others", "Others", "forget clients scored"),
                              ("shots", "ShotsMax", f"mean shots at k={kmax}"),
                              ("cap", "Cap", f"what capped the shots at k={kmax}"),
                              ("step", "Step", "points one question moves a cell")):
        n.text(_name("realIcl", part), facts[fact], f"SmolLM2 tier, in-context relearning: {about}")
    coverage = coverage or {}
    for key, part in (("val_items", "ValItems"), ("val_classes", "ValClasses"), ("val_repeated", "ValRepeated"),
                      ("forget_items", "ForgetItems"), ("forget_covered", "ForgetCovered"),
                      ("holdout_items", "HoldoutItems"), ("holdout_covered", "HoldoutCovered")):
        about = f"SmolLM2 tier, why no probe: {key} ({coverage.get('field', 'n/a')})"
        if key in coverage:
            n.count(_name("realProbe", part), coverage[key], about)
        else:
            n.text(_name("realProbe", part), NA, about)


# --------------------------------------------------------------------------- all of it


def paper_numbers(session: Session, df: pd.DataFrame, real: pd.DataFrame | None = None,
                  model: str | None = None, more: pd.DataFrame | None = None,
                  real_more: pd.DataFrame | None = None, real_icl: pd.DataFrame | None = None,
                  coverage: dict | None = None) -> Numbers:
    """Every number ``paper/sec_private.tex`` uses (``more``, ``real_more``: ``attacks_more.joined``
    and ``attacks_more.real_run``; ``real_icl``: ``attacks_more.real_icl_run``; ``coverage``:
    ``attacks_more.real_probe_coverage``; their macros say 'n/a' without them)."""
    n = Numbers("private")
    profile_numbers(n, session)
    pilot_numbers(n, session)
    real_profile_numbers(n, session, model)
    table = report.table(df) if not df.empty else pd.DataFrame()
    grid = [m for m, _ in session.profile.private.methods]
    reference_numbers(n, df)
    method_numbers(n, df, list(dict.fromkeys([*PAPER_METHODS, *grid])))
    verdict_numbers(n, df, table)
    transfer_numbers(n, df)
    real_grid = [m for m, _ in real_config(session, model).real_methods]
    real_numbers(n, real, [m for m in dict.fromkeys([*PAPER_REAL_METHODS, *real_grid]) if m.isalpha()],
                 real_config(session, model).real_clients)
    cfg = MoreAttacksConfig()
    more_numbers(n, more, list(dict.fromkeys([*PAPER_METHODS, *grid])), cfg.ks, cfg.schemes)
    real_more_numbers(n, real_more, [m for m in dict.fromkeys([*PAPER_REAL_METHODS, *real_grid]) if m.isalpha()])
    real_icl_numbers(n, real_icl, [m for m in dict.fromkeys([*PAPER_REAL_METHODS, *real_grid]) if m.isalpha()],
                     cfg.ks, coverage)
    return n


def write(session: Session, df: pd.DataFrame, real: pd.DataFrame | None = None, model: str | None = None,
          more: pd.DataFrame | None = None, real_more: pd.DataFrame | None = None,
          real_icl: pd.DataFrame | None = None, coverage: dict | None = None) -> Path | None:
    """``paper/numbers/private.tex`` under the session's output root; a user's real ``model`` is
    shown in the notebook, never written over the paper's numbers (None then)."""
    if model:
        return None
    return paper_numbers(session, df, real, more=more, real_more=real_more, real_icl=real_icl,
                         coverage=coverage).write(session.paths)
