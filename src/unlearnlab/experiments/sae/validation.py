"""Validation and test questions of the synthetic tier: every choice reads validation, every
reported number reads test.

Each seed's suite (the questions its model answers under all 24 orderings, ``synthetic.pretrain``)
is cut in two by a fixed rule that reads only which questions the model knows, never how any
intervention does on them (``parts``): the known forget questions of held-out entities (the ones
the relearning attack never trains on), ordered by a hash of their identity, go alternately to
test and validation; the known forget questions of the attack's entities go to test (the score
counts them, the attack's held-out accuracy does not); the known side-effect questions are cut
alternately the same way. Evaluations recorded per question (``MCQSuite.evaluate(hits=True)``)
are then read on each part (``split_frame``, ``split_eval``): ``forget_acc`` / ``side_acc`` and
their hits are test, ``val_forget_acc`` / ``val_side_acc`` and ``val_*_hits`` validation. No
evaluation runs twice: both parts come from the same per-question hits.

**Fixed sizes.** With ``SuiteCounts`` (the profile's ``sae.suite_counts()``) the parts have a
size fixed by design instead of whatever a model happens to know: in the same hash order, the
first ``val_forget`` known held-out forget questions are validation; of the remaining known
forget questions (held-out and attack entities together) the first ``test_forget`` are test; the
first ``val_side`` known side-effect questions are validation and the next ``test_side`` test.
Known questions beyond the counts are left out (``UNUSED``). A model that knows fewer raises
``TooFewKnown`` (the fix: pretrain longer or enlarge the world).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from unlearnlab.evals.mcq import MCQSuite
from unlearnlab.experiments.sae.suite import question_key

VAL, TEST, UNUSED = "val", "test", "unused"
ATTACK_SPLIT = "attack"  # data.hazard: forget entities whose facts the relearning attacker trains on


def _rank(key: str) -> str:
    """A fixed pseudo-random order of question identities (the same on every machine and run)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _alternate(keys: Sequence[str]) -> dict[str, str]:
    """Keys in hash order, alternately test and validation (test gets the odd one out)."""
    return {k: VAL if i % 2 else TEST for i, k in enumerate(sorted(keys, key=_rank))}


@dataclass(frozen=True)
class SuiteCounts:
    """How many known questions each part keeps (per model): the suite's size by design."""

    val_forget: int
    test_forget: int
    val_side: int
    test_side: int


class TooFewKnown(ValueError):
    """A model knows fewer questions than the profile's fixed suite asks for."""


def _need(have: int, want: int, what: str, field: str, who: str) -> None:
    if have < want:
        raise TooFewKnown(f"{who} knows {have} {what}, the profile asks for {want}: pretrain longer "
                          f"(sae.pretrain_steps), enlarge the world (sae.world) or lower sae.{field}")


def _fixed(forget_rows: Sequence[dict], side_rows: Sequence[dict], counts: SuiteCounts, who: str) -> dict[str, str]:
    """``parts`` with fixed sizes: validation forget from held-out entities, then test forget from
    the rest (held-out and attack entities), then side effects, each in hash order; the rest unused."""
    held = sorted((question_key(q) for q in forget_rows if q.get("split") != ATTACK_SPLIT), key=_rank)
    _need(len(held), counts.val_forget, "forget questions of held-out entities", "n_val_forget", who)
    val = held[:counts.val_forget]
    rest = sorted(set(map(question_key, forget_rows)) - set(val), key=_rank)
    _need(len(rest), counts.test_forget, "more forget questions (after validation's)", "n_test_forget", who)
    side = sorted(map(question_key, side_rows), key=_rank)
    _need(len(side), counts.val_side + counts.test_side, "side-effect questions", "n_val_side / n_test_side", who)
    out = {k: UNUSED for k in [*rest, *side]}
    out.update({k: VAL for k in val})
    out.update({k: TEST for k in rest[:counts.test_forget]})
    out.update({k: VAL for k in side[:counts.val_side]})
    out.update({k: TEST for k in side[counts.val_side:counts.val_side + counts.test_side]})
    return out


def parts(forget_rows: Sequence[dict], side_rows: Sequence[dict], counts: SuiteCounts | None = None,
          who: str = "the model") -> dict[str, str]:
    """Question identity -> ``"val"``, ``"test"`` (or ``"unused"``) for one model's known
    questions. It reads only the rows' identities and entity split, never an evaluation: no
    choice can leak into which questions are tested. ``counts`` None: every known question,
    alternately (sizes follow what the model knows)."""
    if counts is not None:
        return _fixed(forget_rows, side_rows, counts, who)
    held = [question_key(q) for q in forget_rows if q.get("split") != ATTACK_SPLIT]
    out = _alternate(held)
    out.update({question_key(q): TEST for q in forget_rows if q.get("split") == ATTACK_SPLIT})
    out.update(_alternate([question_key(q) for q in side_rows]))
    return out


def suite_parts(suite: MCQSuite, counts: SuiteCounts | None = None,
                who: str = "the model") -> tuple[list[str], list[str]]:
    """Per position of the suite's forget and side-effect questions: its part."""
    table = parts(suite.forget_rows, suite.side_rows, counts, who)
    return [table[question_key(q)] for q in suite.forget_rows], [table[question_key(q)] for q in suite.side_rows]


def keys_of(suite: MCQSuite, part: str, counts: SuiteCounts | None = None) -> list[str]:
    """The identities of the suite's forget questions in ``part``, in suite order (question i of
    that part's hits is ``keys_of(...)[i]``)."""
    forget, _ = suite_parts(suite, counts)
    return [question_key(q) for q, p in zip(suite.forget_rows, forget) if p == part]


def forget_subset(suite: MCQSuite, part: str, held_out_only: bool = True,
                  counts: SuiteCounts | None = None) -> MCQSuite:
    """The suite's forget questions of ``part`` alone (``held_out_only``: not the attack's
    entities), as a letter-format suite the relearning attack evaluates."""
    if suite.fmt.cloze:
        raise NotImplementedError("forget_subset splits letter-format suites only")
    forget, _ = suite_parts(suite, counts)
    keep = [i for i, (q, p) in enumerate(zip(suite.forget_rows, forget))
            if p == part and not (held_out_only and q.get("split") == ATTACK_SPLIT)]
    return MCQSuite([suite.forget_rows[i] for i in keep], [], suite.tokens.subset(keep), suite.answers[keep],
                    suite.letters, {}, suite.fmt)


def _pick(hits: str, where: Sequence[str], part: str) -> str:
    if len(hits) != len(where):
        raise ValueError(f"{len(hits)} per-question hits for a suite of {len(where)} questions")
    return "".join(h for h, p in zip(hits, where) if p == part)


def _acc(hits: str) -> float:
    return float(np.mean([c == "1" for c in hits])) if hits else float("nan")


def split_eval(record: dict, forget: Sequence[str], side: Sequence[str]) -> dict:
    """One evaluation (``forget_hits``, ``side_hits`` over the whole suite) read on each part:
    test in ``forget_acc``, ``side_acc``, ``forget_hits``, ``side_hits``; validation in the same
    names prefixed ``val_``. Per-domain accuracies (``acc_<domain>``, whole suite) are dropped."""
    if not isinstance(record.get("forget_hits"), str) or not isinstance(record.get("side_hits"), str):
        raise ValueError("the evaluation recorded no per-question hits; rerun it with hits=True")
    out = {k: v for k, v in record.items() if not k.startswith("acc_")}
    for prefix, part in (("", TEST), ("val_", VAL)):
        for name, where in (("forget", forget), ("side", side)):
            hits = _pick(record[f"{name}_hits"], where, part)
            out[f"{prefix}{name}_hits"], out[f"{prefix}{name}_acc"] = hits, _acc(hits)
    return out


def split_frame(frame: pd.DataFrame, suite_parts_by_seed: dict[int, tuple[list[str], list[str]]]) -> pd.DataFrame:
    """``split_eval`` of every row (each read with its seed's parts)."""
    if frame.empty:
        return frame
    rows = [split_eval(r, *suite_parts_by_seed[int(r["seed"])]) for r in frame.to_dict("records")]
    return pd.DataFrame(rows)


def sizes(forget: Sequence[str], side: Sequence[str]) -> dict[str, int]:
    """How many forget and side-effect questions each part holds."""
    return {"n_val_forget": forget.count(VAL), "n_test_forget": forget.count(TEST),
            "n_val_side": side.count(VAL), "n_test_side": side.count(TEST)}
