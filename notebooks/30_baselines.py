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
# # 30 · Unlearning baselines: GradDiff, MaxEnt, RMU
#
# Each method starts from the base model and sees only forget-train (x, ÷) and retain-train
# (+, −, English) rows. A small learning-rate sweep per method; every configuration runs for each
# seed of the profile, from that seed's own base model. The learning rate reported in the paper is
# the one with the lowest forget accuracy whose retain accuracy stays within 10 points of the base
# models'.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.arithmetic import protocol, report, selection
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set
methods = ["GradDiff", "MaxEnt", "RMU"]

# %%
session = start(profile, output_root, overrides)
display(Markdown(protocol.protocol(session)))  # the rules, before any result
world = arith.load_world(session)
base_dirs = arith.bases(session, world)  # seed -> its own base model (10_pretrain)
arith.run_baselines(session, world, base_dirs, methods)

# %%
models = selection.models(session)
runs = models[models["method"].isin(methods)]
display(report.baseline_sweep(runs))

# %%
display(Markdown(report.describe_baselines(runs, selection.selected_lrs(session, methods))))
