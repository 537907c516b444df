"""Probes of what a model still holds about a fact, beyond its greedy answer ("soft forgetting").

* ``answer_scores``: each gold answer's log-prob and whether greedy decoding would produce it,
  from one forward pass (no generation); ``answer_metric`` wraps it as a relearning metric.
* ``forced_choice``: the log-prob of each candidate answer, and the target's rank among them:
  an F1 that greedy decoding no longer produces may still be the preferred candidate.
* ``logit_lens``: per layer, the rank of a target's first token when the residual stream is
  decoded through the final norm and the unembedding: is a suppressed fact still computed inside?
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from unlearnlab.core import anatomy
from unlearnlab.core.batching import TokenSet, pad_token_id, token_ids
from unlearnlab.core.logprobs import logits_of, sequence_logprob
from unlearnlab.data.facts import QA, answer_text, render, to_tokens
from unlearnlab.core.timing import in_phase


@torch.no_grad()
@in_phase("evaluate")
def answer_scores(model: torch.nn.Module, data: TokenSet, batch_size: int = 32) -> tuple[list[float], list[bool]]:
    """Per example: the answer's log-prob (summed over its tokens) and whether greedy decoding
    would produce it exactly (every answer token is the argmax given the gold prefix), from one
    forward pass per batch, no generation."""
    device = next(model.parameters()).device
    logprobs, exact = [], []
    for batch in data.batches(batch_size, device):
        logits = logits_of(model, batch)
        logprobs += sequence_logprob(logits, batch, answer_only=True).tolist()
        scored = batch["answer_mask"][:, 1:].bool()
        hit = (logits[:, :-1].argmax(-1) == batch["input_ids"][:, 1:]) | ~scored
        exact += hit.all(-1).tolist()
    return logprobs, exact


def answer_metric(tokenizer, pairs: Sequence[QA]) -> Callable[[torch.nn.Module], dict[str, float]]:
    """``model → {"logprob", "exact"}``: the mean answer log-prob of ``pairs`` and the fraction a
    greedy decoder would produce exactly (``answer_scores``); the metric of a relearning attack
    on facts (``attacks.relearn.relearn``)."""
    data = to_tokens(tokenizer, pairs)

    def metric(model: torch.nn.Module) -> dict[str, float]:
        logprobs, exact = answer_scores(model, data)
        return {"logprob": sum(logprobs) / len(logprobs), "exact": sum(exact) / len(exact)}

    return metric


@in_phase("evaluate")
def forced_choice(model: torch.nn.Module, tokenizer, pairs: Sequence[QA], candidates: Sequence[str], target: str,
                  batch_size: int = 32) -> list[dict]:
    """Per prompt, the log-prob of each candidate answer (summed over its tokens; no end token)
    and the rank of ``target`` among them (0 = most likely).

    "Soft forgetting" shows here: an F1 that greedy decoding no longer produces may still be the
    model's preferred candidate. Sums favour short answers; compare candidates of similar length.
    """
    candidates = list(dict.fromkeys([target, *candidates]))
    rows = [(pair, cand) for pair in pairs for cand in candidates]
    prompts = [tokenizer(render(tokenizer, pair), add_special_tokens=False)["input_ids"] for pair, _ in rows]
    answers = [tokenizer(answer_text(c, pair.chat), add_special_tokens=False)["input_ids"] for pair, c in rows]
    logprobs, _ = answer_scores(model, TokenSet(prompts, answers, pad_id=pad_token_id(tokenizer)), batch_size)
    out = []
    for i, pair in enumerate(pairs):
        scores = dict(zip(candidates, logprobs[i * len(candidates):(i + 1) * len(candidates)]))
        rank = sum(v > scores[target] for v in scores.values())
        out.append({"prompt": pair.prompt, "logprobs": scores, "target_rank": rank,
                    "target_logprob": scores[target]})
    return out


def _last_prompt_residuals(model: torch.nn.Module, batch: dict, position: torch.Tensor) -> dict[int, torch.Tensor]:
    """The residual stream after each decoder layer at ``position`` (one per row), from one
    forward pass that computes only the final position's logits."""
    device = position.device
    resid: dict[int, torch.Tensor] = {}

    def keep(i: int):
        def hook(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            resid[i] = hidden[torch.arange(len(position), device=device), position]
        return hook

    handles = [layer.register_forward_hook(keep(i)) for i, layer in enumerate(anatomy.decoder_layers(model))]
    try:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=1)
    finally:
        for handle in handles:
            handle.remove()
    return resid


@torch.no_grad()
@in_phase("evaluate")
def logit_lens(model: torch.nn.Module, tokenizer, pairs: Sequence[QA], targets: Sequence[str]) -> dict[str, list[dict]]:
    """Per target and layer, the mean rank (0 = top) and log-prob of the target's first token
    when the residual stream after that layer, at the last prompt position, is decoded through
    the final norm and the unembedding. The last layer's row is the model's own prediction;
    earlier rows show whether a fact suppressed at the output is still computed inside.

    Only the first token is read, so pick targets whose first tokens differ ("J.K. Rowling" and
    "J.R.R. Tolkien" both start with "J" in SmolLM2's vocabulary). The residual stream at the
    last prompt position does not depend on the answer, so one pass serves every target.
    """
    from unlearnlab.localization.activations import answer_positions

    data = to_tokens(tokenizer, pairs, [answer_text(targets[0], p.chat) for p in pairs])
    device = next(model.parameters()).device
    batch = data.batch(range(len(data)), device)
    position, _ = answer_positions(batch)
    first = {t: torch.tensor([token_ids(tokenizer, answer_text(t, p.chat))[0] for p in pairs], device=device)
             for t in targets}
    resid = _last_prompt_residuals(model, batch, position)
    rows: dict[str, list[dict]] = {t: [] for t in targets}
    for i in range(len(resid)):
        logp = F.log_softmax(anatomy.logits_from_residual(model, resid[i]).float(), dim=-1)
        for t, token in first.items():
            target_logp = logp.gather(1, token[:, None]).squeeze(1)
            ranks = (logp > target_logp[:, None]).sum(-1).float()
            rows[t].append({"layer": i, "rank": float(ranks.mean()), "logprob": float(target_logp.mean())})
    return rows
