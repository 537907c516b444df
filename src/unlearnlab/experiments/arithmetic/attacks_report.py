"""Quantization, probe and in-context attacks (``extra_attacks``) from the results store to the
paper: the companion table ``arith_attacks_more``, the probe-by-layer figure's data, the notebook's
sentences and the paper's numbers (added to ``paper/numbers/arith.tex``).

Rows are the main table's (``report.table_rows``: base, oracle, the baselines at their chosen
learning rate, each UNDO α and full distillation at their reported snapshot), so every attack sits
next to relearning on the same models; means and 95 % intervals are over independently pretrained
models, and the table says how many stand behind each row.
"""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.paths import Paths
from unlearnlab.core.stats import mean_ci
from unlearnlab.experiments.arithmetic import report, selection, wording
from unlearnlab.experiments.arithmetic.extra_attacks import TABLES, hashes
from unlearnlab.experiments.arithmetic.selection import BASELINES
from unlearnlab.experiments.session import Session
from unlearnlab.reporting import tables
from unlearnlab.reporting.numbers import Numbers

JOIN = ["method", "hparam", "seed", "model_id"]
# the in-context attack is uninformative when the base model, which knows x/÷, keeps less than this
# share of its zero-shot forget accuracy once shots are in the prompt: the shots then break the
# prompt format for every model, and a low accuracy says nothing about forgetting
ICL_KEEP = 0.5


def with_extra(session: Session, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (the main table's, ``report.table_rows``) joined with the three attacks' results of
    this profile's settings; a model without all three is left out (``missing`` names whole rows
    left out; raise when none is left)."""
    out = rows
    for name, h in hashes(session.profile.arithmetic).items():
        found = session.store.table(TABLES[name])
        if found.empty or f"{name}_hash" not in found:
            raise RuntimeError(f"no {TABLES[name]} results; run 40_attacks first")
        found = found[found[f"{name}_hash"] == h].drop(columns=["setting", f"{name}_hash", "rows"], errors="ignore")
        out = out.merge(found.rename(columns={"layers": "probe_layers"}), on=JOIN, how="inner")
    if out.empty:
        raise RuntimeError("no model has quantization, probe and in-context results for this profile's settings; "
                           "run 40_attacks first")
    return out


def missing(rows: pd.DataFrame, more: pd.DataFrame) -> list[str]:
    """Labels of the main table with no model in ``more`` (not attacked by these attacks yet)."""
    return [label for label in dict.fromkeys(rows["label"]) if label not in set(more["label"])]


def reported_rows(session: Session) -> pd.DataFrame:
    """The main table's rows (``report.table_rows``) with the three attacks' results."""
    return with_extra(session, report.table_rows(selection.attacked(session)))


def icl_ks(rows: pd.DataFrame) -> list[int]:
    """The k of the in-context columns present (k = 0 included), ascending."""
    return sorted(int(c[3:].split("_")[0]) for c in rows if c.startswith("icl") and c.endswith("_forget_acc"))


def shots_used(rows: pd.DataFrame, k: int) -> float:
    """Mean shots that fitted the context at k (over items and models)."""
    return float(rows[f"icl{k}_shots"].mean())


def table_columns(rows: pd.DataFrame, schemes) -> dict[str, str]:
    """Column -> header: accuracy before and after relearning, after each quantization scheme
    (forget, and retain after the coarsest), the probe at its chosen layer, then in-context k > 0
    with the mean number of shots that fitted (the context caps k)."""
    cols = {"forget_acc": "forget (\\%)", "post_attack_forget_acc": "relearned (\\%)"}
    for s in schemes:
        cols[f"{s}_forget_acc"] = f"{s} forget (\\%)"
    if schemes:
        cols[f"{schemes[-1]}_retain_acc"] = f"{schemes[-1]} retain (\\%)"
    cols["probe_acc"] = "probe (\\%)"
    for k in icl_ks(rows):
        if k:
            cols[f"icl{k}_forget_acc"] = f"{k}-shot (\\%), {shots_used(rows, k):.1f} fit"
    return cols


def write_table(rows: pd.DataFrame, session: Session, profile: str, absent: list[str] = ()) -> pd.DataFrame:
    """``arith_attacks_more.tex`` (+ csv, json): per method, mean ± 95 % CI over models of forget
    accuracy before any attack, after relearning, after quantization, the probe's accuracy and
    in-context forget accuracy; column ``models`` counts the independent models; the caption names
    the main table's rows without these results (``absent``)."""
    p = session.profile.arithmetic
    table = tables.mean_ci_table(rows, "label", table_columns(rows, list(p.quant_schemes)))
    table = report.with_model_counts(table, rows).rename(columns={"label": "method"})
    majority = 100 * rows["majority_acc"].mean()
    chosen = sorted(rows["best_layer"].astype(int).unique())
    layers = ("layers " if len(chosen) > 1 else "layer ") + ", ".join(map(str, chosen))
    caption = (f"Arithmetic world ({profile} profile): attacks beyond relearning, forget accuracy on the test items "
               "($\\times$, $\\div$); mean $\\pm$ 95\\% CI over independently pretrained models (column models). Relearned: after the "
               "worst-case relearning attack (Table~\\ref{tab:arith-main}). int8/int4: round-to-nearest per-channel "
               "weight quantization of every decoder-layer linear layer (retain: + and $-$ accuracy of the coarsest). "
               "Probe: a linear probe for the answer's first token on the residual stream at the answer position, fitted "
               "on validation items, scored on test items, at the layer chosen by cross-validation on validation items "
               f"(chosen {layers}; always predicting the commonest first token scores {majority:.1f}\\%). "
               "k-shot: k forget-train examples before each question, as many as fit the "
               f"{p.model.max_len}-token context (mean shots that fitted in the header)."
               + (f" Not attacked yet: {', '.join(absent)}." if absent else ""))
    tables.write_latex(table, session.paths.tables / "arith_attacks_more.tex", caption=caption,
                       label="tab:arith-attacks-more")
    return table


def probe_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (label, seed, layer): the probe's test accuracy and the majority-class rate."""
    out = [{"label": r["label"], "seed": r["seed"], "layer": p["layer"], "probe_acc": p["probe_acc"],
            "majority_acc": p["majority_acc"]} for _, r in rows.iterrows() for p in r["probe_layers"]]
    return pd.DataFrame(out)


# ---- sentences and the paper's numbers ------------------------------------------------------------

def _stat(values) -> str:
    m, c = mean_ci([float(v) for v in values])
    return f"{100 * m:.1f} ± {100 * c:.1f} %"


def icl_informative(rows: pd.DataFrame) -> bool:
    """``ICL_KEEP``'s rule: the base models keep at least that share of their zero-shot forget
    accuracy at every k > 0 (mean over models)."""
    base = rows[rows["method"] == "base"]
    ks = [k for k in icl_ks(rows) if k]
    zero = base["icl0_forget_acc"].mean()
    return bool(ks) and all(base[f"icl{k}_forget_acc"].mean() >= ICL_KEEP * zero for k in ks)


def describe(rows: pd.DataFrame) -> str:
    """The three attacks in sentences with their numbers (notebook 40)."""
    schemes = sorted((c.removesuffix("_forget_acc") for c in rows if c.startswith("int") and c.endswith("_forget_acc")),
                     key=lambda s: -int(s[3:]))  # int8 before int4
    ks = icl_ks(rows)
    n_models = rows[rows["method"] == "base"]["base_model"].nunique()
    lines = [f"Mean ± 95 % CI over {n_models} independently pretrained base models (each with its own oracle and "
             "unlearned models); test items."]
    for label, d in rows.groupby("label", sort=False):
        quant = ", ".join(f"{s} {_stat(d[f'{s}_forget_acc'])} (retain {_stat(d[f'{s}_retain_acc'])})" for s in schemes)
        icl = ", ".join(f"k={k} {_stat(d[f'icl{k}_forget_acc'])}" for k in ks)
        lines.append(f"- **{label}**: forget {_stat(d['forget_acc'])}; quantized {quant}; probe "
                     f"{_stat(d['probe_acc'])} (majority {_stat(d['majority_acc'])}); in-context {icl}.")
    fits = ", ".join(f"k={k}: {shots_used(rows, k):.1f}" for k in ks if k)
    lines.append(f"Shots that fit the context on average: {fits}.")
    if not icl_informative(rows):
        lines.append("**In-context relearning is not informative here**: the base models themselves lose most of "
                     "their forget accuracy once examples precede the question, so low in-context accuracy of an "
                     "unlearned model is no evidence of forgetting.")
    return "\n".join(lines)


def _paired(n: Numbers, name: str, a: pd.DataFrame, col_a: str, b: pd.DataFrame, col_b: str, words, about: str):
    """A comparison word on per-model differences ``a[col_a] - b[col_b]`` (``wording.compare``)."""
    left = a[["seed", col_a]].rename(columns={col_a: "v"})
    right = b[["seed", col_b]].rename(columns={col_b: "v"})
    n.text(name, wording.compare(wording.paired_differences(left, right, "v"), words), about)


def add_numbers(n: Numbers, session: Session, rows: pd.DataFrame) -> Numbers:
    """The attacks' macros in the arithmetic numbers ``n``: per base, oracle and baseline the forget
    accuracy after each quantization scheme (and retain after the coarsest), the probe's accuracy
    and every k's in-context accuracy; comparison words by ``wording.compare``; the probe's majority
    rate; shots that fit; and ``iclNote``, the sentence that says whether in-context results mean
    anything (``icl_informative``)."""
    p = session.profile.arithmetic
    schemes, ks = list(p.quant_schemes), icl_ks(rows)
    oracle = rows[rows["method"] == "oracle"]
    for method in ["base", "oracle", *BASELINES]:
        d, part = rows[rows["method"] == method], report.method_name(method)
        for s in schemes:
            report.mean_ci_number(n, f"{part}{_scheme(s)}", d[f"{s}_forget_acc"], f"{method}: forget accuracy after {s}")
            _paired(n, f"{part}{_scheme(s)}VsBefore", d, f"{s}_forget_acc", d, "forget_acc",
                    ("higher than", "lower than", "indistinguishable from"), f"{method}: {s} forget vs unquantized")
        report.mean_ci_number(n, f"{part}{_scheme(schemes[-1])}Retain", d[f"{schemes[-1]}_retain_acc"],
                              f"{method}: retain accuracy after {schemes[-1]}")
        report.mean_ci_number(n, f"{part}Probe", d["probe_acc"], f"{method}: probe accuracy at the chosen layer")
        for k in ks:
            report.mean_ci_number(n, f"{part}Icl{wording.spell(k)}", d[f"icl{k}_forget_acc"],
                                  f"{method}: forget accuracy with {k} in-context examples")
        if method != "oracle":
            _paired(n, f"{part}ProbeVsOracle", d, "probe_acc", oracle, "probe_acc",
                    ("above", "below", "indistinguishable from"), f"{method}: probe accuracy vs the oracle's")
    n.percent("probeMajority", float(rows["majority_acc"].mean()), "probe: always predicting the commonest first token")
    n.count("probeLayers", int(rows["probe_layers"].map(len).max()), "layers probed")
    n.count("contextTokens", p.model.max_len, "the arithmetic models' context (tokens)")
    for k in ks:
        if k:
            n.value(f"iclShots{wording.spell(k)}", shots_used(rows, k), f"in-context: mean shots that fit at k = {k}",
                    digits=1)
    n.text("iclNote", icl_note(n, rows, ks), "whether in-context accuracy means anything here (base-model rule)")
    return n


def _scheme(s: str) -> str:
    """'int8' -> 'IntEight' (macro names hold letters only)."""
    return s[:1].upper() + s[1:].rstrip("0123456789") + wording.spell(int("".join(ch for ch in s if ch.isdigit())))


def icl_note(n: Numbers, rows: pd.DataFrame, ks: list[int]) -> str:
    """The sentence on in-context relearning: when the base models lose most of their zero-shot
    forget accuracy with shots (``icl_informative``), the attack is uninformative in this world and
    the sentence says so with the base numbers; otherwise it states that the rows can be read."""
    shot_ks = [k for k in ks if k]
    if not shot_ks:
        return ""
    first, last = shot_ks[0], shot_ks[-1]
    tex = {k: n.entries[f"arithBaseIcl{wording.spell(k)}"]["tex"] for k in (0, first, last)}
    fit = n.entries[f"arithIclShots{wording.spell(last)}"]["tex"]
    with_shots = ((f"{tex[first]} with {first} example{'s' * (first > 1)} and " if first != last else "")
                  + f"{tex[last]} with up to {last}")
    if icl_informative(rows):
        return (f"The base models keep their forget accuracy with examples in the prompt ({tex[0]} without, "
                f"{with_shots}, of which {fit} fit on average), so the in-context columns can be read as an attack.")
    return (f"In-context relearning is not informative in this world: the base models, which know multiplication and "
            f"division, fall from {tex[0]} without examples to {with_shots} (of which only {fit} fit the "
            f"{n.entries['arithContextTokens']['tex']}-token context on average); these small models were pretrained on "
            "single examples (packed rows, but no example attends to another), so low in-context accuracy of an "
            "unlearned model is no evidence of forgetting.")


def write_numbers(session: Session, att: pd.DataFrame, rows: pd.DataFrame, extra_rows: pd.DataFrame) -> Numbers:
    """``paper/numbers/arith.tex`` with the attacks' macros (from ``extra_rows``, this module's table
    rows) added to the main table's (``report.arith_numbers`` of ``att`` and its ``rows``, unchanged):
    the same file, rewritten with both (notebook 90, after the main table)."""
    n = report.arith_numbers(session, att, rows)
    wording.with_plain_forms(add_numbers(n, session, extra_rows))
    n.write(session.paths)
    return n
