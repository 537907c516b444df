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
# # 34 · SAE feature unlearning, scored as SAEBench scores it
#
# The seed trained SAEs, ranked their features by forget/retain statistics, clamped them, and
# got an SAEBench unlearning score of 0.0 for every variant (its logs show 0 training steps).
# Here the evaluation is rebuilt faithfully and we ask what moves the score.
#
# **Synthetic tier.** For every seed, a tiny Llama is pretrained from scratch (its own init and
# data order) on one fictional "hazard" world in WMDP format (made-up pathogens: host, organ,
# route; asked about biology) plus four fictional side-effect domains, each asked about its own
# subject as SAEBench's four MMLU subsets are. Only questions *that* model answers under all 24
# orderings of the choices are kept: each model has its own suite, and every SAE, baseline and
# attack of a seed runs on its model and its suite. A fixed rule keeps a fixed number of each
# model's known questions (the profile's counts: suite sizes are fixed by design) and cuts them into
# validation questions, on which every choice is made, and test questions, which every table
# reports (the protocol below). SAEs (ReLU+L1, TopK, and a
# ReLU SAE at initialisation: the seed's 0-step runs) are trained on the residual stream; their
# features are scored by three rules (SAEBench's forget frequency, a one-sided KL, gradient
# attribution) against two retain corpora (generic text, or that plus generic questions in the
# evaluation's format); the selected features are clamped to −multiplier where they fire (or
# their decoder directions ablated). Score = 1 − test forget accuracy of the sweep configuration
# with the lowest validation forget accuracy among those whose validation side-effect accuracy
# stays ≥ 0.99 of the unmodified model's (measured). RMU and GradDiff are scored by the same rule
# over their grids (learning rate, steps, RMU's steering coefficient, GradDiff's retain weight; the
# grid's range was set by a pilot on an earlier model's validation questions, see the protocol).
# A variant's score is the mean over the independent models (95 % CI over models), each model's
# score on its own questions. Because a score of one question is one flipped answer, each score
# also gets a 95 % bootstrap interval over questions (each model's own resampled), and counts as
# evidence only when each model forgets ≥ 2 of its questions on average (and ≥ 2 distinct ones),
# and that interval (and, with several models, the CI over models) excludes 0. The "≥ 2
# questions" part of this rule was chosen after seeing results (an earlier run's best score was
# one flipped answer per seed, with a seed CI of ± 0): it is a post-hoc rule. Methods are
# also compared at matched side effects (≥ 0.99, 0.95, 0.90 of the base), and the best configuration of each family
# at ≥ 0.90 (SAE clamp, RMU, GradDiff) is attacked by relearning, next to the attacked base model.
#
# **Real tier.** SmolLM2-135M-Instruct on fact-probe questions: one relation forgotten, the
# others as side effects; one TopK SAE at a middle layer. One seed on a CPU, so its intervals are
# bootstrap intervals over questions (the `gpu` profile runs three seeds).
#
# Activations are read with plain forward hooks on the decoder blocks (`core.anatomy`: the SAE edit
# must live on the model that is evaluated and fine-tuned; the bridge wraps a copy).
# `tests/test_anatomy.py::test_sites_equal_the_bridge_hooks` proves these sites equal
# TransformerBridge's `blocks.L.hook_resid_post` (and `hook_attn_out`, `hook_mlp_out`) on a tiny
# random Llama.

# %%
from IPython.display import Markdown, display

from unlearnlab.core.real_model import model_slug
from unlearnlab.experiments.sae import numbers as sae_numbers
from unlearnlab.experiments.sae import protocol, report
from unlearnlab.experiments.sae import run as xs
from unlearnlab.experiments.session import start
from unlearnlab.plots import sae as sae_plots
from unlearnlab.reporting.figures import draw
from unlearnlab.reporting.tables import readable

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set
real = True  # run the SmolLM2 tier (minutes on a CPU)
attack = True  # relearning attack on each method's scoring configuration
histogram_kind = "topk"  # the SAE whose feature scores the histograms show
histogram_retain = "text"  # and the retain corpus they were computed against
model = ""  # the real tier's model: empty for the profile's (SmolLM2-135M-Instruct), or a local directory / hub name

# %%
session = start(profile, output_root, {**overrides, **({"sae.real_model": model} if model else {})})
display(Markdown(protocol.protocol(session)))  # the rules, before any result
print(report.grid_note(session))

# %% [markdown]
# ## Synthetic tier

# %%
results = xs.run(session, attack=attack)
print({k: round(v, 1) for k, v in xs.cost_note(results).items()})
print(report.suite_line(results))

# %% [markdown]
# SAE training: normalised reconstruction error and fraction of dead features (mean over seeds).

# %%
display(draw(session.paths, "sae_training", sae_plots.training_curves, results.curves))

# %% [markdown]
# Unlearning score per variant (mean ± 95 % CI over seeds), coloured by intervention.

# %%
display(draw(session.paths, "sae_scores", sae_plots.score_bars, report.score_table(results)))

# %% [markdown]
# Feature scores of forget-leaning features (firing more often on forget than on retain text)
# and of the rest, per rule, for one SAE.

# %%
features = xs.feature_table(results.sae_dirs[(histogram_kind, session.profile.sae.seeds[0])], histogram_retain)
display(draw(session.paths, "sae_feature_scores", sae_plots.score_histograms, features, session.profile.sae.rules))

# %% [markdown]
# Forget vs side-effect accuracy (test questions) of every sweep configuration and baseline run;
# the score reads the configuration chosen on validation questions, so not always the lowest
# point right of the dashed line (0.99 × base); the dash-dotted and dotted lines are the looser
# matched side-effect levels (0.95, 0.90).

# %%
display(draw(session.paths, "sae_tradeoff", sae_plots.tradeoff, results.sweeps, results.baselines,
             results.base_side_acc))

# %%
display(Markdown(report.describe(results)))

# %% [markdown]
# ## Real tier (SmolLM2-135M-Instruct)

# %%
real_results = xs.real_results(session) if real else None
if real_results is not None:
    print(real_results.note)  # a model that knows none of the questions: says so, and the tier is left out
    real_results = real_results if real_results.knows else None
if real_results is not None:
    print({k: round(v, 1) for k, v in real_results.timing_s.items()})
    print(f"unmodified {real_results.tier}'s side-effect accuracy on its suite (measured): "
          f"{real_results.base_eval['side_acc']:.3f}")
    display(report.score_table(real_results).drop(columns=["family"]).round(3))

# %% [markdown]
# ## Tables
#
# `sae_unlearning`: unlearning score per variant and tier. `sae_matched`: at matched side
# effects, per family (rules and retain corpora pooled into one sweep) the forget accuracy of the
# configuration with the lowest forget accuracy among those keeping side effects ≥ r × base
# (synthetic tier: chosen on validation, test shown). `sae_quality`: SAE quality on held-out
# activations (MSE in model units, explained variance, features active per token, never-firing
# features, next-token loss increase when the reconstruction is spliced in). `sae_attack`
# (synthetic tier; the real tier is not attacked on a CPU): held-out forget accuracy of the base
# and of each family's best configuration at side effects ≥ `attack_side_ratio` × base, before
# the attack, at the attacker's best stopping point (chosen on validation questions), and of the
# attacked base at that same step; all on test questions.

# %%
for name, table in report.write_tables(session, results, real_results, suffix=model_slug(model)).items():
    print(name)
    display(readable(table))
if not model:  # the paper's real-tier macros are SmolLM2's; another model's tables carry its name
    print(sae_numbers.write(session, results, real_results))  # the macros paper/sec_sae.tex states

# %% [markdown]
# ## What the numbers say

# %%
display(Markdown(report.conclusion(results, real_results)))
