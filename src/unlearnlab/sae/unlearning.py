"""SAEBench-style unlearning evaluation: the question suite, the intervention sweep, the score.

1. ``build_suite``: keep the forget and side-effect questions the unmodified model answers under
   all 24 orderings of their choices, and tokenize them once (original ordering).
2. ``sweep``: for every scoring rule × retain threshold × number of features × multiplier, clamp
   the selected features and measure forget accuracy and pooled side-effect accuracy (one
   forward pass per batch); optionally the same selections with their decoder directions
   ablated instead. Identical interventions (two thresholds selecting the same features) are
   evaluated once.
3. ``mcq.unlearning_score`` on the rows of one rule (and intervention).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.evals.mcq import (PERMUTATIONS, MCQFormat, choice_scores, known_under_all_permutations, letter_token_ids,
                            mcq_tokens, predictor)
from unlearnlab.sae.hooks import Edit, intervene
from unlearnlab.sae.features import select_features
from unlearnlab.sae.interventions import ablate_directions, clamp
from unlearnlab.sae.model import SparseAutoencoder


@dataclass
class MCQSuite:
    """Known questions, tokenized: forget ones and pooled side-effect ones (labelled by domain)."""

    forget_rows: list[dict]
    side_rows: list[dict]
    tokens: TokenSet  # forget rows first, then side rows (four entries per row in cloze format)
    answers: torch.Tensor
    letters: list[list[int]] | None  # None in cloze format
    n_asked: dict[str, int]  # questions per domain before the permutation filter
    fmt: MCQFormat = MCQFormat()

    @property
    def n_forget(self) -> int:
        return len(self.forget_rows)

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, batch_size: int = 128, hits: bool = False) -> dict:
        """Forget accuracy, pooled side-effect accuracy, and accuracy per side domain; ``hits``
        adds each question's correctness as a '0'/'1' string (``forget_hits``, ``side_hits``),
        what a bootstrap over questions (``mcq.score_bootstrap``) resamples."""
        correct = choice_scores(model, self.tokens, self.fmt, self.letters, batch_size).argmax(-1) == self.answers
        forget, side = correct[: self.n_forget], correct[self.n_forget:]
        out: dict = {"forget_acc": _mean(forget), "side_acc": _mean(side)}
        if hits:
            out.update(forget_hits=hit_string(forget), side_hits=hit_string(side))
        labels = [r.get("domain", "") for r in self.side_rows]
        for domain in sorted(set(labels)):
            out[f"acc_{domain}"] = _mean(side[[lab == domain for lab in labels]])
        return out


def hit_string(hits: torch.Tensor) -> str:
    """Per question '1' (correct) or '0': compact in JSON, one character a question."""
    return "".join("1" if h else "0" for h in hits.tolist())


def _mean(hits: torch.Tensor) -> float:
    return float(hits.float().mean()) if len(hits) else float("nan")


def build_suite(model: torch.nn.Module, tokenizer, forget_rows: Sequence[dict], side_rows: Sequence[dict],
                fmt: MCQFormat = MCQFormat(), batch_size: int = 128,
                orders: Sequence[Sequence[int]] = PERMUTATIONS) -> MCQSuite:
    """The questions the model knows (correct under all 24 orderings, or under ``orders`` where a
    large model on a CPU cannot afford 24), ready to evaluate."""
    predict = predictor(model, tokenizer, fmt, batch_size)
    orders = orders[:1] if fmt.cloze else orders  # a cloze prompt has no order of choices
    forget = [forget_rows[i] for i in known_under_all_permutations(predict, forget_rows, orders)]
    side = [side_rows[i] for i in known_under_all_permutations(predict, side_rows, orders)]
    asked: dict[str, int] = {}
    for row in [*forget_rows, *side_rows]:
        asked[row.get("domain", "")] = asked.get(row.get("domain", ""), 0) + 1
    rows = forget + side
    answers = torch.tensor([r["answer"] for r in rows], dtype=torch.long)
    letters = None if fmt.cloze else letter_token_ids(tokenizer)
    return MCQSuite(forget, side, mcq_tokens(rows, tokenizer, fmt), answers, letters, asked, fmt)


@dataclass(frozen=True)
class SweepGrid:
    """SAEBench's hyperparameters (their defaults: thresholds 0.001/0.01, 10/20 features,
    multipliers 25–200 in Gemma's activation units; ours are set per model)."""

    retain_thresholds: tuple[float, ...] = (0.001, 0.01)
    n_features: tuple[int, ...] = (10, 20)
    multipliers: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0)
    ablate_directions: bool = True  # also evaluate decoder-direction ablation of each selection


def _edit(sae: SparseAutoencoder, intervention: str, features: list[int], multiplier: float | None) -> Edit:
    return clamp(sae, features, multiplier) if intervention == "clamp" else ablate_directions(sae, features)


def sweep(model: torch.nn.Module, sae: SparseAutoencoder, suite: MCQSuite, scores: dict[str, torch.Tensor],
          retain_freq: torch.Tensor, grid: SweepGrid = SweepGrid(), batch_size: int = 128) -> pd.DataFrame:
    """One row per (rule, threshold, n_features, intervention, multiplier): the selected
    features and the accuracies under the intervention."""
    cache: dict[tuple, dict[str, float]] = {}
    rows = []
    for rule, threshold, n in itertools.product(scores, grid.retain_thresholds, grid.n_features):
        features = select_features(scores[rule], retain_freq, threshold, n)
        settings = [("clamp", m) for m in grid.multipliers] + ([("ablate", None)] if grid.ablate_directions else [])
        for intervention, multiplier in settings:
            key = (intervention, tuple(features), multiplier)
            if key not in cache:
                with intervene(model, sae.cfg.site, sae.cfg.layer, _edit(sae, intervention, features, multiplier)):
                    cache[key] = suite.evaluate(model, batch_size, hits=True)
            rows.append({"rule": rule, "retain_threshold": threshold, "n_features": n, "n_selected": len(features),
                         "intervention": intervention, "multiplier": multiplier, "features": features, **cache[key]})
    return pd.DataFrame(rows)
