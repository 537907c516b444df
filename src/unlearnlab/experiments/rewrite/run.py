"""The fact-rewrite experiment on a real model (notebook 32_rewrite_ia3): probe what the model
knows, rewrite known facts F1 → F2 with every variant of ``unlearnlab.methods.rewrite``, and ask whether
F1 is gone or only hidden.

Per target fact, a *setup* artifact holds what every variant shares: the model's own answers
(training answers are phrased like them, see ``facts.in_model_style``), the module scores and
the top-k modules, the control facts and the unedited model's measurements. Per (target,
variant, seed), a *run* artifact holds the rewritten model's measurements: generation accuracy
(F2, F1 forget, controls; training and held-out paraphrases), forced choice among candidate
objects, a logit lens for F1 and F2 by layer, and (for the profile's relearning variants) a
relearning attack on F1. Models are not saved: a run is minutes of CPU and its numbers are
what the paper uses.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from unlearnlab.methods import rewrite as rw
from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.data import facts as fx
from unlearnlab.experiments.session import Session
from unlearnlab.core.stats import format_mean_ci, mean_ci, summarize
from unlearnlab.core.parallel import map_jobs

VARIANT_LABELS = {
    "base": "unedited model",
    "ia3_two_stage": "(IA)$^3$ unlearn → learn, localized (ours)",
    "ia3_one_stage": "(IA)$^3$ learn only, localized",
    "ia3_all": "(IA)$^3$ unlearn → learn, all modules",
    "ia3_random": "(IA)$^3$ unlearn → learn, random modules",
    "lora_local": "LoRA unlearn → learn, localized",
    "full_ft": "full fine-tuning on F2",
}


@dataclass(frozen=True)
class Target:
    """A rewrite: the fact (subject, relation, old object) and the new object. ``old_object``
    None looks the fact up in ``facts.FACTS``; the relation must be one of ``facts.RELATIONS``
    (its templates ask the question)."""

    subject: str
    relation: str
    new_object: str
    old_object: str | None = None
    new_aliases: tuple[str, ...] = ()

    def fact(self) -> fx.Fact:
        if self.relation not in fx.RELATIONS:
            raise ValueError(f"unknown relation {self.relation!r}; the templates exist for {', '.join(fx.RELATIONS)}")
        known = [f for f in fx.FACTS if f.subject == self.subject and f.relation == self.relation]
        if self.old_object is None:
            if not known:
                raise ValueError(f"({self.subject!r}, {self.relation!r}) is not in facts.FACTS: give old_object")
            return known[0]
        if known and known[0].object == self.old_object:
            return known[0]
        return fx.Fact(self.subject, self.relation, self.old_object)

    @property
    def name(self) -> str:
        return f"{self.subject}->{self.new_object}"


@dataclass(frozen=True)
class Grid:
    """What a profile runs (fields ``rewrite_*`` of the profile)."""

    targets: tuple[Target, ...]
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    probe_relations: tuple[str, ...]
    k: int
    steps: int
    batch_size: int
    eval_train: int | None
    n_control_same: int
    n_control_other: int
    relearn_variants: tuple[str, ...]
    relearn_steps: int
    relearn_lrs: tuple[float, ...]
    relearn_eval_every: int
    bf16: bool
    localize_prompts: int | None
    probe_tokens: int  # new tokens of probe answers and of the model's own answers (24 for long names)
    max_new_tokens: int = 12  # enough for "The capital of France is Paris." and "... symbol for gold is Au."
    model: str = "smollm2"

    @classmethod
    def of(cls, session: Session, targets: tuple[Target, ...] | None = None) -> "Grid":
        p = session.profile
        return cls(targets=targets or tuple(Target(*t) for t in p.rewrite.targets), variants=p.rewrite.variants,
                   seeds=p.rewrite.seeds, probe_relations=p.rewrite.probe_relations, k=p.rewrite.k,
                   steps=p.rewrite.steps, batch_size=p.rewrite.batch_size, eval_train=p.rewrite.eval_train,
                   n_control_same=p.rewrite.controls[0], n_control_other=p.rewrite.controls[1],
                   relearn_variants=p.rewrite.relearn_variants, relearn_steps=p.rewrite.relearn_steps,
                   relearn_lrs=p.rewrite.relearn_lrs, relearn_eval_every=p.rewrite.relearn_eval_every,
                   bf16=p.rewrite.bf16, localize_prompts=p.rewrite.localize_prompts, probe_tokens=p.rewrite.probe_tokens)

    def rewrite_config(self, seed: int) -> rw.RewriteConfig:
        return rw.RewriteConfig(steps=self.steps, batch_size=self.batch_size, seed=seed, bf16=self.bf16)


# --------------------------------------------------------------------------------------------
# The model and the knowledge probe
# --------------------------------------------------------------------------------------------


_LOADED: dict[tuple, tuple] = {}  # one model per process, shared by its jobs


class Lazy:
    """The real model and tokenizer, loaded on first use (once per process): a notebook rerun
    whose artifacts are all done never loads them."""

    def __init__(self, session: Session, name: str):
        self.key = (name, str(session.paths.artifacts / "real_models"), session.device)

    def __call__(self):
        if self.key not in _LOADED:
            from unlearnlab.core.real_model import load_real_model

            name, cache_root, device = self.key
            _LOADED[self.key] = load_real_model(name, cache_root=Path(cache_root), device=device)
        return _LOADED[self.key]


def probe(session: Session, grid: Grid, load: Lazy) -> pd.DataFrame:
    """Which facts of the probed relations (plus the targets) the model knows: greedy answers
    on three paraphrases, all correct (cached; one row per fact)."""
    facts = [f for f in fx.FACTS if f.relation in grid.probe_relations]
    facts += [t.fact() for t in grid.targets if t.fact() not in facts]
    cfg = {"model": grid.model, "facts": [asdict(f) for f in facts], "n_paraphrases": 3, "tokens": grid.probe_tokens}
    artifact = Artifact(session.paths.artifacts, "rewrite_probe", grid.model, cfg)

    def make(tmp: Path) -> None:
        model, tokenizer = load()
        start = time.perf_counter()
        rows = fx.probe_knowledge(model, tokenizer, facts, n_paraphrases=3, max_new_tokens=grid.probe_tokens,
                                  batch_size=48)
        write_json_atomic(tmp / "probe.json", {"rows": rows, "wall_s": time.perf_counter() - start})

    return pd.DataFrame(read_json(artifact.build(make) / "probe.json")["rows"])


def choose_controls(target: Target, known: pd.DataFrame, n_same: int, n_other: int) -> list[fx.Fact]:
    """Known facts that the rewrite must leave alone: ``n_same`` of the target's relation (the
    hardest: same question, other subject) and ``n_other`` of other relations, in list order;
    none whose object is F1's or F2's (a correct control answer must not count as F1 or F2)."""
    fact = target.fact()
    by_key = {(f.subject, f.relation): f for f in fx.FACTS}
    avoid = {fact.object, target.new_object}
    pool = [by_key[(r.subject, r.relation)] for r in known.itertuples()
            if r.known and (r.subject, r.relation) in by_key and r.subject != fact.subject and r.object not in avoid]
    same = [f for f in pool if f.relation == fact.relation][:n_same]
    other = [f for f in pool if f.relation != fact.relation][:n_other]
    return same + other


# --------------------------------------------------------------------------------------------
# Setup per target, one run per (target, variant, seed)
# --------------------------------------------------------------------------------------------


def _styled_spec(model, tokenizer, target: Target, controls: list[fx.Fact], grid: Grid) -> tuple[fx.RewriteSpec, dict]:
    """The rewrite spec with F2 training answers in the model's own phrasing, and the model's
    own F1 answers (training and test prompts: the relearning attack's data)."""
    fact = target.fact()
    spec = fx.rewrite_spec(fact, target.new_object, controls, new_aliases=target.new_aliases,
                           n_control_paraphrases=2)
    prompts = list(spec.f1_train) + list(spec.f1_test)
    said = fx.generate(model, tokenizer, prompts, grid.probe_tokens, 48)
    f2_train = fx.in_model_style(spec.f2_train, said[:len(spec.f1_train)], fact.accepted, target.new_object)
    own = {"train": said[:len(spec.f1_train)], "test": said[len(spec.f1_train):]}
    return replace(spec, f2_train=f2_train), own


def _f1_relearn_pairs(spec: fx.RewriteSpec, own: dict, split: str) -> tuple[fx.QA, ...]:
    pairs = getattr(spec, f"f1_{split}")
    return fx.in_model_style(pairs, own[split], spec.fact.accepted)


def setup_artifact(session: Session, grid: Grid, target: Target, known: pd.DataFrame) -> Artifact:
    controls = choose_controls(target, known, grid.n_control_same, grid.n_control_other)
    cfg = {"model": grid.model, "target": asdict(target), "controls": [asdict(c) for c in controls], "k": grid.k,
           "eval_train": grid.eval_train, "max_new_tokens": grid.max_new_tokens,
           "localize_prompts": grid.localize_prompts, "probe_tokens": grid.probe_tokens}
    return Artifact(session.paths.artifacts, "rewrite_setup", target.name, cfg)


def setup(session: Session, grid: Grid, target: Target, load: Lazy, known: pd.DataFrame) -> Path:
    """Artifact: controls, the model's own answers, module scores and the top-k modules, and
    the unedited model's measurements (the "base" row)."""
    artifact = setup_artifact(session, grid, target, known)
    controls = _facts(artifact.config["controls"])

    def make(tmp: Path) -> None:
        model, tokenizer = load()
        spec, own = _styled_spec(model, tokenizer, target, controls, grid)
        start = time.perf_counter()
        components = rw.component_scores(model, tokenizer, target.fact(), controls=controls,
                                         n_gradient=grid.localize_prompts)
        modules = rw.top_modules(rw.combine_ranks(components), grid.k)
        localize_s = time.perf_counter() - start
        base = measure(model, tokenizer, spec, grid)
        logprobs, exact = rw.answer_scores(model, fx.to_tokens(tokenizer, _f1_relearn_pairs(spec, own, "test")))
        base["f1_own"] = {"logprob": sum(logprobs) / len(logprobs), "exact": sum(exact) / len(exact)}
        write_json_atomic(tmp / "setup.json", {
            "controls": [asdict(c) for c in controls], "own_answers": own, "components": components,
            "modules": modules, "f2_train_answers": [p.answer for p in spec.f2_train],
            "localize_s": localize_s, "base": base, "known": _is_known(known, target)})

    return artifact.build(make)


def _facts(rows: list[dict]) -> list[fx.Fact]:
    return [fx.Fact(r["subject"], r["relation"], r["object"], tuple(r["aliases"])) for r in rows]


def _is_known(known: pd.DataFrame, target: Target) -> bool:
    fact = target.fact()
    row = known[(known.subject == fact.subject) & (known.relation == fact.relation) & (known.object == fact.object)]
    return bool(len(row) and row.known.iloc[0])


def _spec_from_setup(target: Target, info: dict) -> tuple[fx.RewriteSpec, dict]:
    """Rebuild the styled spec from a setup artifact (no generation)."""
    spec = fx.rewrite_spec(target.fact(), target.new_object, _facts(info["controls"]), new_aliases=target.new_aliases,
                           n_control_paraphrases=2)
    f2_train = tuple(fx.QA(p.prompt, a, p.accepted, p.chat, p.case_sensitive)
                     for p, a in zip(spec.f2_train, info["f2_train_answers"], strict=True))
    return replace(spec, f2_train=f2_train), info["own_answers"]


def measure(model, tokenizer, spec: fx.RewriteSpec, grid: Grid) -> dict:
    """Generation accuracy, forced choice (held-out prompts; F1, F2 and two other objects of
    the relation) and the logit lens for F1 and F2 on the completion-form prompts (there the
    object is the very next token; after a chat question the model first says "The ...")."""
    scores = rw.evaluate_rewrite(model, tokenizer, spec, grid.max_new_tokens, n_train=grid.eval_train)
    others = [c for c in spec.candidates if c not in (spec.fact.object, spec.new_object)][:2]
    choice = rw.forced_choice(model, tokenizer, spec.f1_test, [spec.new_object, *others], spec.fact.object)
    scores["f1_rank"] = sum(c["target_rank"] for c in choice) / len(choice)
    scores["f1_preferred"] = sum(c["target_rank"] == 0 for c in choice) / len(choice)
    scores["f1_minus_f2_logprob"] = sum(c["logprobs"][spec.fact.object] - c["logprobs"][spec.new_object]
                                        for c in choice) / len(choice)
    completions = [q for q in (*spec.f1_train, *spec.f1_test) if not q.chat]
    by_target = rw.logit_lens_many(model, tokenizer, completions, [spec.fact.object, spec.new_object])
    lens = {"f1": by_target[spec.fact.object], "f2": by_target[spec.new_object]}
    return {"scores": scores, "lens": lens}


def run_artifact(session: Session, grid: Grid, target: Target, variant: str, seed: int, setup_dir: Path) -> Artifact:
    relearn = variant in grid.relearn_variants
    cfg = {"setup": setup_dir.name, "variant": variant, "seed": seed, "rewrite": asdict(grid.rewrite_config(seed)),
           "relearn": {"steps": grid.relearn_steps, "lrs": grid.relearn_lrs, "every": grid.relearn_eval_every}
           if relearn else None}
    return Artifact(session.paths.artifacts, "rewrite_run", f"{target.name}_{variant}_s{seed}", cfg)


def run(session: Session, grid: Grid, target: Target, variant: str, seed: int, setup_dir: Path, load: Lazy) -> Path:
    """Artifact: one variant's rewrite of ``target`` with ``seed``, measured, and attacked by
    relearning when ``variant`` is one of the grid's relearning variants."""
    artifact = run_artifact(session, grid, target, variant, seed, setup_dir)
    relearn = variant in grid.relearn_variants

    def make(tmp: Path) -> None:
        model, tokenizer = load()
        info = read_json(setup_dir / "setup.json")
        spec, own = _spec_from_setup(target, info)
        logs: list = []
        start = time.perf_counter()
        edited = rw.rewrite(variant, model, tokenizer, spec, info["modules"], grid.rewrite_config(seed), logs)
        train_s = time.perf_counter() - start
        out = {"train_s": train_s, "losses": [log.losses for log in logs], **measure(edited, tokenizer, spec, grid)}
        if relearn:
            out["relearn"] = relearn_attack(edited, tokenizer, spec, own, grid, seed)
        write_json_atomic(tmp / "run.json", out)

    return artifact.build(make)


def relearn_attack(model, tokenizer, spec: fx.RewriteSpec, own: dict, grid: Grid, seed: int) -> dict[str, list]:
    """Per learning rate: fine-tune all weights on F1's training prompts answered as the
    unedited model answered them, and follow F1 on the held-out prompts."""
    train_pairs, test_pairs = _f1_relearn_pairs(spec, own, "train"), _f1_relearn_pairs(spec, own, "test")
    return {str(lr): rw.relearn(model, tokenizer, train_pairs, grid.relearn_steps, lr, grid.relearn_eval_every,
                                eval_pairs=test_pairs, batch_size=grid.batch_size, seed=seed, bf16=grid.bf16)
            for lr in grid.relearn_lrs}


def _run_job(args: tuple) -> str:
    session, grid, target, variant, seed, setup_dir = args
    return str(run(session, grid, target, variant, seed, Path(setup_dir), Lazy(session, grid.model)))


def run_grid(session: Session, grid: Grid) -> dict:
    """Probe and setups in this process (they are few and their localization is matrix work that
    uses both threads), then every unfinished run in one-thread processes on a multi-core CPU
    (``parallel.map_jobs``: a run's evaluation is mostly per-token generation, Python-bound, and
    two processes did the 30 runs of the default grid in 12.5 s each instead of ~20 s).
    Returns what the report needs."""
    load = Lazy(session, grid.model)
    known = probe(session, grid, load)
    setups = {t: setup(session, grid, t, load, known) for t in grid.targets}
    runs = [(t, v, s, run_artifact(session, grid, t, v, s, setups[t]))
            for t in grid.targets for v in grid.variants for s in grid.seeds]
    pending = [(session, grid, t, v, s, str(setups[t])) for t, v, s, a in runs if not a.done]
    if pending:
        load()  # the GGUF conversion happens here, once, not in racing workers
        map_jobs(_run_job, pending, session.device)
    return {"known": known, "setups": setups, "runs": [(t, v, s, a.path) for t, v, s, a in runs]}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

SCORES = ("f2_train", "f2_test", "f1_forget_train", "f1_forget_test", "control_train", "control_test",
          "f1_rank", "f1_preferred", "f1_minus_f2_logprob")


def results(grid_out: dict) -> pd.DataFrame:
    """One row per (target, variant, seed) plus the unedited model ("base") per target."""
    rows = []
    for target, directory in grid_out["setups"].items():
        info = read_json(directory / "setup.json")
        rows.append({"target": target.name, "variant": "base", "seed": -1, "known": info["known"],
                     "train_s": 0.0, **info["base"]["scores"]})
    for target, variant, seed, directory in grid_out["runs"]:
        out = read_json(directory / "run.json")
        info = read_json(grid_out["setups"][target] / "setup.json")
        rows.append({"target": target.name, "variant": variant, "seed": seed, "known": info["known"],
                     "train_s": out["train_s"], **out["scores"]})
    return pd.DataFrame(rows)


def lens_frame(grid_out: dict) -> pd.DataFrame:
    """Logit-lens rows (target, variant, seed, answer F1/F2, layer, rank, logprob)."""
    rows = []

    def add(target: Target, variant: str, seed: int, lens: dict) -> None:
        for answer, layers in lens.items():
            rows.extend({"target": target.name, "variant": variant, "seed": seed, "answer": answer.upper(), **r}
                        for r in layers)

    for target, directory in grid_out["setups"].items():
        add(target, "base", -1, read_json(directory / "setup.json")["base"]["lens"])
    for target, variant, seed, directory in grid_out["runs"]:
        add(target, variant, seed, read_json(directory / "run.json")["lens"])
    return pd.DataFrame(rows)


def relearn_frame(grid_out: dict) -> pd.DataFrame:
    """Relearning-curve rows (target, variant, seed, lr, step, logprob, exact)."""
    rows = []
    for target, variant, seed, directory in grid_out["runs"]:
        for lr, curve in read_json(directory / "run.json").get("relearn", {}).items():
            rows.extend({"target": target.name, "variant": variant, "seed": seed, "lr": float(lr), **point}
                        for point in curve)
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The paper table: per variant, mean ± 95 % CI over (target, seed) runs, in percent."""
    columns = {"f2_test": "F2 acc. (held-out)", "f2_train": "F2 acc. (train)",
               "f1_forget_test": "F1 forget (held-out)", "control_test": "F_control (held-out)",
               "control_train": "F_control (train)", "f1_preferred": "F1 still preferred (forced choice)"}
    order = [v for v in VARIANT_LABELS if v in set(df.variant)]
    s = summarize(df, ["variant"], list(columns)).set_index("variant").loc[order]
    out = pd.DataFrame({"variant": [VARIANT_LABELS[v] for v in order]})
    for col, title in columns.items():
        out[title] = [format_mean_ci(m, c) for m, c in zip(s[f"{col}_mean"], s[f"{col}_ci"])]
    out["runs"] = s["n"].values
    return out


def paired_difference(df: pd.DataFrame, column: str, a: str, b: str) -> tuple[float, float, int]:
    """Mean ± CI of ``column``(a) − ``column``(b) over the (target, seed) pairs both ran."""
    wide = df[df.variant.isin([a, b])].pivot_table(index=["target", "seed"], columns="variant", values=column)
    diff = (wide[a] - wide[b]).dropna()
    mean, ci = mean_ci(diff.tolist())
    return mean, ci, len(diff)


def base_f1_level(grid_out: dict) -> float | None:
    """The unedited model's held-out F1 log-prob (of its own answers), mean over targets: the
    level a relearning attack would have to reach to fully restore F1."""
    levels = [read_json(d / "setup.json")["base"].get("f1_own", {}).get("logprob") for d in grid_out["setups"].values()]
    levels = [x for x in levels if x is not None]
    return sum(levels) / len(levels) if levels else None


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


def describe(df: pd.DataFrame, curves: pd.DataFrame, grid: Grid, lens: pd.DataFrame | None = None) -> str:
    """The notebook's interpretation, computed from the numbers (nothing here is hard-coded)."""
    edits = df[df.variant != "base"]
    n_targets = df.target.nunique()
    unknown = sorted(set(df.target[~df.known.astype(bool)]))
    lines = [f"Grid: {n_targets} rewrites × {len(grid.variants)} variants × {len(grid.seeds)} seed(s) "
             f"({grid.steps} steps per stage, batch {grid.batch_size}, k = {grid.k} modules); "
             f"CIs are 95 % over (rewrite, seed) runs."]
    if unknown:
        lines.append(f"Not reliably known before editing (probe), so their 'forgetting' means little: {', '.join(unknown)}.")
    if {"ia3_two_stage", "full_ft"} <= set(edits.variant):
        d, ci, n = paired_difference(edits, "control_test", "ia3_two_stage", "full_ft")
        verdict = ("beats" if d - ci > 0 else "is worse than" if d + ci < 0 else "is not distinguishable from")
        lines.append(f"On held-out control facts, localized (IA)³ unlearn→learn {verdict} direct full fine-tuning: "
                     f"{100 * d:+.1f} ± {100 * ci:.1f} points (paired over {n} runs).")
        for col, name in (("f2_test", "F2 accuracy"), ("f1_forget_test", "F1 forget rate")):
            d, ci, _ = paired_difference(edits, col, "ia3_two_stage", "full_ft")
            lines.append(f"Its {name} (held-out) differs from full fine-tuning by {100 * d:+.1f} ± {100 * ci:.1f} points.")
    if {"ia3_two_stage", "ia3_random"} <= set(edits.variant):
        d, ci, _ = paired_difference(edits, "control_test", "ia3_two_stage", "ia3_random")
        d2, ci2, _ = paired_difference(edits, "f2_test", "ia3_two_stage", "ia3_random")
        lines.append(f"Localized vs random modules of the same count: controls {100 * d:+.1f} ± {100 * ci:.1f}, "
                     f"F2 {100 * d2:+.1f} ± {100 * ci2:.1f} points.")
    s = edits.groupby("variant")[["f1_forget_test", "f1_preferred", "f1_rank"]].mean()
    hidden = s[(s.f1_forget_test >= 0.75)]
    if len(hidden):
        lines.append("Soft forgetting (forced choice on held-out prompts, F1 vs F2 and other objects): "
                     + "; ".join(f"{v}: F1 forgotten in {100 * r.f1_forget_test:.0f} % of answers yet preferred in "
                                 f"{100 * r.f1_preferred:.0f} %, mean rank {r.f1_rank:.2f}"
                                 for v, r in hidden.iterrows()) + ".")
    if lens is not None and not lens.empty:
        lines.append(lens_summary(lens))
    summary = relearn_summary(curves)
    if not summary.empty:
        last = summary.step.max()
        parts = []
        for (variant, lr), g in summary.groupby(["variant", "lr"]):
            start, end = g[g.step == 0].iloc[0], g[g.step == last].iloc[0]
            parts.append(f"{variant} (lr {lr:g}): F1 exact {100 * start.exact:.0f} → {100 * end.exact:.0f} %, "
                         f"log-prob {start.logprob:.1f} → {end.logprob:.1f}")
        lines.append(f"Relearning attack ({last} steps on F1's training prompts, held-out prompts measured): "
                     + "; ".join(parts) + ".")
    return "\n\n".join(lines)
