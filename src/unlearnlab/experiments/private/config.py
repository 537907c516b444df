"""PrivateConfig: the private study's settings in a profile (notebook 35, private records).

The synthetic tier (``run``) reads the plain fields; the real tier (``real``: LoRA on SmolLM2)
reads the ``real_*`` fields, plus ``min_forget`` and ``mia_k`` which both tiers share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearnlab.core.models import ModelSize

# How the learning rates fixed below (``methods``, ``real_methods``), run.METHOD_CONFIG's retain weights
# and the default attack rate were chosen: by hand in pilots of 2026-11 (commits d6e54f8, 8b1b054), before
# the results now reported and before the world had validation items, on the held-out (test) paraphrase
# the tables report; no rule re-derives them at run time (that would need a grid of learning rates, i.e.
# more training runs). ``protocol.py`` and the paper state this; the values are what the prose quotes.
LR_PILOT = {"ratio": 0.10, "seed": 0, "steps": 40, "retain_drop": 0.1, "date": "2026-11"}
REAL_LR_PILOT = {"seed": 0, "steps": 10, "lrs": (1e-3, 3e-3), "date": "2026-11"}


@dataclass(frozen=True)
class PrivateConfig:
    """Private records: synthetic SOAP notes, forget splits, membership inference, relearning (notebook 35)."""

    # synthetic tier: the medical world (data/medical_world.py, one world), per seed a public pretraining
    # (init and data order of that seed), then that seed's base/oracle fine-tunes, unlearning per forget
    # ratio from that base, MIA, relearning; CIs over these independent models
    public_clients: int = 100
    clients: int = 100  # private clients of the base model ("full")
    holdout_clients: int = 30  # never trained: the non-members of membership inference
    forget_ratios: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20)
    min_forget: int = 2  # so that relearning on some forget clients leaves others to score
    n_english: int = 300
    vocab_size: int = 1024
    model: ModelSize = field(default_factory=lambda: ModelSize(d_model=128, n_layers=2, n_heads=4,
                                                                       d_mlp=384, max_len=256))
    batch_size: int = 16  # packed rows of max_len tokens
    # constant lr; memorising clients is a late transition whose step varies with the data: one
    # public model answered 76 % of held-out diagnoses at step 250, another 35 % at 280
    pretrain_steps: int = 400
    pretrain_lr: float = 1e-2
    finetune_steps: int = 120
    finetune_lr: float = 1e-2
    # (method, lr), fixed by the pilot of LR_PILOT (not chosen at run time): at the 10 % split, seed 0, 40
    # steps, the lowest forget QA whose retain QA stayed within 0.1 of the base's 0.36, both on the test
    # paraphrase of that time (GradDiff 3e-3: 0.18/0.29; NPO 1e-3: 0.20/0.32; SimNPO 3e-3: 0.05/0.30; RMU
    # 1e-2: 0.30/0.30; NPO 3e-3 reached 0.05 but kept 0.15 retain); retain weights in run.METHOD_CONFIG
    # UNDO is not in the default grid: 12 more jobs (4 ratios x 3 seeds, 120 distillation steps on
    # packed rows each) would add an estimated ~100 s to a notebook measured at 377 s of 480 before
    # RMU joined it; smoke and gpu run it
    methods: tuple[tuple[str, float], ...] = (("GradDiff", 3e-3), ("NPO", 1e-3), ("SimNPO", 3e-3),
                                                      ("RMU", 1e-2))
    undo_teacher: str = "GradDiff"  # UNDO noises and distills this method's unlearned model
    undo_alpha: float = 0.5
    undo_steps: int = 120  # budget; stops earlier once retain QA is back near the teacher's
    seeds: tuple[int, ...] = (0, 1, 2)  # independent public/base/oracle models, one set per seed
    unlearn_steps: int = 40
    unlearn_batch_size: int = 8
    retain_eval_clients: int = 50
    mia_k: float = 0.2
    # 1e-3 was the worst case in 34 of 36 method runs when (1e-3, 3e-3) were both run (seed 0-2, all
    # ratios, measured on the test items in the pilot); with several rates (gpu sweeps three) the
    # attacker's rate is chosen per model on the validation paraphrase (evaluate.attack_summary)
    relearn_lrs: tuple[float, ...] = (1e-3,)
    relearn_steps: int = 15
    relearn_eval_every: int = 5
    workers: int = 2  # one-thread processes for the fine-tunes and the method grid
    # real tier (real.py): LoRA on SmolLM2 learns members' questions
    real_model: str = "smollm2"
    real_clients: int = 20  # members: forget + retain
    real_holdout: int = 10  # non-members of membership inference
    real_ratio: float = 0.2
    real_fields: tuple[str, ...] = ("diagnosis", "medication")
    real_lora_layers: int = 10  # the last layers; the backward pass stops below them
    real_lora_r: int = 16
    real_steps: int = 40
    real_lr: float = 3e-3
    real_batch_size: int = 16
    # mix the clients' notes (first real_note_words words) into the base/oracle adapters'
    # training, unlearning and relearning, with note-level MIA and verbatim probes; off in default,
    # estimated +120-150 s of the 480 s budget: a 48-word note is ~4x a question's tokens; the
    # fine-tunes batch notes apart (+~25 s), but the methods' batches mix them (every unlearning and
    # relearning step padded to a note, ~3-4x its cost: +~100 s)
    real_train_notes: bool = False
    real_note_words: int = 48
    # fixed by the pilot of REAL_LR_PILOT: 10 steps at 1e-3 left 25-50 % forget QA (base 87.5 %, oracle
    # 0 %), so 3e-3 was taken (the higher rate of the two tried; it does not reach the oracle's 0 %:
    # the tables show what it reaches)
    real_methods: tuple[tuple[str, float], ...] = (("GradDiff", 3e-3), ("NPO", 3e-3))
    real_unlearn_steps: int = 10
    # one seed: the three-seed grid took 346 s of the 8-min budget (bf16, measured); gpu runs five
    real_seeds: tuple[int, ...] = (0,)
    real_relearn_lrs: tuple[float, ...] = (1e-3,)
    real_relearn_steps: int = 8
    real_bf16: bool = True  # bf16 autocast in the real tier's training steps
