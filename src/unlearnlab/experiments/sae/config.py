"""SAEStudyConfig: the sae study's settings in a profile: SAE feature unlearning on the synthetic hazard
world and on SmolLM2 (notebook 34), and the configs of its parts derived from them in one place
(the world, the SAE, its training, the sweep grid, the baselines, the relearning attack)."""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearnlab.attacks.relearn import RelearnConfig
from unlearnlab.core.models import ModelSize
from unlearnlab.core.real_model import SMOLLM2_135M_CONFIG
from unlearnlab.data.hazard import HazardConfig
from unlearnlab.experiments.sae.validation import SuiteCounts
from unlearnlab.methods.sae_clamp import SweepGrid
from unlearnlab.sae import model as sae_model
from unlearnlab.sae.train import SAETrainConfig

SMOLLM2_LAYERS = SMOLLM2_135M_CONFIG["num_hidden_layers"]  # the depth the real tier's layer was chosen for

UNTRAINED = "-untrained"  # e.g. "relu-untrained": the SAE at initialisation (the seed's runs logged 0 steps)
RETAIN_WEIGHT = {"GradDiff": 5.0}  # as the arithmetic study's (experiments.arithmetic.RETAIN_WEIGHT)
# where the synthetic baselines' grid (rmu_*, graddiff_*, unlearn_steps) came from: a pilot on one model's
# validation questions, before the run whose tables report it (a one-off pilot script, not kept; 1 CPU thread)
BASELINE_PILOT = {
    "date": "2026-12-03",
    "model": "seed 0's hazard model of the default run of 4b348e5 (world (16, 8), 4000 steps)",
    "split": "validation questions (alternate rule: 14 forget, 27 side-effect)",
    "rule": "keep grid points that move validation forget accuracy at validation side effects from >= 0.99 "
            "down to >= 0.90 x base, so that each matched level has candidates",
    # then the chosen grid on seed 2's model of the new world (24, 8) at 6,000 steps, 16 validation forget /
    # 24 side questions (the first counts tried; a one-off check, not kept): GradDiff lr 1e-3 at retain
    # weight 20 or 50: 0.69 / 1.0; RMU: validation forget 1.0 at every point keeping side >= 0.875 (lowest
    # 0.69 at side 0.79: lr 1e-2, steering 8); RMU retain weight 1000 (lr 3e-3..3e-2, steering 8) or
    # steering layer 2 also kept forget at 1.0. No grid change followed.
    "check": "the chosen grid on seed 2's model of this world, validation questions only: GradDiff moved "
             "validation forget accuracy at validation side effects >= 0.99 x base, RMU at none >= 0.90",
}


# known questions per hazard model of world (24, 8) at 9,000 pretraining steps, seeds 0-9, measured with
# `python benchmarks/sae_known_counts.py 24 8 9000 SEED` (2026-12-04; seeds 7 and 9 on 2026-12-03, held-out
# count not printed then): seed -> (known forget, of them held-out (not the attack split), known side).
# Measured before fused AdamW (115a277) changed every model's rounding; since then the full default run of
# 8b9640a (seeds 0-2) knew 59-69 forget / 87-92 side questions, and at 329e8ba (2026-12-04, same command)
# seeds 3, 4, 5, 6 knew 70, 61, 27, 55 forget (held-out 54, 45, 20, 43) / 94, 88, 48, 86 side: seed 5 is below
# the suite (32 held-out), so a replication on seeds 3-5 stopped again (validation.TooFewKnown); seed 7: 63, 50,
# 84. At 12,000 steps (same command, 2026-12-04) seed 5 knows 62 forget (47 held-out) / 86 side, ~154 CPU s per
# model: pretrain_steps is 12,000. Seeds other than 0-7 are not measured at 12,000 steps.
MEASURED_9000 = {0: (71, 54, 96), 1: (67, 52, 88), 2: (67, 49, 90), 3: (68, 51, 87), 4: (71, 53, 93),
                 5: (60, 44, 88), 6: (63, 46, 84), 7: (70, None, 96), 8: (71, 53, 91), 9: (68, None, 96)}


@dataclass(frozen=True)
class SAEStudyConfig:
    """SAE feature unlearning on the synthetic hazard world and on SmolLM2 (notebook 34)."""

    # the synthetic tier: the hazard world (data.hazard), its model, the SAEs and their sweep
    # per seed: an independently pretrained hazard model (init and data order seed s; one world) with its own
    # suite, and from it one SAE per kind, one baseline run per method and lr, one attack per target
    seeds: tuple[int, ...] = (0, 1, 2)
    # forget entities, entities per side-effect domain (x3 relations). (24, 8) and 9,000 pretraining steps
    # replaced (16, 8) and 4,000 so that every model knows the fixed suite below (benchmarks/sae_known_counts.py,
    # one CPU thread; known forget / side questions under all 24 orders, of 72 / 96):
    # (16, 8) at 4,000 steps (default run of 4b348e5), seeds 0-2: 38, 10, 23 / 55, 27, 49;
    # (24, 8) at 6,000 steps (2026-12-03), seeds 0-9: 67, 67, 69, 35, 70, 8, 72, 11, 58, 23 / 90, 95, 83, 37,
    # 95, 17, 95, 27, 75, 30: seeds 5, 7 (and 9 for side questions) below the counts, and the replication on
    # seeds 3-5 stopped (validation.TooFewKnown): some models learn the answer-letter skill late;
    # (24, 8) at 9,000 steps (2026-12-04, ~128 CPU s per model): MEASURED_9000 below.
    # A seed below the counts still stops the run with a one-line error naming the fix.
    world: tuple[int, int] = (24, 8)
    n_english: int = 500
    n_generic: int = 200  # format-only questions ("Which word is a noun?"), see data.hazard.generic_questions
    vocab_size: int = 1000  # values and names become single tokens
    # reading the answer letter is the slow skill: at (16, 8) this model answered ~85 % of questions (identity
    # order) after 4,000 steps and ~1/3 of them under all 24 orders; d=96 needed ~8,000 steps
    model: ModelSize = field(default_factory=lambda: ModelSize(d_model=64, n_layers=3, n_heads=4, d_mlp=168))
    pretrain_steps: int = 12000
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
    # fixed suite sizes per model (validation.SuiteCounts): each model keeps exactly these many known
    # questions per part (None: every known question, cut alternately; sizes then vary by model). 8 + 24
    # held-out forget and 12 + 36 side-effect questions: below what the least-knowing measured model knows
    # (MEASURED_9000: 44 held-out forget, seed 5; 84 side, seed 6), a margin for other seeds. (Were 8 + 16
    # and 12 + 20 at 6,000 steps, before any SAE result of the 9,000-step models was seen.)
    n_val_forget: int | None = 8
    n_test_forget: int | None = 24
    n_val_side: int | None = 12
    n_test_side: int | None = 36
    methods: tuple[str, ...] = ("RMU", "GradDiff")
    # the baselines' grid (baseline_settings): per method, learning rates x steps x its own knob. Widened
    # from lr (3e-4, 1e-3, 3e-3) x 100 steps by the pilot of BASELINE_PILOT (validation questions of one
    # earlier model; val forget / val side as a fraction of base): RMU at steering 2 stayed at 0.79 / 1.0 up
    # to lr 1e-2 and reached 0.64 / 0.96 only at 3e-2; steering 4 at 3e-2: 0.50 / 0.93; steering 8 at 1e-3:
    # 0.64 / 0.96, at 3e-3: 0.50 / 0.81; lr 1e-1: 0.14 / 0.37; steering layer 2 or 300 steps moved nothing
    # more. GradDiff at retain weight 5 lost side effects first (1e-3: 0.71 / 0.81); weight 20 kept them
    # (5e-4: 0.93 / 1.0, 1e-3: 0.57 / 0.93, 3e-3: 0.29 / 0.74), weight 50 at 1e-3: 0.71 / 0.96; 300 steps
    # or weight 1 were worse. 24 runs per model (was 6), ~3.5 s of one CPU thread each in the pilot.
    rmu_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2)
    rmu_steering: tuple[float, ...] = (2.0, 4.0, 8.0)  # |c u| / mean hidden norm (methods.rmu)
    rmu_layers: tuple[int, ...] = (1,)  # steered layer (its MLP and the ones below are trained)
    graddiff_lrs: tuple[float, ...] = (5e-4, 1e-3, 2e-3, 3e-3)
    graddiff_retain_weights: tuple[float, ...] = (5.0, 20.0, 50.0)  # 5: the arithmetic study's weight
    unlearn_steps: tuple[int, ...] = (100,)
    unlearn_batch_size: int = 32
    attack_lrs: tuple[float, ...] = (1e-3,)
    attack_steps: int = 60
    attack_eval_every: int = 10
    attack_batch_size: int = 16
    attack_train_items: int = 64
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
    # an SAE in SAELens' format (a folder with cfg.json + sae_weights.safetensors, e.g. another run's
    # <sae_real artifact>/saelens) for real_model, used instead of training one; "": train (sae.saelens_format)
    real_sae_path: str = ""
    # RMU/GradDiff on SmolLM2 are full fine-tunes of a 135M model: a few steps at one lr on a CPU
    real_unlearn_steps: int = 8
    real_unlearn_batch_size: int = 4
    # seed 0, 8 steps at 1e-4: RMU changed nothing (forget 1.0, side 1.0), GradDiff broke side effects;
    # each (method, lr) costs ~14 s of an idle 2-core CPU
    real_unlearn_lrs: tuple[float, ...] = (3e-5, 1e-4, 3e-4)
    real_methods: tuple[str, ...] = ("RMU", "GradDiff")

    # ------------------------------------------------------------------ derived configs

    def world_config(self, seed: int = 0) -> HazardConfig:
        return HazardConfig(self.world[0], self.world[1], 0.25, seed, self.n_english, self.n_generic,
                            self.vocab_size)

    def sae_architecture(self, d_model: int, kind: str) -> sae_model.SAEConfig:
        """The synthetic tier's SAE of ``kind`` (``relu-untrained``: a ReLU SAE left untrained)."""
        return sae_model.SAEConfig(d_in=d_model, d_sae=self.expansion * d_model, kind=kind.removesuffix(UNTRAINED),
                                   k=self.k, l1_coef=self.l1_coef, site=self.site, layer=self.layer)

    def sae_training(self, kind: str) -> SAETrainConfig:
        return SAETrainConfig(steps=0 if kind.endswith(UNTRAINED) else self.steps, lr=self.lr,
                              batch_size=self.batch_size)

    def grid(self) -> SweepGrid:
        return SweepGrid(self.retain_thresholds, self.n_features, self.multipliers, ablate_directions=True)

    def suite_counts(self) -> SuiteCounts | None:
        """The fixed per-model suite sizes (None when the profile keeps every known question)."""
        counts = (self.n_val_forget, self.n_test_forget, self.n_val_side, self.n_test_side)
        if all(c is None for c in counts):
            return None
        if any(c is None for c in counts):
            raise ValueError("sae.n_val_forget, n_test_forget, n_val_side and n_test_side are set together")
        return SuiteCounts(*counts)

    def baseline_settings(self, method: str) -> list[dict]:
        """Every grid point of ``method`` on the synthetic tier (``lr``, ``steps`` and RMU's
        ``steering_scale`` and ``layer`` or GradDiff's ``retain_weight``): what validation chooses from."""
        if method == "RMU":
            knobs = {"steering_scale": self.rmu_steering, "layer": self.rmu_layers}
            lrs = self.rmu_lrs
        elif method == "GradDiff":
            knobs, lrs = {"retain_weight": self.graddiff_retain_weights}, self.graddiff_lrs
        else:
            raise ValueError(f"no synthetic baseline grid for {method!r} (RMU, GradDiff)")
        out = [{"lr": lr, "steps": steps} for lr in lrs for steps in self.unlearn_steps]
        for name, values in knobs.items():
            out = [{**row, name: v} for row in out for v in values]
        return out

    def baseline(self, method: str, setting: dict, seed: int) -> dict:
        """RMU / GradDiff config of one grid point (``baseline_settings``) on the synthetic tier."""
        config = _baseline(method, setting["lr"], seed, setting["steps"], self.unlearn_batch_size, self.layer)
        return {**config, **{k: v for k, v in setting.items() if k not in ("lr", "steps")}}

    def attack(self) -> RelearnConfig:
        return RelearnConfig(lrs=self.attack_lrs, steps=self.attack_steps, eval_every=self.attack_eval_every,
                             batch_size=self.attack_batch_size, n_items=self.attack_train_items)

    def real_layer_in(self, n_layers: int) -> int:
        """The real tier's SAE (and RMU) layer in a model of ``n_layers`` layers: ``real_layer`` was
        chosen for SmolLM2's 30; a model of another depth gets the same relative depth."""
        if n_layers == SMOLLM2_LAYERS:
            return self.real_layer
        return min(n_layers - 1, round(self.real_layer * n_layers / SMOLLM2_LAYERS))

    def real_sae_architecture(self, d_model: int, n_layers: int = SMOLLM2_LAYERS) -> sae_model.SAEConfig:
        return sae_model.SAEConfig(d_in=d_model, d_sae=self.real_expansion * d_model, kind="topk", k=self.real_k,
                                   site=self.site, layer=self.real_layer_in(n_layers))

    def real_grid(self) -> SweepGrid:
        return SweepGrid(self.real_thresholds, self.real_n_features, self.real_multipliers, self.real_ablate)

    def real_baseline(self, method: str, lr: float, seed: int, n_layers: int = SMOLLM2_LAYERS) -> dict:
        return _baseline(method, lr, seed, self.real_unlearn_steps, self.real_unlearn_batch_size,
                         self.real_layer_in(n_layers))


def _baseline(method: str, lr: float, seed: int, steps: int, batch_size: int, layer: int) -> dict:
    """A baseline's ``get_method`` keywords: all-token losses on corpora, GradDiff's retain weight,
    RMU steering at the SAE's layer."""
    config = {"steps": steps, "lr": lr, "batch_size": batch_size, "answer_only": False}
    if method in RETAIN_WEIGHT:
        config["retain_weight"] = RETAIN_WEIGHT[method]
    if method == "RMU":
        config.update(layer=layer, seed=seed)
    return config
