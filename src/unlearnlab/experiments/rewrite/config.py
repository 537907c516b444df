"""RewriteConfig: the fact-rewrite study's settings in a profile (notebook 32_rewrite_ia3).

Each variant is a registered method (``methods.rewrite.VARIANTS``) built with this config's
``steps``, ``batch_size`` and a seed; the rest sizes the grid, the evaluation and the attack.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RewriteConfig:
    """Fact rewrite on the real model: (IA)3 unlearn-then-learn and its comparisons (notebook 32)."""

    # targets are (subject, relation, new object[, old object]): ten rewrites (issue 16), capitals
    # SmolLM2 answers in all three probed paraphrases (13 of 20 in both float32 and bf16, measured
    # by the probe; France fails one paraphrase in bf16, Italy one in float32; Spain, Egypt,
    # Portugal, Poland, Australia fail in both). Each added target costs one setup and six runs,
    # about a fifth of the five-target grid (566 s in the last default run, before bf16 evaluation)
    targets: tuple[tuple[str, ...], ...] = (
        ("France", "capital", "Lyon"), ("Japan", "capital", "Osaka"), ("Germany", "capital", "Munich"),
        ("China", "capital", "Shanghai"), ("Canada", "capital", "Toronto"), ("Norway", "capital", "Bergen"),
        ("Sweden", "capital", "Gothenburg"), ("Austria", "capital", "Salzburg"), ("Ireland", "capital", "Cork"),
        ("Kenya", "capital", "Mombasa"))
    variants: tuple[str, ...] = ("ia3_two_stage", "ia3_one_stage", "ia3_all", "ia3_random", "lora_local",
                                 "full_ft")
    seeds: tuple[int, ...] = (0,)
    probe_relations: tuple[str, ...] = ("capital", "symbol")
    k: int = 10  # localized modules (the seed's choice)
    steps: int = 6  # per stage; one-stage variants train twice as many
    batch_size: int = 4
    bf16: bool = True  # bfloat16 autocast while training (the reference CPU has AVX-512 BF16)
    localize_prompts: int | None = 8  # F1 paraphrases for gradient and magnitude scores (None: 20)
    eval_train: int | None = 2  # training paraphrases generated for evaluation (None: all 20)
    controls: tuple[int, int] = (3, 3)  # known control facts: same relation, other relations
    probe_tokens: int = 16  # capitals and symbols fit; names of people need 24 (gpu probes those)
    relearn_variants: tuple[str, ...] = ("ia3_two_stage", "full_ft")
    relearn_steps: int = 4
    relearn_lrs: tuple[float, ...] = (1e-5,)
    relearn_eval_every: int = 2
    max_new_tokens: int = 12  # evaluation answers: "The capital of France is Paris." and "... is Au." fit
    model: str = "smollm2"  # core.real_model.load_real_model name (or a local directory)
