"""Sparse autoencoders, feature-level interventions and the SAEBench-style unlearning evaluation."""

from functools import partial

import pandas as pd
import pytest
import torch

from unlearnlab.core.models import ModelSize, build_llama
from unlearnlab.core.tokenizer import train_tokenizer
from unlearnlab.data import hazard, questions
from unlearnlab.data.questions import PERMUTATIONS, MCQFormat, letter_token_ids, mcq_tokens, permuted
from unlearnlab.evals import unlearning_score as us
from unlearnlab.evals.mcq import build_suite, known_under_all_permutations, letter_logits, predictor
from unlearnlab.evals.unlearning_score import unlearning_score
from unlearnlab.methods.sae_clamp import SweepGrid, sweep
from unlearnlab.sae import (FeatureStats, SAEConfig, SAETrainConfig, SparseAutoencoder, ablate_directions,
                            attribution_scores, clamp, collect_activations, delta_loss, intervene, kl_scores,
                            select_features, splice, train_sae)
from unlearnlab.sae.hooks import real_token_mask

pytestmark = pytest.mark.integration

D = 16  # conftest's TINY model width


def logits(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def random_sae(kind="topk", d_sae=64, k=8, layer=0, site="resid_post", seed=0):
    return SparseAutoencoder(SAEConfig(d_in=D, d_sae=d_sae, kind=kind, k=k, layer=layer, site=site), seed).eval()


def identity_sae(layer=0):
    """A ReLU SAE that reconstructs perfectly: f = [relu(x), relu(-x)], x̂ = relu(x) − relu(−x) = x."""
    sae = SparseAutoencoder(SAEConfig(d_in=D, d_sae=2 * D, kind="relu", layer=layer))
    eye = torch.eye(D)
    with torch.no_grad():
        sae.W_dec_raw.copy_(torch.cat([eye, -eye]))
        sae.W_enc.copy_(torch.cat([eye, -eye]).T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


# ------------------------------------------------------------------ the SAE itself


def test_topk_sae_keeps_exactly_k_active_features():
    sae = random_sae("topk", d_sae=64, k=5)
    x = torch.randn(200, D)
    f = sae.encode(x)
    assert ((f > 0).sum(-1) == 5).all()
    pre = sae.pre_activations(x)
    kept = f.topk(5, dim=-1).indices.sort(-1).values
    assert torch.equal(kept, pre.topk(5, dim=-1).indices.sort(-1).values)  # the k largest pre-activations
    relu = random_sae("relu", d_sae=64)
    assert ((relu.encode(torch.randn(200, D)) > 0).sum(-1) > 5).any()  # ReLU has no such cap


def test_decoder_rows_have_unit_norm_whatever_the_parameter():
    sae = random_sae()
    with torch.no_grad():
        sae.W_dec_raw.mul_(torch.rand(64, 1) * 10)
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(64))


def test_training_reconstructs_low_rank_data_and_auxk_revives_dead_features():
    gen = torch.Generator().manual_seed(0)  # sparse data: 2 of 12 true directions per token, plus an offset
    codes = torch.zeros(4000, 12).scatter(1, torch.randint(12, (4000, 2), generator=gen), 1.0)
    acts = (codes * torch.rand(4000, 12, generator=gen) * 3) @ torch.randn(12, D, generator=gen) + 3.0
    cfg = SAEConfig(d_in=D, d_sae=32, kind="topk", k=4, dead_tokens=500, aux_k=8)
    sae, log = train_sae(acts, cfg, SAETrainConfig(steps=150, lr=1e-2, batch_size=256, log_every=10), seed=0)
    from unlearnlab.sae import reconstruction_metrics

    metrics = reconstruction_metrics(sae, acts[:1000])
    assert metrics["explained_variance"] > 0.8 and metrics["l0"] <= 4
    assert log.curve[-1]["mse"] < log.curve[0]["mse"]
    assert any("aux" in row for row in log.curve)  # some feature went silent and AuxK kicked in


def test_save_and_load_round_trip(tmp_path):
    sae = random_sae("relu")
    with torch.no_grad():
        sae.scale.fill_(0.5)
    sae.save(tmp_path / "sae", extra={"metrics": {"l0": 3.0}})
    loaded = SparseAutoencoder.load(tmp_path / "sae")
    x = torch.randn(7, D)
    torch.testing.assert_close(loaded(x), sae(x))
    assert loaded.cfg == sae.cfg
    with pytest.raises(FileNotFoundError, match="no SAE"):
        SparseAutoencoder.load(tmp_path / "missing")


# ------------------------------------------------------------------ hooks and interventions


def test_spliced_perfect_reconstruction_leaves_logits_unchanged(tiny_model, tokens):
    batch = tokens.batch(range(8))
    clean = logits(tiny_model, batch)
    with intervene(tiny_model, "resid_post", 0, splice(identity_sae())):
        torch.testing.assert_close(logits(tiny_model, batch), clean, rtol=1e-5, atol=1e-5)
    with intervene(tiny_model, "resid_post", 1, splice(random_sae(layer=1), keep_error=True)):
        torch.testing.assert_close(logits(tiny_model, batch), clean, rtol=1e-5, atol=1e-5)
    with intervene(tiny_model, "mlp_out", 0, splice(random_sae(site="mlp_out"))):  # lossy: it does change
        assert not torch.allclose(logits(tiny_model, batch), clean, atol=1e-3)
    torch.testing.assert_close(logits(tiny_model, batch), clean)  # hooks removed
    assert abs(delta_loss(tiny_model, identity_sae(), tokens.subset(range(8)))["delta_loss"]) < 1e-5


def test_clamping_no_features_equals_the_base_model(tiny_model, tokens):
    batch = tokens.batch(range(8))
    clean = logits(tiny_model, batch)
    sae = random_sae()
    with intervene(tiny_model, "resid_post", 0, clamp(sae, [], 100.0)):
        assert torch.equal(logits(tiny_model, batch), clean)
    with torch.no_grad():
        sae.b_enc.fill_(-1e3)  # nothing fires: the clamp edits nothing
    with intervene(tiny_model, "resid_post", 0, clamp(sae, range(64), 100.0)):
        torch.testing.assert_close(logits(tiny_model, batch), clean)


def test_clamp_matches_saebench_error_plus_modified_reconstruction():
    sae = random_sae("relu", d_sae=48)
    x = torch.randn(3, 5, D)
    chosen = [0, 3, 7, 20]
    f = sae.encode(x)
    error = x - sae.decode(f)
    modified = f.clone()
    modified[..., chosen] = torch.where(f[..., chosen] > 0, torch.tensor(-25.0), f[..., chosen])
    torch.testing.assert_close(clamp(sae, chosen, 25.0)(x), error + sae.decode(modified), rtol=1e-5, atol=1e-5)


def test_hooks_keep_position_zero(tiny_model, tokens):
    from unlearnlab.sae import site_output

    batch = tokens.batch(range(4))
    clean = site_output(tiny_model, batch, "resid_post", 0)
    with intervene(tiny_model, "resid_post", 0, lambda x: x + 5.0):
        edited = site_output(tiny_model, batch, "resid_post", 0)  # its hook runs after the edit
    torch.testing.assert_close(edited[:, 0], clean[:, 0])
    torch.testing.assert_close(edited[:, 1:], clean[:, 1:] + 5.0)


def test_direction_ablation_removes_the_decoder_directions():
    sae = random_sae("relu")
    x = torch.randn(2, 6, D)
    out = ablate_directions(sae, [1, 4])(x)
    torch.testing.assert_close(out @ sae.W_dec[[1, 4]].T, torch.zeros(2, 6, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(ablate_directions(sae, [])(x), x)


def test_collect_activations_counts_real_tokens_after_position_zero(tiny_model, tokens):
    data = tokens.subset(range(10))
    acts = collect_activations(tiny_model, data, "resid_post", 1, batch_size=4)
    n_real = sum(len(p) + len(a) - 1 for p, a in zip(data.prompts, data.answers))
    assert acts.shape == (n_real, D)
    assert collect_activations(tiny_model, data, "mlp_out", 0, max_tokens=5).shape == (5, D)


# ------------------------------------------------------------------ feature statistics and scores


def test_select_features_drops_retain_active_features_and_ranks_the_rest():
    scores = torch.tensor([5.0, 4.0, 3.0, 0.0, 2.0])
    retain = torch.tensor([0.5, 0.001, 0.0, 0.0, 0.02])
    assert select_features(scores, retain, 0.01, 10) == [1, 2]
    assert select_features(scores, retain, 0.01, 1) == [1]
    assert select_features(scores, retain, 1.0, 3) == [0, 1, 2]


def test_kl_scores_are_one_sided_and_grow_with_separation():
    forget = FeatureStats(torch.tensor([0.5, 0.1, 0.1, 0.3]), torch.zeros(4), 100)
    retain = FeatureStats(torch.tensor([0.001, 0.1, 0.4, 0.01]), torch.zeros(4), 100)
    s = kl_scores(forget, retain)
    assert s[1] == 0 and s[2] == 0 and s[0] > s[3] > 0


def test_attribution_equals_autograd_through_the_features(tiny_model, tokens):
    from unlearnlab.core.logprobs import logits_of, nll

    sae = random_sae("relu", layer=1)
    data = tokens.subset(range(6))
    got = attribution_scores(tiny_model, sae, data, batch_size=6)
    batch = data.batch(range(6))
    mask = real_token_mask(batch)
    leaf = {}

    def hook(module, args, out):
        f = sae.encode(out).detach().requires_grad_(True)
        leaf["f"] = f
        return out - sae.decode(f).detach() + sae.decode(f)  # value unchanged, gradient reaches f

    handle = tiny_model.model.layers[1].register_forward_hook(hook)
    loss = nll(logits_of(tiny_model, batch), batch) * batch["attention_mask"][:, 1:].sum()
    handle.remove()
    (grad,) = torch.autograd.grad(loss, leaf["f"])
    want = (-leaf["f"].detach() * grad)[mask].sum(0) / mask.sum()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------ multiple choice and the score


def rows_(n=3):
    return [{"question": f"q{i}", "choices": ["w", "x", "y", "z"], "answer": i % 4, "subject": "s", "domain": "d"}
            for i in range(n)]


def test_permutation_filter_keeps_only_questions_right_under_every_ordering():
    def fake(rows):
        # q0: always right; q1: right unless its answer sits at D; q2: always says A
        preds = []
        for r in rows:
            if r["question"] == "q0":
                preds.append(r["answer"])
            elif r["question"] == "q1":
                preds.append(r["answer"] if r["answer"] != 3 else 0)
            else:
                preds.append(0)
        return torch.tensor(preds)

    assert known_under_all_permutations(fake, rows_(3)) == [0]
    assert known_under_all_permutations(fake, rows_(3), orders=[(0, 1, 2, 3)]) == [0, 1]
    assert len(PERMUTATIONS) == 24 and PERMUTATIONS[0] == (0, 1, 2, 3)


def test_permuted_moves_the_answer_with_its_choice():
    row = {"question": "q", "choices": ["a", "b", "c", "d"], "answer": 1}
    for order in PERMUTATIONS:
        new = permuted(row, order)
        assert new["choices"][new["answer"]] == "b" and sorted(new["choices"]) == ["a", "b", "c", "d"]


def test_unlearning_score_hand_computed():
    results = pd.DataFrame({"forget_acc": [0.8, 0.3, 0.1, 0.5], "side_acc": [1.0, 0.995, 0.98, 0.99]})
    assert unlearning_score(results, 1.0) == pytest.approx(0.7)  # 0.1 is disqualified (0.98 < 0.99)
    assert unlearning_score(results, 0.9) == pytest.approx(0.9)  # threshold 0.891: all qualify
    assert unlearning_score(results.iloc[[2]], 1.0) == 0.0  # nothing qualifies
    assert pd.isna(unlearning_score(pd.DataFrame({"forget_acc": [float("nan")], "side_acc": [1.0]}), 1.0))


@pytest.fixture(scope="module")
def world_tokenizer():
    cfg = hazard.HazardConfig(n_forget_entities=4, n_side_entities=2)
    texts = [r["text"] for r in hazard.world_corpus(cfg)]
    texts += [MCQFormat().text(q) for q in hazard.world_questions(cfg)]
    return train_tokenizer(texts, vocab_size=300)


def test_letter_logits_read_the_last_prompt_position(world_tokenizer):
    rows = hazard.world_questions(hazard.HazardConfig(n_forget_entities=4, n_side_entities=2))[:6]
    model = build_llama(ModelSize(d_model=16, n_layers=1, n_heads=2, d_mlp=32, max_len=64), len(world_tokenizer),
                        world_tokenizer)
    data = mcq_tokens(rows, world_tokenizer)
    letters = letter_token_ids(world_tokenizer)
    got = letter_logits(model, data, letters, batch_size=4)
    for i in range(len(rows)):  # unpadded, one at a time
        ids = torch.tensor([data.prompts[i]])
        last = model(input_ids=ids).logits[0, -1]
        torch.testing.assert_close(got[i], torch.stack([last[l].max() for l in letters]), rtol=1e-4, atol=1e-4)
    assert data.answers[0] == [letters[rows[0]["answer"]][0]]
    preds = predictor(model, world_tokenizer)(rows)
    assert torch.equal(preds, got.argmax(-1))


def test_cloze_scores_are_the_log_likelihood_of_each_choice(world_tokenizer):
    from unlearnlab.core.logprobs import logits_of, sequence_logprob
    from unlearnlab.evals.mcq import choice_scores

    rows = hazard.world_questions(hazard.HazardConfig(n_forget_entities=4, n_side_entities=2))[:3]
    model = build_llama(ModelSize(d_model=16, n_layers=1, n_heads=2, d_mlp=32, max_len=64), len(world_tokenizer),
                        world_tokenizer)
    fmt = MCQFormat(cloze=True)
    data = mcq_tokens(rows, world_tokenizer, fmt)
    assert len(data) == 4 * len(rows) and "A." not in fmt.cloze_text(rows[0])
    got = choice_scores(model, data, fmt, None, batch_size=5)
    for i, row in enumerate(rows):
        for j in range(4):
            one = data.subset([4 * i + j]).batch([0])
            want = sequence_logprob(logits_of(model, one), one, answer_only=True)[0]
            torch.testing.assert_close(got[i, j], want, rtol=1e-4, atol=1e-4)
            assert world_tokenizer.decode(data.answers[4 * i + j]).replace(" ", "") == row["choices"][j]
    suite = build_suite(model, world_tokenizer, rows, [], fmt)
    known = [i for i in range(len(rows)) if got[i].argmax() == rows[i]["answer"]]
    assert suite.forget_rows == [rows[i] for i in known]  # cloze: correct once, no orders to permute


def test_sweep_end_to_end_on_a_tiny_model(world_tokenizer):
    cfg = hazard.HazardConfig(n_forget_entities=4, n_side_entities=2)
    rows = hazard.world_questions(cfg)
    model = build_llama(ModelSize(d_model=16, n_layers=2, n_heads=2, d_mlp=32, max_len=64), len(world_tokenizer),
                        world_tokenizer)
    forget = [r for r in rows if r["domain"] == hazard.FORGET_DOMAIN]
    side = [r for r in rows if r["domain"] != hazard.FORGET_DOMAIN]
    suite = build_suite(model, world_tokenizer, forget, side)
    assert suite.n_asked[hazard.FORGET_DOMAIN] == len(forget)
    assert len(suite.forget_rows) + len(suite.side_rows) < len(rows)  # a random model knows little
    suite = type(suite).of(forget, side, world_tokenizer)  # every question, known or not
    base = suite.evaluate(model)
    sae = random_sae("relu", layer=1)
    scores = {"frequency": torch.rand(64), "kl": torch.zeros(64)}
    grid = SweepGrid(retain_thresholds=(0.5,), n_features=(0, 5), multipliers=(10.0,))
    table = sweep(model, sae, partial(suite.evaluate, hits=True), scores, torch.zeros(64), grid)
    assert len(table) == 2 * 2 * 2  # rules × n_features × (clamp + ablate)
    untouched = table[(table["n_selected"] == 0)]
    assert (untouched["forget_acc"] == base["forget_acc"]).all() and (untouched["side_acc"] == base["side_acc"]).all()
    assert set(table.loc[table["rule"] == "kl", "n_selected"]) == {0}  # no positive score, nothing selected
    assert (untouched["forget_hits"] == base_hits(suite, model)["forget_hits"]).all()
    assert table["forget_hits"].str.len().eq(len(forget)).all() and table["side_hits"].str.len().eq(len(side)).all()


def base_hits(suite, model):
    return suite.evaluate(model, hits=True)


# ------------------------------------------------------------------ scores from sweeps: matched, bootstrap, evidence


def hand_sweep(forget_hits, side_hits):
    """Sweep rows from per-question hit strings (accuracies follow from them)."""
    return pd.DataFrame({"forget_hits": forget_hits, "side_hits": side_hits,
                         "forget_acc": [h.count("1") / len(h) for h in forget_hits],
                         "side_acc": [h.count("1") / len(h) for h in side_hits]})


def test_matched_forget_on_a_hand_made_sweep():
    results = pd.DataFrame({"forget_acc": [0.9, 0.6, 0.2], "side_acc": [1.0, 0.96, 0.91]})
    got = us.matched_forget(results, 1.0, (0.99, 0.95, 0.90))
    assert got == {0.99: pytest.approx(0.9), 0.95: pytest.approx(0.6), 0.90: pytest.approx(0.2)}
    assert us.matched_forget(results, 0.5, (0.99,))[0.99] == pytest.approx(0.2)  # measured base 0.5: all qualify
    assert us.matched_forget(results.iloc[[2]], 1.0, (0.95,))[0.95] == 1.0  # none qualifies: counted as 1


def test_score_rows_use_the_measured_base_side_accuracy():
    baselines = pd.DataFrame({"method": "RMU", "seed": 0, "forget_acc": [0.5, 0.9], "side_acc": [0.8, 0.85]})
    runs = us.runs_frame(pd.DataFrame(), baselines)
    assert us.score_rows(runs, 1.0)["score"].item() == 0.0  # nothing keeps 0.99 of a base at 1.0
    row = us.score_rows(runs, 0.8).iloc[0]  # base measured at 0.8: both runs qualify
    assert row["score"] == pytest.approx(0.5) and row[us.forget_col(0.9)] == pytest.approx(0.5)


def test_bootstrap_over_questions_brackets_the_score_and_is_zero_when_nothing_is_forgotten():
    base = "1" * 20
    half = hand_sweep(["1" * 10 + "0" * 10, "1" * 20], [base, "0" * 20])  # 2nd config loses every side question
    low, high = us.score_bootstrap([half, half], base)
    assert 0.2 < low < 0.5 < high < 0.8
    assert us.score_bootstrap([hand_sweep(["1" * 20], [base])], base) == (0.0, 0.0)
    assert us.score_bootstrap([hand_sweep(["0" * 20], ["0" * 20])], base) == (0.0, 0.0)  # disqualified
    assert all(map(pd.isna, us.score_bootstrap([pd.DataFrame({"forget_acc": [0.5], "side_acc": [1.0]})], base)))


def test_significance_rejects_a_zero_variance_single_question_score():
    base = "1" * 36
    one = hand_sweep(["0" + "1" * 35], [base])  # every seed forgets the same question: score 1/36, seed CI 0
    runs = [one, one, one]
    low, _ = us.score_bootstrap(runs, base)
    n_q = len(us.forgotten_questions(runs, 1.0))
    assert n_q == 1 and low == 0.0
    assert not us.is_significant(n_q, low, 3, 1 / 36, 0.0)
    assert not us.is_significant(1, 0.02, 3, 1 / 36, 0.0)  # one question is never enough
    many = hand_sweep(["0" * 12 + "1" * 24], [base])
    low, _ = us.score_bootstrap([many] * 3, base)
    assert low > 0 and us.is_significant(len(us.forgotten_questions([many], 1.0)), low, 3, 1 / 3, 0.0)
    assert not us.is_significant(12, low, 3, 0.1, 0.2)  # the seed CI includes 0
    # one question per seed, a different one each time: distinct questions 3, bootstrap > 0, seed CI 0
    assert us.is_significant(3, 0.009, 3, 1 / 36, 0.0)
    assert not us.is_significant(3, 0.009, 3, 1 / 36, 0.0, n_questions=36)
    assert us.is_significant(12, low, 3, 1 / 3, 0.0, n_questions=36)


def test_score_table_marks_evidence_per_variant():
    base = {"side_acc": 1.0, "side_hits": "1" * 10}
    rows = []
    for seed in range(3):
        rows.append({"method": "RMU", "seed": seed, "forget_hits": "0" + "1" * 9, "side_hits": "1" * 10})
        rows.append({"method": "GradDiff", "seed": seed, "forget_hits": "0000011111", "side_hits": "1" * 10})
    baselines = hand_sweep([r["forget_hits"] for r in rows], [r["side_hits"] for r in rows]).assign(
        method=[r["method"] for r in rows], seed=[r["seed"] for r in rows])
    runs = us.runs_frame(pd.DataFrame(), baselines)
    table = us.score_table(us.score_rows(runs, 1.0), us.question_stats(runs, base))
    verdict = dict(zip(table["variant"], table["significant"]))
    assert verdict == {"GradDiff": True, "RMU": False}
    matched = us.matched_table(runs, 1.0).set_index("family")
    assert matched.loc["GradDiff", f"{us.forget_col(0.9)}_mean"] == pytest.approx(0.5)


def test_attack_summary_reads_recovery_against_the_attacked_base():
    from unlearnlab.experiments.sae.attack import attack_summary

    curve = lambda accs: [{"lr": 1e-3, "step": 10 * i, "forget_acc": a, "val_forget_acc": a}  # noqa: E731
                          for i, a in enumerate(accs)]
    attacks = pd.DataFrame([
        {"label": "base", "variant": "base", "seed": 0, "before": 1.0, "post_attack_forget_acc": 0.7,
         "curve": curve([1.0, 0.9, 0.7])},
        {"label": "RMU", "variant": "RMU", "seed": 0, "before": 0.4, "post_attack_forget_acc": 0.5,
         "curve": curve([0.4, 0.8, 0.5])}])
    summary = attack_summary(attacks).set_index("label")
    assert summary.loc["RMU", "recovered"] == 0.8 and summary.loc["RMU", "base_same_step"] == 0.9
    assert summary.loc["base", "recovered"] == 0.9 and summary.loc["RMU", "final"] == 0.5


def test_score_bars_colour_variants_by_intervention_from_the_style():
    from unlearnlab.plots.sae import style_name
    from unlearnlab.plots.style import color

    assert style_name("SAE-topk attribution clamp | retain text") == "SAE-clamp"
    assert style_name("SAE-relu kl dir-ablate | retain text+mcq") == "SAE-dir-ablate"
    assert style_name("SAE-relu-untrained kl clamp | retain text") == "SAE-untrained"
    assert style_name("RMU") == "RMU" and color(style_name("GradDiff")) == color("GradDiff")
    assert len({color(n) for n in ("SAE-clamp", "SAE-dir-ablate", "SAE-untrained", "RMU", "GradDiff")}) == 5


# ------------------------------------------------------------------ data


def test_hazard_world_questions_are_well_formed_and_stated_in_the_corpus():
    cfg = hazard.HazardConfig(n_forget_entities=8, n_side_entities=4)
    questions = hazard.world_questions(cfg)
    corpus = " ".join(r["text"] for r in hazard.world_corpus(cfg))
    assert {q["domain"] for q in questions} == set(hazard.DOMAINS)
    for q in questions:
        assert len(set(q["choices"])) == 4 and 0 <= q["answer"] < 4
        assert q["entity"] in corpus and q["choices"][q["answer"]] in corpus
    forget = [q for q in questions if q["domain"] == hazard.FORGET_DOMAIN]
    assert {q["subject"] for q in forget} == {"biology"}
    attack = {q["entity"] for q in forget if q["split"] == "attack"}
    assert attack and attack.isdisjoint({q["entity"] for q in forget if q["split"] == "eval"})
    assert questions == hazard.world_questions(cfg)  # deterministic


def test_hazard_world_builds_once_and_loads_its_parts(tmp_path):
    from unlearnlab.data.hazard import HazardWorld

    cfg = hazard.HazardConfig(n_forget_entities=4, n_side_entities=2, n_english=10, n_generic=5, vocab_size=300)
    directory = HazardWorld.build(cfg, tmp_path)
    assert HazardWorld.build(cfg, tmp_path) == directory  # skipped when done
    world = HazardWorld.load(directory)
    assert world.questions == hazard.world_questions(cfg) and len(world.generic) == 5
    assert set(world.forget_corpus().labels) == {hazard.FORGET_DOMAIN}
    assert hazard.FORGET_DOMAIN not in set(world.retain_corpus(with_format=True).labels)
    assert set(world.attack_set(8, seed=0).labels) == {hazard.FORGET_DOMAIN} and world.special_ids()
    with pytest.raises(FileNotFoundError, match="HazardWorld.build"):
        HazardWorld.load(tmp_path / "missing")


def test_sae_clamp_method_trains_the_carried_sae_and_attaches_its_edit(tiny_model, tokens):
    from unlearnlab.data.arithmetic import FORGET_OPS, RETAIN_OPS
    from unlearnlab.methods import UnlearnData, get_method

    method = get_method("SAEClamp", layer=1, expansion=2, k=4, steps=3, batch_size=16, rule="kl",
                        retain_threshold=1.0, n_features=3, multiplier=10.0)
    data = UnlearnData(tokens.where(FORGET_OPS), tokens.where(RETAIN_OPS), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="prepare"):
        method.run(tiny_model, data)
    batch = tokens.batch(range(4))
    clean = logits(tiny_model, batch)
    sae = method.prepare(tiny_model)
    assert torch.equal(logits(tiny_model, batch), clean)  # carrying an SAE changes nothing
    log = method.run(tiny_model, data)
    assert log.steps == 3 and 0 < len(method.features) <= 3
    assert not torch.equal(logits(tiny_model, batch), clean)  # the clamp edits the forward pass
    method.handle.remove()
    assert torch.equal(logits(tiny_model, batch), clean) and not any(p.requires_grad for p in sae.parameters())


def test_generic_questions_ask_the_format_about_no_domain():
    from unlearnlab.data.english import LEXICON

    rows = questions.validate_rows(hazard.generic_questions(30, seed=1))
    for row in rows:
        category = hazard.WORD_CLASSES[row["question"].removeprefix("Which word is ").rstrip("?")]
        assert [c in LEXICON[category] for c in row["choices"]].count(True) == 1
        assert row["choices"][row["answer"]] in LEXICON[category] and row["domain"] == hazard.GENERIC_DOMAIN


def test_fact_questions_for_the_real_tier_use_same_relation_distractors():
    from unlearnlab.data.facts import FACTS

    rows = hazard.fact_questions()
    assert len(rows) == len(FACTS)
    by_relation = {}
    for f in FACTS:
        by_relation.setdefault(f.relation, set()).add(f.object)
    for r in rows:
        assert set(r["choices"]) <= by_relation[r["relation"]] and len(set(r["choices"])) == 4
    assert any("Paris" in r["choices"] for r in rows if r["relation"] == "capital")


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".json"])
def test_question_files_round_trip(tmp_path, suffix):
    rows = [{"question": "Which?", "choices": ["a", "b", "c", "d"], "answer": 2},
            {"question": "What?", "choices": ["e", "f", "g", "h"], "answer": 0}]
    path = tmp_path / f"wmdp{suffix}"
    if suffix == ".json":
        import json

        path.write_text(json.dumps(rows))
    else:
        questions.save_questions(rows, path)
    loaded = questions.load_wmdp_bio(path)
    assert [r["answer"] for r in loaded] == [2, 0] and loaded[0]["choices"] == ["a", "b", "c", "d"]
    assert loaded[0]["subject"] == "biology"
    mmlu = questions.load_mmlu("high_school_us_history", path)
    assert mmlu[0]["subject"] == "high school us history"


def test_question_loaders_give_clear_errors(tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "choices": ["a", "b"], "answer": 0}\n')
    with pytest.raises(ValueError, match="4 choices"):
        questions.load_questions(bad)
    bad.write_text('{"question": "q", "answer": 0}\n')
    with pytest.raises(ValueError, match="choices"):
        questions.load_questions(bad)
    with pytest.raises(FileNotFoundError):
        questions.load_questions(tmp_path / "none.parquet")

    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="local parquet/json"):
        questions.load_wmdp_bio()
    with pytest.raises(RuntimeError, match="cais/mmlu"):
        questions.load_mmlu("human_aging")


def test_mcq_text_follows_saebench():
    row = {"question": "Which host?", "choices": ["a", "b", "c", "d"], "answer": 0, "subject": "biology"}
    text = MCQFormat().text(row)
    assert text == ("The following are multiple choice questions (with answers) about biology.\n"
                    "Which host?\nA. a\nB. b\nC. c\nD. d\nAnswer:")


def test_reports_are_conditioned_on_hand_made_results(tmp_path):
    """describe / conclusion / the four tables / the figures on a hand-made synthetic tier: a
    clamp variant that forgets the same single question in every seed is not called evidence."""
    from unlearnlab.experiments.sae import report
    from unlearnlab.experiments.sae import run as xs
    from unlearnlab.experiments.sae.attack import attack_summary
    from unlearnlab.experiments.session import Session
    from unlearnlab.plots import sae as sae_plots
    from unlearnlab.profiles import get_profile
    base_eval = {"forget_acc": 1.0, "side_acc": 1.0, "forget_hits": "1" * 10, "side_hits": "1" * 10,
                 "val_side_acc": 1.0, "val_side_hits": "1" * 10}
    sweeps, baselines, attacks = [], [], []
    for seed in range(3):
        for rule, forget in (("frequency", "0" + "1" * 9), ("kl", "1" * 10)):
            for retain in ("text", "text+mcq"):
                common = {"kind": "topk", "seed": seed, "rule": rule, "retain": retain, "n_selected": 5,
                          "features": [1, 2], "retain_threshold": 0.01, "n_features": 5}
                sweeps.append({**common, "intervention": "clamp", "multiplier": 10.0, "forget_hits": forget,
                               "side_hits": "1" * 10})
                sweeps.append({**common, "intervention": "clamp", "multiplier": 40.0, "forget_hits": "0" * 8 + "11",
                               "side_hits": "1" * 9 + "0"})
                sweeps.append({**common, "intervention": "ablate", "multiplier": None, "forget_hits": "1" * 10,
                               "side_hits": "1" * 10})
        baselines.append({"method": "RMU", "lr": 1e-3, "seed": seed, "model_dir": "x", "forget_hits": "1" * 10,
                          "side_hits": "1" * 10})
        curve = [{"lr": 1e-3, "step": s, "forget_acc": a, "val_forget_acc": a} for s, a in ((0, 1.0), (10, 0.9))]
        attacks += [{"label": "base", "variant": "base", "seed": seed, "before": 1.0, "curve": curve,
                     "post_attack_forget_acc": 0.9, "worst_lr": 1e-3}]
    for rows in (sweeps, baselines):
        for r in rows:
            r["forget_acc"], r["side_acc"] = r["forget_hits"].count("1") / 10, r["side_hits"].count("1") / 10
            r["val_forget_acc"], r["val_side_acc"] = r["forget_acc"], r["side_acc"]  # validation as test here
    sweeps, baselines = pd.DataFrame(sweeps), pd.DataFrame(baselines)
    runs = us.runs_frame(sweeps, baselines)
    saes = pd.DataFrame([{"kind": "topk", "seed": s, "mse": 0.1, "explained_variance": 0.9, "l0": 8.0,
                          "dead_fraction": 0.0, "delta_loss": 0.05, "train_wall_s": 1.0} for s in range(3)])
    from unlearnlab.experiments.sae import per_model
    evals = {seed: base_eval for seed in range(3)}
    keys = {seed: [f"hazard/e{i}/host" for i in range(10)] for seed in range(3)}
    bases = pd.DataFrame([{"seed": s, "n_known_forget": 20, "n_known_side": 20, "n_asked": {}, "wall_s": 1.0,
                           "n_val_forget": 10, "n_test_forget": 10, "n_val_side": 10, "n_test_side": 10}
                          for s in range(3)])
    results = xs.SAEResults({s: tmp_path for s in range(3)}, bases, evals, saes,
                            pd.DataFrame({"kind": ["topk"], "seed": [0], "step": [0], "mse": [1.0],
                                          "dead_fraction": [0.0]}),
                            sweeps, baselines, runs, per_model.score_rows(runs, evals),
                            per_model.question_stats(runs, evals, keys), pd.DataFrame(attacks), {}, {})
    text = report.conclusion(results)
    assert "Rules whose score is evidence: none" in text and "rests on 1 distinct question" in text
    assert "0 distinct)" in report.describe(results) and "seed 2: 20 forget (10 validation, 10 test)" in report.describe(results)
    assert "chosen after seeing results" in report.main_caption(Session(get_profile("smoke"), None), results, None)
    assert "SAE-topk clamp (forget 0.20)" in text  # matched side effects at 0.90: the 40x clamp wins
    main = report.latex_table(results)
    assert not main.apply(lambda c: c.astype(str).str.contains(r"\*", regex=True)).any().any()
    assert len(report.matched_latex(results)) == 3 and len(report.quality_latex(results)) == 1
    assert (main["Models"] == 3).all() and (report.quality_latex(results)["Models"] == 3).all()
    assert report.attack_latex(attack_summary(results.attacks))["Best step"].iloc[0] == "90.0 $\\pm$ 0.0"
    sae_plots.score_bars(report.score_table(results))
    sae_plots.tradeoff(sweeps, baselines, 1.0)


def _known_rows(n_held: int, n_attack: int, n_side: int) -> tuple[list[dict], list[dict]]:
    forget = [{"domain": "hazard", "entity": f"e{i}", "relation": "host",
               "split": "attack" if i < n_attack else "eval"} for i in range(n_attack + n_held)]
    side = [{"domain": "towns", "entity": f"t{i}", "relation": "river", "split": "eval"} for i in range(n_side)]
    return forget, side


def test_fixed_suite_keeps_exact_counts_deterministically_and_validation_from_held_out_entities():
    from unlearnlab.experiments.sae import validation

    counts = validation.SuiteCounts(val_forget=4, test_forget=6, val_side=3, test_side=5)
    forget, side = _known_rows(n_held=9, n_attack=3, n_side=11)
    parts = validation.parts(forget, side, counts)
    assert parts == validation.parts(list(reversed(forget)), list(reversed(side)), counts)  # row order is irrelevant
    f = [parts[f"hazard/e{i}/host"] for i in range(12)]
    s = [parts[f"towns/t{i}/river"] for i in range(11)]
    assert (f.count("val"), f.count("test"), f.count("unused")) == (4, 6, 2)
    assert (s.count("val"), s.count("test"), s.count("unused")) == (3, 5, 3)
    assert all(p != "val" for p in f[:3])  # the attacker's entities are never validation
    # a model that knows more keeps the same count, and its validation part is its first held-out keys by hash
    more_forget, more_side = _known_rows(n_held=20, n_attack=3, n_side=30)
    more = validation.parts(more_forget, more_side, counts)
    assert list(more.values()).count("val") == 4 + 3 and list(more.values()).count("test") == 6 + 5
    row = {"forget_hits": "1" * 12, "side_hits": "0" * 11}
    out = validation.split_eval(row, f, s)
    assert len(out["forget_hits"]) == 6 and len(out["val_forget_hits"]) == 4 and len(out["side_hits"]) == 5
    assert validation.sizes(f, s) == {"n_val_forget": 4, "n_test_forget": 6, "n_val_side": 3, "n_test_side": 5}


@pytest.mark.parametrize("known, field", [((3, 3, 11), "n_val_forget"), ((5, 0, 11), "n_test_forget"),
                                          ((9, 3, 7), "n_val_side")])
def test_fixed_suite_says_how_to_fix_a_model_that_knows_too_few(known, field):
    from unlearnlab.experiments.sae import validation

    counts = validation.SuiteCounts(val_forget=4, test_forget=6, val_side=3, test_side=5)
    with pytest.raises(validation.TooFewKnown, match=f"seed 7's model knows .*sae.pretrain_steps.*{field}"):
        validation.parts(*_known_rows(*known), counts, who="seed 7's model")


def test_fixed_suite_never_reads_evaluations_and_choices_never_read_test_columns():
    """The split reads identities only (answers and hits of the rows change nothing); a choice on
    validation is the same whatever the test columns hold."""
    from unlearnlab.experiments.sae import per_model, validation

    counts = validation.SuiteCounts(val_forget=2, test_forget=3, val_side=2, test_side=2)
    forget, side = _known_rows(n_held=5, n_attack=1, n_side=6)
    noisy = [{**q, "answer": 3, "forget_hits": "0"} for q in forget]
    assert validation.parts(forget, side, counts) == validation.parts(noisy, side, counts)
    runs = pd.DataFrame({"val_forget_acc": [0.5, 0.2, 0.1], "val_side_acc": [1.0, 1.0, 0.5],
                         "forget_acc": [0.9, 0.8, 0.0], "side_acc": [1.0, 0.0, 1.0]})
    scrambled = runs.assign(forget_acc=[0.0, 1.0, 1.0], side_acc=[0.0, 1.0, 0.0])
    assert per_model.choose(runs, 1.0).name == per_model.choose(scrambled, 1.0).name == 1


def test_baseline_grid_spans_each_methods_knobs_and_builds_method_configs():
    from unlearnlab.experiments.sae.config import SAEStudyConfig
    from unlearnlab.methods import get_method

    p = SAEStudyConfig(rmu_lrs=(1e-3, 3e-3), rmu_steering=(2.0, 8.0), rmu_layers=(1,), graddiff_lrs=(1e-3,),
                       graddiff_retain_weights=(1.0, 5.0), unlearn_steps=(50, 100))
    rmu, gd = p.baseline_settings("RMU"), p.baseline_settings("GradDiff")
    assert len(rmu) == 2 * 2 * 2 and len(gd) == 2 * 2 and len({tuple(r.items()) for r in rmu}) == 8
    cfg = p.baseline("RMU", {"lr": 3e-3, "steps": 50, "steering_scale": 8.0, "layer": 1}, seed=2)
    method = get_method("RMU", **cfg)
    assert (method.config.steering_scale, method.config.steps, method.config.lr, method.config.seed) == (8.0, 50, 3e-3, 2)
    assert get_method("GradDiff", **p.baseline("GradDiff", gd[0], 0)).config.retain_weight == 1.0
    assert SAEStudyConfig(n_val_forget=None, n_test_forget=None, n_val_side=None, n_test_side=None).suite_counts() is None
    with pytest.raises(ValueError, match="together"):
        SAEStudyConfig(n_val_forget=None).suite_counts()
