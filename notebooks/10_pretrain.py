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
# # 10 · Pretraining: the base model and the oracle
#
# The **base** model learns all four operations and English. The **oracle** is the same
# architecture trained on the same data without x and ÷: it is what perfect unlearning would
# give, and the reference every attack result is compared with.

# %%
import pandas as pd
from IPython.display import Markdown, display

from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)

# %%
session = start(profile, output_root, overrides)
world = arith.load_world(session)
dirs = arith.pretrain_all(session, world, ("base", "oracle"))  # in parallel on a multi-core CPU

# %%
models = session.store.table("models")
pre = models[models["method"].isin(["base", "oracle"])].set_index("method")
cols = ["acc_add", "acc_sub", "acc_mul", "acc_div", "english_ce", "n_params", "steps", "tokens", "wall_s"]
display(pre[cols].round(3))

# %%
b, o = pre.loc["base"], pre.loc["oracle"]
display(Markdown(
    f"Base model ({int(b['n_params']):,} parameters): held-out exact match "
    f"+ {100*b['acc_add']:.1f} %, − {100*b['acc_sub']:.1f} %, x {100*b['acc_mul']:.1f} %, ÷ {100*b['acc_div']:.1f} % "
    f"({'all ≥ 90 %' if min(b[c] for c in cols[:4]) >= 0.9 else 'NOT all ≥ 90 %'}). "
    f"Oracle: + {100*o['acc_add']:.1f} %, − {100*o['acc_sub']:.1f} %, x {100*o['acc_mul']:.1f} %, ÷ {100*o['acc_div']:.1f} %: "
    f"it never saw x or ÷, so its forget accuracy is the floor an unlearning method should reach."))
