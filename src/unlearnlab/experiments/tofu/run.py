"""TOFU (36_tofu): does an unlearned model look like one never trained on the forget authors?

TOFU's protocol (Maini et al. 2024) on SmolLM2-135M-Instruct with LoRA, offline:

1. the data are TOFU's split files: the generated world of ``data.tofu_world`` (default, smoke)
   or, with ``tofu.source``, a folder of the real TOFU files (gpu), read by ``load_tofu``;
2. per seed, the **base** is a LoRA adapter on SmolLM2's last ``lora_layers`` layers trained on
   ``full`` (every author's question -> answer), the **oracle** per forget split the same adapter,
   same start and steps, trained on that split's retain set only;
3. each method of ``methods`` trains the base's adapter further on the forget split (forget: the
   split's questions with their answers, or, for RefusalKL, with an "I don't know" answer;
   retain: the retain split), the registry's methods unchanged (``experiments.private.real`` runs
   them the same way on the private records);
4. every model is scored as TOFU scores it (``evals.tofu``): forget-set truth ratios, forget
   quality (KS p-value against the oracle's truth ratios), model utility (harmonic mean of
   probability, ROUGE and truth ratio on retain, real authors, world facts), MUSE's PrivLeak
   (min-k 40 % AUC of forget against holdout question-answer texts, relative to the oracle's);
   and attacked by rounding its merged weights to int8 / int4 (``attacks.quantize``), forget
   metrics and forget quality (against the float oracle) on each.

Models are config-keyed artifacts and evaluations rows of the results store keyed by the model:
a rerun skips whatever is done.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from unlearnlab.attacks.quantize import quantization_attack
from unlearnlab.core.artifacts import Artifact, config_hash, write_json_atomic
from unlearnlab.core.batching import TokenSet
from unlearnlab.core.paths import repo_root
from unlearnlab.core.precision import bf16_autocast
from unlearnlab.core.seeding import seed_everything
from unlearnlab.data.benchmarks.tofu import HOLDOUT_OF, RETAIN_OF, load_tofu
from unlearnlab.data.tofu_world import TofuWorld, TofuWorldConfig
from unlearnlab.evals import tofu as metrics
from unlearnlab.evals.muse import model_privleak_auc, privleak
from unlearnlab.experiments.private import real
from unlearnlab.experiments.private.config import PrivateConfig
from unlearnlab.experiments.private.evaluate import cached
from unlearnlab.experiments.session import Session, model_id
from unlearnlab.experiments.tofu.config import TofuConfig
from unlearnlab.evals.memorization import qa_tokens
from unlearnlab.methods import UnlearnData, get_method

SETTING = "tofu"
MODELS_TABLE, QUANT_TABLE = "tofu_models", "tofu_quant"
EVAL_VERSION = 3  # 2: holdout_probability; 3: ROUGE answers generated in batches
REFERENCES = ("base", "oracle")
# TOFU's IDK targets are sentences of this kind; one is drawn per forget question (seeded)
IDK_ANSWERS = ("I'm not sure who that author is.", "I don't know anything about that author.",
               "I have no information about that.", "That is not something I know.")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def world_config(cfg: TofuConfig) -> TofuWorldConfig:
    return TofuWorldConfig(cfg.authors, cfg.qa_per_author, cfg.perturbed, cfg.world_seed)


def source_dir(session: Session) -> Path:
    """Where the split files are: the profile's ``tofu.source`` (relative: to the repository),
    else the generated world (built once under the output root)."""
    cfg = session.profile.tofu
    if cfg.source:
        path = Path(cfg.source)
        return path if path.is_absolute() else repo_root() / path
    return TofuWorld.build(world_config(cfg), session.paths.data)


def source_key(session: Session) -> str:
    """The data's identity in artifact keys: the generated world's directory name, or the folder."""
    return Path(source_dir(session)).name if not session.profile.tofu.source else str(session.profile.tofu.source)


def rows(source: Path, split: str) -> list[dict]:
    return load_tofu(split, source)


def check_splits(cfg: TofuConfig) -> None:
    unknown = [s for s in cfg.forget_splits if s not in RETAIN_OF]
    if unknown:
        raise ValueError(f"unknown tofu.forget_splits {unknown}; choose from {list(RETAIN_OF)}")


def qa_set(tokenizer, items: list[dict], answer_key: str = "answer") -> TokenSet:
    """Question -> answer token pairs in TOFU's prompt (what ``evals.tofu`` scores)."""
    return qa_tokens(tokenizer, [metrics.PROMPT.format(question=r["question"]) for r in items],
                     [" " + r[answer_key] for r in items])


def idk_rows(items: list[dict], seed: int) -> list[dict]:
    """The forget questions with an "I don't know" answer each (RefusalKL's targets)."""
    rng = random.Random(seed)
    return [{**r, "answer": rng.choice(IDK_ANSWERS)} for r in items]


def qa_texts(items: list[dict]) -> list[str]:
    """Question-answer rows as the texts PrivLeak scores."""
    return [metrics.PROMPT.format(question=r["question"]) + " " + r["answer"] for r in items]


# --------------------------------------------------------------------------------------------
# Models: LoRA on SmolLM2 (experiments.private.real's loader, adapter and training step)
# --------------------------------------------------------------------------------------------


def real_cfg(session: Session, batch_size: int | None = None) -> PrivateConfig:
    """The TOFU section as the private real tier's settings, so its model loader, adapter and
    training loop run unchanged."""
    cfg = session.profile.tofu
    return replace(PrivateConfig(), real_model=cfg.model, real_lora_layers=cfg.lora_layers, real_lora_r=cfg.lora_r,
                   real_steps=cfg.steps, real_lr=cfg.lr, real_batch_size=batch_size or cfg.batch_size,
                   real_unlearn_steps=cfg.unlearn_steps, real_bf16=cfg.bf16 and session.profile.real_bf16,
                   real_train_notes=False)


def finetune(session: Session, source: Path, split: str, seed: int) -> Path:
    """A LoRA adapter trained on ``split`` (``full``: the base; ``retainXX``: an oracle)."""
    cfg, rcfg = session.profile.tofu, real_cfg(session)
    items = rows(source, split)
    key = {"split": split, "source": source_key(session), "rows": config_hash([r["question"] for r in items]),
           "model": cfg.model, "lora_layers": cfg.lora_layers, "lora_r": cfg.lora_r, "steps": cfg.steps,
           "lr": cfg.lr, "batch_size": cfg.batch_size, "bf16": rcfg.real_bf16, "seed": seed}

    def make(tmp: Path) -> None:
        model, tokenizer = real.base_model(session, rcfg)
        model = real.with_new_adapter(model, rcfg, seed)
        cost = real._fit(model.train(), [qa_set(tokenizer, items)], rcfg, session, seed, f"tofu {split}")
        model.save_pretrained(str(tmp / "adapter"))
        write_json_atomic(tmp / "metrics.json", cost)

    return Artifact(session.paths.artifacts, "pretrain", f"tofu_{split}", key).build(make)


def unlearn(session: Session, source: Path, base_dir: Path, forget_split: str, method: str, lr: float,
            seed: int) -> Path:
    """A registered method trains the base's adapter further on ``forget_split``."""
    cfg = session.profile.tofu
    rcfg = real_cfg(session, cfg.unlearn_batch_size)
    method_cfg = real.method_config(session, rcfg, method, lr)
    key = {"method": method, "base": Path(base_dir).name, "forget": forget_split, "config": method_cfg,
           "seed": seed, "bf16": rcfg.real_bf16, "idk": list(IDK_ANSWERS) if method == "RefusalKL" else None}

    def make(tmp: Path) -> None:
        model, tokenizer = real.load_adapted(session, rcfg, Path(base_dir) / "adapter", trainable=True)
        forget = rows(source, forget_split)
        forget = idk_rows(forget, seed) if method == "RefusalKL" else forget
        data = UnlearnData(forget=qa_set(tokenizer, forget), retain=qa_set(tokenizer, rows(source, RETAIN_OF[forget_split])),
                           generator=seed_everything(seed), device=session.device)
        log = get_method(method, **method_cfg).run(model.train(), data, **real.hardware(session, rcfg))
        model.save_pretrained(str(tmp / "adapter"))
        write_json_atomic(tmp / "metrics.json", {"steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s})

    return Artifact(session.paths.artifacts, "unlearn", f"tofu_{forget_split}_{method}_s{seed}", key).build(make)


def merged(session: Session, model_dir: Path):
    """The adapter merged into SmolLM2 (what is deployed, evaluated and quantized) and the tokenizer."""
    model, tokenizer = real.load_adapted(session, real_cfg(session), Path(model_dir) / "adapter")
    return model.merge_and_unload().eval(), tokenizer


# --------------------------------------------------------------------------------------------
# Evaluation: TOFU's metrics, PrivLeak, the quantization attack
# --------------------------------------------------------------------------------------------


def forget_scores(model, tokenizer, forget: list[dict], scoring) -> dict:
    """Forget-set probability, truth-ratio score and the per-question truth ratios."""
    with scoring():
        losses = metrics.tofu_losses(model, tokenizer, forget)
    ratios = losses.truth_ratios()
    return {"forget_probability": metrics.answer_probability(losses.answer),
            "forget_truth_ratio": metrics.truth_ratio_score(ratios, forget=True), "forget_ratios": ratios.tolist()}


def evaluate(model, tokenizer, source: Path, forget_split: str, cfg: TofuConfig, scoring) -> dict:
    """Every TOFU number of one model for one forget split (the utility parts by set), and the
    PrivLeak AUC of forget against holdout question-answer texts. ROUGE is greedy decoding in
    float32 on the first ``rouge_items`` questions of each set."""
    forget = rows(source, f"{forget_split}_perturbed")
    out = {**forget_scores(model, tokenizer, forget, scoring), "n_forget": len(forget)}
    out["forget_rouge"] = metrics.tofu_rouge(model, tokenizer, forget[: cfg.rouge_items], max_new_tokens=cfg.max_new_tokens)
    utility = {}
    for name, options in (("retain", False), ("real_authors", True), ("world_facts", True)):
        items = rows(source, f"{name}_perturbed")
        items = items[: cfg.utility_items] if cfg.utility_items else items
        with scoring():
            losses = metrics.tofu_losses(model, tokenizer, items, "answer" if options else "paraphrased_answer")
        rouge = metrics.tofu_rouge(model, tokenizer, items[: cfg.rouge_items], max_new_tokens=cfg.max_new_tokens)
        utility[name] = metrics.split_scores(losses, rouge, options)
        out.update({f"{name}_{part}": v for part, v in utility[name].items()})
    out["model_utility"] = metrics.model_utility(utility)
    holdout = rows(source, HOLDOUT_OF[forget_split])
    with scoring():
        # the gold answers of authors no model saw: what the answer template alone earns
        out["holdout_probability"] = metrics.answer_probability(
            metrics.mean_losses(model, tokenizer, [r["question"] for r in holdout], [r["answer"] for r in holdout]))
        out["privleak_auc"] = model_privleak_auc(model, tokenizer, qa_texts(rows(source, forget_split)), qa_texts(holdout))
    return out


def scoring_context(session: Session):
    """bf16 autocast for teacher-forced scoring where the profile allows it (a factory)."""
    on = session.profile.tofu.bf16 and session.profile.real_bf16
    return lambda: bf16_autocast(on, session.device)


def eval_key(session: Session, model_dir: Path, method: str, forget_split: str, seed: int) -> dict:
    cfg = session.profile.tofu
    return {"setting": SETTING, "method": method, "forget": forget_split, "seed": seed,
            "model_id": model_id(session, model_dir), "eval": EVAL_VERSION, "rouge_items": cfg.rouge_items, "utility_items": cfg.utility_items,
            "max_new_tokens": cfg.max_new_tokens, "scoring_bf16": cfg.bf16 and session.profile.real_bf16}


def record(session: Session, source: Path, model_dir: Path, method: str, forget_split: str, seed: int,
           load: Callable[[], tuple] | None = None) -> dict:
    """A results-store row: ``evaluate`` of the saved adapter (cached by model and settings);
    ``load`` returns the merged model (shared with ``quantized``: one load per model)."""
    load = load or (lambda: merged(session, model_dir))

    def compute() -> dict:
        model, tokenizer = load()
        return evaluate(model, tokenizer, source, forget_split, session.profile.tofu, scoring_context(session))

    return cached(session, MODELS_TABLE, eval_key(session, model_dir, method, forget_split, seed), compute)


def quantized(session: Session, source: Path, model_dir: Path, method: str, forget_split: str, seed: int,
              load: Callable[[], tuple] | None = None) -> dict:
    """Forget metrics of the merged model rounded to each of ``quant_schemes`` (cached; the
    attack rounds a copy, so a shared ``load`` is left as it was)."""
    schemes = tuple(session.profile.tofu.quant_schemes)
    load = load or (lambda: merged(session, model_dir))

    def compute() -> dict:
        model, tokenizer = load()
        forget = rows(source, f"{forget_split}_perturbed")
        attacked = quantization_attack(model, lambda m: forget_scores(m, tokenizer, forget, scoring_context(session)),
                                       schemes)
        return {"rounded": [r for r in attacked if r["scheme"] != "none"]}

    key = {**eval_key(session, model_dir, method, forget_split, seed), "schemes": list(schemes)}
    return cached(session, QUANT_TABLE, key, compute)


# --------------------------------------------------------------------------------------------
# The whole study
# --------------------------------------------------------------------------------------------


def models(session: Session, source: Path, seed: int) -> dict[tuple[str, str], Path]:
    """(forget split, method) -> adapter directory for one seed; the base is shared by splits."""
    cfg = session.profile.tofu
    base = finetune(session, source, "full", seed)
    out = {}
    for split in cfg.forget_splits:
        out[(split, "base")] = base
        out[(split, "oracle")] = finetune(session, source, RETAIN_OF[split], seed)
        for method, lr in cfg.methods:
            out[(split, method)] = unlearn(session, source, base, split, method, lr, seed)
    return out


def with_oracle_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Forget quality (KS p-value of each row's forget truth ratios against its seed's and
    split's oracle's) and PrivLeak (AUC relative to that oracle's), added as columns."""
    df = df.copy()
    quality, leak = [], []
    for _, row in df.iterrows():
        oracle = df[(df["method"] == "oracle") & (df["seed"] == row["seed"]) & (df["forget"] == row["forget"])].iloc[0]
        quality.append(metrics.forget_quality(row["forget_ratios"], oracle["forget_ratios"]))
        leak.append(privleak(row["privleak_auc"], oracle["privleak_auc"]))
    return df.assign(forget_quality=quality, privleak=leak)


def run(session: Session) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every model trained, evaluated and quantized (all cached): one row per (seed, forget split,
    model) and one per (seed, forget split, model, scheme), forget quality against the oracle."""
    cfg = session.profile.tofu
    check_splits(cfg)
    source = source_dir(session)
    main, attacked = [], []
    for seed in cfg.seeds:
        for (split, method), path in models(session, source, seed).items():
            load = functools.cache(lambda p=path: merged(session, p))  # loaded once, only if something is not cached
            main.append(record(session, source, path, method, split, seed, load))
            for q in quantized(session, source, path, method, split, seed, load)["rounded"]:
                attacked.append({"method": method, "forget": split, "seed": seed, **q})
    df = with_oracle_scores(pd.DataFrame(main))
    quant = pd.DataFrame(attacked)
    if len(quant):
        oracle = df[df["method"] == "oracle"].set_index(["seed", "forget"])["forget_ratios"]
        quant["forget_quality"] = [metrics.forget_quality(r["forget_ratios"], oracle[(r["seed"], r["forget"])])
                                   for _, r in quant.iterrows()]
    return df, quant
