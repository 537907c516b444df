"""Localizing one fact in a real pretrained model (SmolLM2-135M-Instruct by default).

The fact is a completion, "The capital of France is" → " Paris", asked in several
paraphrases. Corrupted prompts swap the subject for another one of the same token length
(so patching is position-aligned); the metric is the log-probability of the answer's first token.
The localizers come from the registry: ``guided_patching`` (heads patched exactly, neurons by
attribution and exactly only for the top ones) and ``act_magnitude``; this module builds the
prompts, runs them on the loaded model and caches the scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from unlearnlab.core import anatomy
from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.core.batching import Batch, TokenSet, pad_token_id, token_ids
from unlearnlab.core.precision import bf16_autocast
from unlearnlab.core.timing import timed
from unlearnlab.experiments.session import Session
from unlearnlab.localization.components import component_grid
from unlearnlab.localization.guided import PARTS, answer_ranks
from unlearnlab.localization.pairs import corrupted_pairs
from unlearnlab.localization.registry import LocalizationData, localize


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


def patch_layers(model: torch.nn.Module, fact: FactSpec) -> tuple[int, ...] | None:
    """The fact's exactly patched layers that the model has (a profile's choice is made for SmolLM2's
    30 layers; a shallower model of your own keeps those it has, or all when none is left)."""
    if fact.patch_layers is None:
        return None
    return tuple(i for i in fact.patch_layers if i < anatomy.n_layers(model)) or None


def fact_scores(model: torch.nn.Module, tokenizer, fact: FactSpec) -> tuple[dict, dict]:
    """(scores by part, info): ``guided_patching`` and ``act_magnitude`` of heads and neurons,
    their seconds, the corrupt subjects used and the answer's rank on clean and corrupt prompts."""
    clean, corrupt, used = fact_pairs(tokenizer, fact)
    forget, retain = fact_sets(tokenizer, fact)
    data = LocalizationData(model, forget, retain, tokenizer, clean, corrupt, max_batches=None,
                            patch_layers=patch_layers(model, fact), top_neurons=fact.top_neurons)
    guided = localize("guided_patching", data)
    timing = guided.details["timing"]
    with timed(timing, "magnitude"):
        magnitude = localize("act_magnitude", data).details
    scores = {**{part: guided.details[part] for part in PARTS}, "magnitude_heads": magnitude["raw_heads"], "magnitude_neurons": magnitude["raw_neurons"]}
    info = {"timing_s": {k.removesuffix("_s"): v for k, v in timing.items() if not k.endswith("_cpu_s")},
            "corrupt_subjects": used, "n_layers": model.config.num_hidden_layers,
            "n_heads": model.config.num_attention_heads, "d_mlp": model.config.intermediate_size,
            "clean_answer_rank": answer_ranks(model, clean), "corrupt_answer_rank": answer_ranks(model, corrupt)}
    return scores, info


def localize_fact(session: Session, fact: FactSpec) -> Path:
    """Scores of the fact on the real model (cached; see ``fact_scores``), its forwards and
    backwards in bf16 autocast when the profile's ``real_bf16`` says so."""
    bf16 = session.profile.real_bf16
    artifact = Artifact(session.paths.artifacts, "real_localize", fact.subject.replace(" ", "_"),
                        {**asdict(fact), "bf16": bf16})

    def make(tmp: Path) -> None:
        from unlearnlab.core.real_model import load_real_model

        model, tokenizer = load_real_model(fact.model, device=session.device)
        with bf16_autocast(bf16, session.device):
            scores, info = fact_scores(model, tokenizer, fact)
        write_json_atomic(tmp / "scores.json", scores)
        write_json_atomic(tmp / "info.json", info)

    return artifact.build(make)


def load_fact_scores(directory: Path) -> tuple[dict[str, dict[str, float]], dict]:
    return read_json(directory / "scores.json"), read_json(directory / "info.json")


def fact_grids(scores: dict[str, dict[str, float]], info: dict) -> dict[str, dict[str, torch.Tensor]]:
    """Heatmap grids per method (heads and neurons) for ``plots.localize.score_heatmaps``."""
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
