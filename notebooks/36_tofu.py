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
# # 36 · TOFU: forget quality and model utility, offline
#
# TOFU's protocol (Maini et al. 2024) on SmolLM2-135M-Instruct with LoRA. The data are TOFU's split
# files: in `default` and `smoke` a generated world of fictitious authors in TOFU's exact layout
# (`python -m unlearnlab.data.tofu_world --dry-run` prints samples), in `gpu` the real TOFU files
# (`tofu.source`). Per seed, a **base** adapter learns every author, an **oracle** per forget split
# learns the retain authors only, and each method (GradDiff, NPO, SimNPO, RMU, and RefusalKL
# trained towards an "I don't know" answer) unlearns the forget split from the base. Reported as
# TOFU reports it: forget quality (KS p-value of the forget truth ratios against the oracle's) and
# model utility, with MUSE's PrivLeak (forget vs holdout authors, relative to the oracle) and the
# forget quality of each model's weights rounded to int8 and int4. The protocol below says which
# splits, steps and seeds made the numbers.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.session import start
from unlearnlab.experiments.tofu import protocol, report
from unlearnlab.experiments.tofu import run as tofu
from unlearnlab.plots import tofu as plots
from unlearnlab.reporting.figures import draw
from unlearnlab.reporting.tables import readable

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"tofu.steps": 4}; the pipeline's --set

# %%
session = start(profile, output_root, overrides)
display(Markdown(protocol.protocol(session)))  # the rules, before any result

# %%
df, quant = tofu.run(session)
display(readable(report.write_table(session, df, quant)))

# %% [markdown]
# Forget quality against model utility (left; dotted: the verdict level, dashed: the oracle's utility) and
# forget quality as trained and after rounding the merged weights to int8 / int4 (right).

# %%
forget = session.profile.tofu.forget_splits[0]
display(draw(session.paths, "tofu_tradeoff", plots.tofu_figure, df, quant, forget, report.ALPHA))

# %%
print(report.numbers(session, df, quant).write(session.paths))  # the macros paper/sec_tofu.tex states
display(Markdown(report.describe(df, quant, forget)))
