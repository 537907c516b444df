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
# # 10 · Pretraining: base models and oracles
#
# The **base** model learns all four operations and English. The **oracle** is the same
# architecture trained on the same data without x and ÷: it is what perfect unlearning would
# give, and the reference every attack result is compared with. Every seed of the profile
# pretrains its own pair (init and data order from the seed): the unlearning, UNDO and attack runs
# of seed s start from base s and are compared with oracle s, so intervals are over independent models.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.arithmetic import report
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set

# %%
session = start(profile, output_root, overrides)
world = arith.load_world(session)
dirs = arith.pretrain_all(session, world, ("base", "oracle"))  # every seed; in parallel on a multi-core CPU

# %%
pre = report.pretrained(session)
report.write_pretrain_numbers(session, pre)  # paper/numbers/pretrain.tex
display(pre.round(3))

# %%
display(Markdown(report.describe_pretraining(pre)))
