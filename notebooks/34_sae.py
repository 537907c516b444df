# %% [markdown]
# # 34 · SAE feature unlearning, scored as SAEBench scores it
#
# The seed trained SAEs, ranked their features by forget/retain statistics, clamped them, and
# got an SAEBench unlearning score of 0.0 for every variant (its logs show 0 training steps).
# Here the evaluation is rebuilt faithfully and we ask what moves the score.
#
# **Synthetic tier.** A tiny Llama is pretrained on a fictional "hazard" world in WMDP format
# (made-up pathogens: host, organ, route; asked about biology) plus four fictional side-effect
# domains, each asked about its own subject as SAEBench's four MMLU subsets are. Only questions
# the model answers under all 24 orderings of the choices are kept. SAEs (ReLU+L1, TopK, and a
# ReLU SAE at initialisation: the seed's 0-step runs) are trained on the residual stream; their
# features are scored by three rules (SAEBench's forget frequency, a one-sided KL, gradient
# attribution) against two retain corpora (generic text, or that plus generic questions in the
# evaluation's format); the selected features are clamped to −multiplier where they fire (or
# their decoder directions ablated). Score = 1 − min forget accuracy over the sweep's
# configurations whose side-effect accuracy stays ≥ 0.99 of the base's. RMU and GradDiff are
# scored by the same formula over their learning rates, and every scoring configuration is
# attacked by relearning.
#
# **Real tier.** SmolLM2-135M-Instruct on fact-probe questions: one relation forgotten, the
# others as side effects; one TopK SAE at a middle layer.

# %%
from IPython.display import Markdown, display

from unlearnlab import sae_plots, tables
from unlearnlab.experiments import sae as xs
from unlearnlab.experiments.session import start
from unlearnlab.plots import save_figure

# %% tags=["parameters"]
profile = "default"
output_root = ""
real = True  # run the SmolLM2 tier (minutes on a CPU)
attack = True  # relearning attack on each method's scoring configuration
histogram_kind = "topk"  # the SAE whose feature scores the histograms show
histogram_retain = "text"  # and the retain corpus they were computed against

# %%
session = start(profile, output_root)
print(xs.grid_note(session))

# %% [markdown]
# ## Synthetic tier

# %%
results = xs.run(session, attack=attack)
print({k: round(v, 1) for k, v in xs.cost_note(results).items()})
display(results.saes.groupby("kind")[["explained_variance", "l0", "dead_fraction", "delta_loss"]].mean().round(3))

# %% [markdown]
# SAE training: normalised reconstruction error and fraction of dead features (mean over seeds).

# %%
fig = sae_plots.training_curves(results.curves)
save_figure(fig, session.paths.figures, "sae_training")
display(fig)

# %% [markdown]
# Unlearning score per variant (mean ± 95 % CI over seeds).

# %%
table = xs.score_table(results.scores)
fig = sae_plots.score_bars(table)
save_figure(fig, session.paths.figures, "sae_scores")
display(fig)

# %% [markdown]
# Feature scores of forget-leaning features (firing more often on forget than on retain text)
# and of the rest, per rule, for one SAE.

# %%
features = xs.feature_table(results.sae_dirs[(histogram_kind, session.profile.seeds[0])], histogram_retain)
fig = sae_plots.score_histograms(features, session.profile.sae_rules)
save_figure(fig, session.paths.figures, "sae_feature_scores")
display(fig)

# %% [markdown]
# Forget vs side-effect accuracy of every sweep configuration and baseline run: the score reads
# the lowest point right of the dashed line.

# %%
fig = sae_plots.tradeoff(results.sweeps, results.baselines)
save_figure(fig, session.paths.figures, "sae_tradeoff")
display(fig)

# %%
display(Markdown(xs.describe(results)))
if attack and not results.attacks.empty:
    display(results.attacks.drop(columns=["curve"], errors="ignore"))

# %% [markdown]
# ## Real tier (SmolLM2-135M-Instruct)

# %%
real_results = xs.real_results(session) if real else None
if real_results is not None:
    print(real_results.note)
    print({k: round(v, 1) for k, v in real_results.timing_s.items()})
    display(real_results.saes.round(3))
    display(real_results.scores.drop(columns=["variant"]).round(3))

# %% [markdown]
# ## Table

# %%
latex = xs.latex_table(results, real_results)
caption = (f"SAE feature unlearning vs RMU and GradDiff ({xs.grid_note(session)}). Unlearning score "
           "$= 1 -$ min forget accuracy over configurations keeping side-effect accuracy $\\geq 0.99$ of the "
           "base's, in \\%, mean $\\pm$ 95\\% CI over seeds.")
tables.write_latex(latex, session.paths.tables / "sae_unlearning.tex", caption=caption, label="tab:sae")
display(latex)

# %% [markdown]
# ## What the numbers say

# %%
display(Markdown(xs.conclusion(results, real_results)))
