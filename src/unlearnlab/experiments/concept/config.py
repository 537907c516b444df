"""ConceptConfig: the concept study's settings in a profile. Masked LoRA concept removal on a real model (notebook 33)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConceptConfig:
    """Masked LoRA concept removal on a real model (notebook 33)."""

    # masked LoRA concept removal on a real model (experiments/concept.py, 33_masked_lora): the
    # default grid is reduced to fit its CPU share; the gpu profile runs the full one
    name: str = "Inception"
    model: str = "smollm2"
    # fisher: concept Fisher / retain Fisher; gradient_norm: mean |gradient| on concept prompts only.
    # The first one's mask sets the modules; default trains only its mask (masked:gradient_norm
    # would cost ~+70 s of the 8-minute share), the gpu grid trains both
    localizers: tuple[str, ...] = ("fisher", "gradient_norm")
    granularity: str = "neuron"  # or "head+neuron"
    budget: float = 0.005  # fraction of parameters in the mask (SmolLM2: 389 of 46,080 neurons)
    variants: tuple[str, ...] = ("masked:fisher", "masked:random", "lora", "GradDiff", "NPO")
    seeds: tuple[int, ...] = (0, 1, 2)
    train_kinds: tuple[str, ...] = ("direct", "paraphrase")
    lora_r: int = 8
    lora_alpha: int = 16
    # Pilot on SmolLM2, seed 0, lrs {1e-3, 3e-3, 1e-2}: 8 steps of 2 + 2 examples; masked LoRA
    # (fisher or random neurons) needs 1e-2 to learn the neutral answer (3e-3: half learned),
    # plain LoRA suppresses at 3e-3 and refuses neighbour films at 1e-2; GradDiff/NPO are broken
    # at 1e-2 (27-38 % degenerate answers) and barely move at 1e-3. Retain weight 1 let every
    # masked variant refuse neighbour films too; 5 kept masked:fisher specific.
    steps: int = 8
    lr: float = 1e-2
    variant_lrs: tuple[tuple[str, float], ...] = (("lora", 3e-3), ("GradDiff", 3e-3), ("NPO", 3e-3))
    batch_size: int = 2
    retain_weight: float = 5.0
    localize_batches: int = 2
    max_new_tokens: int = 24
    relearn_variants: tuple[str, ...] = ("masked:fisher", "lora")
    relearn_steps: int = 4
    relearn_lr: float = 1e-4
    relearn_eval_every: int = 1  # every step: the relearning area and steps-to-base read the whole curve
    relearn_items: int = 4
    # bf16 autocast in training and relearning: faster steps on the reference CPU (AVX-512 BF16),
    # so that 5 variants x 3 seeds fit the notebook's 8-minute share
    bf16: bool = True
    workers: int = 2
