"""What notebook 32 measures on a model, edited or not, for one rewrite F1 → F2: greedy
accuracy (F2 learned, F1 forgotten, controls kept; training and held-out paraphrases), forced
choice among candidate objects, and the logit lens for F1 and F2 by layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unlearnlab.data import facts as fx
from unlearnlab.evals.probes import forced_choice, logit_lens
from unlearnlab.experiments.rewrite.config import RewriteConfig


def _spread_pairs(pairs: Sequence[fx.QA], n: int | None) -> tuple[fx.QA, ...]:
    """``n`` of ``pairs`` in both forms, evenly spaced (``spread`` for pairs)."""
    if n is None or n >= len(pairs):
        return tuple(pairs)
    by_prompt = {p.prompt: p for p in pairs}
    picked = fx.spread([fx.Template(p.prompt, p.chat) for p in pairs], n)
    return tuple(by_prompt[t.text] for t in picked)


def _accuracy(pairs: Sequence[fx.QA], texts: Sequence[str]) -> float:
    return sum(p.correct(t) for p, t in zip(pairs, texts, strict=True)) / max(1, len(pairs))


def evaluate_rewrite(model: torch.nn.Module, tokenizer, spec: fx.RewriteSpec, max_new_tokens: int = 24,
                     batch_size: int = 48, n_train: int | None = None) -> dict[str, float]:
    """F2 accuracy, F1 forget rate (answers without the F1 object) and control accuracy, on the
    training and held-out paraphrases (``n_train``: only that many training paraphrases of the
    fact, both forms, ``spread``). F1 and F2 share prompts, so all answers come from one batched
    greedy generation."""
    f1 = {"train": _spread_pairs(spec.f1_train, n_train), "test": spec.f1_test}
    f2 = {"train": _spread_pairs(spec.f2_train, n_train), "test": spec.f2_test}
    controls = {"train": spec.control_train, "test": spec.control_test}
    asked = [(split, kind, pair) for split in ("train", "test")
             for kind, pairs in (("fact", f1[split]), ("control", controls[split])) for pair in pairs]
    texts = fx.generate(model, tokenizer, [pair for _, _, pair in asked], max_new_tokens, batch_size)
    out: dict[str, float] = {}
    for split in ("train", "test"):
        fact_texts = [t for (s, k, _), t in zip(asked, texts) if s == split and k == "fact"]
        control_texts = [t for (s, k, _), t in zip(asked, texts) if s == split and k == "control"]
        out[f"f2_{split}"] = _accuracy(f2[split], fact_texts)
        out[f"f1_forget_{split}"] = 1 - _accuracy(f1[split], fact_texts)
        out[f"control_{split}"] = _accuracy(controls[split], control_texts) if controls[split] else float("nan")
    return out


def measure(model: torch.nn.Module, tokenizer, spec: fx.RewriteSpec, cfg: RewriteConfig) -> dict:
    """Generation accuracy, forced choice (held-out prompts; F1, F2 and two other objects of
    the relation) and the logit lens for F1 and F2 on the completion-form prompts (there the
    object is the very next token; after a chat question the model first says "The ...")."""
    scores = evaluate_rewrite(model, tokenizer, spec, cfg.max_new_tokens, n_train=cfg.eval_train)
    old, new = spec.fact.object, spec.new_object
    others = [c for c in spec.candidates if c not in (old, new)][:2]
    choice = forced_choice(model, tokenizer, spec.f1_test, [new, *others], old)
    scores["f1_rank"] = sum(c["target_rank"] for c in choice) / len(choice)
    scores["f1_preferred"] = sum(c["target_rank"] == 0 for c in choice) / len(choice)
    scores["f1_minus_f2_logprob"] = sum(c["logprobs"][old] - c["logprobs"][new] for c in choice) / len(choice)
    completions = [q for q in (*spec.f1_train, *spec.f1_test) if not q.chat]
    by_target = logit_lens(model, tokenizer, completions, [old, new])
    return {"scores": scores, "lens": {"f1": by_target[old], "f2": by_target[new]}}
