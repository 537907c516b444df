"""Feature-level unlearning with SAEs on the synthetic hazard world, scored as SAEBench does.

Pipeline (every step a config-keyed artifact, skipped when done):

1. ``build_world``: the hazard world (``data.hazard``): questions, corpora, a local tokenizer.
2. ``pretrain``: a tiny Llama learns the facts from the corpora and question → value pairs, and
   the multiple-choice format from questions in random choice orders plus "Which option is
   <value>?" binding questions (the letter lookup without the knowledge). Reading the answer
   letter is the slow skill for a model trained from scratch: it stays at chance for the first
   ~1,500 steps (batch 16) while it already completes ~95 % of the corpus facts. The artifact
   also records which questions the model knows under all 24 orderings: the evaluation suite.
3. ``sae_job`` per (SAE kind, seed): train the SAE on the model's activations at the profile's
   site, measure it, compute feature statistics and every scoring rule on the forget / retain
   corpora, and run the clamp (and decoder-direction ablation) sweep.
4. ``baseline_job`` per (method, learning rate, seed): RMU and GradDiff on the same corpora,
   evaluated on the same suite: their unlearning score uses the same formula over their sweep.
5. ``attack_job``: relearning attack on the base and on the best configuration of each family
   (SAE clamp, RMU, GradDiff) at matched side effects, whatever its score (``attack_targets``).

``run`` does all of it (in one-thread worker processes on a multi-core CPU) and returns the
tables; ``score_table`` / ``describe`` summarise them.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from unlearnlab.core.artifacts import Artifact, read_json, write_json_atomic
from unlearnlab.attacks.relearn import RelearnConfig, check_forget_only, worst_case
from unlearnlab.core.batching import TokenSet
from unlearnlab.data import english
from unlearnlab.data import hazard as hz
from unlearnlab.experiments.session import Session
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.evals.mcq import PERMUTATIONS, MCQFormat, mcq_tokens, permuted
from unlearnlab.methods import UnlearnData, get_method
from unlearnlab.core.stats import format_mean_ci, summarize
from unlearnlab.core.models import build_llama, count_parameters, fresh_copy, load_model, load_tokenizer, save_model
from unlearnlab.sae import (MCQSuite, SAEConfig, SAETrainConfig, SparseAutoencoder, SweepGrid, attach,
                            importance_scores, sae_for, scoring, sweep)
from unlearnlab.sae.features import importance_scores_per_retain
from unlearnlab.sae.interventions import ablate_directions, clamp
from unlearnlab.core.seeding import seed_everything
from unlearnlab.reporting.tables import mean_ci_table
from unlearnlab.core.tokenizer import train_tokenizer
from unlearnlab.core.training import TrainConfig, train

SETTING = "hazard"
FMT = MCQFormat()
RETAIN_WEIGHT = {"GradDiff": 5.0}  # as the arithmetic slice (experiments.arithmetic.RETAIN_WEIGHT)
EVAL_VERSION = "hits"  # evaluations record per-question hits (bootstrap over questions); older caches did not


# --------------------------------------------------------------------------- the world


def world_config(session: Session, seed: int = 0) -> dict:
    p = session.profile
    return {"world": "hazard", "seed": seed, "n_forget_entities": p.sae.world[0], "n_side_entities": p.sae.world[1],
            "attack_fraction": 0.25, "n_english": p.sae.n_english, "n_generic": p.sae.n_generic,
            "vocab_size": p.sae.vocab_size}


def build_world(session: Session, seed: int = 0) -> Path:
    """Questions (parquet, WMDP schema), corpora and tokenizer of the profile's hazard world."""
    cfg = world_config(session, seed)
    artifact = Artifact(session.paths.data, "worlds", "hazard", cfg)

    def make(tmp: Path) -> None:
        hcfg = hz.HazardConfig(cfg["n_forget_entities"], cfg["n_side_entities"], cfg["attack_fraction"], seed)
        questions, corpus = hz.world_questions(hcfg), hz.world_corpus(hcfg)
        generic = [{"text": s, "domain": "english", "split": "eval"}
                   for s in english.corpus(cfg["n_english"], seed + 1)]
        generic_mcq = hz.generic_questions(cfg["n_generic"], seed + 2)
        hz.save_questions(questions, tmp / "questions.parquet")
        hz.save_questions(generic_mcq, tmp / "generic_questions.parquet")
        write_json_atomic(tmp / "corpus.json", corpus + generic)
        texts = [r["text"] for r in corpus + generic] + [FMT.text(q) for q in questions + generic_mcq]
        train_tokenizer(texts, cfg["vocab_size"]).save_pretrained(tmp / "tokenizer")
        write_json_atomic(tmp / "card.json", {
            "name": "hazard world", "config": cfg,
            "forget": "made-up pathogens (host, organ, route), asked about biology",
            "side_effects": {d: hz.DOMAINS[d].subject for d in hz.SIDE_DOMAINS},
            "sizes": {d: sum(q["domain"] == d for q in questions) for d in hz.DOMAINS}})

    return artifact.build(make)


@dataclass
class HazardWorld:
    """A saved hazard world: questions, corpus rows (``english`` = generic text), questions in the
    same format about no domain (``generic``), tokenizer."""

    directory: Path
    tokenizer: object
    questions: list[dict]
    corpus: list[dict]
    generic: list[dict]

    @classmethod
    def load(cls, directory: str | Path) -> "HazardWorld":
        directory = Path(directory)
        if not (directory / ".done").is_file():
            raise FileNotFoundError(f"no complete hazard world at {directory}; call experiments.sae.build_world")
        return cls(directory, load_tokenizer(directory / "tokenizer"),
                   hz.load_questions(directory / "questions.parquet"), read_json(directory / "corpus.json"),
                   hz.load_questions(directory / "generic_questions.parquet"))

    def forget_questions(self) -> list[dict]:
        return [q for q in self.questions if q["domain"] == hz.FORGET_DOMAIN]

    def side_questions(self) -> list[dict]:
        return [q for q in self.questions if q["domain"] != hz.FORGET_DOMAIN]

    def text(self, domains: Sequence[str], split: str | None = None) -> TokenSet:
        rows = [r for r in self.corpus if r["domain"] in domains and (split is None or r["split"] == split)]
        return TokenSet.from_rows(rows, self.tokenizer, label_key="domain")

    def forget_corpus(self) -> TokenSet:
        return self.text([hz.FORGET_DOMAIN])

    def retain_corpus(self, with_format: bool = False) -> TokenSet:
        """Side-effect domains' text and generic English (SAEBench's retain corpus is generic text);
        ``with_format`` adds the generic questions: retain text in the evaluation's format."""
        data = self.text([*hz.SIDE_DOMAINS, "english"])
        return data.concat(mcq_tokens(self.generic, self.tokenizer, FMT)) if with_format else data

    def mcq_set(self, rows: Sequence[dict], n_orders: int, rng: random.Random, binding: bool = False) -> TokenSet:
        """Questions in ``n_orders`` random choice orders; ``binding`` asks for the option that *is*
        the true value instead (the format's letter lookup without the knowledge)."""
        out = []
        for row in rows:
            for order in rng.sample(PERMUTATIONS, n_orders):
                new = permuted(row, order)
                if binding:
                    new["question"] = f"Which option is {new['choices'][new['answer']]}?"
                out.append(new)
        return mcq_tokens(out, self.tokenizer, FMT)

    def qa_set(self) -> TokenSet:
        """Each question answered with its value ("Which host does the pathogen X infect?" → "cattle")."""
        rows = [{"prompt": q["question"], "answer": q["choices"][q["answer"]], "domain": q["domain"]}
                for q in self.questions]
        return TokenSet.from_rows(rows, self.tokenizer, label_key="domain")

    def pretraining_set(self, n_orders: int, n_binding: int, qa_repeats: int, corpus_repeats: int,
                        seed: int) -> TokenSet:
        """Questions in ``n_orders`` choice orders, binding questions, question → value pairs and
        the corpora (repeated), and generic text."""
        rng = random.Random(seed)
        data = self.mcq_set(self.questions, n_orders, rng)
        if n_binding:
            data = data.concat(self.mcq_set(self.questions, n_binding, rng, binding=True))
        for part, repeats in ((self.qa_set(), qa_repeats), (self.text(hz.DOMAINS), corpus_repeats)):
            for _ in range(repeats):
                data = data.concat(part)
        return data.concat(self.text(["english"])).concat(mcq_tokens(self.generic, self.tokenizer, FMT))

    def sae_training_text(self, seed: int) -> TokenSet:
        """What the SAE sees: every corpus sentence, generic text and each question in a few
        orders, shuffled."""
        rng = random.Random(seed)
        data = self.text([*hz.DOMAINS, "english"]).concat(self.mcq_set(self.questions + self.generic, 4, rng))
        order = list(range(len(data)))
        random.Random(seed).shuffle(order)
        return data.subset(order)

    def attack_set(self, n_items: int, seed: int) -> TokenSet:
        """Forget data of the attack-split entities only (questions in random orders + sentences)."""
        rows = [q for q in self.forget_questions() if q["split"] == "attack"]
        data = self.mcq_set(rows, 4, random.Random(seed)).concat(self.text([hz.FORGET_DOMAIN], "attack"))
        pick = random.Random(seed).sample(range(len(data)), min(n_items, len(data)))
        return data.subset(pick)


def load_world(session: Session) -> HazardWorld:
    return HazardWorld.load(build_world(session))


def special_ids(world: HazardWorld) -> tuple[int, ...]:
    tok = world.tokenizer
    return tuple(i for i in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) if i is not None)


# --------------------------------------------------------------------------- the model and its suite


def pretrain(session: Session, world: HazardWorld, seed: int = 0) -> Path:
    """The hazard model; ``known.json`` lists the questions it answers under all 24 orderings."""
    p = session.profile
    cfg = {"world": world.directory.name, "seed": seed, "model": asdict(p.sae.model), "steps": p.sae.pretrain_steps,
           "lr": p.sae.pretrain_lr, "batch_size": p.sae.pretrain_batch_size, "orders": p.sae.mcq_orders,
           "binding": p.sae.binding_orders, "qa": p.sae.qa_repeats, "corpus_repeats": p.sae.corpus_repeats}
    artifact = Artifact(session.paths.artifacts, "sae_pretrain", "hazard", cfg)

    def make(tmp: Path) -> None:
        with one_thread(session):
            _pretrain(tmp)

    def _pretrain(tmp: Path) -> None:
        gen = seed_everything(seed)
        data = world.pretraining_set(p.sae.mcq_orders, p.sae.binding_orders, p.sae.qa_repeats, p.sae.corpus_repeats,
                                     seed)
        model = build_llama(p.sae.model, len(world.tokenizer), world.tokenizer, seed).to(session.device)
        batches = data.sampler(p.sae.pretrain_batch_size, gen, session.device)

        def step_loss(fwd, step):  # letters of questions, every token of text
            b = next(batches)
            return nll(logits_of(fwd, b), b, answer_only=True), int(b["attention_mask"].sum())

        log = train(model, step_loss, TrainConfig(steps=p.sae.pretrain_steps, lr=p.sae.pretrain_lr,
                                                  batch_size=p.sae.pretrain_batch_size, **session.hardware),
                    desc="pretrain hazard")
        suite = build_suite_for(model, world)
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "known.json", {"forget": [question_key(q) for q in suite.forget_rows],
                                               "side": [question_key(q) for q in suite.side_rows]})
        write_json_atomic(tmp / "metrics.json", {
            "steps": log.steps, "tokens": log.tokens, "wall_s": log.wall_s, "n_params": count_parameters(model),
            "final_loss": sum(log.losses[-20:]) / max(1, len(log.losses[-20:])),
            "n_asked": suite.n_asked, "n_known_forget": suite.n_forget, "n_known_side": len(suite.side_rows),
            "curve": log.losses[:: max(1, len(log.losses) // 200)]})

    return artifact.build(make)


@contextmanager
def one_thread(session: Session) -> Iterator[None]:
    """Run a tiny model on one CPU thread: a 64-wide Llama gains nothing from a second thread, and on
    a busy 2-core machine two threads spent 13 min of CPU in 20 min of pretraining without finishing
    (the whole one-thread run of every stage: 6 min of CPU)."""
    before = torch.get_num_threads()
    if session.device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def question_key(row: dict) -> str:
    return f"{row['domain']}/{row['entity']}/{row['relation']}"


def build_suite_for(model, world: HazardWorld) -> MCQSuite:
    from unlearnlab.sae import build_suite

    return build_suite(model, world.tokenizer, world.forget_questions(), world.side_questions(), FMT)


def load_suite(world: HazardWorld, base_dir: Path) -> MCQSuite:
    """The suite recorded with the model (no 24-ordering pass again)."""
    known = read_json(Path(base_dir) / "known.json")
    forget_keys, side_keys = set(known["forget"]), set(known["side"])
    forget = [q for q in world.forget_questions() if question_key(q) in forget_keys]
    side = [q for q in world.side_questions() if question_key(q) in side_keys]
    rows = forget + side
    from unlearnlab.evals.mcq import letter_token_ids

    return MCQSuite(forget, side, mcq_tokens(rows, world.tokenizer, FMT), torch.tensor([r["answer"] for r in rows]),
                    letter_token_ids(world.tokenizer), {})


def eval_suite(suite: MCQSuite, split: str) -> MCQSuite:
    """The suite restricted to forget questions of ``split`` (the relearning attack's held-out set)."""
    keep = [i for i, q in enumerate(suite.forget_rows) if q["split"] == split]
    if suite.fmt.cloze:
        raise NotImplementedError("eval_suite splits letter-format suites only")
    return MCQSuite([suite.forget_rows[i] for i in keep], [], suite.tokens.subset(keep), suite.answers[keep],
                    suite.letters, {}, suite.fmt)


# --------------------------------------------------------------------------- SAEs


UNTRAINED = "-untrained"  # e.g. "relu-untrained": the SAE at initialisation (the seed's runs logged 0 steps)


def sae_config(session: Session, d_model: int, kind: str) -> SAEConfig:
    p = session.profile
    return SAEConfig(d_in=d_model, d_sae=p.sae.expansion * d_model, kind=kind.removesuffix(UNTRAINED), k=p.sae.k,
                     l1_coef=p.sae.l1_coef, site=p.sae.site, layer=p.sae.layer)


def sae_grid(session: Session) -> SweepGrid:
    p = session.profile
    return SweepGrid(p.sae.retain_thresholds, p.sae.n_features, p.sae.multipliers, ablate_directions=True)


def sae_job(session: Session, world: HazardWorld, base_dir: Path, kind: str, seed: int) -> Path:
    """Train, measure, score and sweep one SAE (one artifact)."""
    p = session.profile
    model_cfg = read_json(Path(base_dir) / "config.json")
    scfg = sae_config(session, model_cfg["hidden_size"], kind)
    tcfg = SAETrainConfig(steps=0 if kind.endswith(UNTRAINED) else p.sae.steps, lr=p.sae.lr,
                          batch_size=p.sae.batch_size)
    grid = sae_grid(session)
    cfg = {"base": Path(base_dir).name, "sae": asdict(scfg), "train": asdict(tcfg), "seed": seed,
           "rules": p.sae.rules, "grid": asdict(grid), "retain_sets": p.sae.retain_sets, "eval": EVAL_VERSION}
    artifact = Artifact(session.paths.artifacts, "sae", f"hazard_{kind}_s{seed}", cfg)

    def make(tmp: Path) -> None:
        seed_everything(seed)
        model = load_model(base_dir, session.device)
        ids = special_ids(world)
        sae, log, metrics = sae_for(model, world.sae_training_text(seed), scfg, tcfg, seed, special_ids=ids,
                                    loss_data=world.text([*hz.DOMAINS, "english"]), **session.hardware)
        suite = load_suite(world, base_dir)
        tensors, tables = {}, []
        retains = {name: world.retain_corpus(with_format=name == "text+mcq") for name in p.sae.retain_sets}
        all_scores, on_forget, all_retain = importance_scores_per_retain(model, sae, world.forget_corpus(), retains,
                                                                         p.sae.rules, ids)
        for retain_set in p.sae.retain_sets:
            scores, on_retain = all_scores[retain_set], all_retain[retain_set]
            tables.append(sweep(model, sae, suite, scores, on_retain.freq, grid).assign(retain=retain_set))
            tensors.update({"forget_freq": on_forget.freq, "forget_mean": on_forget.mean_act,
                            f"retain_freq[{retain_set}]": on_retain.freq,
                            f"retain_mean[{retain_set}]": on_retain.mean_act,
                            **{f"score_{r}[{retain_set}]": s.float() for r, s in scores.items()}})
        sae.save(tmp, extra={"metrics": metrics, "curve": log.curve})
        save_file(tensors, str(tmp / "features.safetensors"))
        write_json_atomic(tmp / "sweep.json", pd.concat(tables).to_dict("records"))

    return artifact.build(make)


# --------------------------------------------------------------------------- baselines


def baseline_job(session: Session, world: HazardWorld, base_dir: Path, method: str, lr: float, seed: int) -> Path:
    """RMU or GradDiff on the forget / retain corpora, evaluated on the suite."""
    p = session.profile
    method_cfg = {"steps": p.arithmetic.unlearn_steps, "lr": lr, "batch_size": p.arithmetic.batch_size, "answer_only": False}
    if method in RETAIN_WEIGHT:
        method_cfg["retain_weight"] = RETAIN_WEIGHT[method]
    if method == "RMU":  # steer the residual stream where the SAEs read it
        method_cfg.update(layer=p.sae.layer, seed=seed)
    cfg = {"base": Path(base_dir).name, "method": method, "seed": seed, "config": method_cfg, "eval": EVAL_VERSION}
    artifact = Artifact(session.paths.artifacts, "sae_baselines", f"{method}_lr{lr:g}_s{seed}", cfg)

    def make(tmp: Path) -> None:
        model = load_model(base_dir, session.device)
        data = UnlearnData(forget=world.forget_corpus(), retain=world.retain_corpus(),
                           generator=seed_everything(seed), device=session.device)
        log = get_method(method, **method_cfg).run(model, data, **session.hardware)
        save_model(model, world.tokenizer, tmp)
        write_json_atomic(tmp / "metrics.json", {**load_suite(world, base_dir).evaluate(model, hits=True),
                                                 "steps": log.steps, "wall_s": log.wall_s})

    return artifact.build(make)


# --------------------------------------------------------------------------- relearning attack


def relearn(model: torch.nn.Module, attack_data: TokenSet, suite: MCQSuite, cfg: RelearnConfig, seed: int,
            **hardware) -> list[dict]:
    """``attacks.relearning_attack`` with the suite's letter accuracy as the metric (exact match of
    the full-vocabulary argmax would score a model that stops answering with a letter as
    unlearned): fine-tune copies of ``model`` (hooks included) on forget data, per learning rate."""
    check_forget_only(attack_data, [hz.FORGET_DOMAIN])
    device = next(model.parameters()).device
    rows: list[dict] = []
    for lr in cfg.lrs:
        attacked = fresh_copy(model)
        gen = torch.Generator().manual_seed(seed)
        batches = attack_data.sampler(min(cfg.batch_size, len(attack_data)), gen, device)
        rows.append({"lr": lr, "step": 0, "forget_acc": suite.evaluate(attacked)["forget_acc"]})

        def step_loss(fwd, step):
            b = next(batches)
            return nll(logits_of(fwd, b), b, answer_only=True), int(b["attention_mask"].sum())

        def on_eval(step, m, lr=lr) -> bool:
            rows.append({"lr": lr, "step": step, "forget_acc": suite.evaluate(m)["forget_acc"]})
            return False

        train(attacked, step_loss, TrainConfig(steps=cfg.steps, lr=lr, batch_size=cfg.batch_size, warmup_frac=0.0,
                                               schedule="constant", eval_every=cfg.eval_every, **hardware),
              on_eval=on_eval, desc=f"relearn lr={lr:g}")
    return rows


def attack_config(session: Session) -> RelearnConfig:
    p = session.profile
    return RelearnConfig(lrs=p.sae.attack_lrs, steps=p.arithmetic.attack_steps, eval_every=p.arithmetic.attack_eval_every,
                         batch_size=p.arithmetic.attack_batch_size, n_items=p.arithmetic.attack_train_items)


def intervened_model(session: Session, base_dir: Path, target: dict) -> torch.nn.Module:
    """The model a target describes: a baseline's weights, or the base with an SAE edit attached."""
    model = load_model(target.get("model_dir", base_dir), session.device)
    if target.get("sae_dir"):
        sae = SparseAutoencoder.load(target["sae_dir"], session.device)
        edit = (clamp(sae, target["features"], target["multiplier"]) if target["intervention"] == "clamp"
                else ablate_directions(sae, target["features"]))
        attach(model, sae.cfg.site, sae.cfg.layer, edit)
    return model


def attack_job(session: Session, world: HazardWorld, base_dir: Path, target: dict) -> dict:
    """Relearning attack on ``target`` (cached): curves and worst case over learning rates."""
    cfg = attack_config(session)
    key = {k: v for k, v in target.items() if k not in ("label", "variant")}
    artifact = Artifact(session.paths.artifacts, "sae_attacks", f"{target['label']}_s{target['seed']}",
                        {"target": key, "attack": asdict(cfg), "base": Path(base_dir).name})

    def make(tmp: Path) -> None:
        model = intervened_model(session, base_dir, target)
        suite = eval_suite(load_suite(world, base_dir), "eval")
        rows = relearn(model, world.attack_set(cfg.n_items, target["seed"]), suite, cfg, target["seed"],
                       **session.hardware)
        write_json_atomic(tmp / "attack.json", {**worst_case(rows), "curve": rows,
                                                "before": rows[0]["forget_acc"]})

    path = artifact.build(make)
    return {"label": target["label"], "variant": target.get("variant", target["label"]), "seed": target["seed"],
            **read_json(path / "attack.json")}


def attack_targets(session: Session, sae_dirs: dict, runs: pd.DataFrame, scores: pd.DataFrame,
                   base_side_acc: float) -> list[dict]:
    """Per seed: the base model, and the best configuration of each family at side effects
    ≥ ``sae_attack_side_ratio`` × base (``scoring.attack_choice``), whatever its score: each
    baseline, and the trained-SAE clamp variant (rule, retain corpus) with the lowest mean forget
    accuracy at that level."""
    p = session.profile
    ratio = p.sae.attack_side_ratio
    targets = []
    clamps = scores[(scores["intervention"] == "clamp") & scores["method"].str.startswith("SAE")
                    & ~scores["method"].str.contains("untrained", regex=False)]
    means = clamps.groupby("variant")[scoring.forget_col(ratio)].mean().dropna()
    best_clamp = means.idxmin() if not means.empty else None  # None: no known forget question
    for seed in p.arithmetic.seeds:
        targets.append({"label": "base", "seed": seed})
        for method in p.sae.methods:
            rows = runs[(runs["variant"] == method) & (runs["seed"] == seed)]
            best = scoring.attack_choice(rows, base_side_acc, ratio) if not rows.empty else None
            if best is not None:
                targets.append({"label": method, "seed": seed, "model_dir": best["model_dir"]})
        rows = runs[(runs["variant"] == best_clamp) & (runs["seed"] == seed)] if best_clamp else pd.DataFrame()
        best = scoring.attack_choice(rows, base_side_acc, ratio) if not rows.empty else None
        if best is not None:
            targets.append({"label": "SAE-clamp", "variant": best_clamp, "seed": seed,
                            "sae_dir": str(sae_dirs[(best["kind"], seed)]), "intervention": "clamp",
                            "features": [int(f) for f in best["features"]], "multiplier": float(best["multiplier"])})
    return targets


def attack_summary(attacks: pd.DataFrame) -> pd.DataFrame:
    """Per target and seed: forget accuracy before the attack, at the attacker's best stopping
    point (the highest held-out forget accuracy over learning rates and evaluated steps > 0:
    ``recovered``), the attacked *base* at that same learning rate and step (``base_same_step``:
    what the attack leaves of a model that forgot nothing; when it is below 1, the attack damages
    the answer format and recovery reads against it) and at the final step (``final``)."""
    if attacks.empty:
        return pd.DataFrame()
    base = {}
    for _, row in attacks[attacks["label"] == "base"].iterrows():
        base[row["seed"]] = {(r["lr"], r["step"]): r["forget_acc"] for r in row["curve"]}
    rows = []
    for _, row in attacks.iterrows():
        later = [r for r in row["curve"] if r["step"] > 0] or row["curve"]
        top = max(later, key=lambda r: -1.0 if r["forget_acc"] is None else r["forget_acc"])  # None: empty suite
        rows.append({"label": row["label"], "variant": row["variant"], "seed": row["seed"],
                     "before": row["before"], "recovered": top["forget_acc"],
                     "base_same_step": base.get(row["seed"], {}).get((top["lr"], top["step"]), float("nan")),
                     "final": row["post_attack_forget_acc"], "best_step": top["step"], "lr": top["lr"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- orchestration


def _worker(args: tuple) -> object:
    fn, session, world_dir, rest = args
    torch.set_num_threads(1)
    return fn(session, HazardWorld.load(world_dir), *rest)


def parallel(session: Session, world: HazardWorld, fn: Callable, jobs: list[tuple]) -> list:
    """``fn(session, world, *job)`` for every job; on a multi-core CPU in one-thread spawn workers
    (small models do not scale across threads, independent jobs do)."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if session.device != "cpu" or workers < 2:
        return [fn(session, world, *job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(_worker, [(fn, session, str(world.directory), job) for job in jobs], chunksize=1)


@dataclass
class SAEResults:
    base_dir: Path
    base: dict  # the pretrained model's metrics (incl. suite sizes)
    base_eval: dict  # the unmodified model on the suite: accuracies and per-question hits (measured)
    saes: pd.DataFrame  # reconstruction metrics per kind and seed
    curves: pd.DataFrame  # SAE training curves
    sweeps: pd.DataFrame  # every sweep row, with kind and seed
    baselines: pd.DataFrame  # RMU / GradDiff runs
    runs: pd.DataFrame  # sweeps and baselines in one frame (``scoring.runs_frame``)
    scores: pd.DataFrame  # unlearning score per variant and seed (``scoring.score_rows``)
    stats: pd.DataFrame  # bootstrap over questions and distinct forgotten questions per variant
    attacks: pd.DataFrame  # relearning curves per attacked target
    sae_dirs: dict
    wall_s: dict  # wall-clock seconds per stage of this call (cached stages cost ~0)

    @property
    def base_side_acc(self) -> float:
        return float(self.base_eval["side_acc"])


def base_evaluation(session: Session, world: HazardWorld, base_dir: Path) -> dict:
    """The unmodified model on the filtered suite (milliseconds): the side-effect accuracy every
    score is relative to. The permutation filter makes it 1 up to batching noise; it is measured,
    not assumed."""
    return load_suite(world, base_dir).evaluate(load_model(base_dir, session.device), hits=True)


def run(session: Session, attack: bool = True) -> SAEResults:
    """The whole synthetic-tier experiment of the profile (cached step by step)."""
    p = session.profile
    clock = _Clock()
    world = load_world(session)
    base_dir = pretrain(session, world)
    base = read_json(base_dir / "metrics.json")
    base_eval = base_evaluation(session, world, base_dir)
    clock.lap("world+pretrain")
    jobs = [("sae", (base_dir, kind, seed)) for kind in p.sae.kinds for seed in p.arithmetic.seeds]
    jobs += [("baseline", (base_dir, m, lr, seed))
             for m in p.sae.methods for lr in p.sae.unlearn_lrs for seed in p.arithmetic.seeds]
    fns = {"sae": sae_job, "baseline": baseline_job}
    dirs = parallel(session, world, _dispatch, [(fns[kind].__name__, args) for kind, args in jobs])
    sae_dirs = {job[1][1:]: d for job, d in zip(jobs, dirs) if job[0] == "sae"}
    base_dirs = {job[1][1:]: d for job, d in zip(jobs, dirs) if job[0] == "baseline"}
    saes, curves, sweeps = collect_saes(sae_dirs)
    baselines = collect_baselines(base_dirs)
    runs = scoring.runs_frame(sweeps, baselines)
    scores = scoring.score_rows(runs, float(base_eval["side_acc"]))
    stats = scoring.question_stats(runs, base_eval)
    clock.lap("saes+baselines")
    attacks = pd.DataFrame()
    if attack:
        targets = attack_targets(session, sae_dirs, runs, scores, float(base_eval["side_acc"]))
        attacks = pd.DataFrame(parallel(session, world, attack_job, [(base_dir, t) for t in targets]))
        clock.lap("attacks")
    return SAEResults(base_dir, base, base_eval, saes, curves, sweeps, baselines, runs, scores, stats, attacks,
                      sae_dirs, clock.laps)


class _Clock:
    def __init__(self) -> None:
        import time

        self._now = time.perf_counter
        self._last = self._now()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self._now()
        self.laps[name] = now - self._last
        self._last = now


def _dispatch(session: Session, world: HazardWorld, name: str, args: tuple) -> Path:
    return {"sae_job": sae_job, "baseline_job": baseline_job}[name](session, world, *args)


def collect_saes(sae_dirs: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    metrics, curves, sweeps = [], [], []
    for (kind, seed), directory in sae_dirs.items():
        info = read_json(Path(directory) / "sae_config.json")
        metrics.append({"kind": kind, "seed": seed, **info["metrics"]})
        curves += [{"kind": kind, "seed": seed, **row} for row in info["curve"]]
        sweeps += [{"kind": kind, "seed": seed, **row} for row in read_json(Path(directory) / "sweep.json")]
    return pd.DataFrame(metrics), pd.DataFrame(curves), pd.DataFrame(sweeps)


def collect_baselines(base_dirs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "lr": lr, "seed": seed, "model_dir": str(d),
                          **read_json(Path(d) / "metrics.json")} for (m, lr, seed), d in base_dirs.items()])


def score_table(scores: pd.DataFrame, stats: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean ± 95 % CI over seeds per variant, with the bootstrap over questions and the
    significance rule when ``stats`` is given (``scoring.score_table``)."""
    return scoring.score_table(scores, stats)


def grid_note(session: Session) -> str:
    """Which grid made the numbers: the profile's name, and its sizes."""
    p = session.profile
    which = {"default": "reduced CPU grid", "gpu": "full grid", "smoke": "smoke-test grid"}.get(p.name, p.name)
    return (f"{p.name} profile ({which}): synthetic tier {len(p.arithmetic.seeds)} seed(s), SAEs {', '.join(p.sae.kinds)} "
            f"({p.sae.steps} steps), retain thresholds {list(p.sae.retain_thresholds)}, features "
            f"{list(p.sae.n_features)}, multipliers {list(p.sae.multipliers)}, RMU/GradDiff lr "
            f"{[f'{x:g}' for x in p.sae.unlearn_lrs]}; real tier {len(p.sae.real_seeds)} seed(s), "
            f"{p.sae.real_facts or 'all'} question(s) per relation, thresholds {list(p.sae.real_thresholds)}, "
            f"features {list(p.sae.real_n_features)}, multipliers {list(p.sae.real_multipliers)}, RMU/GradDiff lr "
            f"{[f'{x:g}' for x in p.sae.real_unlearn_lrs]} ({p.sae.real_unlearn_steps} steps)")


# --------------------------------------------------------------------------- tables


def _tiers(results: SAEResults, real: "RealResults | None") -> list[tuple[str, pd.DataFrame, pd.DataFrame, dict]]:
    """(tier, scores, stats, base evaluation) of each tier that has scores."""
    tiers = [("synthetic", results.scores, results.stats, results.base_eval)]
    if real is not None and not real.scores.empty:
        tiers.append(("SmolLM2", real.scores, real.stats, real.base_eval))
    return tiers


def _cell(mean: float, ci: float, n: int, low: float = float("nan"), high: float = float("nan"),
          scale: float = 100.0) -> str:
    """'m ± CI' over seeds (n ≥ 2), else the mean with its bootstrap interval over questions
    '[lo, hi]' when there is one, else the mean alone (never '± 0' for one seed)."""
    if n >= 2:
        return format_mean_ci(mean, ci, scale)
    text = format_mean_ci(mean, float("nan"), scale)
    return text if low != low or text == "--" else f"{text} [{scale * low:.1f}, {scale * high:.1f}]"


def latex_table(results: SAEResults, real: "RealResults | None" = None) -> pd.DataFrame:
    """Score in % per tier, method, rule and intervention; one column per retain corpus of the
    feature statistics (baselines use none: their score sits under "text"). Several seeds:
    mean ± 95 % CI over seeds; one seed: the 95 % bootstrap interval over questions in brackets.
    '*': the score is evidence (``scoring.is_significant``)."""
    rows = []
    tiers = _tiers(results, real)
    retains = list(dict.fromkeys(r for _, scores, _, _ in tiers for r in scores["retain"]))
    for tier, scores, stats, _ in tiers:
        table = scoring.score_table(scores, stats)
        for key, group in table.groupby(["method", "rule", "intervention"], sort=False):
            row = dict(zip(["Tier", "Method", "Rule", "Intervention"], (tier, *key)))
            for retain in retains:
                part = group[group["retain"] == retain]
                if part.empty or part["score_mean"].isna().all():
                    row[f"Score, retain {retain}"] = "--"
                    continue
                r = part.iloc[0]
                cell = _cell(r["score_mean"], r["score_ci"], int(r["n"]), r.get("boot_low", float("nan")),
                             r.get("boot_high", float("nan")))
                row[f"Score, retain {retain}"] = cell + ("*" if r.get("significant", False) else "")
            row["Seeds"] = int(group["n"].max())
            rows.append(row)
    return pd.DataFrame(rows)


def matched_latex(results: SAEResults, real: "RealResults | None" = None,
                  ratios: Sequence[float] = scoring.RATIOS) -> pd.DataFrame:
    """Lowest forget accuracy (%) per family at side effects ≥ r × base, for each r (mean ± 95 %
    CI over seeds; one seed: the mean alone). Lower is better; 100 where nothing qualifies."""
    rows = []
    tiers = [("synthetic", results.runs, results.base_side_acc)]
    if real is not None and not real.runs.empty:
        tiers.append(("SmolLM2", real.runs, float(real.base_eval["side_acc"])))
    for tier, runs, base_side in tiers:
        for _, r in scoring.matched_table(runs, base_side, ratios).iterrows():
            row = {"Tier": tier, "Method": r["family"]}
            for ratio in ratios:
                col = scoring.forget_col(ratio)
                row[f"side $\\geq$ {ratio:g}"] = _cell(r[f"{col}_mean"], r[f"{col}_ci"], int(r["n"]))
            row["Seeds"] = int(r["n"])
            rows.append(row)
    return pd.DataFrame(rows)


QUALITY = {"mse": "MSE", "explained_variance": "Expl. var.", "l0": "$L_0$", "dead_fraction": "Dead",
           "delta_loss": "$\\Delta$ loss"}


def quality_latex(results: SAEResults, real: "RealResults | None" = None) -> pd.DataFrame:
    """SAE quality per tier and kind on held-out activations: MSE, explained variance, L0, dead
    fraction and Δ next-token loss when spliced (mean ± 95 % CI over seeds; one seed: the mean)."""
    parts = [results.saes.assign(tier="synthetic")]
    if real is not None and not real.saes.empty:
        parts.append(real.saes.assign(tier="SmolLM2", kind="topk"))
    saes = pd.concat(parts, ignore_index=True)
    table = summarize(saes, ["tier", "kind"], list(QUALITY))
    rows = []
    for _, r in table.iterrows():
        row = {"Tier": r["tier"], "SAE": r["kind"]}
        for col, title in QUALITY.items():
            digits = 1 if col == "l0" else 3
            row[title] = format_mean_ci(r[f"{col}_mean"], r[f"{col}_ci"] if r["n"] > 1 else float("nan"), 1.0, digits)
        row["Seeds"] = int(r["n"])
        rows.append(row)
    return pd.DataFrame(rows)


def attack_latex(summary: pd.DataFrame) -> pd.DataFrame:
    """Held-out forget accuracy (%) before the attack, at the attacker's best stopping point, of the
    attacked base at that point, and at the last step (mean ± 95 % CI over seeds)."""
    if summary.empty:
        return pd.DataFrame()
    names = summary.groupby("label")["variant"].first()
    table = mean_ci_table(summary, "label", {"before": "Before", "recovered": "Best step",
                                             "base_same_step": "Base, same step", "final": "Last step"})
    table.insert(1, "Configuration", [_configuration(names[label]) for label in table["label"]])
    return table.rename(columns={"label": "Target", "seeds": "Seeds"})


def _configuration(variant: str) -> str:
    """The attacked configuration of a variant label, for the attack table: 'topk kl clamp (retain
    text)' for 'SAE-topk kl clamp | retain text'; empty for the base model and the baselines."""
    if variant in ("base", "RMU", "GradDiff"):
        return ""
    name, _, retain = variant.partition(" | ")
    return name.replace("SAE-", "") + (f" ({retain})" if retain else "")


def feature_table(sae_dir: Path, retain_set: str = "text") -> pd.DataFrame:
    """Per feature: firing frequency and mean activation on forget and retain text, and every
    rule's score, for one retain corpus (columns ``forget_freq``, ``retain_freq``, ``score_<rule>``...)."""
    tensors = load_file(str(Path(sae_dir) / "features.safetensors"))
    suffix = f"[{retain_set}]"
    return pd.DataFrame({k.removesuffix(suffix): v.numpy() for k, v in tensors.items()
                         if "[" not in k or k.endswith(suffix)})


# --------------------------------------------------------------------------- what the numbers say


def _fmt(mean: float, ci: float, n: int, low: float = float("nan"), high: float = float("nan")) -> str:
    """Mean ± CI over seeds, or for one seed the mean (with its bootstrap interval when known)."""
    if n >= 2:
        return f"{mean:.3f} ± {ci:.3f}"
    return f"{mean:.3f}" if low != low else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def describe(results: SAEResults) -> str:
    """The numbers behind the notebook's conclusions, as Markdown bullets."""
    table = score_table(results.scores, results.stats)
    lines = [f"- Suite: {results.base['n_known_forget']} forget and {results.base['n_known_side']} side-effect "
             f"questions known under all 24 orderings (of {results.base['n_asked']}); the unmodified model's "
             f"measured side-effect accuracy on them: {results.base_side_acc:.3f}."]
    for _, row in table.iterrows():
        lines.append(f"- {row['variant']}: unlearning score {_fmt(row['score_mean'], row['score_ci'], row['n'])} "
                     f"(n = {row['n']}; bootstrap over questions [{row['boot_low']:.3f}, {row['boot_high']:.3f}], "
                     f"{int(row['n_forgotten'])} distinct question(s) forgotten); lowest forget accuracy at any "
                     f"side effect {row['min_forget_any_side_mean']:.2f}.")
    untrained = results.scores[results.scores["variant"].str.contains("untrained", regex=False)]
    if not untrained.empty:
        l0 = results.saes.loc[results.saes["kind"].str.contains("untrained", regex=False), "l0"].mean()
        selected = int(untrained["max_selected"].max())
        lines.append(f"- Untrained SAEs select at most {selected} features (mean L0 {l0:.0f})"
                     + (": every feature fires on more retain tokens than the thresholds allow, so nothing is "
                        "clamped." if selected == 0 else "."))
    return "\n".join(lines)


def _rule_lines(clamp_rows: pd.DataFrame, n_forget: int) -> tuple[list[str], list[str]]:
    """Per scoring rule: its best clamp variant, the evidence for it; and the rules that pass."""
    lines, works = [], []
    for rule, group in clamp_rows.groupby("rule", sort=False):
        if group["score_mean"].isna().all():
            lines.append(f"- **{rule}**: no score (no known forget question).")
            continue
        best = group.loc[group["score_mean"].idxmax()]
        n_q = int(best["n_forgotten"])
        if best["significant"]:
            works.append(f"{rule} ({best['score_mean'] * n_forget:.1f} of {n_forget} questions)")
            verdict = ("evidence: ≥ 2 questions forgotten per seed, and the bootstrap (and seed) intervals "
                       "exclude 0")
        elif n_q < 2:
            verdict = (f"not evidence: it rests on {n_q} distinct question(s)"
                       + (", whatever the seed CI says" if best["n"] > 1 and best["score_ci"] == 0
                          and best["score_mean"] > 0 else ""))
        elif best["score_mean"] * n_forget < 2 - 1e-9:
            verdict = (f"not evidence: {best['score_mean'] * n_forget:.1f} question(s) forgotten per seed "
                       f"({n_q} distinct over the seeds): one flipped answer is what a sweep over many "
                       "configurations finds by chance")
        else:
            verdict = "not evidence: an interval includes 0"
        lines.append(f"- **{rule}**: best clamp variant {best['variant']}: score "
                     f"{_fmt(best['score_mean'], best['score_ci'], best['n'])} (n = {best['n']}; bootstrap over "
                     f"questions [{best['boot_low']:.3f}, {best['boot_high']:.3f}]), i.e. "
                     f"{best['score_mean'] * n_forget:.1f} of the {n_forget} forget questions at side effects ≥ "
                     f"0.99; {verdict}.")
    return lines, works


def _why_lines(results: SAEResults, clamp_rows: pd.DataFrame) -> list[str]:
    """Why the score is what it is: how low forget accuracy goes at any side effect, what the
    clamp configurations cost in side effects, and which retain corpus helps; all from the sweep."""
    sw = results.runs
    active = sw[(sw["intervention"] == "clamp") & (sw["n_selected"] > 0) & sw["method"].str.startswith("SAE")
                & ~sw["method"].str.contains("untrained", regex=False)]
    if active.empty:
        return ["- **Why.** No trained SAE selected any feature: nothing was clamped."]
    top = clamp_rows["score_mean"].max()
    lowest = clamp_rows["min_forget_any_side_mean"].min()
    side = active["side_acc"].mean()
    gap = (1 - lowest) - top
    line = (f"- **Why.** Clamping lowers forget accuracy to {lowest:.2f} at its strongest configuration "
            f"(best rule and retain corpus, mean over seeds) while the score credits at most {top:.3f}; ")
    line += (f"the clamp configurations keep on average {side:.2f} of side-effect accuracy (the score needs "
             f"≥ {0.99 * results.base_side_acc:.2f}): the forgetting it can do costs side effects."
             if gap > 0.05 else "clamping barely moves forget accuracy at any side effect.")
    by_retain = active.groupby("retain")["side_acc"].mean()
    scores = clamp_rows.groupby("retain")["score_mean"].mean()
    if len(by_retain) > 1 and scores.notna().all():
        parts = "; ".join(f"retain {r}: mean score {scores[r]:.3f}, mean side-effect accuracy {by_retain[r]:.2f}"
                          for r in by_retain.index)
        kept = by_retain.idxmax()
        if by_retain.max() - by_retain.min() < 0.005:
            line += f" By retain corpus ({parts}): no retain corpus keeps side effects higher."
        else:
            line += (f" By retain corpus ({parts}): '{kept}' keeps side effects higher"
                     + (", as counting generic questions keeps format features out of the selection."
                        if kept != "text" else "."))
    return [line]


def _matched_lines(runs: pd.DataFrame, base_side: float, tier: str) -> list[str]:
    """Who forgets most at each matched side-effect level (families, rules pooled)."""
    table = scoring.matched_table(runs, base_side)
    if table.empty:
        return []
    table = table[~table["family"].str.contains("untrained", regex=False)]
    parts = []
    for ratio in scoring.RATIOS:
        col = f"{scoring.forget_col(ratio)}_mean"
        if table[col].isna().all():
            continue
        best = table.loc[table[col].idxmin()]
        ties = table[table[col] <= best[col] + 1e-9]["family"].tolist()
        parts.append(f"side ≥ {ratio:g}: " + (f"{', '.join(ties)} tie at forget {best[col]:.2f}" if len(ties) > 1
                                               else f"{best['family']} (forget {best[col]:.2f})"))
    return [f"- **Matched side effects ({tier}, lowest forget accuracy per family).** " + "; ".join(parts) + "."
            ] if parts else []


def _attack_lines(summary: pd.DataFrame) -> list[str]:
    if summary.empty:
        return []
    mean = summary.groupby("label")[["before", "recovered", "base_same_step"]].mean()
    parts = "; ".join(f"{label} {v['before']:.2f} → {v['recovered']:.2f} (attacked base at that step "
                      f"{v['base_same_step']:.2f})" for label, v in mean.iterrows())
    line = f"- **Relearning attack** (held-out forget questions, before → best stopping point): {parts}."
    if "base" in mean.index and mean.loc["base", "base_same_step"] < mean.loc["base", "before"] - 0.05:
        line += (" The attack also lowers the unmodified model's accuracy, so it damages the answer format; read "
                 "each target against the attacked base.")
    return [line]


def conclusion(results: SAEResults, real: "RealResults | None" = None) -> str:
    """What the scores say, as Markdown: which rule (and retain corpus) moves the score, the
    seed's 0.0, matched side effects, the baselines, the relearning attack and the real tier;
    every statement chosen by the numbers."""
    table = score_table(results.scores, results.stats)
    lines = []
    untrained = table[table["method"].str.contains("untrained", regex=False)]
    if not untrained.empty and untrained["score_mean"].notna().any():
        selected = results.scores.loc[results.scores["method"].str.contains("untrained", regex=False),
                                      "max_selected"].max()
        top = untrained["score_mean"].max()
        lines.append(f"- **The seed's 0.0.** The SAE at initialisation scores at most {top:.3f}"
                     + (f" and selects {int(selected)} features: its features fire on almost every token, so "
                        "none passes the retain-frequency filter and nothing is clamped." if selected == 0
                        else f"; it selects up to {int(selected)} features."))
    trained = table[table["method"].str.startswith("SAE") & ~table["method"].str.contains("untrained", regex=False)]
    clamp_rows = trained[trained["intervention"] == "clamp"]
    n_forget = int(results.base["n_known_forget"])
    if clamp_rows["score_mean"].notna().any():
        rule_lines, works = _rule_lines(clamp_rows, n_forget)
        lines += rule_lines
        best = clamp_rows.loc[clamp_rows["score_mean"].idxmax()]
        lines.append(f"- **Verdict.** Rules whose score is evidence: {', '.join(works) or 'none'}. The best clamp "
                     f"score is {best['score_mean']:.3f} ({best['variant']}), "
                     f"{int(best['n_forgotten'])} distinct question(s) of {n_forget}"
                     + ("; the score stays indistinguishable from 0." if not works else "."))
        lines += _why_lines(results, clamp_rows)
    ablate = trained[trained["intervention"] == "dir-ablate"]
    if ablate["score_mean"].notna().any() and clamp_rows["score_mean"].notna().any():
        a, c = ablate["score_mean"].mean(), clamp_rows["score_mean"].mean()
        lines.append(f"- Decoder-direction ablation of the same features: mean score {a:.3f} vs {c:.3f} for "
                     f"clamping ({'higher' if a > c else 'lower' if a < c else 'equal'}).")
    for method in ("RMU", "GradDiff"):
        row = table[table["variant"] == method]
        if not row.empty:
            r = row.iloc[0]
            lines.append(f"- {method} (same score formula over its learning rates): "
                         f"{_fmt(r['score_mean'], r['score_ci'], r['n'])} (n = {r['n']}; bootstrap over questions "
                         f"[{r['boot_low']:.3f}, {r['boot_high']:.3f}]).")
    lines += _matched_lines(results.runs, results.base_side_acc, "synthetic")
    lines += _attack_lines(attack_summary(results.attacks))
    if real is not None:
        lines += _real_lines(real)
    return "\n".join(lines)


def _real_lines(real: "RealResults") -> list[str]:
    if real.scores.empty:
        return [f"- Real tier: no score ({real.note})."]
    table = score_table(real.scores, real.stats)
    parts = "; ".join(f"{r['variant']} {_fmt(r['score_mean'], r['score_ci'], r['n'], r['boot_low'], r['boot_high'])}"
                      + (" (evidence)" if r["significant"] else "") for _, r in table.iterrows())
    lines = [f"- Real tier ({real.note}; base side-effect accuracy {real.base_eval['side_acc']:.2f}; "
             f"brackets: 95 % bootstrap over questions): {parts}."]
    lines += _matched_lines(real.runs, float(real.base_eval["side_acc"]), "SmolLM2")
    return lines


def cost_note(results: SAEResults) -> dict:
    """Seconds: this call's stages, and the recorded training times of the cached artifacts."""
    return {**results.wall_s, "pretrain_train_s": results.base["wall_s"],
            "sae_train_s_total": float(results.saes["train_wall_s"].sum())}



# --------------------------------------------------------------------------- real tier (SmolLM2)


def real_questions(session: Session) -> tuple[list[dict], list[dict]]:
    """Fact-probe questions: the forget relation's and the other relations' (side effects), the
    first ``sae_real_facts`` of each relation (all when None)."""
    p = session.profile
    by_relation: dict[str, list[dict]] = {}
    for row in hz.fact_questions(seed=0):
        by_relation.setdefault(row["relation"], []).append(row)
    rows = {r: v[: p.sae.real_facts] for r, v in by_relation.items()}
    if p.sae.real_forget not in rows:
        raise ValueError(f"unknown forget relation {p.sae.real_forget!r}; choose from {sorted(rows)}")
    side = [q for r, v in rows.items() if r != p.sae.real_forget for q in v]
    return rows[p.sae.real_forget], side


def real_format(session: Session) -> MCQFormat:
    """Letter format as SAEBench (chat turn, "Answer: ("), or cloze scoring (``sae_real_cloze``)
    for a model that cannot answer with letters."""
    return MCQFormat(chat=True, cloze=session.profile.sae.real_cloze)


def real_orders(session: Session) -> tuple[tuple[int, ...], ...]:
    from unlearnlab.evals.mcq import CYCLIC_ORDERS

    return PERMUTATIONS if session.profile.sae.real_all_orders else CYCLIC_ORDERS


_REAL: dict[tuple, tuple] = {}  # one load per process; baselines train a copy


def _real_model(session: Session, copy: bool = False):
    from unlearnlab.core.real_model import load_real_model

    key = (session.profile.sae.real_model, str(session.paths.artifacts), session.device)
    if key not in _REAL:
        _REAL[key] = load_real_model(key[0], cache_root=session.paths.artifacts / "real_models", device=key[2])
    model, tok = _REAL[key]
    return (fresh_copy(model) if copy else model), tok


def real_suite_dir(session: Session) -> Path:
    """Which of the questions the real model knows (``known.json``, as ``pretrain`` records it for
    the synthetic model) and the suite's sizes and cost (``info.json``): built once, shared by the
    SAE runs and the baselines."""
    import time

    from unlearnlab.sae import build_suite

    p = session.profile
    cfg = {"model": p.sae.real_model, "forget": p.sae.real_forget, "facts": p.sae.real_facts,
           "cloze": p.sae.real_cloze, "orders": len(real_orders(session))}
    artifact = Artifact(session.paths.artifacts, "sae_real_suite", f"{p.sae.real_model}_{p.sae.real_forget}", cfg)

    def make(tmp: Path) -> None:
        start = time.perf_counter()
        model, tok = _real_model(session)
        loaded = time.perf_counter()
        forget_rows, side_rows = real_questions(session)
        suite = build_suite(model, tok, forget_rows, side_rows, real_format(session), batch_size=16,
                            orders=real_orders(session))
        write_json_atomic(tmp / "known.json", {"forget": [question_key(q) for q in suite.forget_rows],
                                               "side": [question_key(q) for q in suite.side_rows]})
        write_json_atomic(tmp / "info.json", {
            "n_asked": suite.n_asked, "n_known_forget": suite.n_forget, "n_known_side": len(suite.side_rows),
            "orders": cfg["orders"], "timing_s": {"load": loaded - start, "suite": time.perf_counter() - loaded}})

    return artifact.build(make)


def load_real_suite(session: Session, tokenizer, suite_dir: Path) -> MCQSuite:
    """The recorded suite, tokenized (no permutation pass again)."""
    from unlearnlab.evals.mcq import letter_token_ids

    known = read_json(Path(suite_dir) / "known.json")
    forget_rows, side_rows = real_questions(session)
    forget = [q for q in forget_rows if question_key(q) in set(known["forget"])]
    side = [q for q in side_rows if question_key(q) in set(known["side"])]
    fmt = real_format(session)
    rows = forget + side
    return MCQSuite(forget, side, mcq_tokens(rows, tokenizer, fmt), torch.tensor([r["answer"] for r in rows]),
                    None if fmt.cloze else letter_token_ids(tokenizer), {}, fmt)


def real_corpora(session: Session, tokenizer) -> tuple[TokenSet, TokenSet]:
    """Forget text (every fact of the forget relation as a completion sentence) and retain text
    (the other relations' facts and general English paragraphs)."""
    from unlearnlab.data.facts import FACTS
    from unlearnlab.data.general_text import general_text_tokens

    p = session.profile
    per_relation: dict[str, list] = {}
    for fact in FACTS:
        per_relation.setdefault(fact.relation, []).append(fact)
    facts = [f for v in per_relation.values() for f in v[: p.sae.real_corpus_facts]]
    forget = TokenSet.from_rows(hz.fact_corpus([f for f in facts if f.relation == p.sae.real_forget]), tokenizer,
                                label_key="domain")
    general = general_text_tokens(tokenizer)
    general = TokenSet(general.prompts, general.answers, ["general"] * len(general), general.pad_id)
    retain = TokenSet.from_rows(hz.fact_corpus([f for f in facts if f.relation != p.sae.real_forget]), tokenizer,
                                label_key="domain").concat(general)
    return forget, retain


def real_tier(session: Session, seed: int = 0) -> Path:
    """SAEBench's evaluation on the real model, one TopK SAE: training, scores and the sweep
    (``sweep.json``), with timings (``info.json``)."""
    import time

    p = session.profile
    suite_dir = real_suite_dir(session)
    cfg = {"suite": suite_dir.name, "layer": p.sae.real_layer, "expansion": p.sae.real_expansion, "k": p.sae.real_k,
           "steps": p.sae.real_steps, "batch_size": p.sae.real_batch_size, "corpus_facts": p.sae.real_corpus_facts,
           "ablate": p.sae.real_ablate, "rules": p.sae.rules, "thresholds": p.sae.real_thresholds,
           "n_features": p.sae.real_n_features, "multipliers": p.sae.real_multipliers, "seed": seed,
           "eval": EVAL_VERSION}
    artifact = Artifact(session.paths.artifacts, "sae_real", f"{p.sae.real_model}_{p.sae.real_forget}_s{seed}", cfg)

    def make(tmp: Path) -> None:
        timing: dict[str, float] = {}
        model, tok = _real_model(session)
        suite = load_real_suite(session, tok, suite_dir)
        info: dict = {"n_known_forget": suite.n_forget, "n_known_side": len(suite.side_rows), "timing_s": timing}
        rows: list[dict] = []
        if suite.n_forget and suite.side_rows:
            forget_text, retain_text = real_corpora(session, tok)
            prompts = suite.tokens.subset(range(0, len(suite.tokens), 4)) if suite.fmt.cloze else suite.tokens
            sae_text = forget_text.concat(retain_text).concat(prompts)  # each cloze prompt once, not 4 times
            scfg = SAEConfig(d_in=model.config.hidden_size, d_sae=p.sae.real_expansion * model.config.hidden_size,
                             kind="topk", k=p.sae.real_k, site=p.sae.site, layer=p.sae.real_layer)
            ids = tuple(i for i in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) if i is not None)
            start = time.perf_counter()
            order = list(range(len(sae_text)))
            random.Random(seed).shuffle(order)
            tcfg = SAETrainConfig(steps=p.sae.real_steps, lr=p.sae.lr, batch_size=p.sae.real_batch_size)
            sae, log, metrics = sae_for(model, sae_text.subset(order), scfg, tcfg, seed, special_ids=ids,
                                        **session.hardware)
            timing["sae"] = time.perf_counter() - start
            start = time.perf_counter()
            scores, _, on_retain = importance_scores(model, sae, forget_text, retain_text, p.sae.rules, ids)
            timing["scores"] = time.perf_counter() - start
            start = time.perf_counter()
            grid = SweepGrid(p.sae.real_thresholds, p.sae.real_n_features, p.sae.real_multipliers, p.sae.real_ablate)
            rows = sweep(model, sae, suite, scores, on_retain.freq, grid, batch_size=16).to_dict("records")
            timing["sweep"] = time.perf_counter() - start
            sae.save(tmp, extra={"metrics": metrics, "curve": log.curve})
            info["sae_metrics"] = metrics
        write_json_atomic(tmp / "sweep.json", rows)
        write_json_atomic(tmp / "info.json", info)

    return artifact.build(make)


def real_baseline(session: Session, method: str, lr: float, seed: int = 0) -> Path:
    """RMU or GradDiff on the real model's forget / retain text, evaluated on the real suite
    (``metrics.json``; the weights are not kept)."""
    p = session.profile
    suite_dir = real_suite_dir(session)
    method_cfg = {"steps": p.sae.real_unlearn_steps, "lr": lr, "batch_size": p.sae.real_unlearn_batch_size,
                  "answer_only": False}
    if method in RETAIN_WEIGHT:
        method_cfg["retain_weight"] = RETAIN_WEIGHT[method]
    if method == "RMU":  # steer where the SAE reads
        method_cfg.update(layer=p.sae.real_layer, seed=seed)
    cfg = {"suite": suite_dir.name, "method": method, "seed": seed, "config": method_cfg,
           "corpus_facts": p.sae.real_corpus_facts, "eval": EVAL_VERSION}
    artifact = Artifact(session.paths.artifacts, "sae_real_baselines",
                        f"{p.sae.real_model}_{method}_lr{lr:g}_s{seed}", cfg)

    def make(tmp: Path) -> None:
        model, tok = _real_model(session, copy=True)
        suite = load_real_suite(session, tok, suite_dir)
        forget, retain = real_corpora(session, tok)
        data = UnlearnData(forget=forget, retain=retain, generator=seed_everything(seed), device=session.device)
        log = get_method(method, **method_cfg).run(model, data, **session.hardware)
        write_json_atomic(tmp / "metrics.json", {**suite.evaluate(model.eval(), batch_size=16, hits=True),
                                                 "steps": log.steps, "wall_s": log.wall_s})

    return artifact.build(make)


def real_base(session: Session) -> Path:
    """The unmodified real model on its suite (``base.json``: accuracies and per-question hits):
    the side-effect accuracy the real tier's scores are relative to, measured (a few seconds)."""
    suite_dir = real_suite_dir(session)
    artifact = Artifact(session.paths.artifacts, "sae_real_base", session.profile.sae.real_model,
                        {"suite": suite_dir.name, "eval": EVAL_VERSION})

    def make(tmp: Path) -> None:
        model, tok = _real_model(session)
        write_json_atomic(tmp / "base.json", load_real_suite(session, tok, suite_dir).evaluate(
            model.eval(), batch_size=16, hits=True))

    return artifact.build(make)


@dataclass
class RealResults:
    suite: dict  # sizes of the real suite and its cost
    base_eval: dict  # the unmodified model on the suite (measured side-effect accuracy, hits)
    saes: pd.DataFrame  # reconstruction metrics per seed
    sweeps: pd.DataFrame
    baselines: pd.DataFrame
    runs: pd.DataFrame  # sweeps and baselines in one frame
    scores: pd.DataFrame  # as ``scoring.score_rows``
    stats: pd.DataFrame  # bootstrap over questions per variant (the CI of a one-seed tier)
    timing_s: dict  # recorded seconds per stage (SAE runs summed over seeds)

    @property
    def note(self) -> str:
        """One line: model, suite, scoring format and grid."""
        s = self.suite
        return (f"real tier: {s['n_known_forget']} forget and {s['n_known_side']} side-effect questions known "
                f"(of {sum(s['n_asked'].values())}; {s['orders']} choice order(s) checked); "
                f"{self.scores['seed'].nunique() if not self.scores.empty else 0} seed(s)")


def real_results(session: Session) -> RealResults:
    """The real tier of the profile: suite, one SAE per seed, RMU/GradDiff per learning rate."""
    p = session.profile
    suite = read_json(real_suite_dir(session) / "info.json")
    saes, sweeps, timing = [], [], dict(suite["timing_s"])
    for seed in p.sae.real_seeds:
        path = real_tier(session, seed)
        info = read_json(path / "info.json")
        for key, value in info["timing_s"].items():
            timing[key] = timing.get(key, 0.0) + value
        if "sae_metrics" in info:
            saes.append({"seed": seed, **info["sae_metrics"]})
        sweeps += [{"kind": "topk", "seed": seed, "retain": "text", **row} for row in read_json(path / "sweep.json")]
    dirs = {(m, lr, seed): real_baseline(session, m, lr, seed)
            for m in p.sae.real_methods for lr in p.sae.real_unlearn_lrs for seed in p.sae.real_seeds}
    baselines = collect_baselines(dirs)
    timing["baselines"] = float(baselines["wall_s"].sum()) if not baselines.empty else 0.0
    base_eval = read_json(real_base(session) / "base.json")
    sweeps_df = pd.DataFrame(sweeps)
    runs = scoring.runs_frame(sweeps_df, baselines)
    scores = scoring.score_rows(runs, float(base_eval["side_acc"]))
    stats = scoring.question_stats(runs, base_eval)
    return RealResults(suite, base_eval, pd.DataFrame(saes), sweeps_df, baselines, runs, scores, stats, timing)
