"""Attribution-guided patching: exact patching where it is affordable, attribution elsewhere.

On a real model exact patching of every MLP neuron is out of reach (SmolLM2-135M: 30 layers ×
1,536 neurons = 46k forward passes), while heads are few. So heads are patched exactly (in the
chosen layers) and neurons are ranked by attribution patching (one forward and one backward
pass), and only the top ``top_neurons`` of them are patched exactly. Both attributions are
kept: how well attribution ranks the exactly patched heads says how far it can be trusted.
"""

from __future__ import annotations

from typing import Any

import torch

from unlearnlab.core.batching import Batch
from unlearnlab.core.timing import timed
from unlearnlab.localization.activations import activation_patching, answer_positions, attribution_patching
from unlearnlab.localization.registry import ATTENTION_SITE, MLP_SITE

PARTS = ("attribution_heads", "attribution_neurons", "patching_heads", "patching_top_neurons")


def guided_patching(br: Any, clean: Batch, corrupt: Batch, *, layers: tuple[int, ...] | None = None,
                    top_neurons: int = 64, timing: dict | None = None) -> dict[str, dict[str, float]]:
    """Scores by part (``PARTS``): attribution of heads and neurons, exact patching of the heads
    in ``layers`` (None: all) and of the ``top_neurons`` neurons with the largest |attribution|.
    ``timing`` (if given) receives each part's seconds (``core.timing.timed``)."""
    timing = {} if timing is None else timing
    scores: dict[str, dict[str, float]] = {}
    with timed(timing, "attribution_heads"):
        scores["attribution_heads"] = attribution_patching(br, clean, corrupt, ATTENTION_SITE)
    with timed(timing, "attribution_neurons"):
        scores["attribution_neurons"] = attribution_patching(br, clean, corrupt, MLP_SITE)
    with timed(timing, "patching_heads"):
        scores["patching_heads"] = activation_patching(br, clean, corrupt, ATTENTION_SITE, layers=layers)
    ranked = sorted(scores["attribution_neurons"], key=lambda k: -abs(scores["attribution_neurons"][k]))
    with timed(timing, "patching_top_neurons"):
        scores["patching_top_neurons"] = activation_patching(br, clean, corrupt, MLP_SITE, only=ranked[:top_neurons])
    return scores


@torch.no_grad()
def answer_ranks(model: torch.nn.Module, batch: Batch) -> list[int]:
    """Rank of the answer's first token at the last prompt position (0 = greedy choice): is the
    fact known on clean prompts, and does the corruption remove it?"""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    pos, target = answer_positions(batch)
    scores = logits[torch.arange(len(pos)), pos]
    return [int((s > s[t]).sum()) for s, t in zip(scores, target)]
