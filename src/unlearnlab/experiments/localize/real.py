"""Localizing one fact in a real pretrained model (SmolLM2-135M-Instruct by default).

The fact is a completion, "The capital of France is" → " Paris", asked in several
paraphrases. Corrupted prompts swap the subject for another one of the same token length
(so patching is position-aligned); the metric is the log-probability of the answer's first token.
Heads are patched exactly (one forward pass each); neurons are scored by attribution patching,
and exactly only for the top ones by attribution (exact patching of every neuron of a 30-layer
model would be 46k forward passes).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.batching import Batch, TokenSet, pad_token_id
from unlearnlab.experiments.session import Session
from unlearnlab.localization.pairs import corrupted_pairs, token_ids


@dataclass(frozen=True)
class FactSpec:
    """A fact as completions: templates with ``{subject}``, the answer, same-type corrupt subjects
    and control facts (prompt, answer) for the retain side of activation magnitude.

    The default is France → Paris: SmolLM2-135M ranks " Paris" first after all three templates and
    below rank 200 after "Japan" (measured). "Inception → Christopher Nolan" is a poor default
    for a completion probe: the model continues "directed by" with " Christopher" for almost any
    film, so the first answer token does not carry the fact.
    """

    subject: str = "France"
    answer: str = " Paris"
    templates: tuple[str, ...] = ("The capital of {subject} is", "The capital city of {subject} is",
                                  "The capital of {subject} is the city of")
    corrupt_subjects: tuple[str, ...] = ("Japan", "Egypt", "China", "Poland", "Kenya", "Peru", "India", "Russia")
    controls: tuple[tuple[str, str], ...] = (
        ("The capital of Japan is", " Tokyo"), ("Harry Potter was written by J", ".K"),
        ("The chemical symbol Au stands for", " gold"), ("Microsoft was founded by Bill", " Gates"),
        ("The Mona Lisa was painted by Leonardo da", " Vinci"), ("Water is made of hydrogen and", " oxygen"))
    model: str = "smollm2"
    top_neurons: int = 64  # neurons patched exactly (the top ones by attribution)
    patch_layers: tuple[int, ...] | None = None  # layers whose heads are patched exactly (None: all)


def fact_pairs(tokenizer, fact: FactSpec) -> tuple[Batch, Batch, list[str]]:
    """(clean, corrupt, corrupt subjects used): one pair per template; an error when no corrupt
    subject fits a template."""
    renders = [lambda subject, t=t: t.format(subject=subject) for t in fact.templates]
    return corrupted_pairs(tokenizer, renders, fact.subject, fact.corrupt_subjects,
                           fact.answer)


def fact_sets(tokenizer, fact: FactSpec) -> tuple[TokenSet, TokenSet]:
    """(forget, retain) TokenSets: the fact's paraphrases and the control facts."""
    pad = pad_token_id(tokenizer)
    forget = TokenSet([token_ids(tokenizer, t.format(subject=fact.subject)) for t in fact.templates],
                      [token_ids(tokenizer, fact.answer)] * len(fact.templates), pad_id=pad)
    retain = TokenSet([token_ids(tokenizer, p) for p, _ in fact.controls], [token_ids(tokenizer, a) for _, a in fact.controls],
                      pad_id=pad)
    return forget, retain


@torch.no_grad()
def answer_ranks(model, batch: Batch) -> list[int]:
    """Rank of the answer's first token at the last prompt position (0 = greedy choice)."""
    from unlearnlab.localization.activations import answer_positions

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    pos, target = answer_positions(batch)
    scores = logits[torch.arange(len(pos)), pos]
    return [int((s > s[t]).sum()) for s, t in zip(scores, target)]


def localize_fact(session: Session, fact: FactSpec) -> Path:
    """Scores of the fact on the real model (cached): exact head patching and attribution over
    heads and neurons, exact patching of the top neurons, activation magnitude; plus the answer's
    rank in clean and corrupt prompts (is the fact known, and does the corruption remove it?)."""
    cfg = asdict(fact)
    artifact = Artifact(session.paths.artifacts, "real_localize", fact.subject.replace(" ", "_"), cfg)

    def make(tmp: Path) -> None:
        from unlearnlab.localization import activation_magnitude, activation_patching, attribution_patching, bridge
        from unlearnlab.core.real_model import load_real_model

        model, tokenizer = load_real_model(fact.model, cache_root=session.paths.artifacts / "real_models",
                                           device=session.device)
        clean, corrupt, used = fact_pairs(tokenizer, fact)
        forget, retain = fact_sets(tokenizer, fact)
        br = bridge(model, tokenizer)
        timing, scores = {}, {}

        def timed(name, fn):
            start = time.perf_counter()
            scores[name] = fn()
            timing[name] = time.perf_counter() - start

        timed("attribution_heads", lambda: attribution_patching(br, clean, corrupt, "hook_z"))
        timed("attribution_neurons", lambda: attribution_patching(br, clean, corrupt, "mlp.hook_post"))
        timed("patching_heads", lambda: activation_patching(br, clean, corrupt, "hook_z", layers=fact.patch_layers))
        top = sorted(scores["attribution_neurons"], key=lambda k: -abs(scores["attribution_neurons"][k]))
        timed("patching_top_neurons", lambda: activation_patching(br, clean, corrupt, "mlp.hook_post",
                                                                  only=top[: fact.top_neurons]))
        timed("magnitude_heads", lambda: activation_magnitude(br, forget, retain, sites=("hook_z",)))
        timed("magnitude_neurons", lambda: activation_magnitude(br, forget, retain, sites=("mlp.hook_post",)))
        write_json_atomic(tmp / "scores.json", scores)
        write_json_atomic(tmp / "info.json", {
            "timing_s": timing, "corrupt_subjects": used, "n_layers": model.config.num_hidden_layers,
            "n_heads": model.config.num_attention_heads, "d_mlp": model.config.intermediate_size,
            "clean_answer_rank": answer_ranks(model, clean), "corrupt_answer_rank": answer_ranks(model, corrupt)})

    return artifact.build(make)


def load_fact_scores(directory: Path) -> tuple[dict[str, dict[str, float]], dict]:
    return read_json(directory / "scores.json"), read_json(directory / "info.json")


def fact_grids(scores: dict[str, dict[str, float]], info: dict) -> dict[str, dict[str, torch.Tensor]]:
    """Heatmap grids per method (heads and neurons) for ``localization_plots.score_heatmaps``."""
    from unlearnlab.localization.components import component_grid

    layers, heads, width = info["n_layers"], info["n_heads"], info["d_mlp"]
    return {
        "act_patching": {
            "heads": component_grid(scores["patching_heads"], "H", layers, heads),
            "neurons": component_grid(scores["patching_top_neurons"], "N", layers, width)},
        "attribution": {"heads": component_grid(scores["attribution_heads"], "H", layers, heads),
                        "neurons": component_grid(scores["attribution_neurons"], "N", layers, width)},
        "act_magnitude": {"heads": component_grid(scores["magnitude_heads"], "H", layers, heads),
                          "neurons": component_grid(scores["magnitude_neurons"], "N", layers, width)},
    }


def describe_fact(scores: dict[str, dict[str, float]], info: dict, fact: FactSpec, top: int = 5) -> str:
    """Whether the model knows the fact, what the corruption does, the top components, and how
    well attribution ranks the exactly patched heads."""
    from scipy.stats import spearmanr

    def best(d: dict[str, float]) -> str:
        return ", ".join(f"{k} ({v:+.2f})" for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top])

    heads = sorted(scores["patching_heads"])  # the exactly patched ones
    rho = spearmanr([scores["patching_heads"][h] for h in heads], [scores["attribution_heads"][h] for h in heads]).statistic
    timing = info["timing_s"]
    return "\n".join([
        f"- Answer rank (0 = greedy) of '{fact.answer.strip()}' on the clean prompts: {info['clean_answer_rank']}; "
        f"with the subject swapped for {', '.join(info['corrupt_subjects'])}: {info['corrupt_answer_rank']}.",
        f"- Top heads by exact patching (Δ log-prob of the answer, summed over the {len(info['corrupt_subjects'])} "
        f"prompts): {best(scores['patching_heads'])}.",
        f"- Top neurons by exact patching (among the {fact.top_neurons} best by attribution): "
        f"{best(scores['patching_top_neurons'])}.",
        f"- Attribution vs exact patching over all {len(heads)} heads: Spearman ρ = {rho:.2f}; "
        f"attribution took {timing['attribution_heads']:.1f} s, exact patching {timing['patching_heads']:.1f} s.",
    ])
