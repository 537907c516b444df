"""TofuConfig: the TOFU study's settings in a profile (notebook 36, TOFU-format world).

The default profile runs the generated world (``data.tofu_world``) at a size a LoRA fine-tune of
SmolLM2-135M-Instruct learns in the default profile's CPU share; ``source`` points at a folder of
the real TOFU files instead (the gpu profile).
"""

from __future__ import annotations

from dataclasses import dataclass

# How the learning rates below were fixed: not chosen at run time and not tuned for this study (no
# pilot fitted the CPU budget); 3e-3 is the private study's real-tier rate for GradDiff and NPO
# (experiments/private/config.py, REAL_LR_PILOT), taken for every method. protocol.py states it.
LR_SOURCE = "private.real_methods (REAL_LR_PILOT), the same rate for every method; not tuned here"


@dataclass(frozen=True)
class TofuConfig:
    """TOFU protocol on SmolLM2 with LoRA: base, retain-only oracle, five unlearning methods (notebook 36)."""

    # "" : the generated TOFU-format world below; a folder: the real TOFU's <split>.json files
    # (python -m unlearnlab.data.benchmarks fetches them where a network is available)
    source: str = ""
    # generated world: 20 authors x 4 questions; forget01/05/10 = 1/1/2 authors (TOFU: 2/10/20 of 200).
    # Cut from 40 authors / 40 steps for the CPU budget: that base alone took 711 s wall (40 steps, 2026-12-04,
    # a 2-core CPU shared with three other jobs; final answer loss 0.25)
    authors: int = 20
    qa_per_author: int = 4
    perturbed: int = 3  # wrong answers per question (TOFU: 5)
    world_seed: int = 0
    # forget splits unlearned and scored; the default affords one (each adds an oracle and a method grid)
    forget_splits: tuple[str, ...] = ("forget10",)
    model: str = "smollm2"
    lora_layers: int = 10  # the last layers (the backward pass stops there: half a CPU step)
    lora_r: int = 16
    steps: int = 20  # base and oracle fine-tunes: 320 questions seen, 4 passes over the 80 of full
    lr: float = 3e-3
    batch_size: int = 16
    # (method, lr); RefusalKL learns an "I don't know" answer on the forget questions (TOFU's IDK)
    methods: tuple[tuple[str, float], ...] = (("GradDiff", 3e-3), ("NPO", 3e-3), ("SimNPO", 3e-3), ("RMU", 3e-3),
                                              ("RefusalKL", 3e-3))
    unlearn_steps: int = 5
    unlearn_batch_size: int = 8
    seeds: tuple[int, ...] = (0,)  # LoRA init and data order of base, oracle and unlearning: one set per seed
    utility_items: int = 0  # rows of each utility set (retain, real authors, world facts) scored; 0: all
    rouge_items: int = 4  # questions per set whose greedy answer is ROUGE-scored (generation is the slow part)
    max_new_tokens: int = 20  # a one-sentence gold answer fits; greedy decoding stops at the end token
    quant_schemes: tuple[str, ...] = ("int8", "int4")  # attacks.quantize schemes, forget metrics on each
    bf16: bool = True  # bf16 autocast in training and teacher-forced scoring (generation runs in float32)
