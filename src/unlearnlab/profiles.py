"""Profiles pick sizes, steps, seeds and sweeps: ``smoke`` (minutes, tests), ``default`` (every
figure of the paper on a 2-core CPU) and ``gpu`` (larger models and more seeds on one GPU)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from unlearnlab.core.models import ModelSize

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
    # fact rewrite on the real model (experiments/fact_rewrite.py, 32_rewrite_ia3): targets are
    # (subject, relation, new object); the default grid is cut to fit its 10-min CPU share
    # (known to SmolLM2 in all probed paraphrases; Italy and Spain are not: measured by the probe)
    rewrite_targets: tuple[tuple[str, str, str], ...] = (
        ("France", "capital", "Lyon"), ("Japan", "capital", "Osaka"), ("Germany", "capital", "Munich"),
        ("China", "capital", "Shanghai"), ("Canada", "capital", "Toronto"))
    rewrite_variants: tuple[str, ...] = ("ia3_two_stage", "ia3_one_stage", "ia3_all", "ia3_random", "lora_local",
                                         "full_ft")
    rewrite_seeds: tuple[int, ...] = (0,)
    rewrite_probe_relations: tuple[str, ...] = ("capital", "symbol")
    rewrite_k: int = 10  # localized modules (the seed's choice)
    rewrite_steps: int = 6  # per stage; one-stage variants train twice as many
    rewrite_batch_size: int = 4
    rewrite_bf16: bool = True  # bfloat16 autocast while training (the reference CPU has AVX-512 BF16)
    rewrite_localize_prompts: int | None = 8  # F1 paraphrases for gradient and magnitude scores (None: 20)
    rewrite_eval_train: int | None = 2  # training paraphrases generated for evaluation (None: all 20)
    rewrite_controls: tuple[int, int] = (3, 3)  # known control facts: same relation, other relations
    rewrite_probe_tokens: int = 16  # capitals and symbols fit; names of people need 24 (gpu probes those)
    rewrite_relearn_variants: tuple[str, ...] = ("ia3_two_stage", "full_ft")
    rewrite_relearn_steps: int = 4
    rewrite_relearn_lrs: tuple[float, ...] = (1e-5,)
    rewrite_relearn_eval_every: int = 2
    # relearning attack
    attack_lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    attack_steps: int = 60
    attack_eval_every: int = 10
    attack_train_items: int = 64
    attack_batch_size: int = 16
    # masked LoRA concept removal on a real model (experiments/concept.py, 33_masked_lora): the
    # default grid is reduced to fit its CPU share; the gpu profile runs the full one
    concept_name: str = "Inception"
    concept_model: str = "smollm2"
    # fisher: concept Fisher / retain Fisher; gradient_norm: mean |gradient| on concept prompts only.
    # The first one's mask sets the modules; default trains only its mask (masked:gradient_norm
    # would cost ~+70 s of the 8-minute share), the gpu grid trains both
    concept_localizers: tuple[str, ...] = ("fisher", "gradient_norm")
    concept_granularity: str = "neuron"  # or "head+neuron"
    concept_budget: float = 0.005  # fraction of parameters in the mask (SmolLM2: 389 of 46,080 neurons)
    concept_variants: tuple[str, ...] = ("masked:fisher", "masked:random", "lora", "GradDiff", "NPO")
    concept_seeds: tuple[int, ...] = (0, 1, 2)
    concept_train_kinds: tuple[str, ...] = ("direct", "paraphrase")
    concept_lora_r: int = 8
    concept_lora_alpha: int = 16
    # Pilot on SmolLM2, seed 0, lrs {1e-3, 3e-3, 1e-2}: 8 steps of 2 + 2 examples; masked LoRA
    # (fisher or random neurons) needs 1e-2 to learn the neutral answer (3e-3: half learned),
    # plain LoRA suppresses at 3e-3 and refuses neighbour films at 1e-2; GradDiff/NPO are broken
    # at 1e-2 (27-38 % degenerate answers) and barely move at 1e-3. Retain weight 1 let every
    # masked variant refuse neighbour films too; 5 kept masked:fisher specific.
    concept_steps: int = 8
    concept_lr: float = 1e-2
    concept_variant_lrs: tuple[tuple[str, float], ...] = (("lora", 3e-3), ("GradDiff", 3e-3), ("NPO", 3e-3))
    concept_batch_size: int = 2
    concept_retain_weight: float = 5.0
    concept_localize_batches: int = 2
    concept_max_new_tokens: int = 24
    concept_relearn_variants: tuple[str, ...] = ("masked:fisher", "lora")
    concept_relearn_steps: int = 4
    concept_relearn_lr: float = 1e-4
    concept_relearn_eval_every: int = 1  # every step: the relearning area and steps-to-base read the whole curve
    concept_relearn_items: int = 4
    # bf16 autocast in training and relearning: faster steps on the reference CPU (AVX-512 BF16),
    # so that 5 variants x 3 seeds fit the notebook's 8-minute share
    concept_bf16: bool = True
    concept_workers: int = 2
    # SAE feature-level unlearning on the synthetic hazard world (experiments/sae.py, 34_sae)
    sae_world: tuple[int, int] = (16, 8)  # forget entities, entities per side-effect domain (x3 relations)
    sae_n_english: int = 500
    sae_n_generic: int = 200  # format-only questions ("Which word is a noun?"), see data.hazard.generic_questions
    sae_vocab_size: int = 1000  # values and names become single tokens
    # reading the answer letter is the slow skill: this model answers ~85 % of questions (identity
    # order) after 4,000 steps and ~1/3 of them under all 24 orders; d=96 needed ~8,000 steps
    sae_model: ModelSize = field(default_factory=lambda: ModelSize(d_model=64, n_layers=3, n_heads=4, d_mlp=168))
    sae_pretrain_steps: int = 4000
    sae_pretrain_lr: float = 3e-3
    sae_pretrain_batch_size: int = 16
    sae_mcq_orders: int = 12  # choice orders per question in pretraining (of 24)
    sae_binding_orders: int = 6  # "Which option is <value>?" questions per fact: teach the letter lookup
    sae_qa_repeats: int = 2  # question -> value pairs
    sae_corpus_repeats: int = 1
    sae_site: str = "resid_post"
    sae_layer: int = 1
    sae_kinds: tuple[str, ...] = ("relu", "topk", "relu-untrained")  # untrained: the seed's 0-step SAEs
    sae_expansion: int = 8
    sae_k: int = 16
    sae_l1_coef: float = 3e-3
    sae_steps: int = 600
    sae_lr: float = 3e-3
    sae_batch_size: int = 1024
    sae_rules: tuple[str, ...] = ("frequency", "kl", "attribution")
    # retain corpus of the feature statistics: generic text (SAEBench: WikiText), or that plus text in
    # the evaluation's question format (features firing on the format then count as retain features)
    sae_retain_sets: tuple[str, ...] = ("text", "text+mcq")
    sae_retain_thresholds: tuple[float, ...] = (0.001, 0.01)
    # SAEBench's (10, 20); 50 (gpu) selected at most 23 features here (the retain filter caps it)
    sae_n_features: tuple[int, ...] = (10, 20)
    sae_multipliers: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0)  # SAE feature units (inputs scaled to E|x|² = d)
    sae_methods: tuple[str, ...] = ("RMU", "GradDiff")
    sae_unlearn_lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    sae_attack_lrs: tuple[float, ...] = (1e-3,)
    sae_attack_side_ratio: float = 0.90  # attack each family's best configuration at side effects >= this x base
    # the real tier: fact-probe questions for SmolLM2, one relation forgotten
    sae_real_model: str = "smollm2"
    sae_real_forget: str = "capital"
    sae_real_facts: int | None = 6  # questions per relation (None: all)
    # facts per relation in the forget/retain text (None: all 88): its statistics, attribution and the
    # SAE's activations cost SmolLM2 forward passes (all facts: SAE + scores took ~9 min of CPU)
    sae_real_corpus_facts: int | None = 8
    sae_real_all_orders: bool = False  # False: the 4 cyclic orders instead of all 24 (CPU cost)
    sae_real_cloze: bool = True  # SmolLM2-135M answers letter questions at chance (0/12 known, measured)
    sae_real_layer: int = 12
    sae_real_expansion: int = 4
    sae_real_k: int = 32
    sae_real_steps: int = 200
    sae_real_batch_size: int = 256  # activation rows a step (~8k training tokens; 1024 cost 4.6 min of CPU)
    sae_real_thresholds: tuple[float, ...] = (0.01,)
    sae_real_n_features: tuple[int, ...] = (10,)
    # seed 0, all facts: multiplier 10 took forget accuracy to 0.2 but side effects to 0.74, 40 lower still
    sae_real_multipliers: tuple[float, ...] = (2.0, 10.0)
    sae_real_ablate: bool = False  # decoder-direction ablation too (one more pass per selection)
    sae_real_seeds: tuple[int, ...] = (0,)  # one SAE and one baseline run per lr on a CPU
    # RMU/GradDiff on SmolLM2 are full fine-tunes of a 135M model: a few steps at one lr on a CPU
    sae_real_unlearn_steps: int = 8
    sae_real_unlearn_batch_size: int = 4
    # seed 0, 8 steps at 1e-4: RMU changed nothing (forget 1.0, side 1.0), GradDiff broke side effects;
    # each (method, lr) costs ~14 s of an idle 2-core CPU
    sae_real_unlearn_lrs: tuple[float, ...] = (3e-5, 1e-4, 3e-4)
    sae_real_methods: tuple[str, ...] = ("RMU", "GradDiff")

    # private records (experiments/private_records.py, 35_private_records): synthetic SOAP notes;
    # a public pretraining, then base/oracle fine-tunes, unlearning per forget ratio, MIA, relearning
    medical_public_clients: int = 100
    medical_clients: int = 100  # private clients of the base model ("full")
    medical_holdout_clients: int = 30  # never trained: the non-members of membership inference
    medical_forget_ratios: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20)
    medical_min_forget: int = 2  # so that relearning on some forget clients leaves others to score
    medical_n_english: int = 300
    medical_vocab_size: int = 1024
    medical_model: ModelSize = field(default_factory=lambda: ModelSize(d_model=128, n_layers=2, n_heads=4,
                                                                       d_mlp=384, max_len=256))
    medical_batch_size: int = 16  # packed rows of max_len tokens
    # constant lr; memorising clients is a late transition whose step varies with the data: one
    # public model answered 76 % of held-out diagnoses at step 250, another 35 % at 280
    medical_pretrain_steps: int = 400
    medical_pretrain_lr: float = 1e-2
    medical_finetune_steps: int = 120
    medical_finetune_lr: float = 1e-2
    # (method, lr): at the 10 % split, seed 0, 40 steps, the lowest forget QA whose retain QA stayed within
    # 0.1 of the base's 0.36 (GradDiff 3e-3: 0.18/0.29; NPO 1e-3: 0.20/0.32; SimNPO 3e-3: 0.05/0.30; RMU
    # 1e-2: 0.30/0.30; NPO 3e-3 reached 0.05 but kept 0.15 retain); retain weights in private_records
    # UNDO is not in the default grid: 12 more jobs (4 ratios x 3 seeds, 120 distillation steps on
    # packed rows each) would add an estimated ~100 s to a notebook measured at 377 s of 480 before
    # RMU joined it; smoke and gpu run it
    medical_methods: tuple[tuple[str, float], ...] = (("GradDiff", 3e-3), ("NPO", 1e-3), ("SimNPO", 3e-3),
                                                      ("RMU", 1e-2))
    medical_undo_teacher: str = "GradDiff"  # UNDO noises and distills this method's unlearned model
    medical_undo_alpha: float = 0.5
    medical_undo_steps: int = 120  # budget; stops earlier once retain QA is back near the teacher's
    medical_seeds: tuple[int, ...] = (0, 1, 2)
    medical_unlearn_steps: int = 40
    medical_unlearn_batch_size: int = 8
    medical_retain_eval_clients: int = 50
    medical_mia_k: float = 0.2
    # 1e-3 was the worst case in 34 of 36 method runs when (1e-3, 3e-3) were both run (seed 0-2, all
    # ratios, measured); the gpu profile sweeps three
    medical_relearn_lrs: tuple[float, ...] = (1e-3,)
    medical_relearn_steps: int = 15
    medical_relearn_eval_every: int = 5
    medical_workers: int = 2  # one-thread processes for the fine-tunes and the method grid
    # real tier (experiments/private_real.py): LoRA on SmolLM2 learns members' questions
    medical_real_model: str = "smollm2"
    medical_real_clients: int = 20  # members: forget + retain
    medical_real_holdout: int = 10  # non-members of membership inference
    medical_real_ratio: float = 0.2
    medical_real_fields: tuple[str, ...] = ("diagnosis", "medication")
    medical_real_lora_layers: int = 10  # the last layers; the backward pass stops below them
    medical_real_lora_r: int = 16
    medical_real_steps: int = 40
    medical_real_lr: float = 3e-3
    medical_real_batch_size: int = 16
    # mix the clients' notes (first medical_real_note_words words) into the base/oracle adapters'
    # training, unlearning and relearning, with note-level MIA and verbatim probes; off in default,
    # estimated +120-150 s of the 480 s budget: a 48-word note is ~4x a question's tokens; the
    # fine-tunes batch notes apart (+~25 s), but the methods' batches mix them (every unlearning and
    # relearning step padded to a note, ~3-4x its cost: +~100 s)
    medical_real_train_notes: bool = False
    medical_real_note_words: int = 48
    # 10 steps at 1e-3 left 25-50 % forget QA (base 87.5 %, oracle 0 %); 3e-3 reaches the oracle's
    medical_real_methods: tuple[tuple[str, float], ...] = (("GradDiff", 3e-3), ("NPO", 3e-3))
    medical_real_unlearn_steps: int = 10
    # one seed: the three-seed grid took 346 s of the 8-min budget (bf16, measured); gpu runs five
    medical_real_seeds: tuple[int, ...] = (0,)
    medical_real_relearn_lrs: tuple[float, ...] = (1e-3,)
    medical_real_relearn_steps: int = 8
    medical_real_bf16: bool = True  # bf16 autocast in the real tier's training steps

    @property
    def train_kwargs(self) -> dict:
        """Hardware settings every TrainConfig of this profile shares."""
        return {"bf16": self.bf16, "compile": self.compile}


_PROFILES: dict[str, Profile] = {
    "default": Profile(name="default"),
    "smoke": Profile(
        name="smoke", seeds=(0,), n_english=600, n_english_eval=100, word_problems_per_fact=1,
        medical_public_clients=12, medical_clients=20, medical_holdout_clients=6, medical_forget_ratios=(0.1, 0.2),
        medical_n_english=40, medical_vocab_size=400,
        medical_model=ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64, max_len=256), medical_batch_size=4,
        medical_pretrain_steps=8, medical_finetune_steps=8, medical_seeds=(0,),
        medical_methods=(("GradDiff", 1e-3), ("RMU", 1e-3), ("UNDO", 1e-3)), medical_undo_steps=4,
        medical_unlearn_steps=3, medical_unlearn_batch_size=4, medical_retain_eval_clients=8, medical_relearn_steps=2,
        medical_relearn_eval_every=1, medical_workers=1,
        medical_real_clients=6, medical_real_holdout=3, medical_real_ratio=0.34, medical_real_fields=("diagnosis",),
        medical_real_lora_layers=2, medical_real_lora_r=4, medical_real_steps=2, medical_real_batch_size=4,
        medical_real_methods=(("GradDiff", 1e-3), ("RMU", 1e-3)), medical_real_unlearn_steps=2, medical_real_seeds=(0,),
        medical_real_relearn_steps=2, medical_real_train_notes=True, medical_real_note_words=24,
        model=ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64),
        pretrain_steps=40, pretrain_batch_size=32, batch_size=16, unlearn_steps=5, unlearn_lrs=(1e-3,),
        undo_alphas=(0.5,), distill_budgets=(5, 10), distill_eval_every=5, attack_lrs=(1e-3,), attack_steps=6,
        attack_eval_every=3, attack_train_items=16, attack_batch_size=8,
        localize_items=32, patching_items=8, mask_budgets=(0.05, 0.2), causal_random_draws=2,
        targeted_sources=("weight_diff", "random"), targeted_budgets=(0.2,), targeted_train_only=(False, True),
        real_patch_layers=(0, 23, 29),
        sae_world=(4, 2), sae_n_english=40, sae_n_generic=10, sae_vocab_size=400,
        sae_model=ModelSize(d_model=32, n_layers=2, n_heads=2, d_mlp=64), sae_pretrain_steps=20,
        sae_mcq_orders=2, sae_binding_orders=1, sae_corpus_repeats=1, sae_kinds=("topk", "relu-untrained"),
        sae_expansion=4, sae_k=4, sae_steps=20, sae_batch_size=256, sae_retain_thresholds=(0.01,),
        sae_n_features=(5,), sae_multipliers=(10.0,), sae_unlearn_lrs=(1e-3,), sae_attack_lrs=(1e-3,),
        sae_real_facts=1, sae_real_corpus_facts=1, sae_real_steps=10, sae_real_multipliers=(10.0,),
        sae_real_unlearn_steps=1, sae_real_unlearn_batch_size=2,
        sae_real_unlearn_lrs=(1e-4,), sae_real_methods=("RMU", "GradDiff"),
        rewrite_targets=(("France", "capital", "Lyon"),), rewrite_variants=("ia3_two_stage", "full_ft"),
        rewrite_probe_relations=("capital",), rewrite_steps=2, rewrite_eval_train=2, rewrite_controls=(1, 1),
        rewrite_relearn_variants=("ia3_two_stage",), rewrite_relearn_steps=2, rewrite_relearn_eval_every=1,
        concept_model="tiny-random", concept_budget=0.05,
        concept_variants=("masked:fisher", "lora"), concept_seeds=(0,), concept_steps=2, concept_localize_batches=1,
        concept_max_new_tokens=8, concept_relearn_variants=("masked:fisher",), concept_relearn_steps=2,
        concept_relearn_eval_every=1, concept_relearn_items=2, concept_bf16=False, concept_workers=1,
    ),
    "gpu": Profile(
        name="gpu", device="cuda", bf16=True, compile=True, seeds=(0, 1, 2, 3, 4),
        medical_public_clients=500, medical_clients=1000, medical_holdout_clients=200,
        medical_n_english=5000, medical_vocab_size=2048,
        medical_model=ModelSize(d_model=512, n_layers=6, n_heads=8, d_mlp=1536, max_len=256), medical_batch_size=64,
        medical_pretrain_steps=1500, medical_pretrain_lr=1e-3, medical_finetune_steps=1500, medical_finetune_lr=5e-4,
        # learning rates scaled down for the 26M model by guess: not yet run on a GPU
        medical_methods=(("GradDiff", 3e-4), ("NPO", 1e-4), ("SimNPO", 3e-4), ("RMU", 1e-3), ("UNDO", 1e-3)),
        medical_undo_steps=600,
        medical_seeds=(0, 1, 2, 3, 4), medical_unlearn_steps=100, medical_unlearn_batch_size=32,
        medical_retain_eval_clients=200, medical_relearn_lrs=(1e-4, 3e-4, 1e-3), medical_relearn_steps=50,
        medical_workers=1,
        # real tier scaled up by guess (not yet run on a GPU): 100 members, all 30 layers adapted
        medical_real_clients=100, medical_real_holdout=50, medical_real_fields=("diagnosis", "medication",
                                                                                "date_of_birth"),
        medical_real_lora_layers=30, medical_real_steps=300, medical_real_batch_size=32,
        medical_real_methods=(("GradDiff", 1e-3), ("GradDiff", 3e-3), ("NPO", 1e-3), ("NPO", 3e-3), ("RMU", 1e-3)),
        medical_real_train_notes=True, medical_real_note_words=0,
        medical_real_unlearn_steps=30, medical_real_seeds=(0, 1, 2, 3, 4), medical_real_relearn_lrs=(1e-4, 1e-3),
        medical_real_relearn_steps=20,
        n_english=40000, model=ModelSize(d_model=512, n_layers=6, n_heads=8, d_mlp=1536),
        pretrain_steps=4000, pretrain_lr=1e-3, pretrain_batch_size=256, batch_size=64, unlearn_steps=200,
        distill_budgets=(100, 200, 400, 800, 1600), distill_lr=3e-4, distill_eval_every=50, attack_steps=100,
        localize_items=1024, patching_items=256, causal_random_draws=10,
        targeted_sources=("weight_diff", "gradient_norm", "fisher", "act_magnitude", "act_patching",
                          "attribution", "semi_nmf", "random"),
        targeted_budgets=(0.01, 0.05, 0.2, 0.5), targeted_alphas=(0.5, 0.8, 1.0), targeted_train_only=(False, True),
        rewrite_targets=(("France", "capital", "Lyon"), ("Japan", "capital", "Osaka"), ("Germany", "capital", "Munich"),
                         ("China", "capital", "Shanghai"), ("Canada", "capital", "Toronto"),
                         ("Russia", "capital", "Saint Petersburg"), ("the United Kingdom", "capital", "Manchester"),
                         ("Ireland", "capital", "Cork"), ("Norway", "capital", "Bergen"), ("Austria", "capital", "Salzburg"),
                         ("iron", "symbol", "Ir"), ("copper", "symbol", "Co"), ("silver", "symbol", "Si"),
                         ("gold", "symbol", "Ag")),
        rewrite_seeds=(0, 1, 2), rewrite_probe_relations=("director", "author", "capital", "symbol", "inventor",
                                                          "founder"),
        rewrite_steps=30, rewrite_eval_train=None, rewrite_localize_prompts=None, rewrite_probe_tokens=24,
        rewrite_controls=(4, 4), rewrite_relearn_variants=("ia3_two_stage", "ia3_one_stage", "ia3_all",
                                                                             "ia3_random", "lora_local", "full_ft"),
        rewrite_relearn_steps=20, rewrite_relearn_lrs=(3e-6, 1e-5, 3e-5), rewrite_relearn_eval_every=4,
        concept_variants=("masked:fisher", "masked:gradient_norm", "masked:random", "lora", "GradDiff", "NPO"),
        concept_seeds=(0, 1, 2, 3, 4), concept_steps=16, concept_batch_size=4, concept_localize_batches=4,
        concept_max_new_tokens=48,
        concept_relearn_variants=("masked:fisher", "masked:gradient_norm", "masked:random", "lora", "GradDiff", "NPO"),
        concept_relearn_steps=20, concept_relearn_eval_every=1, concept_relearn_items=8,
        # the full SAE grid (SAEBench's thresholds and feature counts, more multipliers and learning
        # rates, every real question under all 24 orders, 3 real seeds): not yet run on a GPU
        sae_n_features=(10, 20, 50), sae_multipliers=(5.0, 10.0, 20.0, 40.0, 80.0), sae_steps=2000,
        sae_unlearn_lrs=(3e-4, 1e-3, 3e-3, 1e-2), sae_real_facts=None, sae_real_all_orders=True,
        sae_real_steps=2000, sae_real_thresholds=(0.001, 0.01), sae_real_n_features=(10, 20, 50),
        sae_real_multipliers=(10.0, 20.0, 40.0, 80.0), sae_real_seeds=(0, 1, 2), sae_real_unlearn_steps=50,
        sae_real_unlearn_lrs=(1e-5, 3e-5, 1e-4, 3e-4), sae_real_corpus_facts=None, sae_real_batch_size=1024,
        sae_real_ablate=True, sae_real_unlearn_batch_size=8, sae_real_methods=("RMU", "GradDiff"),
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
