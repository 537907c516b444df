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
# seed of the profile. The learning rate reported in the paper is the one with the lowest forget
# accuracy whose retain accuracy stays within 10 points of the base model's.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.arithmetic import report
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)
methods = ["GradDiff", "MaxEnt", "RMU"]

# %%
session = start(profile, output_root, overrides)
world = arith.load_world(session)
base_dir = arith.pretrain(session, world, "base")
for method in methods:
    for lr in session.profile.arithmetic.unlearn_lrs:
        for seed in session.profile.arithmetic.seeds:
            arith.unlearn(session, world, base_dir, method, lr, seed)

# %%
models = report.models(session)
runs = models[models["method"].isin(methods)]
display(runs.groupby(["method", "lr"])[["retain_acc", "forget_acc", "english_ce"]].mean().round(3))

# %%
chosen = report.selected_lrs(session, methods)
summary = runs[runs.apply(lambda r: r["lr"] == chosen[r["method"]], axis=1)].groupby("method")[["retain_acc", "forget_acc"]].mean()
display(Markdown("Chosen learning rates: " + ", ".join(
    f"{m} lr={chosen[m]:g} (retain {100*summary.loc[m,'retain_acc']:.1f} %, forget {100*summary.loc[m,'forget_acc']:.1f} %)"
    for m in methods) + ". Whether this suppression survives relearning is tested in 40_attacks."))
