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
# # 40 · Relearning attacks on every model
#
# Fine-tune each model on a few forget-train examples (x, ÷) over a learning-rate sweep and
# measure forget accuracy on the held-out eval items. The oracle never learned x/÷: how fast it
# "relearns" is the floor. A method that only hides the knowledge comes back faster.

# %%
from IPython.display import display

from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.arithmetic import report
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)

# %%
session = start(profile, output_root, overrides)
world = arith.load_world(session)
targets = report.attack_targets(session)
print(len(targets), "models to attack, learning rates", session.profile.arithmetic.attack_lrs)
for key, model_dir, seed in targets:
    arith.attack(session, world, model_dir, key, seed)

# %%
att = report.attacked(session)
display(att.groupby("label")[["forget_acc", "post_attack_forget_acc", "retain_acc"]].mean().round(3))
