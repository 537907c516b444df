"""The knowledge screen that chooses the concept (issue 17): a concept can only be removed if the
model shows it, so the study's film is the first candidate, in a fixed order, whose direct and
paraphrased *training* prompts the base model answers with a film fact on at least a threshold
fraction (default 80 %). No held-out prompt is read, so the choice does not touch the items the
tables report.

A prompt is answered when its greedy answer contains an accepted string (director, lead actor,
a plot word, or the title for a recommendation) that the prompt does not give
(``data.concepts.reveals``, the scoring of the held-out tables). When no candidate reaches the
threshold the best-scoring one is used (ties: the earlier in the order), and the notebook and
the paper say so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.precision import bf16_autocast
from unlearnlab.core.real_model import untrained_note
from unlearnlab.core.timing import timed
from unlearnlab.data import concepts as cx
from unlearnlab.data.facts import generate
from unlearnlab.experiments.concept.config import ConceptConfig
from unlearnlab.experiments.concept.setup import TINY_MODEL, tiny_model_dir, uses_bf16
from unlearnlab.experiments.session import Session

SCREEN_KINDS = ("direct", "paraphrase")  # the knowledge-probe questions: director, star, plot, recommendation


def screen_probes(concept: cx.ConceptSpec) -> list[cx.Probe]:
    """The prompts the screen asks about ``concept``: its direct and paraphrased chat prompts of
    the training split (the held-out ones are the tables')."""
    return cx.select(cx.concept_probes(concept), SCREEN_KINDS, "train", chat=True)


def score(probes: list[cx.Probe], answers: list[str]) -> dict[str, int]:
    """How many of ``probes`` could show a fact (``countable``: the prompt does not give every
    accepted string) and how many answers do (``answered``), overall and per kind."""
    out = {"countable": 0, "answered": 0, **{f"{k}_{m}": 0 for k in SCREEN_KINDS for m in ("countable", "answered")}}
    for p, a in zip(probes, answers, strict=True):
        hit = cx.reveals(p.qa.accepted, p.prompt, a, p.qa.case_sensitive)
        if hit is None:
            continue
        for prefix in ("", f"{p.kind}_"):
            out[f"{prefix}countable"] += 1
            out[f"{prefix}answered"] += int(hit)
    return out


def screen_table(counts: dict[str, dict[str, int]]) -> pd.DataFrame:
    """One row per candidate, in the screen's order: prompts, answered prompts and the score
    (answered / countable), overall and for direct and paraphrased prompts."""
    rows = []
    for order, (name, c) in enumerate(counts.items()):
        row = {"concept": name, "order": order, "prompts": c["countable"], "answered": c["answered"],
               "score": c["answered"] / c["countable"] if c["countable"] else 0.0}
        row.update({f"{k}_score": c[f"{k}_answered"] / c[f"{k}_countable"] if c[f"{k}_countable"] else float("nan")
                    for k in SCREEN_KINDS})
        rows.append(row)
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame, threshold: float) -> tuple[str, bool]:
    """The rule, fixed before any screen result: the first candidate in ``order`` whose score is
    at least ``threshold``; if none is, the highest score (ties: the earlier in order). Returns
    the name and whether it reached the threshold."""
    ordered = table.sort_values("order", kind="stable")
    passed = ordered[ordered["score"] >= threshold]
    if len(passed):
        return str(passed.iloc[0]["concept"]), True
    best = ordered.loc[ordered["score"] == ordered["score"].max()]
    return str(best.iloc[0]["concept"]), False


def _screen_model(session: Session, cfg: ConceptConfig) -> str:
    """The model the screen asks: the profile's, or (smoke) the tiny random model built for the
    first candidate (its answers mean nothing; the smoke run checks the plumbing)."""
    return str(tiny_model_dir(session, cx.get_concept(cfg.candidates[0]))) if cfg.model == TINY_MODEL else cfg.model


def run_screen(session: Session, cfg: ConceptConfig) -> tuple[pd.DataFrame, Path]:
    """The screen of ``cfg.candidates`` on the base model (cached by config): ``screen_table``
    and the artifact folder, whose ``answers.json`` holds every greedy answer."""
    from unlearnlab.core.real_model import load_real_model

    candidates = [cx.get_concept(name) for name in cfg.candidates]
    bf16 = uses_bf16(session, cfg)  # as setup's base answers, so the chosen film's answers agree
    key = {"candidates": candidates, "model": cfg.model, "max_new_tokens": cfg.max_new_tokens, "bf16": bf16,
           "kinds": SCREEN_KINDS}

    def make(tmp: Path) -> None:
        model, tokenizer = load_real_model(_screen_model(session, cfg), device=session.device)
        asked = [(c.name, p) for c in candidates for p in screen_probes(c)]
        info: dict = {"prompts": len(asked)}
        with timed(info, "generate"), bf16_autocast(bf16, session.device):
            answers = generate(model, tokenizer, [p.qa for _, p in asked], cfg.max_new_tokens, batch_size=32)
        by_concept: dict[str, dict[str, str]] = {}
        for (name, p), a in zip(asked, answers):
            by_concept.setdefault(name, {})[p.prompt] = a
        write_json_atomic(tmp / "answers.json", by_concept)
        write_json_atomic(tmp / "info.json", info)

    path = Artifact(session.paths.artifacts, "concept_screen", cfg.model.replace("/", "_"), key).build(make)
    answers = read_json(path / "answers.json")
    counts = {c.name: score(screen_probes(c), [answers[c.name][p.prompt] for p in screen_probes(c)])
              for c in candidates}
    return screen_table(counts), path


def chosen_config(cfg: ConceptConfig, table: pd.DataFrame) -> tuple[ConceptConfig, str]:
    """``cfg`` with its concept set: ``cfg.name`` when a name is forced, else the screen's choice;
    and the sentence that says which and why (the notebook prints it)."""
    name, reached = choose(table, cfg.screen_threshold)
    row = table.set_index("concept").loc[name]
    share = f"{100 * row['score']:.0f} % ({int(row['answered'])} of {int(row['prompts'])})"
    rule = f"first candidate in the screen's order with at least {100 * cfg.screen_threshold:g} %"
    if cfg.name is not None:
        forced = table.set_index("concept")["score"].get(cfg.name)
        score_text = f"{100 * forced:.0f} % of its probe prompts" if forced is not None else "not screened"
        return cfg, (f"Concept {cfg.name!r} forced by parameter ({score_text}); the screen would choose "
                     f"{name!r} ({share}).")
    if reached:
        return replace(cfg, name=name), f"Screen: {name!r} chosen ({rule}): answers {share} of its probe prompts."
    untrained = (" " + untrained_note(cfg.model, 0, int(table["prompts"].sum()), "probe prompts of its films",
                                      stops=False) + ".") if row["score"] == 0 else ""
    return replace(cfg, name=name), (f"Screen: no candidate reaches {100 * cfg.screen_threshold:g} %; the best, "
                                     f"{name!r}, answers {share} of its probe prompts and is used.{untrained}")
