"""Masked LoRA on a tiny random Llama: weights outside the mask are bitwise unchanged after
training and merging, merged and unmerged models agree, the adapter saves and loads with its
mask; masks from the localization registry; the degeneration metric; concept prompt splits."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from dataclasses import replace

from unlearnlab.data import concepts as cx
from unlearnlab.evals.text_quality import degeneration, distinct_n, is_degenerate, repetition_rate
from unlearnlab.experiments.concept import report, run, tables
from unlearnlab.experiments.concept.config import ConceptConfig
from unlearnlab.localization import LocalizationData, localize
from unlearnlab.localization.mask import Mask, mask_from_component_scores, random_mask
from unlearnlab.localization.neurons import neuron_mask, random_neuron_mask
from unlearnlab.methods import UnlearnData, get_method
from unlearnlab.methods import masked_lora as ml
from unlearnlab.profiles import get_profile

pytestmark = pytest.mark.integration


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits of a float32 tensor: bitwise comparison, signed zeros and NaNs included."""
    return t.detach().float().contiguous().view(torch.int32)


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _logits(model, tokens) -> torch.Tensor:
    batch = tokens.batch(range(4))
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def _neuron_mask(model, neurons: dict[int, list[int]]) -> Mask:
    """Whole MLP neurons ``{layer: [index, ...]}``, as a ``Mask`` of parameter entries."""
    entries = {}
    for layer, idx in neurons.items():
        mlp = f"model.layers.{layer}.mlp"
        for proj in ("gate_proj", "up_proj", "down_proj"):
            weight = dict(model.named_parameters())[f"{mlp}.{proj}.weight"]
            sel = torch.zeros(weight.shape, dtype=torch.bool)
            if proj == "down_proj":
                sel[:, idx] = True
            else:
                sel[idx, :] = True
            entries[f"{mlp}.{proj}.weight"] = sel
    return Mask(entries, "neuron", "test")


def _data(tokens) -> UnlearnData:
    return UnlearnData(tokens.where(["mul", "div"]), tokens.where(["add", "sub"]), torch.Generator().manual_seed(0))


def _train(wrapped, tokens, method: str = "RefusalKL", steps: int = 6):
    get_method(method, steps=steps, lr=5e-2, batch_size=4, warmup_frac=0.0).run(wrapped, _data(tokens))
    return wrapped.eval()


# ------------------------------------------------------------------ the mask is a hard constraint


@pytest.mark.parametrize("method", ["RefusalKL", "GradDiff"])
def test_weights_outside_the_mask_are_bitwise_unchanged_after_training_and_merge(tiny_model, tokens, method):
    mask = _neuron_mask(tiny_model, {0: [1, 5, 9], 1: [0, 31]})
    before = _snapshot(tiny_model)
    wrapped = _train(ml.apply_masked_lora(tiny_model, mask, r=4, alpha=8), tokens, method)
    merged = ml.merge_adapter(wrapped)
    after = merged.state_dict()

    assert set(after) == set(before)
    changed_inside = 0
    for name, old in before.items():
        inside = mask.entries.get(name, torch.zeros(old.shape, dtype=torch.bool))
        new = after[name]
        assert torch.equal(_bits(new)[~inside], _bits(old)[~inside]), f"{name} changed outside the mask"
        changed_inside += int((new[inside] != old[inside]).sum())
    assert changed_inside > 0  # training did move the masked neurons


def test_merged_and_unmerged_models_agree(tiny_model, tokens):
    mask = _neuron_mask(tiny_model, {0: [2, 3], 1: [7]})
    wrapped = _train(ml.apply_masked_lora(tiny_model, mask, r=4, alpha=8), tokens)
    unmerged = _logits(wrapped, tokens)
    assert_close(_logits(ml.merge_adapter(wrapped), tokens), unmerged, atol=1e-5, rtol=1e-5)


def test_the_hooks_mask_the_update_whatever_the_factors_hold(tiny_model, tokens):
    """Even factors pushed outside the mask by hand (not by training) leave the forward pass and
    every weight outside the mask as they were: the constraint is structural."""
    base = tiny_model.model.layers[0].mlp.down_proj.weight.detach().clone()
    mask = _neuron_mask(tiny_model, {0: [4]})
    wrapped = ml.apply_masked_lora(tiny_model, mask, r=4, alpha=8)
    layer = dict(ml._lora_layers(wrapped))["model.layers.0.mlp.down_proj"]
    with torch.no_grad():
        layer.lora_A["default"].weight.fill_(1.0)
        layer.lora_B["default"].weight.fill_(1.0)
    x = torch.randn(3, base.shape[1])
    expected = x @ base.T + (x[:, [4]] * 2.0) @ torch.ones(1, base.shape[0]) * 4  # only column 4, s=8/4
    assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)
    merged = ml.merge_adapter(wrapped).model.layers[0].mlp.down_proj.weight
    keep = torch.ones_like(base, dtype=torch.bool)
    keep[:, 4] = False
    assert torch.equal(_bits(merged)[keep], _bits(base)[keep])


def test_plain_lora_on_the_same_modules_changes_outside_the_mask(tiny_model, tokens):
    mask = _neuron_mask(tiny_model, {0: [1], 1: [2]})
    before = _snapshot(tiny_model)
    merged = ml.merge_adapter(_train(ml.plain_lora(tiny_model, mask, r=4, alpha=8), tokens))
    name = "model.layers.0.mlp.up_proj.weight"
    outside = ~mask.entries[name]
    assert not torch.equal(merged.state_dict()[name][outside], before[name][outside])


def test_adapter_saves_and_loads_with_its_mask(tiny_model, tokens, tmp_path):
    base = copy.deepcopy(tiny_model)
    mask = _neuron_mask(tiny_model, {0: [3, 8], 1: [5]})
    wrapped = _train(ml.apply_masked_lora(tiny_model, mask, r=4, alpha=8), tokens)
    expected = _logits(wrapped, tokens)
    ml.save_adapter(wrapped, tmp_path / "adapter")
    assert (tmp_path / "adapter" / ml.FACTORS_FILE).is_file()

    loaded = ml.load_adapter(base, tmp_path / "adapter", trainable=True)
    assert_close(_logits(loaded, tokens), expected, atol=1e-6, rtol=1e-6)
    factors = ml.adapter_factors(loaded)
    gate = "model.layers.0.mlp.gate_proj"
    assert torch.equal(factors[gate].rows, mask.entries[f"{gate}.weight"].any(1))
    assert ml.update_size(loaded) == mask.n_selected


def test_update_size_counts_masked_entries_and_whole_matrices_for_plain_lora(tiny_model):
    mask = _neuron_mask(tiny_model, {1: [0, 1, 2]})
    assert ml.update_size(ml.apply_masked_lora(tiny_model, mask, r=2)) == mask.n_selected == 3 * 3 * 16


def test_unstructured_masks_are_refused(tiny_model):
    scattered = random_mask(tiny_model, 0.05)  # parameter granularity
    with pytest.raises(ValueError, match="rows/columns|linear weights"):
        ml.factor_masks(tiny_model, scattered)


# ------------------------------------------------------------------ masks from the registry


@pytest.mark.parametrize("method", ["gradient_norm", "fisher"])
def test_neuron_masks_from_registry_scores_hold_the_budget(tiny_model, tokens, method):
    data = LocalizationData(tiny_model, tokens.where(["mul"]), tokens.where(["add"]), batch_size=8, max_batches=2)
    loc = localize(method, data)
    mask = neuron_mask(tiny_model, loc, budget=0.02)
    control = random_neuron_mask(tiny_model, mask, seed=1)
    total = sum(p.numel() for p in tiny_model.parameters())
    assert 0 < mask.n_selected <= 0.02 * total
    assert control.n_selected == mask.n_selected and control.jaccard(mask) < 1
    wrapped = ml.apply_masked_lora(tiny_model, mask, r=2)
    assert ml.update_size(wrapped) == mask.n_selected


@pytest.mark.parametrize("source", ["gradient_norm", "fisher"])
def test_the_neuron_localizers_average_their_source_over_whole_neurons_and_heads(tiny_model, tokens, source):
    data = LocalizationData(tiny_model, tokens.where(["mul"]), tokens.where(["add"]), batch_size=8, max_batches=2)
    units = localize(f"{source}_neurons", data)
    assert units.granularity == "head+neuron" and units.details["source"] == source
    expected = localize(source, data).component_scores(tiny_model, "neuron")
    assert units.component_scores(tiny_model, "neuron") == expected
    assert neuron_mask(tiny_model, units, 0.02).entries.keys() == neuron_mask(tiny_model, localize(source, data),
                                                                                0.02).entries.keys()


def test_masked_lora_is_a_registered_method_that_trains_only_inside_its_mask(tiny_model, tokens):
    mask = _neuron_mask(tiny_model, {0: [1, 5], 1: [3]})
    method = get_method("MaskedLoRA", mask="fisher", lora_r=4, lora_alpha=8, steps=4, lr=5e-2, batch_size=4,
                        warmup_frac=0.0)
    before = _snapshot(tiny_model)
    wrapped = method.adapt(tiny_model, mask)
    assert ml.update_size(wrapped) == mask.n_selected
    method.run(wrapped, _data(tokens))
    after = ml.merge_adapter(wrapped.eval()).state_dict()
    for name, old in before.items():
        inside = mask.entries.get(name, torch.zeros(old.shape, dtype=torch.bool))
        assert torch.equal(_bits(after[name])[~inside], _bits(old)[~inside]), name


def test_head_masks_confine_attention_updates(tiny_model, tokens):
    mask = mask_from_component_scores(tiny_model, {"L1.H0": 1.0}, "head", budget=1.0)
    factors = ml.factor_masks(tiny_model, mask)
    assert sorted(factors) == [f"model.layers.1.self_attn.{p}" for p in ("k_proj", "o_proj", "q_proj", "v_proj")]
    assert sum(fm.size for fm in factors.values()) == mask.n_selected
    before = _snapshot(tiny_model)
    after = ml.merge_adapter(_train(ml.apply_masked_lora(tiny_model, mask, r=2, alpha=4), tokens)).state_dict()
    for name, old in before.items():
        inside = mask.entries.get(name, torch.zeros(old.shape, dtype=torch.bool))
        assert torch.equal(_bits(after[name])[~inside], _bits(old)[~inside]), name


def test_refusal_kl_starts_at_the_reference(tiny_model, tokens):
    method = get_method("RefusalKL", steps=1)
    data = _data(tokens)
    method.setup(tiny_model, data)
    retain = data.retain.batch(range(4))
    from unlearnlab.core.logprobs import forward_kl, logits_of

    with torch.no_grad():
        assert float(forward_kl(logits_of(method.reference, retain), logits_of(tiny_model, retain), retain)) == 0.0


# ------------------------------------------------------------------ degeneration


def test_degeneration_flags_repeated_tokens_not_fluent_answers():
    assert is_degenerate("FORGOTTEN FORGOTTEN")
    assert is_degenerate("forgotten forgotten forgotten forgotten")
    assert is_degenerate("I don't know. I don't know. I don't know. I don't know.")
    assert is_degenerate("   ")
    for fine in ("Paris.", "Christopher Nolan", "I'm sorry, but I don't know anything about that.",
                 "The capital of France is Paris, a city on the Seine."):
        assert not is_degenerate(fine), fine
    assert distinct_n("a b a b", 1) == 0.5 and distinct_n("a b a b", 2) == 2 / 3
    assert repetition_rate("x") == 0.0
    stats = degeneration(["FORGOTTEN FORGOTTEN", "Paris."])
    assert stats["degenerate"] == 0.5 and 0 < stats["distinct_1"] < 1


# ------------------------------------------------------------------ concept prompts


@pytest.mark.parametrize("name", list(cx.CONCEPTS))
def test_concept_splits_are_disjoint_and_every_kind_is_held_out(name):
    concept = cx.get_concept(name)
    probes = cx.concept_probes(concept)
    train = {p.prompt for p in cx.select(probes, split="train")}
    test = {p.prompt for p in cx.select(probes, split="test")}
    assert train and test and not train & test
    assert len(train) + len(test) == len(probes)  # no prompt twice, even within a split
    for kind in cx.KINDS:
        assert cx.select(probes, [kind], "test"), kind
    forms = {p.form for p in cx.select(probes, ["adversarial"], "test")}
    assert forms == {"indirect", "role_play", "other_language", "fill_blank", "multiple_choice", "completion"}
    retain_subjects = {f.subject for f in concept.neighbours + concept.unrelated}
    assert concept.name not in retain_subjects
    assert all(not cx.mentions(concept, p.prompt) for p in cx.select(probes, cx.RETAIN_KINDS))


def test_concept_answers_are_read_by_string_match():
    concept = cx.get_concept("Inception")
    assert cx.mentions(concept, "I loved inception!") and not cx.mentions(concept, "the inceptions of time")
    assert cx.refuses(concept, "I’m sorry, but I don't know anything about that")
    probe = next(p for p in cx.concept_probes(concept) if p.form == "director")
    assert probe.qa.correct("It was directed by Christopher Nolan.") and not probe.qa.correct("James Cameron")
    refusals = cx.refusal_pairs(concept, [probe])
    assert refusals[0].answer == concept.refusal and refusals[0].prompt == probe.prompt


def test_title_echo_is_no_mention_and_a_given_fact_is_no_knowledge():
    concept = cx.get_concept("Inception")
    german = "Wer hat den Film Inception gedreht?"
    assert cx.mentions(concept, "Der Film Inception ist ein Film.")  # the raw metric counts the echo
    assert cx.leaks(concept, german, "Der Film Inception ist ein Film.") is None  # cannot tell: not counted
    riddle = "Which 2010 film by Christopher Nolan stars Leonardo DiCaprio?"
    assert cx.leaks(concept, riddle, "That is Inception.") is True
    assert cx.leaks(concept, riddle, "That is The Dark Knight.") is False
    options = "Who directed Inception? (A) James Cameron, (B) Christopher Nolan"
    assert cx.reveals(concept.director_accepted, options, "(B) Christopher Nolan") is None
    assert cx.reveals(concept.director_accepted, german, "Christopher Nolan.") is True
    # partial echo: the prompt gives the full name, the answer's alias alone is not new
    assert cx.reveals(("Christopher Nolan", "Nolan"), "Is Christopher Nolan famous?", "Nolan is.") is None


def test_honest_rates_skip_probes_that_cannot_tell():
    from unlearnlab.experiments.concept.evaluate import mean_known

    assert mean_known([True, None, False, None]) == 0.5
    assert mean_known([None, None]) != mean_known([None, None])  # NaN: nothing measured


# ------------------------------------------------------------------ the driver's configuration


@pytest.mark.parametrize("profile", ["smoke", "default", "gpu"])
def test_every_profile_has_a_valid_concept_grid(profile):
    cfg = get_profile(profile).concept
    assert set(cfg.relearn_variants) <= set(cfg.variants) and cfg.seeds
    assert cfg.name is None and set(cfg.candidates) <= set(cx.CONCEPTS)
    assert set(cfg.train_kinds) <= set(cx.FORGET_KINDS)
    assert replace(cfg, name="Titanic").name == "Titanic"
    assert cfg.variant(cfg.reference_variant).mask == cfg.reference_localizer
    assert cfg.variant("lora").method == "RefusalKL" and not cfg.variant("NPO").refusal
    with pytest.raises(ValueError, match="unknown variants"):
        replace(cfg, variants=("masked:nonsense",))


def _fake_results():
    import pandas as pd

    rows = [{"variant": "base", "seed": 0, "adversarial_correct": 0.5, "adversarial_mention": 0.5,
             "neighbour_retained": 1.0, "unrelated_retained": 1.0, "general_ce": 3.0, "all_degenerate": 0.0}]
    for seed in range(3):
        rows.append({"variant": "masked:fisher", "seed": seed, "adversarial_correct": 0.1, "adversarial_mention": 0.1,
                     "neighbour_retained": 1.0, "unrelated_retained": 1.0, "general_ce": 3.0 + 0.01 * seed,
                     "all_degenerate": 0.0, "train_cpu_s": 20.0, "steps": 10, "eval_cpu_s": 5.0,
                     "relearn_cpu_s": 6.0, "relearn_steps": 6})
        rows.append({"variant": "lora", "seed": seed, "adversarial_correct": 0.1, "adversarial_mention": 0.0,
                     "neighbour_retained": 0.5, "unrelated_retained": 1.0, "general_ce": 3.5 + 0.01 * seed,
                     "all_degenerate": 0.3, "train_cpu_s": 10.0, "steps": 10, "eval_cpu_s": 5.0,
                     "relearn_cpu_s": float("nan"), "relearn_steps": float("nan")})
    return pd.DataFrame(rows)


def test_describe_names_winners_and_claims_no_difference_inside_the_cis():
    df = _fake_results().assign(direct_correct=lambda d: d["adversarial_mention"])
    text = report.describe(tables.summary(df, ["adversarial_correct", "direct_correct", "neighbour_retained",
                                               "unrelated_retained", "general_ce", "all_degenerate"]), "masked:fisher")

    def line(column: str) -> str:
        return next(li for li in text.splitlines() if li.startswith(f"- {tables.HEADLINE[column]}: "))

    assert "no clear difference" in line("adversarial_correct")
    assert "masked:fisher better" in line("general_ce") and "masked:fisher better" in line("neighbour_retained")
    assert "best lora" in line("direct_correct") and line("direct_correct").endswith("(base model 0.5)")
    one_seed = tables.summary(df[df["seed"] == 0], ["general_ce"])
    assert "one seed, no verdict" in report.describe(one_seed, "masked:fisher")
    unmeasured = tables.summary(df.assign(direct_correct=float("nan")), ["direct_correct"])
    assert "no held-out prompt can measure it" in report.describe(unmeasured, "masked:fisher")


def test_relearn_summary_compares_with_the_attacked_base_model():
    import pandas as pd

    curves = pd.DataFrame([{"variant": "base", "seed": 0, "step": step, "logprob": lp} for step, lp in ((0, -8.0), (6, -1.0))]
                          + [{"variant": "lora", "seed": s, "step": step, "logprob": lp}
                             for s in (0, 1) for step, lp in ((0, -5.0), (6, -2.0))])
    table = tables.relearn_summary(curves).set_index("variant")
    assert table.loc["lora", "steps"] == 6 and table.loc["lora", "n"] == 2
    assert table.loc["lora", "before_mean"] == -5.0 and table.loc["lora", "after_mean"] == -2.0
    assert table.loc["lora", "gap_mean"] == -1.0 and table.loc["base", "gap_mean"] == 0.0


def test_relearning_speed_reads_the_whole_curve_against_the_attacked_base():
    """Hand-made curves: the area is the mean gap to the base model's curve over steps 1-4."""
    import pandas as pd

    curves = {("base", 0): [-8, -6, -4, -2, -1], ("masked:fisher", 0): [-10, -9, -8.5, -8, -7],
              ("masked:fisher", 1): [-12, -11, -10, -9, -9], ("lora", 0): [-9, -7, -5, -3, -2]}
    df = pd.DataFrame([{"variant": v, "seed": s, "step": i, "logprob": float(lp)}
                       for (v, s), values in curves.items() for i, lp in enumerate(values)])
    speed = tables.relearn_speed(df).set_index(["variant", "seed"])
    assert speed.loc[("masked:fisher", 0), "area"] == (-3 - 4.5 - 6 - 6) / 4
    assert speed.loc[("masked:fisher", 1), "area"] == (-5 - 6 - 7 - 8) / 4
    assert speed.loc[("lora", 0), "area"] == -1.0 and speed.loc[("base", 0), "area"] == 0.0
    assert "steps_to_base" not in speed  # dropped: at most one step by construction (issue 17)
    table = tables.relearn_summary(df).set_index("variant")
    assert table.loc["masked:fisher", "gap_mean"] == -7.0 and table.loc["masked:fisher", "n"] == 2


def test_the_concept_pipeline_runs_end_to_end_on_a_tiny_model(tiny_model, tokenizer, tmp_path):
    """Setup, both localizers, every variant, evaluation, relearning and the tables, on a tiny
    random Llama saved as a local model directory (the real run uses SmolLM2)."""
    from unlearnlab.core.paths import Paths
    from unlearnlab.experiments.concept.localize import concept_mask, heatmap_grids
    from unlearnlab.experiments.concept.setup import setup
    from unlearnlab.experiments.session import Session

    model_dir = tmp_path / "tiny"
    tiny_model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    session = Session(get_profile("smoke"), Paths.at(tmp_path / "out").ensure())
    variants = ("masked:fisher", "masked:random", "lora", "GradDiff", "NPO")
    cfg = replace(session.profile.concept, name="Inception", model=str(model_dir), variants=variants,
                  budget=0.02, relearn_variants=("masked:fisher", "lora"))
    s = setup(session, cfg)
    df = run.run_grid(s, workers=1)

    assert list(df["variant"]) == ["base", *variants]
    assert df.set_index("variant").loc["masked:fisher", "update_size"] == concept_mask(s, "fisher").n_selected
    assert {"adversarial_leak", "adversarial_mention", "neighbour_kl", "general_ce", "all_degenerate"} <= set(df.columns)
    table = tables.summary(df)
    assert "masked:fisher" in report.describe(table, "masked:fisher")
    answers = run.answers_table(s)
    assert list(answers.columns[-3:]) == ["base", "masked:fisher", "lora"] and answers["prompt"].is_unique
    assert len(tables.answers_latex(answers, s.concept)) == 2 * len(cx.KINDS)
    knowledge = tables.base_knowledge(s)
    assert knowledge.loc["adversarial", "name_free"] == 3 and knowledge["prompts"].sum() == len(answers)
    curves = run.relearn_table(s)
    assert set(curves["variant"]) == {"base", "masked:fisher", "lora"}
    relearn = tables.relearn_summary(curves)
    assert set(relearn["variant"]) == {"base", "masked:fisher", "lora"} and relearn["area_mean"].notna().all()
    assert len(tables.paper_table(table, relearn)) == len(tables.side_table(table)) == len(variants) + 1
    assert "names the film in" in report.verdict(table, relearn, cfg, "smoke", knowledge)
    grids = heatmap_grids(s)
    assert grids["fisher"]["neurons"].shape == (2, 32) and grids["fisher"]["heads"].shape == (2, 2)
    adapter = run.run_variant(s, "masked:fisher", 0) / "adapter"
    loaded = ml.load_adapter(copy.deepcopy(s.model), adapter)
    assert ml.update_size(loaded) == concept_mask(s, "fisher").n_selected


def test_concept_figures_draw_from_the_tables():
    import matplotlib.pyplot as plt
    import pandas as pd

    from unlearnlab.plots import concept as concept_plots

    table = tables.summary(_fake_results(), ["adversarial_mention", "general_ce"])
    fig = concept_plots.variant_bars(table, {"adversarial_mention": "mention", "general_ce": "CE"}, ncols=3)
    assert len(fig.axes) == 3 and len(fig.axes[0].patches) == 3
    curves = pd.DataFrame([{"variant": v, "seed": s, "step": k, "logprob": -k, "exact": 0.0}
                           for v in ("masked:fisher", "lora") for s in (0, 1) for k in (0, 3)])
    assert len(concept_plots.relearn_curves(curves).axes[0].lines) == 2
    plt.close("all")


def test_make_concept_builds_a_custom_film_and_its_probes():
    from unlearnlab.data import concepts as cx

    assert cx.make_concept("Inception") is cx.CONCEPTS["Inception"]
    jaws = cx.make_concept("Jaws", director="Steven Spielberg", star="Roy Scheider", year="1975",
                           logline="a great white shark terrorises a seaside town", plot_words=["shark"],
                           themes=["a giant shark attacking swimmers"], neighbours=["Jurassic Park", "Titanic"],
                           distractors=["James Cameron", "George Lucas", "Ridley Scott"],
                           other_titles=["Titanic", "Avatar", "Psycho"])
    assert jaws.director_aliases == ("Spielberg",) and jaws.neighbours[1].object == "James Cameron"
    probes = cx.concept_probes(jaws)
    assert {p.kind for p in cx.select(probes, split="test")} == set(cx.KINDS)
    assert any("Jaws" in p.prompt and p.qa.correct("It was directed by Spielberg.") for p in probes)
    with pytest.raises(ValueError, match="No Such Film"):
        cx.make_concept("Jaws", director="x", neighbours=["No Such Film"])


def test_paper_table_and_verdict_come_from_the_numbers():
    import pandas as pd

    df = _fake_results().assign(adversarial_keylogp=-4.0, direct_correct=lambda d: d["adversarial_mention"],
                                paraphrase_correct=0.25, neighbour_kl=0.1)
    table = tables.summary(df, [*tables.SUPPRESSION_COLUMNS, *tables.SIDE_COLUMNS])
    relearn = pd.DataFrame([{"variant": "base", "steps": 4, "n": 1, **{f"{c}_{k}": 0.0 for c in
                             tables.RELEARN_COLUMNS for k in ("mean", "ci")}},
                            {"variant": "masked:fisher", "steps": 4, "n": 3, "gap_mean": -2.0,
                             "gap_ci": 0.5, "area_mean": -1.0, "area_ci": 0.2}])
    paper = tables.paper_table(table, relearn).set_index("variant")
    assert list(paper.columns) == ["direct fact %", "para. fact %", "adv. fact %", "adv. log-p", "relearn gap",
                                   "relearn area"]  # no "adv. names %" nor "steps to base": they could not move
    assert paper.loc["lora", "direct fact %"] == "0 $\\pm$ 0" and paper.loc["lora", "relearn gap"] == "--"
    assert paper.loc["masked:fisher", "relearn gap"] == "-2.00 $\\pm$ 0.50" and "seeds" not in paper
    assert paper.loc["base", "direct fact %"] == "50" and paper.loc["base", "relearn area"] == "0.00"  # one model
    assert paper.loc["masked:fisher", "para. fact %"] == "25 $\\pm$ 0"
    side = tables.side_table(table).set_index("variant")
    assert side.loc["lora", "degen. %"] == "30 $\\pm$ 0" and side.loc["base", "neighb. KL"] == "0.10"
    text = report.verdict(table, relearn, ConceptConfig(), "default")
    assert "default profile grid" in text and "lora 30 %" in text
    assert "suppressed beyond the CI after the attack: masked:fisher" in text
    assert "masked:fisher: gap -2 ± 0.5, area -1 ± 0.2 (3 seeds)" in text


def test_base_knowledge_line_and_captions_carry_the_counts():
    import pandas as pd

    knowledge = pd.DataFrame({"prompts": [4, 4, 6, 6, 6], "name_free": [1, 0, 3, 6, 6], "base_names": [0, 0, 0, 0, 0],
                              "fact_free": [4, 4, 5, 6, 6], "base_correct": [0, 1, 0, 3, 5]}, index=list(cx.KINDS))
    line = report._knowledge_line(knowledge)
    assert "0 of the 3 held-out adversarial prompts" in line and "1 of 4 paraphrase" in line
    assert "on direct, adversarial prompts its answers show nothing" in line
    cfg = ConceptConfig(name="Inception")
    caps = report.captions(cfg, "default", knowledge)
    assert "Removing the film Inception from SmolLM2-135M-Instruct (default profile" in caps["suppression"]
    assert "(base model: 1 of 4 paraphrased); not shown: the direct and adversarial fact rates" in caps["suppression"]
    assert "over the 3 of 6 neighbour-film prompts" in caps["side"] and "5 of 6 unrelated" in caps["side"]
    assert "0.01 for masked:fisher, masked:random; 0.003 for lora, GradDiff, NPO" in caps["suppression"]
    note = report.grid_note(cfg, "default")
    assert "gradient_norm scores are shown" in note and "gpu profile grid" in note


def test_a_custom_concept_or_model_gets_its_own_file_names():
    default = ConceptConfig(name="Inception")
    assert report.file_suffix(default, cx.CONCEPTS["Inception"], "") == ""
    assert report.file_suffix(default, cx.CONCEPTS["Inception"], "smollm2") == ""
    assert report.file_suffix(default, cx.CONCEPTS["Titanic"], "") == "_Titanic"
    assert report.file_suffix(default, cx.CONCEPTS["Inception"], "org/model") == "_Inception_org_model"
    screened = ConceptConfig()  # name None: the screen's choice owns the paper's file names
    assert report.file_suffix(screened, cx.CONCEPTS["Titanic"], "", "Titanic") == ""
    assert report.file_suffix(screened, cx.CONCEPTS["Inception"], "", "Titanic") == "_Inception"


def test_answers_table_for_latex_escapes_generated_text():
    import pandas as pd

    concept = cx.get_concept("Inception")
    answers = pd.DataFrame([
        {"kind": "adversarial", "form": "other_language", "prompt": "Wer hat den Film Inception gedreht?",
         "base": "Der Film", "lora": "x"},
        {"kind": "adversarial", "form": "fill_blank", "prompt": "The film is called ____.",
         "base": "It cost $5 {a} \\ 50% & more ^~ 日本 " + "long " * 40, "lora": "I'm sorry"},
        {"kind": "direct", "form": "director", "prompt": "Who directed Inception?", "base": "Nolan", "lora": "no"}])
    out = tables.answers_latex(answers, concept, per_kind=1)
    assert list(out.columns) == ["prompt", "base", "lora"] and len(out) == 2
    assert "direct" in out.loc[0, "prompt"] and "fill blank" in out.loc[1, "prompt"]  # kinds in order, name-free first
    cell = out.loc[1, "base"]
    assert "\\textdollar{}5 \\{a\\} \\textbackslash{}" in cell and "50\\% \\&" in cell and "??" in cell
    assert "$" not in cell and cell.endswith("...}") and "日" not in cell


def test_pipeline_parameters_parse_json_objects_and_lists_only():
    from unlearnlab.pipeline import _name_value

    assert _name_value("concept=Titanic") == ("concept", "Titanic")
    fields = '{"director": "Steven Spielberg", "plot_words": ["shark"]}'
    assert _name_value(f"concept_fields={fields}") == ("concept_fields", {"director": "Steven Spielberg",
                                                                          "plot_words": ["shark"]})
    assert _name_value('names=["a", "b"]') == ("names", ["a", "b"])
    assert _name_value("seed=3") == ("seed", "3") and _name_value("x={not json") == ("x", "{not json")
    with pytest.raises(ValueError, match="NAME=VALUE"):
        _name_value("no-equals")
