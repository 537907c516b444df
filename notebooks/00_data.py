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
# # 00 · The arithmetic world
#
# A synthetic world with an exact oracle. The model learns four operations; we will ask it to
# **forget multiplication and division** and **retain addition and subtraction** (plus English-like
# text from a small grammar). Every fact appears as a bare equation and as a word problem.
# Evaluation items are held-out operand pairs that no unlearning, distillation or attack ever
# trains on.

# %%
import pandas as pd
from IPython.display import display

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
print("data set:", world.directory)
display(pd.Series(world.card["sizes"], name="rows"))

# %% [markdown]
# Examples from each split: forget rows are x and ÷ only; retain rows + and − only.

# %%
display(report.world_examples(world))

# %% [markdown]
# The tokenizer was trained here on the pretraining text; digits are single tokens, so an
# answer is a digit sequence followed by end-of-sequence.

# %%
print(len(world.tokenizer), "tokens;", world.tokenizer.tokenize("17 * 13 = 221"))
