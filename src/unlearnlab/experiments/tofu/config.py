"""TofuConfig: the TOFU study's settings in a profile (notebook 36, TOFU-format world).

The default profile runs the generated world (``data.tofu_world``) at a size a LoRA fine-tune of
SmolLM2-135M-Instruct learns in the default profile's CPU share; ``source`` points at a folder of
the real TOFU files instead (the gpu profile).
"""

from __future__ import annotations

from dataclasses import dataclass

# How the learning rates below were fixed: not chosen at run time. The unlearning rate 3e-3 is the private
# study's real-tier rate for GradDiff and NPO (experiments/private/config.py, REAL_LR_PILOT), taken for every
# method. The fine-tune rate was 3e-3 too until a first default run (2026-12-04) showed that base adapter
# answering no real-author question (greedy answers such as "Who has written 1984?"; real-author ROUGE 0, so
# every model's utility 0); it was then lowered to 1e-3 with 30 steps of 8 (one pilot, judged on those same
# real-author and world-fact answers, which are reported utility items: a change made after seeing results,
# stated in the protocol). protocol.py prints both.
FIRST_FINETUNE_LR = 3e-3  # the fine-tune rate of that first run (the paper states the change)
LR_SOURCE = ("unlearning: private.real_methods (REAL_LR_PILOT), the same rate for every method, not tuned here; "
             "fine-tune: 1e-3, lowered from 3e-3 after a first run's base adapter lost every real-author answer "
             "(a change made after seeing those utility items)")


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
    steps: int = 30  # base and oracle fine-tunes: 240 questions seen, 3 passes over the 80 of full
    lr: float = 1e-3  # LR_SOURCE: lowered from 3e-3 after a first run
    batch_size: int = 8
    # (method, lr); RefusalKL learns an "I don't know" answer on the forget questions (TOFU's IDK)
    methods: tuple[tuple[str, float], ...] = (("GradDiff", 3e-3), ("NPO", 3e-3), ("SimNPO", 3e-3), ("RMU", 3e-3),
                                              ("RefusalKL", 3e-3))
    unlearn_steps: int = 5
    unlearn_batch_size: int = 8
    seeds: tuple[int, ...] = (0,)  # LoRA init and data order of base, oracle and unlearning: one set per seed
    utility_items: int = 0  # rows of each utility set (retain, real authors, world facts) scored; 0: all
    rouge_items: int = 16  # questions per set whose greedy answer is ROUGE-scored (batched greedy generation)
    max_new_tokens: int = 20  # a one-sentence gold answer fits; greedy decoding stops at the end token
    quant_schemes: tuple[str, ...] = ("int8", "int4")  # attacks.quantize schemes, forget metrics on each
    bf16: bool = True  # bf16 autocast in training and teacher-forced scoring (generation runs in float32)
