"""Tables, paper numbers and the generated interpretation of 36_tofu.

One table row per (forget split, model): forget quality, model utility, forget truth ratio and
answer probability, PrivLeak, and forget quality after int8 / int4 rounding; the mean over seeds
(the seeds column says how many independently trained models stand behind it; with several, the
95 % CI). Forget quality is a p-value: printed with two significant digits.
"""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.stats import mean_ci
from unlearnlab.experiments.session import Session
from unlearnlab.experiments.tofu.config import FIRST_FINETUNE_LR
from unlearnlab.experiments.tofu.run import REFERENCES
from unlearnlab.reporting import tables
from unlearnlab.reporting.numbers import Numbers

PAPER_METHODS = ("GradDiff", "NPO", "SimNPO", "RMU", "RefusalKL")  # the methods sec_tofu.tex names
PAPER_SCHEMES = {"int8": "IntEight", "int4": "IntFour"}
ALPHA = 0.05  # a forget quality (KS p-value) below it: the model's truth ratios are told apart from the oracle's
COLUMNS = {"forget_quality": "forget quality", "model_utility": "model utility",
           "forget_truth_ratio": "forget truth ratio", "forget_probability": "forget prob.",
           "privleak": "PrivLeak (%)"}


def _fmt(values, p_value: bool) -> str:
    m, c = mean_ci(list(values))
    if m != m:
        return "--"
    f = (lambda x: f"{x:.2g}") if p_value else (lambda x: f"{x:.2f}" if abs(x) < 10 else f"{x:.0f}")
    return f(m) + (f" $\\pm$ {f(c)}" if len(values) >= 2 else "")


def order(methods) -> list[str]:
    """The references first, then the methods in grid order."""
    methods = list(dict.fromkeys(methods))
    return [m for m in REFERENCES if m in methods] + [m for m in methods if m not in REFERENCES]


def table(df: pd.DataFrame, quant: pd.DataFrame) -> pd.DataFrame:
    """The paper table: one row per (forget split, model)."""
    out = []
    for forget in dict.fromkeys(df["forget"]):
        for method in order(df[df["forget"] == forget]["method"]):
            g = df[(df["forget"] == forget) & (df["method"] == method)]
            row = {"forget": forget, "model": method}
            row.update({title: _fmt(g[col], col == "forget_quality") for col, title in COLUMNS.items()})
            for scheme in sorted(set(quant["scheme"])) if len(quant) else ():
                q = quant[(quant["forget"] == forget) & (quant["method"] == method) & (quant["scheme"] == scheme)]
                row[f"FQ {scheme}"] = _fmt(q["forget_quality"], True)
            row["seeds"] = len(g)
            out.append(row)
    return pd.DataFrame(out)


def caption(session: Session) -> str:
    cfg = session.profile.tofu
    data = f"the TOFU files in {cfg.source}" if cfg.source else (
        f"a generated TOFU-format world of {cfg.authors} fictitious authors x {cfg.qa_per_author} questions")
    return (f"TOFU protocol on {cfg.model} with LoRA (last {cfg.lora_layers} layers, rank {cfg.lora_r}), {data}: "
            f"base and oracle {cfg.steps} steps, each method {cfg.unlearn_steps} steps. Forget quality: KS p-value of "
            "the forget truth ratios against the retain-only oracle's (1 for the oracle itself); model utility: "
            "harmonic mean over retain, real authors, world facts; PrivLeak: min-k 40 % AUC of forget against holdout "
            "texts relative to the oracle's (0: oracle-like); FQ intN: forget quality after rounding the merged "
            "weights. Mean over seeds (seeds column: independently trained models).")


def write_table(session: Session, df: pd.DataFrame, quant: pd.DataFrame) -> pd.DataFrame:
    out = table(df, quant)
    tables.write_latex(out, session.paths.tables / "tofu.tex", caption=caption(session), label="tab:tofu")
    return out


def _mean(df: pd.DataFrame, method: str, col: str) -> float:
    """The mean of ``col`` over ``method``'s rows (seeds); NaN where the frame has neither."""
    if col not in df or "method" not in df:
        return float("nan")
    values = df[df["method"] == method][col]
    return float(values.mean()) if len(values) else float("nan")


def _p(x: float) -> str:
    """A p-value with two significant digits; 'n/a' where the grid lacks the model."""
    return "n/a" if x != x else f"{x:.2g}"


def _key(method: str) -> str:
    """A method's part of a macro name, lower-case first ('NPO' -> 'nPO': the macro reads \\tofuNPO...)."""
    k = "".join(c for c in method if c.isalpha())
    return k[:1].lower() + k[1:]


UTILITY_PARTS = {f"{split}_{part}": f"{words} {label}" for split, words in
                 (("retain", "retain"), ("real_authors", "real-author"), ("world_facts", "world-fact"))
                 for part, label in (("probability", "answer probability"), ("rouge", "ROUGE-L recall"),
                                     ("truth_ratio", "truth ratio"))}


def smallest_part(d: pd.DataFrame, method: str) -> tuple[str, float]:
    """The smallest of the nine numbers whose harmonic mean is ``method``'s model utility (it bounds it)."""
    parts = {name: _mean(d, method, col) for col, name in UTILITY_PARTS.items()}
    name = min(parts, key=parts.get)
    return name, parts[name]


def _part(d: pd.DataFrame, method: str) -> str:
    name, value = smallest_part(d, method)
    return f"{name} {value:.3f}"


def numbers(session: Session, df: pd.DataFrame, quant: pd.DataFrame) -> Numbers:
    """The macros ``paper/sec_tofu.tex`` states, for the first forget split of the grid (the
    headline); verdict words by ``ALPHA`` on the KS p-value, a rule stated here."""
    cfg = session.profile.tofu
    forget = cfg.forget_splits[0]
    d, q = df[df["forget"] == forget], quant[quant["forget"] == forget] if len(quant) else quant
    n = Numbers("tofu")
    n.count("authors", cfg.authors, "authors in full (generated world)")
    n.count("qaPerAuthor", cfg.qa_per_author, "questions per author")
    n.count("forgetQuestions", int(d["n_forget"].iloc[0]), "questions in the headline forget split")
    n.text("forgetSplit", rf"\texttt{{{forget}}}", "the headline forget split", forget)
    n.count("seeds", len(cfg.seeds), "independently trained base/oracle/method sets")
    n.count("steps", cfg.steps, "base and oracle fine-tuning steps")
    n.count("unlearnSteps", cfg.unlearn_steps, "unlearning steps per method")
    n.count("batchSize", cfg.batch_size, "questions per base and oracle fine-tuning step")
    n.text("lr", f"{cfg.lr:g}", "base and oracle fine-tuning learning rate")
    n.text("firstLr", f"{FIRST_FINETUNE_LR:g}", "the fine-tuning rate of the first run, lowered after it (stated)")
    n.count("loraLayers", cfg.lora_layers, "adapted (last) layers")
    n.value("alpha", ALPHA, "significance level of the forget-quality verdicts", digits=2)
    # every macro the prose uses is written, "n/a" where this run's grid lacks a method or scheme
    # (the smoke profile runs two methods and one scheme), so the paper compiles from any run
    for method in order(list(REFERENCES) + list(PAPER_METHODS) + list(d["method"])):
        k = _key(method)
        n.text(f"{k}ForgetQuality", _p(_mean(d, method, "forget_quality")), f"{method}: forget quality")
        n.value(f"{k}Utility", _mean(d, method, "model_utility"), f"{method}: model utility", digits=3)
        n.value(f"{k}ForgetProb", _mean(d, method, "forget_probability"), f"{method}: forget answer probability", 3)
        n.value(f"{k}RetainProb", _mean(d, method, "retain_probability"), f"{method}: retain answer probability", 3)
        n.value(f"{k}Privleak", _mean(d, method, "privleak"), f"{method}: PrivLeak (%)", digits=1)
        for scheme, word in PAPER_SCHEMES.items():
            rounded = q[q["scheme"] == scheme] if len(q) else q
            value = _mean(rounded, method, "forget_quality") if len(rounded) else float("nan")
            n.text(f"{k}{word}ForgetQuality", _p(value), f"{method}: forget quality after {scheme} rounding")
    base_fq = _mean(d, "base", "forget_quality")
    n.value("baseHoldoutProb", _mean(d, "base", "holdout_probability"),
            "base: answer probability on holdout authors (never trained: the template alone)", 3)
    n.text("baseVerdict", "can be told apart from" if base_fq < ALPHA else "cannot be told apart from",
           f"base vs oracle forget truth ratios: KS p-value below {ALPHA} or not")
    methods = [m for m in order(d["method"]) if m not in REFERENCES]
    passing = [m for m in methods if _mean(d, m, "forget_quality") >= ALPHA]
    n.count("methods", len(methods), "unlearning methods run")
    for model in REFERENCES:
        part, value = smallest_part(d, model)
        n.text(f"{model}SmallestPart", part, f"{model}: the smallest of the nine parts of its model utility")
        n.value(f"{model}SmallestPartValue", value, f"{model}: that part's value", 3)
    zero = [m for m in methods if _mean(d, m, "model_utility") == 0]
    n.count("methodsZeroUtility", len(zero), "methods whose model utility is 0 (some part of the harmonic mean is 0)")
    n.count("methodsPassing", len(passing), f"methods whose forget quality is at least {ALPHA}")
    return n


def describe(df: pd.DataFrame, quant: pd.DataFrame, forget: str) -> str:
    """The evidence in sentences (the notebook's generated interpretation)."""
    d = df[df["forget"] == forget]
    base_fq, base_u, oracle_u = (_mean(d, "base", "forget_quality"), _mean(d, "base", "model_utility"),
                                 _mean(d, "oracle", "model_utility"))
    lines = [f"**{forget}** ({int(d['n_forget'].iloc[0])} forget questions, {d['seed'].nunique()} seed(s)). "
             f"Base vs oracle forget quality {base_fq:.2g}: the fine-tune "
             f"{'did' if base_fq < ALPHA else 'did NOT'} make the forget authors' truth ratios distinguishable from "
             f"a model that never saw them (p {'<' if base_fq < ALPHA else '>='} {ALPHA}); forget answer probability "
             f"base {_mean(d, 'base', 'forget_probability'):.3f} vs oracle {_mean(d, 'oracle', 'forget_probability'):.3f} "
             f"(the base on holdout authors it never saw, the answer template alone: "
             f"{_mean(d, 'base', 'holdout_probability'):.3f}). "
             f"Model utility base {base_u:.3f}, oracle {oracle_u:.3f}; its smallest part: base "
             f"{_part(d, 'base')}, oracle {_part(d, 'oracle')} (TOFU's harmonic mean is 0 when any part is)."]
    for method in [m for m in order(d["method"]) if m not in REFERENCES]:
        fq = _mean(d, method, "forget_quality")
        qs = ", ".join(f"{s} {_mean(quant[(quant['forget'] == forget) & (quant['scheme'] == s)], method, 'forget_quality'):.2g}"
                       for s in sorted(set(quant["scheme"]))) if len(quant) else "none"
        lines.append(f"- {method}: forget quality {fq:.2g} ({'oracle-like at' if fq >= ALPHA else 'below'} {ALPHA}), "
                     f"utility {_mean(d, method, 'model_utility'):.3f} (smallest part: {_part(d, method)}), "
                     f"PrivLeak {_mean(d, method, 'privleak'):.1f} %, quantized forget quality: {qs}.")
    return "\n".join(lines)
