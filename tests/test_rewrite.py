"""Knowledge rewrite on a tiny random Llama: adapters touch only the chosen modules, merging keeps
the outputs, fresh (IA)³ is an identity, module choice (the "modules" localizer), forced choice,
logit lens, the registered rewrite variants, and the fact templates and rewrite pairs."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from unlearnlab.attacks.relearn import RelearnConfig, answer_loss, relearn
from unlearnlab.core.models import fresh_copy
from unlearnlab.core.training import TrainConfig
from unlearnlab.data import facts as fx
from unlearnlab.evals import probes
from unlearnlab.experiments.rewrite import measure
from unlearnlab.experiments.rewrite import run as fr
from unlearnlab.localization import localize
from unlearnlab.localization import modules as lm
from unlearnlab.methods import adapters, get_method
from unlearnlab.methods import rewrite as rw

pytestmark = pytest.mark.integration

CHOSEN = ["model.layers.0.self_attn.o_proj", "model.layers.1.mlp.down_proj", "model.layers.1.mlp.up_proj"]
PAIRS = [fx.QA("what is 2 plus 3", " 5", ("5",), chat=False),
         fx.QA("what is 4 plus 4", " 8", ("8",), chat=False),
         fx.QA("what is 1 plus 6", " 7", ("7",), chat=False)]


def _logits(model, tokenizer, text: str = "what is 2 plus 3 5") -> torch.Tensor:
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=ids).logits


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _adapted(model, kind: str):
    return adapters.apply_ia3(model, CHOSEN) if kind == "ia3" else adapters.apply_lora(model, CHOSEN, r=2, alpha=4)


def _train(model, tokenizer, pairs, steps: int, lr: float, batch_size: int):
    return rw.train_answers(model, tokenizer, pairs, TrainConfig(steps=steps, lr=lr, batch_size=batch_size))


# ------------------------------------------------------------------ adapters


@pytest.mark.parametrize("kind", ["ia3", "lora"])
def test_adapter_changes_only_chosen_modules_and_merge_keeps_outputs(tiny_model, tokenizer, kind):
    before = _snapshot(tiny_model)
    wrapped = _adapted(tiny_model, kind)
    _train(wrapped, tokenizer, PAIRS, steps=5, lr=5e-2, batch_size=2)
    adapted_logits = _logits(wrapped.eval(), tokenizer)
    merged = adapters.merge(wrapped)

    assert_close(_logits(merged, tokenizer), adapted_logits, atol=1e-5, rtol=1e-5)
    after = merged.state_dict()
    assert set(after) == set(before)  # a plain model again, same parameter names
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(any(k.startswith(m + ".") for m in CHOSEN) for k in changed)
    assert all(p.requires_grad for p in merged.parameters())


def test_fresh_ia3_is_an_identity(tiny_model, tokenizer):
    base = _logits(tiny_model, tokenizer)
    wrapped = adapters.apply_ia3(tiny_model, CHOSEN)
    assert_close(_logits(wrapped, tokenizer), base, atol=0, rtol=0)
    ia3 = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert ia3 and all("ia3_l" in n for n in ia3)
    assert len(ia3) == len(CHOSEN)


def test_adapters_refuse_unknown_modules(tiny_model):
    with pytest.raises(ValueError, match="not linear modules"):
        adapters.apply_ia3(tiny_model, ["model.layers.7.mlp.down_proj"])


# ------------------------------------------------------------------ module choice


def test_linear_modules_top_and_random(tiny_model):
    names = lm.linear_modules(tiny_model)
    assert len(names) == 2 * 7 and "lm_head" not in names
    scores = {n: float(i) for i, n in enumerate(names)}
    assert lm.top_modules(scores, 3) == names[::-1][:3]
    picks = lm.random_modules(tiny_model, 5, seed=1)
    assert picks == lm.random_modules(tiny_model, 5, seed=1) and len(set(picks)) == 5
    assert set(picks) <= set(names)
    assert picks != lm.random_modules(tiny_model, 5, seed=2)


def test_combine_ranks_is_a_rank_average():
    combined = lm.combine_ranks({"a": {"x": 10.0, "y": 0.0, "z": 5.0}, "b": {"x": 0.1, "y": 0.3, "z": 0.2}})
    assert_close(torch.tensor([combined["x"], combined["y"], combined["z"]]),
                 torch.tensor([(3 + 1) / 6, (1 + 3) / 6, (2 + 2) / 6]))


def test_module_localizer_scores_every_linear_module(tiny_model, tokenizer):
    fact = fx.Fact("Japan", "capital", "Tokyo")  # with the test tokenizer, China and Kenya have Japan's length
    data = fr.localization_data(tiny_model, tokenizer, fact, [fx.Fact("gold", "symbol", "Au")],
                                corrupt_subjects=["Spain", "China", "Kenya"])
    localization = localize("modules", data)
    components = localization.details["components"]
    names = set(lm.linear_modules(tiny_model))
    assert set(components) == {"attribution", "magnitude", "gradient"}
    assert all(set(c) == names for c in components.values())
    assert localization.scores == {f"{n}.weight": s for n, s in lm.combine_ranks(components).items()}
    top = lm.chosen_modules(localization, 4)
    assert top == lm.top_modules(lm.combine_ranks(components), 4) and set(top) <= names
    mask = localization.mask(tiny_model, 0.2)  # whole matrices, within the budget
    assert set(mask.entries) <= {f"{n}.weight" for n in names} and all(m.all() for m in mask.entries.values())


# ------------------------------------------------------------------ evaluation


def test_forced_choice_matches_a_manual_sum_and_ranks_a_trained_answer_first(tiny_model, tokenizer):
    pair = fx.QA("what is 2 plus 3", " 5", ("5",), chat=False)
    _train(tiny_model, tokenizer, [pair], steps=40, lr=1e-2, batch_size=1)
    (row,) = probes.forced_choice(tiny_model, tokenizer, [pair], ["9", "12"], target="5")
    assert row["target_rank"] == 0 and set(row["logprobs"]) == {"5", "9", "12"}

    prompt = tokenizer("what is 2 plus 3", add_special_tokens=False)["input_ids"]
    answer = tokenizer(" 12", add_special_tokens=False)["input_ids"]
    logp = torch.log_softmax(_logits(tiny_model, tokenizer, "what is 2 plus 3 12")[0], -1)
    manual = sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(answer))
    assert row["logprobs"]["12"] == pytest.approx(manual, abs=1e-4)


def test_logit_lens_last_layer_is_the_models_own_ranking(tiny_model, tokenizer):
    rows = probes.logit_lens(tiny_model, tokenizer, PAIRS, ["5", "8"])["5"]
    assert [r["layer"] for r in rows] == [0, 1]
    ranks = []
    for pair in PAIRS:
        logits = _logits(tiny_model, tokenizer, pair.prompt)[0, -1]
        target = tokenizer(" 5", add_special_tokens=False)["input_ids"][0]
        ranks.append(int((logits > logits[target]).sum()))
    assert rows[-1]["rank"] == pytest.approx(sum(ranks) / len(ranks))


def test_relearn_curve_on_answers_leaves_the_input_alone(tiny_model, tokenizer):
    before = _snapshot(tiny_model)
    batches = fx.answer_batches(tokenizer, PAIRS, 4, seed=0)
    curve = relearn(tiny_model, batches, probes.answer_metric(tokenizer, PAIRS),
                    RelearnConfig(lrs=(1e-2,), steps=6, eval_every=3, batch_size=4), loss=answer_loss)
    assert [p["step"] for p in curve] == [0, 3, 6]
    assert curve[-1]["logprob"] > curve[0]["logprob"]
    assert all(torch.equal(v, tiny_model.state_dict()[k]) for k, v in before.items())


def test_every_variant_is_a_registered_method_with_one_step_budget(tiny_model, tokenizer):
    spec = fx.rewrite_spec(fx.Fact("France", "capital", "Paris"), "Lyon", [fx.Fact("gold", "symbol", "Au")])
    for name in rw.VARIANTS:
        method = rw.variant(name, CHOSEN[:2], steps=2, batch_size=2)
        assert method.name in {"IA3Rewrite", "LoRARewrite", "FullFineTuneRewrite"}
        out = fresh_copy(tiny_model)
        log = method.run(out, rw.RewriteData(tokenizer, spec))
        assert type(out).__name__ == "LlamaForCausalLM"
        assert log.steps == sum(stage.steps for stage in log.stages) == 4  # the same optimizer-step budget
    assert rw.variant("ia3_random", CHOSEN, seed=3).target_modules(tiny_model) == lm.random_modules(tiny_model, 3, 3)
    assert get_method("IA3Rewrite", placement="all").target_modules(tiny_model) == lm.linear_modules(tiny_model)


def test_two_stage_touches_only_the_chosen_modules(tiny_model, tokenizer):
    spec = fx.rewrite_spec(fx.Fact("France", "capital", "Paris"), "Lyon", [])
    out = fresh_copy(tiny_model)
    get_method("IA3Rewrite", modules=tuple(CHOSEN), steps=3, batch_size=2).run(out, rw.RewriteData(tokenizer, spec))
    base = tiny_model.state_dict()
    changed = {k for k, v in out.state_dict().items() if not torch.equal(v, base[k])}
    assert changed and all(any(k.startswith(m + ".") for m in CHOSEN) for k in changed)


def test_evaluate_rewrite_and_probe_run_on_a_tiny_model(tiny_model, tokenizer):
    spec = fx.rewrite_spec(fx.Fact("France", "capital", "Paris"), "Lyon", [fx.Fact("gold", "symbol", "Au")],
                           n_control_paraphrases=1)
    scores = measure.evaluate_rewrite(tiny_model, tokenizer, spec, max_new_tokens=3)
    assert set(scores) == {f"{m}_{s}" for m in ("f2", "f1_forget", "control") for s in ("train", "test")}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    rows = fx.probe_knowledge(tiny_model, tokenizer, fx.FACTS[:2], n_paraphrases=2, max_new_tokens=3)
    assert len(rows) == 2 and all(len(r["answers"]) == 2 for r in rows)
    assert tokenizer.padding_side == "right"


# ------------------------------------------------------------------ facts


def test_relations_split_templates_deterministically_and_disjointly():
    assert set(fx.RELATIONS) == {"director", "author", "capital", "symbol", "inventor", "founder"}
    for relation in fx.RELATIONS.values():
        train, test = relation.train, relation.test
        assert len(train) >= 20 and len(test) >= 4
        assert not set(train) & set(test) and len(set(train) | set(test)) == len(relation.templates)
        assert {t.chat for t in train} == {t.chat for t in test} == {True, False}  # both forms in both
        assert all("{subject}" in t.text for t in relation.templates)
        assert train == fx.RELATIONS[relation.name].train  # a property, recomputed identically


def test_spread_asks_in_both_forms():
    train = fx.RELATIONS["capital"].train
    picked = fx.spread(train, 3)
    assert [t.chat for t in picked] == [True, True, False] and len(set(picked)) == 3
    assert fx.spread(train, 3) == picked and fx.spread(train, None) == train
    assert len(set(fx.spread(train, 19))) == 19


def test_facts_are_many_distinct_and_cover_every_relation():
    assert len(fx.FACTS) >= 60
    assert len({(f.subject, f.relation) for f in fx.FACTS}) == len(fx.FACTS)
    assert {f.relation for f in fx.FACTS} == set(fx.RELATIONS)


def test_matching_uses_whole_words_and_aliases():
    rowling = fx.Fact("Harry Potter", "author", "J.K. Rowling", ("Rowling",))
    (pair,) = fx.fact_pairs(rowling, fx.RELATIONS["author"].train[:1])
    assert pair.correct("It was written by Rowling.") and pair.correct("j.k. rowling")
    assert not pair.correct("Rowlings")
    (gold,) = fx.fact_pairs(fx.Fact("gold", "symbol", "Au"), fx.RELATIONS["symbol"].train[:1])
    assert gold.correct("The symbol is Au.") and not gold.correct("because") and not gold.correct("AU")


def test_rewrite_spec_builds_the_expected_pairs():
    fact = fx.Fact("Inception", "director", "Christopher Nolan", ("Nolan",))
    controls = [fx.Fact("France", "capital", "Paris"), fx.Fact("gold", "symbol", "Au")]
    spec = fx.rewrite_spec(fact, "Steven Spielberg", controls, new_aliases=("Spielberg",))
    relation = fx.RELATIONS["director"]
    assert len(spec.f1_train) == len(spec.f2_train) == len(relation.train)
    assert len(spec.f1_test) == len(spec.f2_test) == len(relation.test)
    assert [p.prompt for p in spec.f1_train] == [p.prompt for p in spec.f2_train]
    assert spec.f1_train[0] == fx.QA("Who directed Inception?", "Christopher Nolan", ("Christopher Nolan", "Nolan"),
                                     chat=True)
    completion = next(p for p in spec.f2_train if not p.chat)
    assert completion.answer == " Steven Spielberg" and completion.accepted == ("Steven Spielberg", "Spielberg")
    assert {p.prompt for p in spec.f1_test}.isdisjoint(p.prompt for p in spec.f1_train)
    assert len(spec.control_train) == len(spec.control_test) == 2 * 4
    assert all(p.answer.strip() in {"Paris", "Au"} for p in spec.control_train)
    unlearn = spec.unlearn_train()
    assert [p.prompt for p in unlearn] == [p.prompt for p in spec.f1_train]
    assert {p.answer.strip() for p in unlearn} == {"I am not sure."}
    assert spec.candidates[:2] == ("Christopher Nolan", "Steven Spielberg")
    with pytest.raises(ValueError):
        fx.rewrite_spec(fact, "Christopher Nolan", controls)
    assert fx.RELATIONS["inventor"].templates[-8].prompt("the telephone") == "The telephone was invented by"


def test_token_sets_end_chat_answers_with_eos_only(tokenizer):
    chat = fx.QA("who", "Paris", ("Paris",), chat=True)
    plain = fx.QA("the capital is", " Paris", ("Paris",), chat=False)
    data = fx.to_tokens(tokenizer, [chat, plain])
    assert data.answers[0][-1] == tokenizer.eos_token_id
    assert data.answers[1][-1] != tokenizer.eos_token_id
    assert data.prompts[1] == tokenizer("the capital is", add_special_tokens=False)["input_ids"]


# ------------------------------------------------------------------ answers in the model's own style


def test_answer_sentence_keeps_the_sentence_that_states_the_object():
    assert fx.answer_sentence("Paris.\n\nThe United States has a population of", ["Paris"]) == "Paris."
    assert fx.answer_sentence("The capital of France is Paris. It is known for", ["Paris"]) == \
        "The capital of France is Paris."
    assert fx.answer_sentence("It is Paris", ["Paris"]) == "It is Paris"
    assert fx.answer_sentence("I do not know.", ["Paris"]) is None
    assert fx.answer_sentence("Parisian food.", ["Paris"]) is None  # whole words only


def test_in_model_style_substitutes_the_new_object_and_keeps_unmatched_pairs():
    fact = fx.Fact("Inception", "director", "Christopher Nolan", ("Nolan",))
    pairs = fx.fact_pairs(fact, fx.RELATIONS["director"].train[:2], "Steven Spielberg")
    said = ["Inception was directed by Christopher Nolan. Nolan also made Memento.", "a film"]
    styled = fx.in_model_style(pairs, said, fact.accepted, "Steven Spielberg")
    expected_first = "Inception was directed by Steven Spielberg."
    assert styled[0].answer == (expected_first if pairs[0].chat else f" {expected_first}")
    assert styled[1] == pairs[1]
    assert styled[0].accepted == pairs[0].accepted  # still graded on F2


def test_grouped_sampler_never_mixes_groups_and_covers_each_group():
    from unlearnlab.core.batching import TokenSet, grouped_sampler

    long = TokenSet([[1] * 9] * 6, [[2]] * 6, pad_id=0)
    short = TokenSet([[3]] * 4, [[4]] * 4, pad_id=0)
    batches = grouped_sampler([long, short], 2, torch.Generator().manual_seed(0))
    epoch = [next(batches) for _ in range(5)]  # 3 batches of long + 2 of short
    widths = sorted(b["input_ids"].shape[1] for b in epoch)
    assert widths == [2, 2, 10, 10, 10]  # no short prompt padded to the long width
    for b in epoch:
        assert b["attention_mask"].all()  # one group per batch: no padding at all here
