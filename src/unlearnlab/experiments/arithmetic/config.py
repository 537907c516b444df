"""ArithmeticConfig: the arithmetic study's settings in a profile (notebooks 00-31, 40, 90)."""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearnlab.attacks.relearn import RelearnConfig
from unlearnlab.core.models import ModelSize
from unlearnlab.data.arithmetic import FORGET_RANGE, RETAIN_RANGE, ArithmeticWorldConfig

SETTING = "arithmetic"  # this study's rows in the results store carry setting=SETTING


@dataclass(frozen=True)
class ArithmeticConfig:
    """The arithmetic world (forget x and /, retain + and -), its tiny Llama, the unlearning
    baselines, UNDO and the relearning attack."""

    # model seeds: seed s pretrains its own base_s and oracle_s (init and data order s); every
    # unlearning, UNDO, Targeted-UNDO and attack run of seed s starts from base_s and is compared
    # with oracle_s, so intervals over seeds are intervals over independent models
    seeds: tuple[int, ...] = (0, 1, 2)
    workers: int = 0  # processes for independent jobs (0: one per core; 1: in this process)
    # data: the world's fields (``world()``); another value is another world, cached apart
    data_seed: int = 0
    retain_range: tuple[int, int] = RETAIN_RANGE  # operands of + and - (inclusive)
    forget_range: tuple[int, int] = FORGET_RANGE  # operands of x and / (inclusive)
    eval_fraction: float = 0.1  # test facts per operation (every table reports these)
    # validation facts per operation: every choice of the study (baseline learning rates, UNDO's
    # stopping step, the worst-case attack learning rate, the best Targeted-UNDO mask) is made on
    # them, never on the test facts (world.py)
    val_fraction: float = 0.1
    word_problems_per_fact: int = 1
    # rows repeated in pretraining: x/÷ are 800 facts to memorise; subtraction (borrows, half
    # as many facts as addition) is the slowest retain operation to learn
    upsample: tuple[tuple[str, int], ...] = (("add", 2), ("sub", 3), ("mul", 4), ("div", 4))
    n_english: int = 3000
    n_english_eval: int = 500
    vocab_size: int = 400
    # models and pretraining
    model: ModelSize = field(default_factory=lambda: ModelSize(d_model=96, n_layers=3, n_heads=4, d_mlp=256))
    pretrain_steps: int = 3000
    pretrain_lr: float = 3e-3
    pretrain_batch_size: int = 128
    # Pretraining and distillation batches packed into rows of this many tokens (0: padded): the
    # same examples per step and the same loss, on ~30 % fewer positions (41 % of a padded batch
    # is padding); 1.55x faster per pretraining step, same losses to 4 decimals (lead, 2026-12-03)
    pack_width: int = 64
    batch_size: int = 32
    # unlearning baselines
    unlearn_steps: int = 100
    unlearn_lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    # UNDO
    undo_alphas: tuple[float, ...] = (0.1, 0.3, 0.6)
    distill_budgets: tuple[int, ...] = (50, 150, 400)
    # 1e-3 broke the teacher itself: distilling the unnoised teacher (α = 0) dropped retain
    # accuracy from 97 % to 76 % in 50 steps; at 3e-4 it stays at 94-96 %
    distill_lr: float = 3e-4
    distill_eval_every: int = 25  # resolution of "steps to recover"; divides every budget
    # a warm-up fixed in steps (not a fraction of the run), so with the constant schedule the
    # snapshot after b steps of a long run is a run of budget b (8 = 2 % of the old 400 steps)
    distill_warmup_steps: int = 8
    retain_threshold: float = 0.1
    # global UNDO extended (notebook 41, ``targeted.global_undo``): one long run per (α, seed) that
    # stops when retain accuracy recovers or at ``distill_cap()`` (the pretraining compute), for the
    # α of this ladder in ascending order until one reaches the best Targeted-UNDO mask's robustness;
    # 1.0 is full distillation. Snapshots at ``extend_budgets`` (and the cap) are attacked. Not 1.0
    # here: it is the likeliest never to recover, and three runs to the cap would cost about as much
    # as pretraining all six models (``cost.projection``); the gpu profile adds it.
    extend_alphas: tuple[float, ...] = (0.6, 0.8)
    extend_budgets: tuple[int, ...] = (800, 1600, 3200)
    extend_eval_every: int = 50  # resolution of "steps to recover" beyond the standard budgets
    # relearning attack
    attack_lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    attack_steps: int = 60
    attack_eval_every: int = 10
    attack_train_items: int = 64
    attack_batch_size: int = 16
    # attacks beyond relearning (notebook 40, ``extra_attacks``), on the test items, seconds per model:
    # round-to-nearest weight quantization (``attacks.quantize``) ...
    quant_schemes: tuple[str, ...] = ("int8", "int4")
    # ... linear probes per layer (``attacks.probe``) fitted on the validation items, the reported layer
    # picked by this many folds of the validation facts (never by test accuracy) ...
    probe_folds: int = 2
    # ... and in-context relearning (``attacks.in_context``): k forget-train examples before each test
    # question, capped at what fits the model's context (``model.max_len`` tokens)
    icl_ks: tuple[int, ...] = (0, 1, 4, 16)
    extra_batch_size: int = 64  # evaluation batch of these attacks (no training: only speed)

    def world(self) -> ArithmeticWorldConfig:
        """The config of the world this study generates and trains on."""
        return ArithmeticWorldConfig(seed=self.data_seed, eval_fraction=self.eval_fraction,
                                     val_fraction=self.val_fraction,
                                     word_problems_per_fact=self.word_problems_per_fact, n_english=self.n_english,
                                     n_english_eval=self.n_english_eval, vocab_size=self.vocab_size,
                                     retain_range=self.retain_range, forget_range=self.forget_range)

    def distill_cap(self) -> int:
        """Most distillation steps an extended run may take: the pretraining compute in sequences
        (``pretrain_steps x pretrain_batch_size``) at the distillation batch size, rounded down to
        a multiple of ``extend_eval_every``."""
        steps = self.pretrain_steps * self.pretrain_batch_size // self.batch_size
        return max(self.extend_eval_every, steps - steps % self.extend_eval_every)

    def extend_snapshots(self) -> tuple[int, ...]:
        """Snapshot steps of an extended run: ``extend_budgets`` below the cap, and the cap."""
        cap = self.distill_cap()
        return tuple(sorted({b for b in self.extend_budgets if b < cap} | {cap}))

    def relearn(self) -> RelearnConfig:
        """The relearning attack's budget (its hash keys the stored attack results)."""
        return RelearnConfig(lrs=self.attack_lrs, steps=self.attack_steps, eval_every=self.attack_eval_every,
                             batch_size=self.attack_batch_size, n_items=self.attack_train_items)
