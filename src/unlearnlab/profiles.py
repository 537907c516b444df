"""Profiles pick sizes, steps, seeds and sweeps: ``smoke`` (minutes, tests), ``default`` (every
figure of the paper on a 2-core CPU) and ``gpu`` (larger models and more seeds on one GPU)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from unlearnlab.models import ModelSize

PROFILE_NAMES = ("smoke", "default", "gpu")


@dataclass(frozen=True)
class Profile:
    """Every knob that differs between profiles. Notebooks read one of these, nothing else."""

    name: str
    device: str = "cpu"
    bf16: bool = False
    compile: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    # data
    eval_fraction: float = 0.1
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
    retain_threshold: float = 0.1
    # localization (20_localize) and Targeted-UNDO (41_targeted_undo)
    localizers: tuple[str, ...] = ("weight_diff", "gradient_norm", "fisher", "act_magnitude", "act_patching",
                                   "attribution", "semi_nmf", "random")
    localize_items: int = 256  # forget and retain examples each for activation/gradient scores
    patching_items: int = 64  # clean/corrupt equation pairs
    localize_reference_lr: float = 1e-4  # the short GradDiff run behind the weight difference
    mask_budgets: tuple[float, ...] = (0.01, 0.05, 0.2, 0.5)
    causal_random_draws: int = 5
    targeted_sources: tuple[str, ...] = ("weight_diff", "fisher", "attribution", "semi_nmf", "random")
    targeted_budgets: tuple[float, ...] = (0.05, 0.2)
    targeted_alphas: tuple[float, ...] = (1.0,)
    targeted_train_only: tuple[bool, ...] = (False,)
    real_patch_layers: tuple[int, ...] | None = None  # SmolLM2 layers patched exactly (None: all 30)
    # relearning attack
    attack_lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    attack_steps: int = 60
    attack_eval_every: int = 10
    attack_train_items: int = 64
    attack_batch_size: int = 16

    @property
    def train_kwargs(self) -> dict:
        """Hardware settings every TrainConfig of this profile shares."""
        return {"bf16": self.bf16, "compile": self.compile}


_PROFILES: dict[str, Profile] = {
    "default": Profile(name="default"),
    "smoke": Profile(
        name="smoke", seeds=(0,), n_english=600, n_english_eval=100, word_problems_per_fact=1,
        model=ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64),
        pretrain_steps=40, pretrain_batch_size=32, batch_size=16, unlearn_steps=5, unlearn_lrs=(1e-3,),
        undo_alphas=(0.5,), distill_budgets=(5, 10), distill_eval_every=5, attack_lrs=(1e-3,), attack_steps=6,
        attack_eval_every=3, attack_train_items=16, attack_batch_size=8,
        localize_items=32, patching_items=8, mask_budgets=(0.05, 0.2), causal_random_draws=2,
        targeted_sources=("weight_diff", "random"), targeted_budgets=(0.2,), targeted_train_only=(False, True),
        real_patch_layers=(0, 23, 29),
    ),
    "gpu": Profile(
        name="gpu", device="cuda", bf16=True, compile=True, seeds=(0, 1, 2, 3, 4),
        n_english=40000, model=ModelSize(d_model=512, n_layers=6, n_heads=8, d_mlp=1536),
        pretrain_steps=4000, pretrain_lr=1e-3, pretrain_batch_size=256, batch_size=64, unlearn_steps=200,
        distill_budgets=(100, 200, 400, 800, 1600), distill_lr=3e-4, distill_eval_every=50, attack_steps=100,
        localize_items=1024, patching_items=256, causal_random_draws=10,
        targeted_sources=("weight_diff", "gradient_norm", "fisher", "act_magnitude", "act_patching",
                          "attribution", "semi_nmf", "random"),
        targeted_budgets=(0.01, 0.05, 0.2, 0.5), targeted_alphas=(0.5, 0.8, 1.0), targeted_train_only=(False, True),
    ),
}


def get_profile(name: str, **overrides) -> Profile:
    """The named profile, optionally with fields overridden (e.g. for a quick experiment)."""
    if name not in _PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    profile = _PROFILES[name]
    unknown = set(overrides) - set(profile.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown profile field(s) {sorted(unknown)} for profile {name!r}")
    return replace(profile, **overrides)
