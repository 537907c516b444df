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
# # 20 · Where does the forget knowledge live?
#
# Every localization method of the registry scores the base model's components for the forget
# operations (x, ÷) against the retain ones (+, −): weight difference after a short GradDiff run,
# gradient norms and Fisher ratios (weight space); activation magnitude, exact activation patching
# and attribution patching on clean "7 * 8 =" vs corrupted "7 + 8 =" prompts, and semi-NMF
# features of MLP activations (activation space). We compare the methods with each other, test
# their masks causally against random masks of the same size, and repeat the activation methods on
# a real pretrained model (SmolLM2-135M-Instruct) for one fact it knows.

# %%
from IPython.display import Markdown, display

from unlearnlab.core.models import load_model
from unlearnlab.core.real_model import model_slug
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.localize import protocol, real, report
from unlearnlab.experiments.localize import run as loc
from unlearnlab.experiments.session import start
from unlearnlab.plots import localize as lplots
from unlearnlab.reporting import figures

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set
agreement_budget = 0.05
# the real-model fact: a capital the model knows (FactSpec's templates are about capitals; pass others for other relations)
real_subject = "France"
real_answer = " Paris"
run_real_model = True
model = ""  # the real tier's model: empty for SmolLM2-135M-Instruct, or a local model directory / hub name

# %%
session = start(profile, output_root, overrides)
display(Markdown(protocol.protocol(session, agreement_budget)))  # the rules, before any result
world = arith.load_world(session)
base_dir = arith.pretrain(session, world, "base")
localization_dirs = loc.localize_all(session, world, base_dir)
locs = {m: loc.load_localization(d) for m, d in localization_dirs.items()}
base_model = load_model(base_dir)  # seed 0's arithmetic model
report.granularities(locs)

# %% [markdown]
# ## Scores per method (layer × head, layer × neuron)
# Weight-space scores are averaged over each component's parameters; colours are per panel.

# %%
fig = figures.draw(session.paths, "loc_heatmaps", lplots.score_heatmaps, report.heatmap_grids(base_model, locs),
                   report.HEATMAP_TITLE)
display(fig)

# %% [markdown]
# ## Do the methods agree?

# %%
masks = loc.load_masks(localization_dirs, agreement_budget)
jaccard, spearman = report.agreement_tables(base_model, locs, masks)
fig = figures.draw(session.paths, "loc_agreement", lplots.agreement, jaccard, spearman, agreement_budget)
display(fig)

# %% [markdown]
# ## Causal validation: zero each mask, compare with random masks of the same size

# %%
causal = loc.causal_table(session, world, base_dir, localization_dirs)
fig = figures.draw(session.paths, "loc_causal", lplots.causal_bars, causal)
display(fig)
display(Markdown(report.describe_causal(causal)))

# %% [markdown]
# ## The real tier: one fact in SmolLM2-135M-Instruct

# %%
if run_real_model:
    fact = real.FactSpec(subject=real_subject, answer=real_answer, patch_layers=session.profile.localize.real_patch_layers,
                         model=model or real.FactSpec.model)
    scores, info = real.load_fact_scores(real.localize_fact(session, fact))
    name = f"loc_real_heatmaps_{model_slug(model)}" if model else "loc_smollm2_heatmaps"  # another model: its own file
    fig = figures.draw(session.paths, name, lplots.score_heatmaps, real.fact_grids(scores, info),
                       report.fact_title(fact))
    display(fig)
    display(Markdown(report.describe_fact(scores, info, fact)))

# %%
# paper/numbers/loc.tex: one base model (seed 0's) is localized and validated here; the paper's
# real-tier numbers are SmolLM2's, so a run on another model leaves them alone
if not model:
    report.write_numbers(session, causal, jaccard, spearman, agreement_budget, n_models=1,
                         real=(scores, info) if run_real_model else None)
