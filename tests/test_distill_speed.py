"""UNDO's bounded stopping check decides exactly as the full one (issue 16, evaluation CPU).

The bounded check (``hits_needed`` + ``exact_match_reaching``) stops scoring once the threshold is
out of reach; these tests fail if it ever decides differently from ``mean_accuracy(exact_match)
>= threshold``, or records a different accuracy where it scores everything.
"""

import math
import random

import pytest
import torch

from unlearnlab.core.models import fresh_copy
from unlearnlab.evals.exact_match import (exact_match, exact_match_reaching, hits_needed, hits_reaching,
                                          mean_accuracy)
from unlearnlab.methods import get_method
from unlearnlab.methods.base import UnlearnData

pytestmark = pytest.mark.unit

SIZES = (1, 2, 3, 7, 10, 255, 256, 257, 511, 756, 1000)


def brute_needed(n: int, threshold: float) -> int:
    """The definition: the smallest h whose accuracy passes the full check, n + 1 if none."""
    return next((h for h in range(n + 1) if mean_accuracy(torch.arange(n) < h) >= threshold), n + 1)


def boundary_thresholds(n: int) -> list[float]:
    """Thresholds exactly at float32(h/n), one ulp either side, the rule's own expression
    (teacher accuracy minus 0.05 / 0.1), and out-of-range ones."""
    out = [-1.0, 0.0, 1.0, 1.5, math.nextafter(0.0, 1.0), math.nextafter(1.0, 0.0)]
    for h in sorted({0, 1, n // 3, n // 2, n - 1, n} | set(random.Random(n).sample(range(n + 1), min(n + 1, 12)))):
        exact = mean_accuracy(torch.arange(n) < h)
        out += [exact, math.nextafter(exact, 2.0), math.nextafter(exact, -1.0), h / n, exact - 0.05, exact - 0.1]
    return out


@pytest.mark.parametrize("n", SIZES)
def test_hits_needed_matches_brute_force_at_boundaries(n):
    for t in boundary_thresholds(n):
        assert hits_needed(n, t) == brute_needed(n, t), (n, t)


def test_accuracy_depends_on_the_hit_count_only():
    gen = torch.Generator().manual_seed(0)
    for n in (255, 756, 1000):
        for h in (0, 1, n // 3, n - 1, n):
            hits = torch.zeros(n, dtype=torch.bool)
            hits[torch.randperm(n, generator=gen)[:h]] = True
            assert mean_accuracy(hits) == mean_accuracy(torch.arange(n) < h)


def _batches(hits: torch.Tensor, size: int, drawn: list[int]):
    for start in range(0, len(hits), size):
        drawn.append(start)
        yield hits[start:start + size]


@pytest.mark.parametrize("n", [n for n in SIZES if n > 2])
def test_bounded_check_decides_and_records_exactly_as_the_full_one(n):
    gen = torch.Generator().manual_seed(n)
    for p in (0.0, 0.3, 0.9, 0.97, 1.0):
        for _ in range(5):
            hits = torch.rand(n, generator=gen) < p
            full = mean_accuracy(hits)
            # thresholds at this vector's own accuracy and its neighbours, plus the general ones
            for t in boundary_thresholds(n) + [full, math.nextafter(full, 2.0), math.nextafter(full, -1.0)]:
                drawn: list[int] = []
                got = hits_reaching(_batches(hits, 256, drawn), n, hits_needed(n, t))
                decided = got is not None and mean_accuracy(got) >= t
                assert decided == (full >= t), (n, p, t)
                if got is not None:
                    assert torch.equal(got, hits)
                    assert mean_accuracy(got) == full


def test_bounded_check_stops_early_when_out_of_reach():
    hits = torch.zeros(1000, dtype=torch.bool)
    drawn: list[int] = []
    assert hits_reaching(_batches(hits, 256, drawn), 1000, 900) is None
    assert drawn == [0]  # 0 hits in 256: at most 744 < 900, the other three batches never drawn
    drawn.clear()
    assert hits_reaching(_batches(hits, 256, drawn), 1000, 1001) is None
    assert drawn == []


def test_exact_match_reaching_on_a_model(tiny_model, tokens):
    full = exact_match(tiny_model.eval(), tokens, batch_size=4)
    for needed in range(len(tokens) + 2):
        got = exact_match_reaching(tiny_model, tokens, needed, batch_size=4)
        if int(full.sum()) >= needed:
            assert got is not None and torch.equal(got, full)
        else:
            assert got is None


def _fake_batch_hits(model, data, batch_size):
    """Hits that depend on the weights (each snapshot its own accuracy, anywhere in [0, 1]),
    in batches of 3 so the bounded check can stop part-way (an untrained tiny model scores 0)."""
    total = float(sum(p.double().sum() for p in model.parameters()))
    gen = torch.Generator().manual_seed(int(abs(total) * 1e6) % 2**31)
    hits = torch.rand(len(data), generator=gen) < torch.rand(1, generator=gen)
    for start in range(0, len(data), 3):
        yield hits[start:start + 3]


def _run(teacher, tokens, threshold: float, **kw):
    retain = tokens.where(["add", "sub"])
    data = UnlearnData(forget=tokens.where(["mul", "div"]), retain=retain,
                       generator=torch.Generator().manual_seed(0), retain_eval=retain)
    undo = get_method("UNDO", alpha=0.3, steps=8, lr=3e-3, batch_size=4, eval_every=2, snapshot_steps=(2, 4, 6, 8),
                      stop_on_recovery=False, retain_threshold=threshold)
    return undo.distill(teacher, data, **kw), retain


def test_distill_recovery_step_is_the_full_rules(tiny_model, tokens, monkeypatch):
    monkeypatch.setattr("unlearnlab.evals.exact_match._batch_hits", _fake_batch_hits)
    teacher = fresh_copy(tiny_model)
    reference, retain = _run(teacher, tokens, -5.0)  # never recovers: every snapshot kept
    student = fresh_copy(tiny_model)
    accs = {}
    for step, state in reference.snapshots.items():
        student.load_state_dict(state)
        accs[step] = mean_accuracy(exact_match(student.eval(), retain))
    teacher_acc = reference.teacher_retain_acc
    assert len(set(accs.values())) >= 3  # the accuracies differ, so the thresholds below pick different steps
    thresholds = [-5.0, 0.0, 0.05, 0.3, 1.0, 2.0] + [teacher_acc - a for a in accs.values()]
    thresholds += [math.nextafter(t, 2.0) for t in thresholds] + [math.nextafter(t, -2.0) for t in thresholds]
    outcomes = set()
    for thr in thresholds:
        result, _ = _run(teacher, tokens, thr)
        expected = next((s for s in sorted(accs) if accs[s] >= teacher_acc - thr), None)
        assert result.recovered_step == expected, thr
        outcomes.add(expected)
        for step, acc in result.retain_curve:
            if acc is not None:  # a recorded accuracy is the full one
                assert acc == accs[step]
            elif expected is None or step <= expected:  # before recovery, None only where out of reach
                assert accs[step] < teacher_acc - thr
    assert len(outcomes) >= 3  # recovery at different checks (and never), not one degenerate case
    cached, _ = _run(teacher, tokens, 0.3, teacher_acc=teacher_acc)
    assert cached.teacher_retain_acc == teacher_acc
