"""Private records: from results to the paper: the tables, the captions, and sentences that state
the evidence with its numbers (notebook 35 displays what these return; numbers come from
``evaluate.results`` and ``real.run``)."""

from __future__ import annotations

import json

import pandas as pd

from unlearnlab.core.real_model import untrained_note
from unlearnlab.core.stats import format_mean_ci, mean_ci
from unlearnlab.data import medical as med
from unlearnlab.data.medical_world import MedicalWorld
from unlearnlab.evals.mia import ATTACKS
from unlearnlab.experiments.private.real import real_config
from unlearnlab.experiments.session import Session
from unlearnlab.reporting import tables

HEADLINE_ATTACK = "min_k"  # MUSE's PrivLeak uses Min-K% Prob
REFERENCE_METHODS = ("base", "oracle")  # evaluated once per ratio; the others per seed
SUMMARY_COLUMNS = ("forget_qa_acc", "retain_qa_acc", "forget_verbatim", "forget_verbatim_all", f"auc_{HEADLINE_ATTACK}",
                   f"leak_{HEADLINE_ATTACK}", f"auc_note_{HEADLINE_ATTACK}", "others_before", "relearn_gain",
                   "others_after")

# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def with_gain(df: pd.DataFrame) -> pd.DataFrame:
    """``relearn_gain``: what relearning on some forget clients adds to QA accuracy on the others
    (after − before, per attack)."""
    before, after = (pd.to_numeric(df.get(c, pd.Series(float("nan"), index=df.index)), errors="coerce")
                     for c in ("others_before", "others_after"))
    return df.assign(relearn_gain=after - before)


def _cell(values, scale: float, digits: int, interval: bool) -> str:
    """Mean ± 95 % CI (×``scale``), or the mean alone where there is no interval (one model)."""
    m, c = mean_ci([float(v) for v in values])
    return format_mean_ci(m, c if interval and len(values) >= 2 else float("nan"), scale, digits)


TABLE_COLUMNS = {"forget_qa_acc": ("forget QA (%)", 100.0), "retain_qa_acc": ("retain QA (%)", 100.0),
                 "forget_verbatim": ("verbatim (%)", 100.0), f"auc_{HEADLINE_ATTACK}": ("MIA AUC", 1.0),
                 f"leak_{HEADLINE_ATTACK}": ("privacy leak (%)", 100.0),
                 f"auc_note_{HEADLINE_ATTACK}": ("note MIA AUC", 1.0),
                 f"leak_note_{HEADLINE_ATTACK}": ("note leak (%)", 100.0),
                 "others_before": ("others before (%)", 100.0), "relearn_gain": ("relearn gain (pts)", 100.0),
                 "others_after": ("others after (%)", 100.0)}
ATTACK_COLUMNS = ("others_before", "relearn_gain", "others_after")  # one value per attack seed, not per model


def n_models(g: pd.DataFrame) -> int:
    """Independently pretrained models behind a group of rows: the synthetic tier pretrains one
    public model per seed (``public_model``); the real tier has one (SmolLM2)."""
    return int(g["public_model"].nunique()) if "public_model" in g else 1


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The paper table: per forget ratio and method, mean ± 95 % CI over seeds (synthetic tier:
    over independently pretrained models, one per seed, each row's base and oracle that seed's).
    A column whose values come from one model (the real tier's base and oracle, or a one-seed
    grid) shows the mean alone; the relearning columns vary with the attack's client split (one
    per seed), so a single oracle's have an interval. ``models``: independently pretrained models
    behind the row; ``seeds``: runs. Columns the frame lacks (the real tier without notes:
    verbatim, note MIA) are left out."""
    df = with_gain(df)
    rows = []
    for (ratio, method), g in df.groupby(["ratio", "method"], sort=False):
        row = {"forget %": f"{100 * ratio:g}", "method": method}
        unique = g.drop_duplicates("model_id") if "model_id" in g else g  # one row per evaluated model
        models = len(unique)
        for col, (title, scale) in TABLE_COLUMNS.items():
            if col not in df:
                continue
            values = (g if col in ATTACK_COLUMNS else unique)[col].dropna()
            interval = col in ATTACK_COLUMNS or models >= 2
            row[title] = _cell(values, scale, 1 if scale == 100.0 else 2, interval)
        row["models"] = n_models(g)
        row["seeds"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows)


def field_table(df: pd.DataFrame) -> pd.DataFrame:
    """Forget-client QA accuracy per field (diagnosis, medication, date of birth, visit date:
    those the tier asks), per forget ratio and method, mean over seeds (%)."""
    cols = [f"forget_{f}_acc" for f in med.QA_FIELDS if f"forget_{f}_acc" in df]
    out = df.groupby(["ratio", "method"], sort=False)[cols].mean().mul(100).round(1)
    return out.rename(columns=lambda c: c.removeprefix("forget_").removesuffix("_acc") + " (%)")


def summary(df: pd.DataFrame, by: tuple[str, ...] = ("ratio", "method")) -> pd.DataFrame:
    """The headline columns the frame has, mean per ``by`` (the notebook's first look)."""
    df = with_gain(df)
    return df.groupby(list(by), sort=False)[[c for c in SUMMARY_COLUMNS if c in df]].mean().round(3)


def mia_by_attack(df: pd.DataFrame) -> pd.DataFrame:
    """MIA AUC of every attack (LOSS, zlib, min-k %, min-k %++), mean per method."""
    return df.groupby(["method"], sort=False)[[f"auc_{a}" for a in ATTACKS]].mean().round(3)


def leak_beside_references(df: pd.DataFrame, attack: str = HEADLINE_ATTACK) -> pd.DataFrame:
    """Per forget ratio and method: its MIA AUC and privacy leak next to the oracle's own AUC and
    the base's at that ratio (mean ± 95 % CI over models; the value alone for one model), so a
    leak is never read without the reference it is relative to (an oracle far from chance, 0.5,
    moves every leak)."""
    rows = []
    for ratio, at in df.groupby("ratio", sort=False):
        refs = {m: at[at["method"] == m].drop_duplicates("model_id")[f"auc_{attack}"].dropna()
                for m in REFERENCE_METHODS}
        for method, g in at[~at["method"].isin(REFERENCE_METHODS)].groupby("method", sort=False):
            g = g.drop_duplicates("model_id")
            rows.append({"forget %": f"{100 * ratio:g}", "method": method,
                         "MIA AUC": _cell(g[f"auc_{attack}"].dropna(), 1.0, 2, True),
                         "oracle AUC": _cell(refs["oracle"], 1.0, 2, True),
                         "base AUC": _cell(refs["base"], 1.0, 2, True),
                         "privacy leak (%)": _cell(g[f"leak_{attack}"].dropna(), 100.0, 1, True)})
    return pd.DataFrame(rows)


def write_table(session: Session, df: pd.DataFrame) -> pd.DataFrame:
    """The synthetic tier's paper table (``private_records.tex`` and its CSV twin)."""
    out = table(df)
    tables.write_latex(out, session.paths.tables / "private_records.tex", caption=table_caption(session),
                       label="tab:private")
    return out


def write_real_table(session: Session, real: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """The real tier's paper table (``private_records_real.tex``); a user's ``model`` is shown,
    never written over the paper's."""
    out = table(real)
    if not model:
        tables.write_latex(out, session.paths.tables / "private_records_real.tex",
                           caption=real_table_caption(session), label="tab:private-real")
    return out


# --------------------------------------------------------------------------------------------
# The evidence in sentences
# --------------------------------------------------------------------------------------------


def _pct(values) -> str:
    """'12.5 ± 3.0 %' over several values; the value alone for one (no interval)."""
    values = [float(v) for v in values if v == v]
    m, c = mean_ci(values)
    if m != m:
        return "--"
    return f"{round(100 * m, 1) + 0.0:.1f}" + (f" ± {100 * c:.1f}" if len(values) >= 2 else "") + " %"


def _interval(values) -> tuple[float, float]:
    m, c = mean_ci(list(values))
    return m - c, m + c


CRITERIA = {"qa_above_oracle": "forget QA above the oracle",
            "leak_positive": "positive privacy leak (notes still recognised as members)",
            "leak_negative": "negative privacy leak (notes pushed below never-seen ones)",
            "relearn_above_oracle": "after relearning on some forget clients, the others are answered above the "
                                    "oracle's level after the same attack"}


def verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """Per method and ratio: which 'not forgotten' criterion the 95 % CI over seeds separates from
    the oracle (False where fewer than two seeds give no interval). Paired: each seed's model
    against the oracle of its own seed (the same oracle for every seed where there is one, as in
    the real tier), i.e. the CI of the per-seed difference excludes 0; the privacy leak is already
    relative to the seed's own oracle."""
    a = HEADLINE_ATTACK
    rows = []
    for (method, ratio), g in df[~df["method"].isin(REFERENCE_METHODS)].groupby(["method", "ratio"], sort=False):
        o = df[(df["ratio"] == ratio) & (df["method"] == "oracle")]
        row = {"method": method, "ratio": ratio, "seeds": len(g), "models": n_models(g), **{k: False for k in CRITERIA}}
        if len(g) >= 2:
            row["qa_above_oracle"] = _interval(_paired(g, o, "forget_qa_acc"))[0] > 0
            lo, hi = _interval(g[f"leak_{a}"])
            row["leak_positive"], row["leak_negative"] = lo > 0, hi < 0
            others = _paired(g, o, "others_after")
            row["relearn_above_oracle"] = len(others) >= 2 and _interval(others)[0] > 0
        rows.append(row)
    return pd.DataFrame(rows)


def _paired(g: pd.DataFrame, oracle: pd.DataFrame, col: str) -> pd.Series:
    """Per seed: ``col`` of the method's model minus that of the seed's oracle (an oracle without
    seeds serves every seed); seeds missing either value are left out."""
    ref = oracle.dropna(subset=[col]).drop_duplicates("seed").set_index("seed")[col]
    mine = g.dropna(subset=[col]).set_index("seed")[col]
    if ref.empty:
        return pd.Series(dtype=float)
    if ref.index.nunique() == 1 and not mine.index.isin(ref.index).all():  # one oracle for all seeds
        ref = pd.Series(float(ref.iloc[0]), index=mine.index)
    return (mine - ref.reindex(mine.index)).dropna()


def describe(df: pd.DataFrame) -> str:
    """The evidence in sentences, from the numbers: what 'not forgotten' means, the base and the
    oracle per ratio, then per method its numbers and which criteria separate it from the oracle."""
    a = HEADLINE_ATTACK
    lines = ["**What 'not forgotten' means here.** A forget client is forgotten when the unlearned model treats "
             "it like the oracle, which never saw it: (i) QA accuracy on the client in a held-out paraphrase at "
             "the oracle's (not necessarily zero: without the client, the oracle can still answer a frequent "
             "diagnosis or drug, whose frequencies it learned from the other clients); (ii) membership inference "
             "on the client's training texts (notes here; in the real tier question–answer texts, and notes where it trains them) at the oracle's "
             "AUC, i.e. privacy leak 0 (positive: still recognised as training members; negative: pushed below "
             "never-seen clients' texts, which an auditor can detect too); (iii) after relearning on some forget "
             "clients, the *other* forget clients are answered no better than the oracle answers them after the "
             "same attack. Criterion (iii) fails either because relearning brings knowledge back or because "
             "unlearning never removed it; 'others before' (ahead of the attack) tells which. "
             + _comparison_note(df) + " Verbatim extraction is scored on the private tokens of the notes' second half "
             "(numbers, diagnosis, drug, symptoms, findings), not on the template.", "",
             f"**Base and oracle** ({_reference_count(df)}):"]
    for ratio, g in df.groupby("ratio"):
        attacked = g[g["method"] == "oracle"]  # one row per attack (per seed)
        o, b = attacked.drop_duplicates("model_id"), g[g["method"] == "base"].drop_duplicates("model_id")  # per model
        lines.append(f"- forget {100 * ratio:g} % ({int(g['n_forget'].max())} clients, "
                     f"{int(g['n_forget_questions'].max())} held-out questions): forget QA base "
                     f"{_pct(b['forget_qa_acc'])}, oracle {_pct(o['forget_qa_acc'])}; "
                     f"MIA AUC ({a}) base {_num(b[f'auc_{a}'])}, oracle {_num(o[f'auc_{a}'])}; relearning "
                     f"on {int(attacked['n_relearned'].max())} clients takes the oracle's QA accuracy on the other "
                     f"{int(attacked['n_others'].max())} from {_pct(attacked['others_before'])} to "
                     f"{_pct(attacked['others_after'])}.")
    ver = verdicts(df)
    for method, g in df[~df["method"].isin(REFERENCE_METHODS)].groupby("method", sort=False):
        lines += ["", f"**{method}**: " + "; ".join(_method_ratio(g[g["ratio"] == r], df[df["ratio"] == r], r)
                                                  for r in sorted(g["ratio"].unique())) + ".",
                  _verdict(method, ver[ver["method"] == method])]
    if not ver.empty:
        lines += ["", _summary(ver), "", _transfer(df)]
    return "\n".join(lines)


def _oracle_models(df: pd.DataFrame) -> int:
    """Independent oracle models per forget ratio (the fewest over ratios)."""
    oracles = df[df["method"] == "oracle"]
    return int(oracles.groupby("ratio")["model_id"].nunique().min()) if not oracles.empty else 0


def _reference_count(df: pd.DataFrame) -> str:
    n = _oracle_models(df)
    return "one model each" if n <= 1 else f"{n} independent models each, one per seed: mean ± 95 % CI over them"


def _comparison_note(df: pd.DataFrame) -> str:
    """How a method is compared with the oracle: with its own seed's oracle (independent models),
    or with the one oracle there is (then its own variation is not in the comparison)."""
    n = _oracle_models(df)
    if n >= 2:
        return ("Each seed pretrains its own public model (init and data order) and fine-tunes its own base and "
                "oracles; every unlearning run and attack of a seed starts from that seed's base and is compared "
                f"with that seed's oracle. A criterion counts as failed when the 95 % CI over the {n} independent "
                "models of the per-seed difference (method − its own oracle; the privacy leak is already relative "
                "to its own oracle) excludes 0: the oracles' own variation across training seeds is in the "
                "comparison.")
    return ("A criterion counts as failed when the 95 % CI over seeds of the per-seed difference from the oracle "
            "excludes 0. The oracle is one model per ratio, so its value is a point: the oracle's own variation "
            "across training seeds is not in the comparison, and a verdict says 'differs from this oracle', not "
            "from every oracle.")


def _num(values) -> str:
    """'0.62 ± 0.05' over several values; the value alone for one."""
    values = [float(v) for v in values if v == v]
    m, c = mean_ci(values)
    return "--" if m != m else f"{m:.2f}" + (f" ± {c:.2f}" if len(values) >= 2 else "")


def _transfer(df: pd.DataFrame) -> str:
    """Does relearning some forget clients bring the others back? The change it makes to the
    others' QA accuracy, pooled over ratios and seeds, for the methods and for the oracle."""
    attacked = with_gain(df).dropna(subset=["relearn_gain"])
    gain = attacked["relearn_gain"]
    is_oracle = attacked["method"] == "oracle"
    return (f"Relearning transfer: the attack changes QA accuracy on the forget clients it did not train on by "
            f"{_pct(gain[~is_oracle])} (points, unlearned models, {int((~is_oracle).sum())} attacks pooled over "
            f"methods, ratios and seeds) and {_pct(gain[is_oracle])} (oracle, {int(is_oracle.sum())} attacks); "
            "per cell: the table's 'relearn gain' column. Where 'others after' exceeds the oracle, the knowledge "
            "was mostly still there before the attack.")


def _method_ratio(g: pd.DataFrame, at_ratio: pd.DataFrame, ratio: float) -> str:
    a = HEADLINE_ATTACK
    o, b = at_ratio[at_ratio["method"] == "oracle"], at_ratio[at_ratio["method"] == "base"]
    return (f"at {100 * ratio:g} % forget QA {_pct(g['forget_qa_acc'])} (oracle {100 * o['forget_qa_acc'].mean():.1f} %), "
            f"retain QA {_pct(g['retain_qa_acc'])} (base {100 * b['retain_qa_acc'].mean():.1f} %), "
            + (f"verbatim private tokens {_pct(g['forget_verbatim'])} (oracle {100 * o['forget_verbatim'].mean():.1f} "
               "%), " if "forget_verbatim" in g else "") + f"MIA AUC "
            f"{g[f'auc_{a}'].mean():.2f} (oracle {o[f'auc_{a}'].mean():.2f}, base {b[f'auc_{a}'].mean():.2f}), "
            f"privacy leak {_pct(g[f'leak_{a}'])}, other forget clients "
            f"{_pct(g['others_before'].dropna())} → {_pct(g['others_after'].dropna())} after relearning "
            f"(oracle → {100 * o['others_after'].mean():.1f} %)")


def _verdict(method: str, ver: pd.DataFrame) -> str:
    if ver.empty or ver["seeds"].min() < 2:
        return f"{method}: fewer than two seeds per ratio, so no confidence interval and no verdict."
    found = [f"{text} at {', '.join(f'{100 * r:g} %' for r in ver.loc[ver[key], 'ratio'])}"
             for key, text in CRITERIA.items() if ver[key].any()]
    if not found:
        return (f"{method} is indistinguishable from the oracle by these criteria at this grid's resolution "
                "(every CI includes the oracle's value).")
    return f"{method} is *not forgotten*: " + "; ".join(found) + "."


def _summary(ver: pd.DataFrame) -> str:
    untested = int((ver["seeds"] < 2).sum())
    ver = ver[ver["seeds"] >= 2]  # one seed gives no interval: such a cell is untested, not clean
    n = len(ver)
    if n == 0:
        return f"No verdicts: every one of the {untested} (method, forget ratio) cells has fewer than two seeds."
    counts = ", ".join(f"{text}: {int(ver[key].sum())}" for key, text in CRITERIA.items())
    clean = int((~ver[list(CRITERIA)].any(axis=1)).sum())
    return (f"Over all {n} (method, forget ratio) cells — {counts}; cells indistinguishable from the oracle on "
            f"every criterion: {clean}" + (f" ({untested} more cells with one seed: no verdict)." if untested else "."))


# --------------------------------------------------------------------------------------------
# What ran: grid lines and captions
# --------------------------------------------------------------------------------------------


def grid_note(session: Session) -> str:
    """Which grid produced the numbers (the notebook prints it next to the figures)."""
    p = session.profile.private
    return (f"{session.profile.name} profile: {p.clients} private clients (+{p.holdout_clients} holdout, "
            f"{p.public_clients} public), forget ratios {', '.join(f'{100 * r:g}%' for r in p.forget_ratios)} "
            f"(at least {p.min_forget} clients), methods {', '.join(f'{m} (lr {lr:g})' for m, lr in p.methods)}, "
            f"seeds {list(p.seeds)}; per seed an independently pretrained public model (its init and data order) "
            f"with its own base and one oracle per ratio: {len(p.seeds)} independent model(s) behind every row"
            + _grid_methods_note(session) + ".")


def _grid_methods_note(session: Session) -> str:
    """What the grid says about UNDO and RMU (in it, or why not)."""
    p = session.profile.private
    names = {m for m, _ in p.methods}
    out = ""
    if "UNDO" in names:
        out += (f"; UNDO: noise α={p.undo_alpha:g} on the {p.undo_teacher} model, then at most "
                f"{p.undo_steps} distillation steps")
    missing = [m for m in ("RMU", "UNDO") if m not in names]
    if missing:
        verb = "exceeds" if len(missing) == 1 else "exceed"
        out += (f"; {' and '.join(missing)} not in this grid ({'it' if len(missing) == 1 else 'they'} {verb} the "
                "CPU budget of the default profile; the smoke and gpu grids run "
                f"{'it' if len(missing) == 1 else 'them'})")
    return out


def real_knowledge_note(session: Session, real_df: pd.DataFrame, model: str | None = None) -> str:
    """'' when the fine-tuned base answers some of the clients' questions; else the untrained-looking
    note (a model that learned no record has nothing to unlearn: every number of the tier is noise)."""
    base = real_df[real_df.method == "base"]
    if base.empty or (base[["forget_qa_acc", "retain_qa_acc"]] > 0).any().any():
        return ""
    cfg = real_config(session, model)
    return untrained_note(cfg.real_model, 0, cfg.real_clients * len(cfg.real_fields),
                          "record questions after its fine-tuning", stops=False)


def real_note(session: Session, model: str | None = None) -> str:
    """What the real tier trained (the notebook prints it; the real table's caption quotes it)."""
    cfg = real_config(session, model)
    trained = ("question-answer texts and notes" + (f" (first {cfg.real_note_words} words)" if cfg.real_note_words else "")
               if cfg.real_train_notes else "question-answer texts only (no notes)")
    return (f"real tier ({session.profile.name} profile): {cfg.real_model}, LoRA r={cfg.real_lora_r} on the last "
            f"{cfg.real_lora_layers} layers, {cfg.real_clients} members ({100 * cfg.real_ratio:g} % forget) + "
            f"{cfg.real_holdout} non-members, fields {', '.join(cfg.real_fields)}, trained on {trained}, "
            f"{cfg.real_steps} fine-tuning steps, methods {', '.join(f'{m} (lr {lr:g})' for m, lr in cfg.real_methods)}, "
            f"{cfg.real_unlearn_steps} steps, seeds {list(cfg.real_seeds)}; "
            + ("RMU steers the middle adapted layer" if any(m == "RMU" for m, _ in cfg.real_methods)
               else "RMU not in this grid (CPU budget; smoke and gpu run it)")
            + "; UNDO is synthetic-tier only")


def table_caption(session: Session) -> str:
    return (f"Private records ({grid_note(session)}). Forget/retain QA: greedy exact match in the held-out "
            "test paraphrase (choices read a second, validation paraphrase); verbatim: next-token accuracy on the "
            "private tokens (client-specific values) of the second half of forget notes; MIA AUC "
            f"({HEADLINE_ATTACK.replace('_', '-')}) of forget vs holdout notes (chance 0.5; the base and oracle rows "
            "of each ratio give their own) and privacy leak relative to the oracle; QA accuracy on the other forget "
            "clients before and after relearning on half of them, and the gain (after $-$ before, points). Every row: mean $\\pm$ "
            "95\\% CI over independently pretrained models (models: how many; each seed pretrains its own public "
            "model and fine-tunes its own base and oracles; an unlearned model starts from its seed's base, its "
            "privacy leak is relative to its seed's oracle, and its relearning attack uses its seed's client "
            "split, as the oracle's does).")


def real_table_caption(session: Session) -> str:
    return (f"Private records, real tier ({real_note(session)}). Columns as in "
            "Table~\\ref{tab:private}; MIA on question--answer texts (note MIA, where present, on the notes as trained). "
            "Mean $\\pm$ 95\\% CI over seeds where there are several; a value without an interval comes from one model "
            "(base, oracle, or any method in a one-seed grid). Models: 1 (one pretrained SmolLM2; base and oracle "
            "adapters one each), so the seeds' intervals are over unlearning and attack runs, not over models.")


# --------------------------------------------------------------------------------------------
# The world, for the notebook's data section
# --------------------------------------------------------------------------------------------


def card_sizes(world: MedicalWorld) -> pd.DataFrame:
    """Clients per split."""
    rows = [{"split": "public (pretraining)", "clients": len(world.public)},
            {"split": "full (base)", "clients": len(world.splits.full)},
            {"split": "holdout (MIA non-members)", "clients": len(world.splits.holdout)}]
    rows += [{"split": f"forget {100 * r:g} %", "clients": len(c)} for r, c in world.splits.forget.items()]
    return pd.DataFrame(rows)


def example_note(world: MedicalWorld) -> str:
    """One forget client's record as JSON (seed field names)."""
    client = world.splits.forget[min(world.splits.forget)][0]
    return json.dumps(world.records[client], indent=2)
