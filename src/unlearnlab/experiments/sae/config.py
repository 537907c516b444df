"""SAEConfig: the sae study's settings in a profile. SAE feature unlearning on the synthetic hazard world and on SmolLM2 (notebook 34)."""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearnlab.core.models import ModelSize


@dataclass(frozen=True)
class SAEConfig:
    """SAE feature unlearning on the synthetic hazard world and on SmolLM2 (notebook 34)."""

    # SAE feature-level unlearning on the synthetic hazard world (experiments/sae.py, 34_sae)
    world: tuple[int, int] = (16, 8)  # forget entities, entities per side-effect domain (x3 relations)
    n_english: int = 500
    n_generic: int = 200  # format-only questions ("Which word is a noun?"), see data.hazard.generic_questions
    vocab_size: int = 1000  # values and names become single tokens
    # reading the answer letter is the slow skill: this model answers ~85 % of questions (identity
    # order) after 4,000 steps and ~1/3 of them under all 24 orders; d=96 needed ~8,000 steps
    model: ModelSize = field(default_factory=lambda: ModelSize(d_model=64, n_layers=3, n_heads=4, d_mlp=168))
    pretrain_steps: int = 4000
    pretrain_lr: float = 3e-3
    pretrain_batch_size: int = 16
    mcq_orders: int = 12  # choice orders per question in pretraining (of 24)
    binding_orders: int = 6  # "Which option is <value>?" questions per fact: teach the letter lookup
    qa_repeats: int = 2  # question -> value pairs
    corpus_repeats: int = 1
    site: str = "resid_post"
    layer: int = 1
    kinds: tuple[str, ...] = ("relu", "topk", "relu-untrained")  # untrained: the seed's 0-step SAEs
    expansion: int = 8
    k: int = 16
    l1_coef: float = 3e-3
    steps: int = 600
    lr: float = 3e-3
    batch_size: int = 1024
    rules: tuple[str, ...] = ("frequency", "kl", "attribution")
    # retain corpus of the feature statistics: generic text (SAEBench: WikiText), or that plus text in
    # the evaluation's question format (features firing on the format then count as retain features)
    retain_sets: tuple[str, ...] = ("text", "text+mcq")
    retain_thresholds: tuple[float, ...] = (0.001, 0.01)
    # SAEBench's (10, 20); 50 (gpu) selected at most 23 features here (the retain filter caps it)
    n_features: tuple[int, ...] = (10, 20)
    multipliers: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0)  # SAE feature units (inputs scaled to E|x|² = d)
    methods: tuple[str, ...] = ("RMU", "GradDiff")
    unlearn_lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    attack_lrs: tuple[float, ...] = (1e-3,)
    attack_side_ratio: float = 0.90  # attack each family's best configuration at side effects >= this x base
    # the real tier: fact-probe questions for SmolLM2, one relation forgotten
    real_model: str = "smollm2"
    real_forget: str = "capital"
    real_facts: int | None = 6  # questions per relation (None: all)
    # facts per relation in the forget/retain text (None: all 88): its statistics, attribution and the
    # SAE's activations cost SmolLM2 forward passes (all facts: SAE + scores took ~9 min of CPU)
    real_corpus_facts: int | None = 8
    real_all_orders: bool = False  # False: the 4 cyclic orders instead of all 24 (CPU cost)
    real_cloze: bool = True  # SmolLM2-135M answers letter questions at chance (0/12 known, measured)
    real_layer: int = 12
    real_expansion: int = 4
    real_k: int = 32
    real_steps: int = 200
    real_batch_size: int = 256  # activation rows a step (~8k training tokens; 1024 cost 4.6 min of CPU)
    real_thresholds: tuple[float, ...] = (0.01,)
    real_n_features: tuple[int, ...] = (10,)
    # seed 0, all facts: multiplier 10 took forget accuracy to 0.2 but side effects to 0.74, 40 lower still
    real_multipliers: tuple[float, ...] = (2.0, 10.0)
    real_ablate: bool = False  # decoder-direction ablation too (one more pass per selection)
    real_seeds: tuple[int, ...] = (0,)  # one SAE and one baseline run per lr on a CPU
    # RMU/GradDiff on SmolLM2 are full fine-tunes of a 135M model: a few steps at one lr on a CPU
    real_unlearn_steps: int = 8
    real_unlearn_batch_size: int = 4
    # seed 0, 8 steps at 1e-4: RMU changed nothing (forget 1.0, side 1.0), GradDiff broke side effects;
    # each (method, lr) costs ~14 s of an idle 2-core CPU
    real_unlearn_lrs: tuple[float, ...] = (3e-5, 1e-4, 3e-4)
    real_methods: tuple[str, ...] = ("RMU", "GradDiff")
