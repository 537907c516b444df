"""Surgical knowledge rewrite F1 → F2 by "unlearn then learn" with (IA)³ on localized modules.

The recipe (issue #4): localize the fact F1 to the ``k`` linear modules that matter most for it;
stage 1 trains an (IA)³ adapter on those modules only to answer F1's questions with an
uncertainty response ("I am not sure.") and merges it; stage 2 trains a *second* (IA)³ adapter on
the same modules to answer F2 and merges it. Unlearning first removes the competing answer, so
stage 2 does not have to fight it; (IA)³ on a few modules (one scaling vector each) keeps the
edit from spilling over onto unrelated facts.

Sections: module scoring (which modules carry F1), adapters (IA)³ and LoRA, training on answers,
the rewrite variants compared (one registry), and evaluation, including "soft forgetting"
probes: forced choice among candidate answers, a logit lens, and a relearning attack.

Modules are named as in the Hugging Face model (``model.layers.12.self_attn.o_proj``,
``model.layers.3.mlp.down_proj``), so the same names work for peft, our tiny Llama models and
SmolLM2. Every variant works on a copy; the model passed in is never modified.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase as Tokenizer
import torch.nn.functional as F

from unlearnlab.core.batching import Batch, TokenSet, grouped_sampler, pad_token_id
from unlearnlab.data.facts import (FACTS, QA, RELATIONS, Fact, Model, RewriteSpec, Template, answer_text, fact_pairs,
                                   generate, render, spread, to_tokens)
from unlearnlab.localization.pairs import corrupted_pairs, token_ids
from unlearnlab.core.logprobs import logits_of, nll, sequence_logprob
from unlearnlab.core.training import TrainConfig, TrainLog, train

_MODULE = re.compile(r"^(?:.*\.)?layers\.(\d+)\.(self_attn|mlp)\.(\w+)$")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_IN, MLP_OUT = ("gate_proj", "up_proj"), ("down_proj",)

# --------------------------------------------------------------------------------------------
# Which modules carry the fact
# --------------------------------------------------------------------------------------------


def linear_modules(model: Model) -> list[str]:
    """Names of the linear layers inside the decoder blocks (attention and MLP projections; the
    embedding and unembedding are not candidates), in model order."""
    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and _MODULE.match(name)]


def _layer_modules(model: Model) -> dict[tuple[int, str], list[str]]:
    """(layer, projection short name) → module names (one, unless the model nests oddly)."""
    out: dict[tuple[int, str], list[str]] = {}
    for name in linear_modules(model):
        layer, _, proj = _MODULE.match(name).groups()
        out.setdefault((int(layer), proj), []).append(name)
    return out


def localization_batches(tokenizer: Tokenizer, fact: Fact, corrupt_subjects: Sequence[str] | None = None,
                         n_templates: int = 4) -> tuple[Batch, Batch]:
    """(clean, corrupt) batches for patching F1: its completion-form training paraphrases, and
    the same prompts with the subject swapped for another one of equal token length.

    Completion prompts, because there the object follows the prompt directly, so the log-prob
    of its first token measures recall (a chat answer may start with "The capital of ...").
    Default corrupt subjects are the other subjects of the relation whose object starts with a
    different token (else the corruption would not remove the answer).
    """
    answer = answer_text(fact.object, chat=False)
    first = token_ids(tokenizer, answer)[:1]
    if corrupt_subjects is None:
        corrupt_subjects = [f.subject for f in FACTS if f.relation == fact.relation and f.subject != fact.subject
                            and token_ids(tokenizer, answer_text(f.object, False))[:1] != first]
    completions = [t.prompt for t in RELATIONS[fact.relation].train if not t.chat]
    clean, corrupt, _ = corrupted_pairs(tokenizer, completions, fact.subject, corrupt_subjects, answer,
                                        limit=n_templates, skip_unmatched=True)
    return clean, corrupt


def _default_controls(fact: Fact) -> list[Fact]:
    """The first fact of every other relation: the retain side of activation magnitude."""
    firsts = {f.relation: f for f in reversed(FACTS)}
    return [f for rel, f in firsts.items() if rel != fact.relation]


def component_scores(model: Model, tokenizer: Tokenizer, fact: Fact, *, controls: Sequence[Fact] | None = None,
                     corrupt_subjects: Sequence[str] | None = None, n_templates: int = 4,
                     batch_size: int = 8, n_gradient: int | None = None) -> dict[str, dict[str, float]]:
    """Per linear module, three views of how much it matters for F1 (higher = more):

    * ``attribution``: attribution patching (clean − corrupt) · ∂log p(F1)/∂activation, |·| summed
      over the heads of ``hook_z`` (→ that layer's q/k/v/o_proj), the neurons of ``mlp.hook_pre``
      (the gate output → gate_proj, up_proj) and of ``mlp.hook_post`` (down_proj's input →
      down_proj); each site divided by its largest layer so the three sites share a scale.
      Absolute values, because a module that pushes F1 down matters as much as one pushing it up.
    * ``magnitude``: mean |activation| on F1 prompts over that on control facts, per layer's
      attention (``hook_z``, → q/k/v/o_proj) and MLP (``hook_post``, → gate/up/down_proj).
    * ``gradient``: mean |∂ F1 answer loss / ∂W| over the module's weight entries (per entry, so
      large MLP matrices are not favoured for their size), on ``n_gradient`` paraphrases (all
      training ones if None); the same paraphrases are the forget side of ``magnitude``.

    Attribution and magnitude are per layer and block, so they tie modules of a block; the
    gradient separates them.
    """
    from unlearnlab.localization import activation_magnitude, attribution_patching, bridge, gradient_norm_scores

    controls = list(controls) if controls is not None else _default_controls(fact)
    blocks = _layer_modules(model)
    clean, corrupt = localization_batches(tokenizer, fact, corrupt_subjects, n_templates)
    forget = to_tokens(tokenizer, fact_pairs(fact, spread(RELATIONS[fact.relation].train, n_gradient)))
    retain = to_tokens(tokenizer, [pair for c in controls
                                   for pair in fact_pairs(c, spread(RELATIONS[c.relation].train, 4))])
    br = bridge(model, tokenizer)

    attribution: dict[str, float] = {}
    for site, projections in (("hook_z", ATTENTION), ("mlp.hook_pre", MLP_IN), ("mlp.hook_post", MLP_OUT)):
        per_layer: dict[int, float] = {}
        for name, value in attribution_patching(br, clean, corrupt, site).items():
            layer = int(name.split(".")[0][1:])
            per_layer[layer] = per_layer.get(layer, 0.0) + abs(value)
        top = max(per_layer.values()) or 1.0
        for (layer, proj), names in blocks.items():
            if proj in projections:
                attribution.update(dict.fromkeys(names, per_layer[layer] / top))

    per_block = activation_magnitude(br, forget, retain, sites=("hook_z", "mlp.hook_post"), granularity="layer",
                                     mode="ratio", batch_size=batch_size)
    magnitude = {name: per_block[f"L{layer}.{'attn' if proj in ATTENTION else 'mlp'}"]
                 for (layer, proj), names in blocks.items() for name in names}
    del br

    grads = gradient_norm_scores(model, forget, batch_size=batch_size, max_batches=8)
    gradient = {name: float(grads[f"{name}.weight"].mean()) for name in linear_modules(model)}
    return {"attribution": attribution, "magnitude": magnitude, "gradient": gradient}


def combine_ranks(components: dict[str, dict[str, float]],
                  weights: dict[str, float] | None = None) -> dict[str, float]:
    """Rank-average: each component's scores become percentiles in (0, 1] (ties share their
    average rank), averaged with ``weights`` (default equal). Ranks, because the components live
    on unrelated scales (log-prob × activation, activation ratios, gradients) and a single
    outlier should not decide the choice."""
    from scipy.stats import rankdata

    weights = weights or dict.fromkeys(components, 1.0)
    names = sorted(next(iter(components.values())))
    total = dict.fromkeys(names, 0.0)
    for component, scores in components.items():
        ranks = rankdata([scores[n] for n in names], method="average") / len(names)
        for name, rank in zip(names, ranks):
            total[name] += weights[component] * float(rank)
    norm = sum(weights.values())
    return {name: value / norm for name, value in total.items()}


def module_scores(model: Model, tokenizer: Tokenizer, fact: Fact, **kwargs) -> dict[str, float]:
    """One score per linear module: ``combine_ranks`` of ``component_scores`` (same arguments)."""
    return combine_ranks(component_scores(model, tokenizer, fact, **kwargs))


def top_modules(scores: dict[str, float], k: int) -> list[str]:
    """The ``k`` best-scoring modules (ties broken by name, so the choice is deterministic)."""
    return [name for name, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def random_modules(model: Model, k: int, seed: int = 0) -> list[str]:
    """``k`` linear modules drawn uniformly at random: the control for localization."""
    names = linear_modules(model)
    if k > len(names):
        raise ValueError(f"asked for {k} modules, the model has {len(names)} linear modules")
    return random.Random(seed).sample(names, k)


# --------------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------------


def _checked(model: Model, modules: Sequence[str]) -> list[str]:
    known = set(linear_modules(model))
    missing = [m for m in modules if m not in known]
    if missing or not modules:
        raise ValueError(f"not linear modules of the model: {missing[:5] or 'none given'}")
    return list(modules)


def apply_ia3(model: Model, modules: Sequence[str], feedforward: Sequence[str] | None = None):
    """``model`` (modified in place) wrapped with a fresh (IA)³ adapter on ``modules`` only.

    (IA)³ learns one scaling vector per module, initialised to ones (an identity). A feed-forward
    module's vector scales its *input*, others their *output*; by default the MLP ``down_proj``
    modules are feed-forward, so their vector scales the MLP neurons as in the (IA)³ paper and
    peft's Llama defaults. Module names are passed in full, so peft matches exactly those.
    """
    from peft import IA3Config, get_peft_model

    modules = _checked(model, modules)
    feedforward = [m for m in modules if m.endswith("mlp.down_proj")] if feedforward is None else list(feedforward)
    config = IA3Config(task_type="CAUSAL_LM", target_modules=modules, feedforward_modules=feedforward,
                       init_ia3_weights=True)
    return get_peft_model(model, config)


def apply_lora(model: Model, modules: Sequence[str], r: int = 8, alpha: int = 16):
    """``model`` (modified in place) wrapped with a fresh LoRA adapter (identity at init, B = 0)
    on ``modules`` only, without dropout (so merged and unmerged outputs agree)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(task_type="CAUSAL_LM", target_modules=_checked(model, modules), r=r, lora_alpha=alpha,
                        lora_dropout=0.0)
    return get_peft_model(model, config)


def merge(model: Model) -> Model:
    """The plain model with the adapter folded into its weights (``merge_and_unload``), every
    parameter trainable again and in eval mode, ready for the next stage."""
    plain = model.merge_and_unload()
    for param in plain.parameters():
        param.requires_grad_(True)
    return plain.eval()


# --------------------------------------------------------------------------------------------
# Training on answers
# --------------------------------------------------------------------------------------------


def train_answers(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], steps: int, lr: float,
                  batch_size: int = 4, *, seed: int = 0, schedule: str = "cosine", eval_every: int = 0,
                  on_eval: Callable[[int, torch.nn.Module], bool] | None = None,
                  answers: Sequence[str] | None = None, bf16: bool = False) -> TrainLog:
    """Supervised fine-tuning of ``model``'s trainable parameters (an adapter's, when one is
    applied) on the answers of ``pairs`` only: the prompt is context, not a target. Chat and
    completion prompts go in separate batches (``grouped_sampler``: less padding)."""
    answers = [p.answer for p in pairs] if answers is None else list(answers)
    forms = [[i for i, p in enumerate(pairs) if p.chat == chat] for chat in (True, False)]
    groups = [to_tokens(tokenizer, [pairs[i] for i in idx], [answers[i] for i in idx]) for idx in forms if idx]
    batches = grouped_sampler(groups, batch_size, torch.Generator().manual_seed(seed), next(model.parameters()).device)

    def step_loss(m: Model, step: int) -> tuple[torch.Tensor, int]:
        batch = next(batches)
        return nll(logits_of(m, batch), batch, answer_only=True), int(batch["answer_mask"].sum())

    cfg = TrainConfig(steps=steps, lr=lr, batch_size=batch_size, schedule=schedule, eval_every=eval_every, bf16=bf16)
    return train(model, step_loss, cfg, on_eval=on_eval, desc="rewrite")


# --------------------------------------------------------------------------------------------
# Rewrite variants
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewriteConfig:
    """Training budget shared by every variant.

    ``steps`` is per stage; one-stage variants train ``2 * steps`` so every variant takes the same
    number of optimizer steps on the same prompts. Learning rates differ per parameter family
    because their useful scales do: (IA)³ vectors start at 1 and must move by tens of percent,
    LoRA starts at zero, full fine-tuning moves every weight. The values come from a pilot on two
    development rewrites that are not in any profile's grid (Greece → Thessaloniki, Sweden →
    Gothenburg; SmolLM2, 8 steps per stage, lr ×{0.4, 1, 2} around these; see
    ``notes`` in the README): below them F2 is barely learned in a short budget (LoRA 1e-3: 0 %),
    above them control facts break ((IA)³ 1e-1: controls 100 → 38-50 %).
    """

    steps: int = 100
    batch_size: int = 4
    ia3_lr: float = 5e-2
    lora_lr: float = 5e-3
    full_lr: float = 2e-5
    lora_r: int = 8
    lora_alpha: int = 16
    uncertainty: str = "I am not sure."
    seed: int = 0
    bf16: bool = False  # bfloat16 autocast (on this repo's reference CPU, AVX-512 BF16: 1.36x faster steps)


def _stage(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], modules: Sequence[str], cfg: RewriteConfig,
           adapter: str, steps: int, logs: list | None) -> Model:
    """Train one adapter (or all weights, ``adapter="full"``) on ``pairs`` and merge it."""
    if adapter == "full":
        wrapped, lr = model, cfg.full_lr
    elif adapter == "ia3":
        wrapped, lr = apply_ia3(model, modules), cfg.ia3_lr
    elif adapter == "lora":
        wrapped, lr = apply_lora(model, modules, cfg.lora_r, cfg.lora_alpha), cfg.lora_lr
    else:
        raise ValueError(f"unknown adapter {adapter!r}")
    log = train_answers(wrapped, tokenizer, pairs, steps, lr, cfg.batch_size, seed=cfg.seed, bf16=cfg.bf16)
    if logs is not None:
        logs.append(log)
    return wrapped.eval() if adapter == "full" else merge(wrapped)


def unlearn_then_learn(model: Model, tokenizer: Tokenizer, spec: RewriteSpec, modules: Sequence[str],
                       cfg: RewriteConfig, *, adapter: str = "ia3", logs: list | None = None) -> Model:
    """Ours: stage 1, an adapter on ``modules`` trained to answer F1's training prompts with
    ``cfg.uncertainty``, merged; stage 2, a second adapter on the same modules trained on F2,
    merged. Returns a new plain model; ``model`` is untouched; ``logs`` collects the TrainLogs."""
    work = copy.deepcopy(model)
    work = _stage(work, tokenizer, spec.unlearn_train(cfg.uncertainty), modules, cfg, adapter, cfg.steps, logs)
    return _stage(work, tokenizer, spec.f2_train, modules, cfg, adapter, cfg.steps, logs)


def learn_only(model: Model, tokenizer: Tokenizer, spec: RewriteSpec, modules: Sequence[str], cfg: RewriteConfig,
               *, adapter: str = "ia3", logs: list | None = None) -> Model:
    """One stage on F2 with twice the steps (the same total budget), no unlearning first."""
    return _stage(copy.deepcopy(model), tokenizer, spec.f2_train, modules, cfg, adapter, 2 * cfg.steps, logs)


Variant = Callable[..., Model]

# Each comparison differs from ours (ia3_two_stage) in one factor: what is trained (all weights,
# LoRA), where (all modules, random modules) or whether F1 is unlearned first.
VARIANTS: dict[str, Variant] = {
    "ia3_two_stage": unlearn_then_learn,
    "ia3_one_stage": learn_only,
    "ia3_all": lambda model, tok, spec, modules, cfg, **kw: unlearn_then_learn(
        model, tok, spec, linear_modules(model), cfg, **kw),
    "ia3_random": lambda model, tok, spec, modules, cfg, **kw: unlearn_then_learn(
        model, tok, spec, random_modules(model, len(modules), cfg.seed), cfg, **kw),
    "lora_local": lambda model, tok, spec, modules, cfg, **kw: unlearn_then_learn(
        model, tok, spec, modules, cfg, adapter="lora", **kw),
    "full_ft": lambda model, tok, spec, modules, cfg, **kw: learn_only(
        model, tok, spec, modules, cfg, adapter="full", **kw),
}


def rewrite(name: str, model: Model, tokenizer: Tokenizer, spec: RewriteSpec, modules: Sequence[str],
            cfg: RewriteConfig, logs: list | None = None) -> Model:
    """Run variant ``name`` of ``VARIANTS`` (the rewritten copy of ``model``)."""
    if name not in VARIANTS:
        raise KeyError(f"unknown rewrite variant {name!r}; choose from {', '.join(VARIANTS)}")
    return VARIANTS[name](model, tokenizer, spec, modules, cfg, logs=logs)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def answer_accuracy(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], max_new_tokens: int = 24,
                    batch_size: int = 16) -> float:
    """Fraction of greedy answers that contain an accepted answer of their pair."""
    texts = generate(model, tokenizer, pairs, max_new_tokens, batch_size)
    return sum(p.correct(t) for p, t in zip(pairs, texts)) / max(1, len(pairs))


def evaluate_rewrite(model: Model, tokenizer: Tokenizer, spec: RewriteSpec, max_new_tokens: int = 24,
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
    texts = generate(model, tokenizer, [pair for _, _, pair in asked], max_new_tokens, batch_size)
    out: dict[str, float] = {}
    for split in ("train", "test"):
        fact_texts = [t for (s, k, _), t in zip(asked, texts) if s == split and k == "fact"]
        control_texts = [t for (s, k, _), t in zip(asked, texts) if s == split and k == "control"]
        out[f"f2_{split}"] = _accuracy(f2[split], fact_texts)
        out[f"f1_forget_{split}"] = 1 - _accuracy(f1[split], fact_texts)
        out[f"control_{split}"] = _accuracy(controls[split], control_texts) if controls[split] else float("nan")
    return out


def _spread_pairs(pairs: Sequence[QA], n: int | None) -> tuple[QA, ...]:
    """``n`` of ``pairs`` in both forms, evenly spaced (``spread`` for pairs)."""
    if n is None or n >= len(pairs):
        return tuple(pairs)
    by_prompt = {p.prompt: p for p in pairs}
    picked = spread([Template(p.prompt, p.chat) for p in pairs], n)
    return tuple(by_prompt[t.text] for t in picked)


def _accuracy(pairs: Sequence[QA], texts: Sequence[str]) -> float:
    return sum(p.correct(t) for p, t in zip(pairs, texts, strict=True)) / max(1, len(pairs))


@torch.no_grad()
def answer_scores(model: Model, data: TokenSet, batch_size: int = 32) -> tuple[list[float], list[bool]]:
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


@torch.no_grad()
def forced_choice(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], candidates: Sequence[str], target: str,
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
    pad = pad_token_id(tokenizer)
    logprobs, _ = answer_scores(model, TokenSet(prompts, answers, pad_id=pad), batch_size)
    out = []
    for i, pair in enumerate(pairs):
        scores = dict(zip(candidates, logprobs[i * len(candidates):(i + 1) * len(candidates)]))
        rank = sum(v > scores[target] for v in scores.values())
        out.append({"prompt": pair.prompt, "logprobs": scores, "target_rank": rank,
                    "target_logprob": scores[target]})
    return out


def logit_lens(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], target: str) -> list[dict]:
    """Per layer, the mean rank (0 = top) and log-prob of ``target``'s first token when the
    residual stream after that layer, at the last prompt position, is decoded through the final
    norm and the unembedding. The last layer's row is the model's own prediction; earlier rows
    show whether a fact suppressed at the output is still computed inside. Only the first token
    is read, so pick an F2 whose first token differs from F1's ("J.K. Rowling" and "J.R.R.
    Tolkien" both start with "J" in SmolLM2's vocabulary, and the lens cannot tell them apart)."""
    return logit_lens_many(model, tokenizer, pairs, [target])[target]


@torch.no_grad()
def logit_lens_many(model: Model, tokenizer: Tokenizer, pairs: Sequence[QA], targets: Sequence[str]) -> dict[str, list[dict]]:
    """``logit_lens`` for several targets from one forward pass (the residual stream at the last
    prompt position does not depend on the answer; only the final position's logits are
    computed)."""
    from unlearnlab.localization.activations import answer_positions

    data = to_tokens(tokenizer, pairs, [answer_text(targets[0], p.chat) for p in pairs])
    device = next(model.parameters()).device
    batch = data.batch(range(len(data)), device)
    position, _ = answer_positions(batch)
    first = {t: torch.tensor([token_ids(tokenizer, answer_text(t, p.chat))[0] for p in pairs], device=device)
             for t in targets}
    layers, norm, unembed = model.model.layers, model.model.norm, model.get_output_embeddings()
    resid: dict[int, torch.Tensor] = {}

    def keep(i: int):
        def hook(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            resid[i] = hidden[torch.arange(len(position), device=device), position]
        return hook

    handles = [layer.register_forward_hook(keep(i)) for i, layer in enumerate(layers)]
    try:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=1)
    finally:
        for handle in handles:
            handle.remove()
    rows: dict[str, list[dict]] = {t: [] for t in targets}
    for i in range(len(layers)):
        logp = F.log_softmax(unembed(norm(resid[i])).float(), dim=-1)
        for t, token in first.items():
            target_logp = logp.gather(1, token[:, None]).squeeze(1)
            ranks = (logp > target_logp[:, None]).sum(-1).float()
            rows[t].append({"layer": i, "rank": float(ranks.mean()), "logprob": float(target_logp.mean())})
    return rows


def relearn(model: Model, tokenizer: Tokenizer, f1_pairs: Sequence[QA], steps: int, lr: float, eval_every: int = 5, *,
            eval_pairs: Sequence[QA] | None = None, batch_size: int = 4, seed: int = 0,
            with_generation: bool = False, bf16: bool = False) -> list[dict]:
    """Relearning attack: fine-tune a copy of ``model`` (all weights, constant learning rate) on
    F1 and record how fast it comes back on ``eval_pairs`` (default ``f1_pairs``; pass held-out
    paraphrases to see whether relearning generalises). Each point: step, mean answer log-prob,
    exact-match rate of the trained answer, and (``with_generation``) greedy contains-accuracy.
    A fact that was only hidden returns in a few steps; an erased one relearns like a new fact.
    """
    work = copy.deepcopy(model)
    eval_pairs = list(f1_pairs if eval_pairs is None else eval_pairs)
    data = to_tokens(tokenizer, eval_pairs)
    curve: list[dict] = []

    def point(step: int, m: torch.nn.Module) -> bool:
        logprobs, exact = answer_scores(m, data)
        row = {"step": step, "logprob": sum(logprobs) / len(logprobs), "exact": sum(exact) / len(exact)}
        if with_generation:
            row["accuracy"] = answer_accuracy(m, tokenizer, eval_pairs)
        curve.append(row)
        return False

    point(0, work.eval())
    train_answers(work, tokenizer, f1_pairs, steps, lr, batch_size, seed=seed, schedule="constant",
                  eval_every=eval_every, on_eval=point, bf16=bf16)
    return curve
