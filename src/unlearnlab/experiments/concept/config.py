"""The concept study's settings (notebook 33, masked LoRA concept removal on a real model): the
profile's ``concept`` section, and what each variant of its grid trains.

A variant is a label (a row of every table: ``masked:fisher``, ``lora``, ``GradDiff``, ...) that
stands for a methods-registry name plus its config (``variant_table``).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnlab.data.concepts import CONCEPTS

BASE = "base"  # the unedited model: a row of every table, never trained


@dataclass(frozen=True)
class Variant:
    """How one variant of the grid trains.

    ``method``: its methods-registry name; ``mask``: for ``MaskedLoRA``, the localizer whose
    whole-neuron mask confines the adapter (``"random"``: as many random neurons, the control);
    ``refusal``: the forget targets are the concept's neutral answer (``False``: the base model's
    own answers, which GradDiff and NPO push down). Every variant but ``MaskedLoRA`` trains a
    plain LoRA of the same rank on the modules of the reference mask.
    """

    method: str
    mask: str = ""
    refusal: bool = True

    @property
    def masked(self) -> bool:
        return self.method == "MaskedLoRA"


def variant_table(localizers: tuple[str, ...]) -> dict[str, Variant]:
    """Every variant label a grid with ``localizers`` accepts, and what it trains: masked LoRA on
    each localizer's neurons and on random ones, ``RefusalKL`` on a plain LoRA (``lora``), and
    GradDiff and NPO on the same plain LoRA."""
    masked = {f"masked:{m}": Variant("MaskedLoRA", mask=m) for m in (*localizers, "random")}
    return {**masked, "lora": Variant("RefusalKL"), "GradDiff": Variant("GradDiff", refusal=False),
            "NPO": Variant("NPO", refusal=False)}


@dataclass(frozen=True)
class ConceptConfig:
    """Masked LoRA concept removal on a real model (notebook 33). The default grid is reduced to
    fit its CPU share; the gpu profile runs the full one."""

    # None: the knowledge screen chooses the film (``screen.choose``: the first of ``candidates``
    # whose direct and paraphrased training prompts the base model answers on >= screen_threshold,
    # else the best); a name ("Inception", the study's first film) forces it
    name: str | None = None
    candidates: tuple[str, ...] = tuple(CONCEPTS)  # the screen's fixed order (data.concepts.CONCEPTS)
    screen_threshold: float = 0.8
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
    relearn_eval_every: int = 1  # every step: the relearning area reads the whole curve
    relearn_items: int = 4
    # bf16 autocast in training and relearning: faster steps on the reference CPU (AVX-512 BF16),
    # so that 5 variants x 3 seeds fit the notebook's 8-minute share
    bf16: bool = True
    workers: int = 2  # one-thread processes for the grid on a CPU (1: in turn, in this process)

    def __post_init__(self) -> None:
        unknown = [c for c in self.candidates if c not in CONCEPTS]
        if unknown or not self.candidates:
            raise ValueError(f"screen candidates {unknown} are not in data.concepts.CONCEPTS (or none given)")
        known = variant_table(self.localizers)
        bad = [v for v in self.variants + self.relearn_variants if v not in known]
        if bad:
            raise ValueError(f"unknown variants {bad}; known: {', '.join(known)}")

    def variant(self, label: str) -> Variant:
        """What variant ``label`` trains (``variant_table``)."""
        return variant_table(self.localizers)[label]

    def lr_of(self, variant: str) -> float:
        """The learning rate of ``variant``: its own from ``variant_lrs``, else ``lr``."""
        return dict(self.variant_lrs).get(variant, self.lr)

    @property
    def reference_localizer(self) -> str:
        """The localizer whose mask sets the modules of plain LoRA, GradDiff and NPO."""
        return self.localizers[0]

    @property
    def reference_variant(self) -> str:
        """The masked LoRA variant on the reference localizer's neurons (the headline one)."""
        return f"masked:{self.reference_localizer}"

    @property
    def trained_masks(self) -> set[str]:
        """The localizers (and ``"random"``) whose masks the grid trains masked LoRA in."""
        return {spec.mask for spec in map(self.variant, self.variants) if spec.masked}
