"""How a concept-removal run is measured: held-out probes, general text, and a relearning attack.

Metrics (all on held-out test prompts): per forget kind, ``leak``: answers naming the concept on
prompts that do not contain its name (``data.concepts.reveals``: an answer repeating the title of
its prompt knows nothing), ``correct``: answers with an accepted fact the prompt does not give,
``mention``: answers naming the concept, title echo included (kept for comparison only), and the
mean per-token log-probability of the key answer (title or fact) after the prompt; per retain
kind, accuracy, retention (accuracy on the items the base model got right), refusal rate and
KL(base ‖ model) on the base's own answers; cross-entropy on general English prose; degeneration
(answers flagged by ``evals.text_quality.is_degenerate``, distinct-2).
"""

from __future__ import annotations

import torch

from unlearnlab.attacks.relearn import RelearnConfig, answer_loss, relearn
from unlearnlab.core.logprobs import forward_kl, logits_of
from unlearnlab.data import concepts as cx
from unlearnlab.data.facts import QA, answer_batches, generate, render, to_tokens
from unlearnlab.data.general_text import general_text_tokens
from unlearnlab.evals.exact_match import cross_entropy
from unlearnlab.evals.probes import answer_metric, answer_scores
from unlearnlab.evals.text_quality import degeneration, is_degenerate
from unlearnlab.experiments.concept.setup import ConceptSetup, forget_train


def _key_pairs(s: ConceptSetup, probes: list[cx.Probe]) -> list[QA]:
    """Probes as already-rendered prompts (chat template applied) followed by their key answer
    and no end-of-turn token: scoring them gives the log-prob of exactly the title or fact,
    however the answer would go on."""
    return [QA(render(s.tokenizer, p.qa), p.qa.answer, p.qa.accepted, chat=False) for p in probes]


@torch.no_grad()
def _base_logits(s: ConceptSetup, kind: str) -> list[torch.Tensor]:
    """The base model's logits on the held-out retain prompts of ``kind`` with its own answers
    (computed once per setup)."""
    key = ("base_logits", kind)
    if key not in s.cache:
        data = s.tokens(cx.select(s.probes, [kind], "test"))
        s.cache[key] = [logits_of(s.model, b) for b in data.batches(16, s.session.device)]
    return s.cache[key]


@torch.no_grad()
def _kl_to_base(s: ConceptSetup, model: torch.nn.Module, kind: str) -> float:
    """Mean KL(base ‖ model) per answer token on the base's own answers to held-out ``kind``."""
    data = s.tokens(cx.select(s.probes, [kind], "test"))
    batches = list(data.batches(16, s.session.device))
    values = [float(forward_kl(t, logits_of(model, b), b, answer_only=True)) * int(b["answer_mask"].sum())
              for t, b in zip(_base_logits(s, kind), batches)]
    return sum(values) / max(1, sum(int(b["answer_mask"].sum()) for b in batches))


def probe_rows(s: ConceptSetup, probes: list[cx.Probe], answers: list[str]) -> list[dict]:
    """Per probe and answer: leak (names the concept, the prompt does not; ``None`` when the
    prompt does), correct (an accepted fact the prompt does not give; ``None`` when it gives all),
    mention (names the concept, echo included), refusal, degenerate."""
    return [{"kind": p.kind, "form": p.form, "prompt": p.prompt, "answer": a,
             "leak": cx.leaks(s.concept, p.prompt, a),
             "correct": cx.reveals(p.qa.accepted, p.prompt, a, p.qa.case_sensitive),
             "mention": cx.mentions(s.concept, a), "refusal": cx.refuses(s.concept, a), "degenerate": is_degenerate(a)}
            for p, a in zip(probes, answers)]


@torch.no_grad()
def evaluate(s: ConceptSetup, model: torch.nn.Module, answers: list[str] | None = None
             ) -> tuple[dict[str, float], list[dict]]:
    """Metrics of ``model`` on the held-out probes, and its answers (one row per probe); pass
    ``answers`` when they are known already (the base model's, from ``setup``)."""
    test = cx.select(s.probes, split="test")
    if answers is None:
        answers = generate(model, s.tokenizer, [p.qa for p in test], s.cfg.max_new_tokens, batch_size=32)
    rows = probe_rows(s, test, answers)
    base_rows = {r["prompt"]: r for r in probe_rows(s, test, s.answers_of(test))}
    out: dict[str, float] = {}
    for kind in cx.KINDS:
        kind_rows = [r for r in rows if r["kind"] == kind]
        for metric in ("leak", "mention", "correct", "refusal", "degenerate"):
            out[f"{kind}_{metric}"] = mean_known(r[metric] for r in kind_rows)
    forget = cx.select(s.probes, cx.FORGET_KINDS, "test")
    keys = to_tokens(s.tokenizer, _key_pairs(s, forget))
    logprobs, _ = answer_scores(model, keys)
    lengths = [len(a) for a in keys.answers]
    for kind in cx.FORGET_KINDS:
        out[f"{kind}_keylogp"] = mean_known(lp / n for p, lp, n in zip(forget, logprobs, lengths) if p.kind == kind)
    for kind in cx.RETAIN_KINDS:
        known = [r for r in rows if r["kind"] == kind and base_rows[r["prompt"]]["correct"]]
        out[f"{kind}_retained"] = mean_known(r["correct"] for r in known)
        out[f"{kind}_kl"] = _kl_to_base(s, model, kind)
    out.update({f"all_{k}": v for k, v in degeneration(answers).items()})
    out["general_ce"] = cross_entropy(model, general_text_tokens(s.tokenizer), batch_size=16)
    return out, rows


def mean_known(values) -> float:
    """The mean of the values that are not ``None`` (probes that cannot tell); NaN if none."""
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else float("nan")


def relearn_attack(s: ConceptSetup, model: torch.nn.Module, seed: int) -> list[dict]:
    """Fine-tune all weights of (a copy of) ``model`` on ``relearn_items`` concept training
    prompts with their true answers (answer tokens only, constant learning rate); every
    ``relearn_eval_every`` steps, the mean summed log-prob of the held-out forget probes' key
    answers (no end-of-turn) and their exact match. Returns the curve (``attacks.relearn``).

    Training on short direct answers also teaches the *format* (answer with the name at once),
    which raises these log-probs for any model, so curves are read against the base model's own
    curve under the same attack."""
    cfg = s.cfg
    train = forget_train(s)
    items = [train[i * len(train) // cfg.relearn_items].qa for i in range(cfg.relearn_items)]
    held_out = _key_pairs(s, cx.select(s.probes, cx.FORGET_KINDS, "test"))
    batch_size = min(4, len(items))
    config = RelearnConfig(lrs=(cfg.relearn_lr,), steps=cfg.relearn_steps, eval_every=cfg.relearn_eval_every,
                           batch_size=batch_size, n_items=cfg.relearn_items)
    return relearn(model, answer_batches(s.tokenizer, items, batch_size, seed, s.session.device),
                   answer_metric(s.tokenizer, held_out), config, loss=answer_loss, bf16=cfg.bf16)
