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
import pandas as pd
from IPython.display import Markdown, display

from unlearnlab.plots import localize as lplots
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.localize import run as loc
from unlearnlab.experiments.localize import real
from unlearnlab.experiments.session import start
from unlearnlab.localization.mask import Mask
from unlearnlab.core.models import load_model
from unlearnlab.plots.arithmetic import save_figure

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)
agreement_budget = 0.05
# the real-model fact: a capital the model knows (FactSpec's templates are about capitals; pass others for other relations)
real_subject = "France"
real_answer = " Paris"
run_real_model = True

# %%
session = start(profile, output_root, overrides)
world = arith.load_world(session)
base_dir = arith.pretrain(session, world, "base")
localization_dirs = loc.localize_all(session, world, base_dir)
locs = {m: loc.load_localization(d) for m, d in localization_dirs.items()}
model = load_model(base_dir)
pd.DataFrame({m: {"granularity": l.granularity} for m, l in locs.items()}).T

# %% [markdown]
# ## Scores per method (layer × head, layer × neuron)
# Weight-space scores are averaged over each component's parameters; colours are per panel.

# %%
fig = lplots.score_heatmaps(loc.heatmap_grids(model, locs), "arithmetic base model: forget (x, ÷) vs retain (+, −)")
save_figure(fig, session.paths.figures, "loc_heatmaps")
display(fig)

# %% [markdown]
# ## Do the methods agree?

# %%
masks = {m: Mask.load(loc.mask_dir(localization_dirs, m, agreement_budget)) for m in locs if m != "random"}
jaccard, spearman = loc.agreement_tables(model, locs, masks)
fig = lplots.agreement(jaccard, spearman, agreement_budget)
save_figure(fig, session.paths.figures, "loc_agreement")
display(fig)

# %% [markdown]
# ## Causal validation: zero each mask, compare with random masks of the same size

# %%
causal = pd.DataFrame(loc.causal_rows(session, world, base_dir, localization_dirs))
fig = lplots.causal_bars(causal)
save_figure(fig, session.paths.figures, "loc_causal")
display(fig)
display(Markdown(loc.describe_causal(causal)))

# %% [markdown]
# ## The real tier: one fact in SmolLM2-135M-Instruct

# %%
if run_real_model:
    fact = real.FactSpec(subject=real_subject, answer=real_answer, patch_layers=session.profile.localize.real_patch_layers)
    scores, info = real.load_fact_scores(real.localize_fact(session, fact))
    fig = lplots.score_heatmaps(real.fact_grids(scores, info),
                                f"SmolLM2-135M-Instruct: '{real_subject}' → '{real_answer.strip()}' "
                                f"(act_patching neurons: only the top {fact.top_neurons} by attribution)")
    save_figure(fig, session.paths.figures, "loc_smollm2_heatmaps")
    display(fig)
    display(Markdown(real.describe_fact(scores, info, fact)))
