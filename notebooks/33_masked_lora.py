# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 33 · Removing one concept with activation-guided masked LoRA — and proving it under probes
#
# SmolLM2-135M-Instruct is asked to forget a film. Which film is decided first, by a knowledge
# screen: the base model is asked the direct and paraphrased *training* questions (director,
# lead actor, plot, a recommendation) about each candidate film, and the first candidate in a
# fixed order that it answers on at least 80 % is chosen (the protocol below states the rule;
# a film the model does not know cannot be removed). We score every MLP
# neuron by gradient saliency (mean |gradient| of the loss on concept prompts) and by a Fisher
# ratio (concept prompts vs retain prompts), keep the top neurons at a fixed parameter budget,
# and train a LoRA whose update is multiplied by that neuron mask, so no weight outside it can
# change. The grid note below says which masks this profile trains (default: the Fisher mask;
# the gradient-saliency mask only in the `gpu` grid, for time). Training target: a neutral
# answer on concept prompts, the base model's own answers (KL) on neighbouring films and
# unrelated facts.
# Comparisons at the same budget and data: plain LoRA on the same modules, masked LoRA on random
# neurons of the same number, and GradDiff and NPO (methods registry) on the plain LoRA.
#
# Everything is measured on **held-out** prompts: direct questions, paraphrases and adversarial
# forms (indirect references, role-play, other languages, fill-in-the-blank, multiple choice,
# raw completions) on the forget side; neighbouring films and unrelated facts on the retain
# side; general-text cross-entropy; degeneration (a model that answers "FORGOTTEN FORGOTTEN"
# counts as broken); and a relearning attack (a few fine-tuning steps on concept examples).
#
# An answer counts as naming the film only when its prompt does not: several adversarial forms
# put the title in the prompt (role-play, other languages, multiple choice), and repeating it is
# no knowledge. Likewise a fact counts only when the prompt does not give it (the table below
# the probe counts says how many held-out prompts can show each).
#
# A custom film from the command line (dicts as JSON):
# `python -m unlearnlab.pipeline --only 33 -p concept=Jaws -p 'concept_fields={"director": "Steven Spielberg", ...}'`

# %%
from dataclasses import replace

from IPython.display import Markdown, display

from unlearnlab.data import concepts as cx
from unlearnlab.experiments.concept import numbers, protocol, report, run, screen, tables
from unlearnlab.experiments.concept.localize import heatmap_grids
from unlearnlab.experiments.concept.setup import setup
from unlearnlab.experiments.session import start
from unlearnlab.plots import concept as concept_plots
from unlearnlab.plots.localize import score_heatmaps
from unlearnlab.reporting.figures import draw
from unlearnlab.reporting.tables import readable, write_latex

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set
# the concept: empty = the knowledge screen's choice; or a built-in one (data.concepts.CONCEPTS:
# "Inception", "Titanic", ...), or any film the model knows, described by concept_fields (see
# data.concepts.make_concept), e.g.
# concept = "Jaws"; concept_fields = {"director": "Steven Spielberg", "star": "Roy Scheider",
#   "year": "1975", "logline": "a great white shark terrorises a seaside resort town",
#   "plot_words": ["shark"], "themes": ["a giant shark attacking swimmers"],
#   "neighbours": ["Jurassic Park", "Schindler's List", "Titanic"], "distractors": ["James Cameron",
#   "George Lucas", "Ridley Scott"], "other_titles": ["Titanic", "Avatar", "Psycho"]}
concept = ""
concept_fields = {}
model = ""  # empty: the profile's ("smollm2"); or a local model directory / hub name

# %%
session = start(profile, output_root, overrides)
cfg = session.profile.concept
cfg = replace(cfg, name=concept or cfg.name, model=model or cfg.model)
display(Markdown(protocol.protocol(session, cfg)))  # the rules, before any result

# %% [markdown]
# ## Which film: the knowledge screen (training prompts only)

# %%
screened, _ = screen.run_screen(session, cfg)
display(screened.style.format({c: "{:.0%}" for c in ("score", "direct_score", "paraphrase_score")}))
cfg, choice = screen.chosen_config(cfg, screened)
print(choice)
spec = cx.make_concept(cfg.name, **concept_fields)
cfg = replace(cfg, name=spec.name)
choice_name = screen.choose(screened, cfg.screen_threshold)[0]
suffix = report.file_suffix(session.profile.concept, spec, model, choice_name)  # custom: its own file names

# %%
print(report.grid_note(cfg, profile))
s = setup(session, cfg, spec)
print(f"{len(s.probes)} probes:")
display(tables.probe_counts(s))
knowledge = tables.base_knowledge(s)  # what the base model shows of the film on held-out prompts
display(knowledge)

# %% [markdown]
# ## Where the concept lives: saliency of every MLP neuron (and attention head)

# %%
df = run.run_grid(s)
display(draw(session.paths, f"concept_saliency{suffix}", score_heatmaps, heatmap_grids(s),
             title=report.saliency_title(cfg)))
print(report.mask_note(s))

# %% [markdown]
# ## Before and after: answers to held-out prompts (seed 0)

# %%
answers = run.answers_table(s)
captions = report.captions(cfg, profile, knowledge)
write_latex(tables.answers_latex(answers, spec), session.paths.tables / f"masked_lora_answers{suffix}.tex",
            caption=captions["answers"], label=f"tab:masked-lora-answers{suffix}")
display(answers.style.set_properties(**{"text-align": "left", "white-space": "pre-wrap"}))

# %% [markdown]
# ## Suppression vs side effects, per variant (mean ± 95 % CI over seeds)
# Top row: how much of the concept is left on held-out prompts (lower: stronger suppression;
# a fact counts only when the prompt does not give it);
# bottom row: side effects (retention of neighbouring films and unrelated facts, KL to the base
# model, general-text cross-entropy, degenerate answers).

# %%
table = tables.summary(df)
display(draw(session.paths, f"concept_bars{suffix}", concept_plots.variant_bars, table, tables.BAR_PANELS, ncols=5))

# %% [markdown]
# ## Relearning attack: does the concept come back faster than after plain LoRA?
# Full fine-tuning on a few concept examples with their true answers; the curve is the summed
# log-probability of the held-out key answers, evaluated every step. The base model is attacked
# the same way (dashed): the attack also teaches the short-answer format, so curves are read
# against it. Per seed: the gap after the attack and the area (curve minus the base model's
# curve, averaged over the attack's steps: lower relearns more slowly).

# %%
curves = run.relearn_table(s)
relearn = tables.relearn_summary(curves)
display(draw(session.paths, f"concept_relearn{suffix}", concept_plots.relearn_curves, curves))
display(relearn.round(3))

# %% [markdown]
# ## Results table and which variant wins where

# %%
paper = tables.paper_table(table, relearn, tables.moving_kinds(knowledge))
write_latex(paper, session.paths.tables / f"masked_lora{suffix}.tex", caption=captions["suppression"],
            label=f"tab:masked-lora{suffix}")
side = tables.side_table(table)
write_latex(side, session.paths.tables / f"masked_lora_side{suffix}.tex", caption=captions["side"],
            label=f"tab:masked-lora-side{suffix}")
numbers.write_numbers(table, relearn, knowledge, cfg, session, s.probes, spec, write=not suffix, screen=screened)
display(readable(paper), readable(side))
display(tables.cost(df).round(1))

# %%
display(Markdown(report.verdict(table, relearn, cfg, profile, knowledge)))
