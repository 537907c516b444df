"""The knowledge screen that chooses the masked-LoRA concept (issue 17): its rule on hand-made
tables (a candidate under the threshold is never chosen, the order decides among those above
it, the best one is used when none passes), its scoring of hand-made answers, the held-out
fact rates that replace the measures that could not move, and the screen's paper numbers."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest

from unlearnlab.data import concepts as cx
from unlearnlab.experiments.concept import numbers as cnum
from unlearnlab.experiments.concept import screen
from unlearnlab.experiments.concept.config import ConceptConfig
from unlearnlab.experiments.concept.evaluate import mean_known, probe_rows

pytestmark = pytest.mark.unit


def _table(scores: dict[str, float], prompts: int = 16) -> pd.DataFrame:
    """A screen table from per-candidate scores, in the dict's order."""
    return pd.DataFrame([{"concept": name, "order": i, "prompts": prompts, "answered": round(score * prompts),
                          "score": score, "direct_score": score, "paraphrase_score": score}
                         for i, (name, score) in enumerate(scores.items())])


def test_a_candidate_under_the_threshold_is_never_chosen_and_order_decides():
    table = _table({"Inception": 0.2, "Titanic": 0.79, "Star Wars": 0.8, "Jaws": 0.95})
    assert screen.choose(table, 0.8) == ("Star Wars", True)  # Jaws scores higher but comes later
    assert screen.choose(table, 0.9) == ("Jaws", True)
    assert screen.choose(table.iloc[::-1], 0.8) == ("Star Wars", True)  # row order is not the screen's order
    tied = _table({"Inception": 0.9, "Titanic": 0.9})
    assert screen.choose(tied, 0.8) == ("Inception", True)


def test_when_nobody_passes_the_best_is_used_and_ties_go_to_the_earlier():
    table = _table({"Inception": 0.2, "Titanic": 0.6, "Star Wars": 0.6, "Jaws": 0.5})
    assert screen.choose(table, 0.8) == ("Titanic", False)
    cfg, sentence = screen.chosen_config(ConceptConfig(), table)
    assert cfg.name == "Titanic" and "no candidate reaches 80 %" in sentence and "60 % (10 of 16)" in sentence
    cfg, sentence = screen.chosen_config(ConceptConfig(name="Inception"), table)
    assert cfg.name == "Inception" and "forced" in sentence and "20 %" in sentence and "'Titanic'" in sentence


def test_screen_scores_hand_made_answers_without_counting_echoes():
    spec = cx.CONCEPTS["Star Wars"]
    probes = screen.screen_probes(spec)
    assert {p.kind for p in probes} == set(screen.SCREEN_KINDS) and all(p.split == "train" for p in probes)
    assert all(p.qa.chat for p in probes) and len(probes) == 16
    answers = []
    for p in probes:  # right on every director question, the title alone elsewhere
        answers.append("It was directed by George Lucas." if p.form == "director" else f"{spec.name} is a film.")
    counts = screen.score(probes, answers)
    # the title answers a recommendation (its prompt lacks it), not a plot or star question (an echo)
    expected = sum(p.form in ("director", "recommend") for p in probes)
    assert counts["answered"] == expected < len(probes) and counts["countable"] == len(probes)
    row = screen.screen_table({spec.name: counts}).iloc[0]
    assert row["score"] == expected / len(probes) and row["order"] == 0
    assert screen.score(probes, ["I don't know."] * len(probes))["answered"] == 0


def test_the_profile_candidates_are_films_the_probes_can_score():
    cfg = ConceptConfig()
    assert cfg.name is None and cfg.candidates[0] == "Inception" and cfg.screen_threshold == 0.8
    for name in cfg.candidates:
        spec = cx.CONCEPTS[name]
        assert spec.name not in {f.subject for f in spec.neighbours} and spec.director not in spec.distractors
        assert spec.name not in spec.other_titles
        mc = next(p for p in cx.concept_probes(spec) if p.form == "multiple_choice" and "stars" in p.prompt)
        assert mc.prompt.count(spec.star) == 1  # the right actor is among the options once
    with pytest.raises(ValueError, match="screen candidates"):
        replace(cfg, candidates=("No Such Film",))


def test_fact_rates_per_kind_come_from_hand_made_answers():
    """The suppression table's direct/paraphrase/adversarial fact rates: an answer counts when it
    states a fact the prompt does not give; a prompt that gives every accepted string is skipped."""
    spec = cx.CONCEPTS["Jurassic Park"]
    test = cx.select(cx.concept_probes(spec), cx.FORGET_KINDS, "test")
    answers = ["Steven Spielberg made it, with dinosaurs and Sam Neill; it is Jurassic Park."] * len(test)
    rows = probe_rows(SimpleNamespace(concept=spec), test, answers)
    for kind in cx.FORGET_KINDS:
        values = [r["correct"] for r in rows if r["kind"] == kind]
        assert mean_known(values) == 1.0 and None not in values[:1]
    refusals = probe_rows(SimpleNamespace(concept=spec), test, [spec.refusal] * len(test))
    assert all(mean_known(r["correct"] for r in refusals if r["kind"] == k) == 0.0 for k in cx.FORGET_KINDS)


def test_screen_macros_say_which_film_and_how():
    table = _table({"Inception": 0.25, "Titanic": 0.875, "Star Wars": 0.9})
    n = cnum.Numbers("concept")
    cnum.add_screen(n, table, ConceptConfig(name="Titanic"))
    tex = {k: v["tex"] for k, v in n.entries.items()}
    assert tex["conceptName"] == "Titanic" and tex["conceptScreenChoice"] == "Titanic"
    assert tex["conceptScreenChoiceScore"] == r"88\,\%" and tex["conceptScreenThreshold"] == r"80\,\%"
    assert tex["conceptScreenOutcome"] == "the first candidate at or above the threshold"
    assert tex["conceptScreenScores"] == r"Inception 25\,\%, Titanic 88\,\%, Star Wars 90\,\%"
    n = cnum.Numbers("concept")
    cnum.add_screen(n, _table({"Inception": 0.25, "Titanic": 0.5}), ConceptConfig(name="Titanic"))
    assert "no candidate reaches" in n.entries["conceptScreenOutcome"]["tex"]
    n = cnum.Numbers("concept")
    cnum.add_screen(n, table, ConceptConfig(name="Inception"))
    assert n.entries["conceptScreenOutcome"]["tex"].startswith("forced")
    assert n.entries["conceptNameScore"]["tex"] == r"25\,\%"


def test_the_prose_names_only_the_kinds_where_the_base_model_shows_the_film():
    knowledge = pd.DataFrame({"prompts": [4, 4, 6, 6, 6], "name_free": [1, 0, 3, 6, 6], "base_names": [0] * 5,
                              "fact_free": [4, 4, 5, 6, 6], "base_correct": [0, 1, 0, 3, 5]}, index=list(cx.KINDS))
    n = cnum.Numbers("concept")
    cnum.add_knowledge(n, knowledge)
    assert n.entries["conceptBaseShowsKinds"]["tex"] == "paraphrased"
    n = cnum.Numbers("concept")
    cnum.add_knowledge(n, knowledge.assign(base_correct=[0, 0, 0, 3, 5]))
    assert n.entries["conceptBaseShowsKinds"]["tex"] == "no"


def test_fact_rates_the_base_model_never_shows_are_left_out_of_the_table():
    import pandas as pd

    from unlearnlab.experiments.concept import report, tables
    knowledge = pd.DataFrame({"base_correct": [0, 1, 0, 5, 6], "fact_free": [4, 4, 5, 6, 6]},
                             index=["direct", "paraphrase", "adversarial", "neighbour", "unrelated"])
    assert tables.moving_kinds(knowledge) == ["paraphrase"]
    summary = pd.DataFrame({"variant": ["base", "lora"], "n": [1, 3],
                            **{f"{c}_{s}": [0.25, 0.0] for c in tables.SUPPRESSION_COLUMNS for s in ("mean", "ci")}})
    shown = tables.paper_table(summary, None, tables.moving_kinds(knowledge))
    assert list(shown.columns) == ["variant", "para. fact %", "adv. log-p"]
    assert "direct and adversarial fact rates, 0 for the base model" in report._fact_columns_text(knowledge)
    assert len(tables.paper_table(summary).columns) == 1 + len(tables.SUPPRESSION_COLUMNS)
