"""Tables, captions and the generated interpretation of the fact rewrite (notebook 32): every
sentence is computed from the numbers, nothing is hard-coded."""

from __future__ import annotations

import pandas as pd

from unlearnlab.core.real_model import model_label, model_slug, untrained_note
from unlearnlab.core.stats import format_mean_ci, mean_ci, summarize
from unlearnlab.experiments.rewrite.config import RewriteConfig
from unlearnlab.experiments.rewrite.run import targets
from unlearnlab.experiments.session import Session
from unlearnlab.reporting import tables

VARIANT_LABELS = {
    "base": "unedited model",
    "ia3_two_stage": "(IA)$^3$ unlearn → learn, localized (ours)",
    "ia3_one_stage": "(IA)$^3$ learn only, localized",
    "ia3_all": "(IA)$^3$ unlearn → learn, all modules",
    "ia3_random": "(IA)$^3$ unlearn → learn, random modules",
    "lora_local": "LoRA unlearn → learn, localized",
    "full_ft": "full fine-tuning on F2",
}
COLUMNS = {"f2_test": "F2 acc. (held-out)", "f2_train": "F2 acc. (train)",
           "f1_forget_test": "F1 forget (held-out)", "control_test": "F_control (held-out)",
           "control_train": "F_control (train)", "f1_preferred": "F1 still preferred (forced choice)"}


def file_suffix(cfg: RewriteConfig, own_target: bool, model: str) -> str:
    """'' for the profile's rewrites on its model; else ``_<target>`` and/or ``_<model>``, so that a
    rewrite or a model of your own gets its own figure names and the paper's files stay as they are."""
    parts = [targets(cfg)[0].name.replace("->", "_").replace(" ", "_")] if own_target else []
    return "".join(f"_{part}" for part in [*parts, model_slug(model)] if part)


def probe_line(known: pd.DataFrame, cfg: RewriteConfig) -> str:
    """What the knowledge probe found; for a model that knows none of the facts, that it looks untrained."""
    if not known.known.any():
        return untrained_note(cfg.model, 0, len(known), "facts (all 3 paraphrases right)")
    return f"probe: {int(known.known.sum())} of {len(known)} facts answered correctly in all 3 paraphrases"


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The paper table: per variant, mean ± 95 % CI over (target, seed) runs, in percent."""
    order = [v for v in VARIANT_LABELS if v in set(df.variant)]
    s = summarize(df, ["variant"], list(COLUMNS)).set_index("variant").loc[order]
    out = pd.DataFrame({"variant": [VARIANT_LABELS[v] for v in order]})
    for col, title in COLUMNS.items():
        out[title] = [format_mean_ci(m, c) for m, c in zip(s[f"{col}_mean"], s[f"{col}_ci"])]
    out["runs"] = s["n"].values
    return out


def caption(df: pd.DataFrame, cfg: RewriteConfig, profile: str) -> str:
    return (f"Rewriting F1 $\\to$ F2 in {tables.latex_text(model_label(cfg.model))} ({profile} profile: {df.target.nunique()} rewrites, "
            f"{len(cfg.seeds)} seed(s), {cfg.steps} steps per stage, k = {cfg.k} modules). Held-out paraphrases "
            "unless marked; F1 still preferred: F1 ranks first among candidate objects under forced choice. "
            "Mean $\\pm$ 95\\% CI over rewrites and seeds.")


def write_table(df: pd.DataFrame, cfg: RewriteConfig, session: Session, write: bool = True) -> pd.DataFrame:
    """``table(df)``, written as ``rewrite_ia3.tex`` unless ``write`` is False (a custom rewrite
    leaves the paper's files alone)."""
    out = table(df)
    if write:
        tables.write_latex(out, session.paths.tables / "rewrite_ia3.tex", caption=caption(df, cfg, session.profile.name),
                           label="tab:rewrite-ia3")
    return out


def paired_difference(df: pd.DataFrame, column: str, a: str, b: str) -> tuple[float, float, int]:
    """Mean ± CI of ``column``(a) − ``column``(b) over the (target, seed) pairs both ran."""
    wide = df[df.variant.isin([a, b])].pivot_table(index=["target", "seed"], columns="variant", values=column)
    diff = (wide[a] - wide[b]).dropna()
    mean, ci = mean_ci(diff.tolist())
    return mean, ci, len(diff)


def relearn_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Per variant and lr: F1 held-out log-prob and exact match at the start and at the end
    of the relearning attack, mean over runs."""
    if curves.empty:
        return curves
    last = curves.step.max()
    ends = curves[curves.step.isin([0, last])]
    return ends.groupby(["variant", "lr", "step"])[["logprob", "exact"]].mean().reset_index()


def lens_summary(lens: pd.DataFrame, variants: tuple[str, ...] = ("base", "ia3_two_stage", "full_ft")) -> str:
    """One sentence: F1's and F2's mean rank at the last layer and at layer 3/4 of the depth."""
    if lens.empty:
        return ""
    last = int(lens.layer.max())
    mid = (3 * (last + 1)) // 4
    parts = []
    for v in [v for v in variants if v in set(lens.variant)]:
        sub = lens[lens.variant == v].groupby(["answer", "layer"])["rank"].mean()
        parts.append(f"{v}: F1 {sub[('F1', mid)]:.0f} → {sub[('F1', last)]:.1f}, F2 {sub[('F2', mid)]:.0f} → "
                     f"{sub[('F2', last)]:.1f}")
    return (f"Logit lens on completion prompts, mean rank of the object's first token at layer {mid} → the last "
            f"layer ({last}): " + "; ".join(parts) + ".")


def _versus_full(edits: pd.DataFrame) -> list[str]:
    d, ci, n = paired_difference(edits, "control_test", "ia3_two_stage", "full_ft")
    verdict = ("beats" if d - ci > 0 else "is worse than" if d + ci < 0 else "is not distinguishable from")
    lines = [f"On held-out control facts, localized (IA)³ unlearn→learn {verdict} direct full fine-tuning: "
             f"{100 * d:+.1f} ± {100 * ci:.1f} points (paired over {n} runs)."]
    for col, name in (("f2_test", "F2 accuracy"), ("f1_forget_test", "F1 forget rate")):
        d, ci, _ = paired_difference(edits, col, "ia3_two_stage", "full_ft")
        lines.append(f"Its {name} (held-out) differs from full fine-tuning by {100 * d:+.1f} ± {100 * ci:.1f} points.")
    return lines


def _versus_random(edits: pd.DataFrame) -> str:
    d, ci, _ = paired_difference(edits, "control_test", "ia3_two_stage", "ia3_random")
    d2, ci2, _ = paired_difference(edits, "f2_test", "ia3_two_stage", "ia3_random")
    return (f"Localized vs random modules of the same count: controls {100 * d:+.1f} ± {100 * ci:.1f}, "
            f"F2 {100 * d2:+.1f} ± {100 * ci2:.1f} points.")


def _soft_forgetting(edits: pd.DataFrame) -> list[str]:
    s = edits.groupby("variant")[["f1_forget_test", "f1_preferred", "f1_rank"]].mean()
    hidden = s[(s.f1_forget_test >= 0.75)]
    if not len(hidden):
        return []
    return ["Soft forgetting (forced choice on held-out prompts, F1 vs F2 and other objects): "
            + "; ".join(f"{v}: F1 forgotten in {100 * r.f1_forget_test:.0f} % of answers yet preferred in "
                        f"{100 * r.f1_preferred:.0f} %, mean rank {r.f1_rank:.2f}" for v, r in hidden.iterrows()) + "."]


def _relearning(curves: pd.DataFrame) -> list[str]:
    summary = relearn_summary(curves)
    if summary.empty:
        return []
    last = summary.step.max()
    parts = []
    for (variant, lr), g in summary.groupby(["variant", "lr"]):
        start, end = g[g.step == 0].iloc[0], g[g.step == last].iloc[0]
        parts.append(f"{variant} (lr {lr:g}): F1 exact {100 * start.exact:.0f} → {100 * end.exact:.0f} %, "
                     f"log-prob {start.logprob:.1f} → {end.logprob:.1f}")
    return [f"Relearning attack ({last} steps on F1's training prompts, held-out prompts measured): "
            + "; ".join(parts) + "."]


def describe(df: pd.DataFrame, curves: pd.DataFrame, cfg: RewriteConfig, lens: pd.DataFrame | None = None) -> str:
    """The notebook's interpretation, computed from the numbers (nothing here is hard-coded)."""
    edits = df[df.variant != "base"]
    unknown = sorted(set(df.target[~df.known.astype(bool)]))
    lines = [f"Grid: {df.target.nunique()} rewrites × {len(cfg.variants)} variants × {len(cfg.seeds)} seed(s) "
             f"({cfg.steps} steps per stage, batch {cfg.batch_size}, k = {cfg.k} modules); "
             f"CIs are 95 % over (rewrite, seed) runs."]
    if unknown:
        lines.append(f"Not reliably known before editing (probe), so their 'forgetting' means little: {', '.join(unknown)}.")
    if {"ia3_two_stage", "full_ft"} <= set(edits.variant):
        lines += _versus_full(edits)
    if {"ia3_two_stage", "ia3_random"} <= set(edits.variant):
        lines.append(_versus_random(edits))
    lines += _soft_forgetting(edits)
    if lens is not None and not lens.empty:
        lines.append(lens_summary(lens))
    lines += _relearning(curves)
    return "\n\n".join(lines)
