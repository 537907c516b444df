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
# # 31 · UNDO: unlearn, noise, distill
#
# The teacher is the MaxEnt-unlearned model (chosen learning rate) of each seed's own base model.
# A copy is perturbed toward a fresh Xavier init by α and distilled on the teacher's outputs over retain + English
# data. We sweep α and keep snapshots at several distillation budgets; the stopping rule (retain
# accuracy back within the threshold of the teacher's) is recorded as the `recovered` snapshot.
# Full distillation from a random init (α = 1) is the most expensive end of the trade-off.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.arithmetic import protocol, report
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set
teacher_method = "MaxEnt"

# %%
session = start(profile, output_root, overrides)
display(Markdown(protocol.protocol(session)))  # the rules, before any result
world = arith.load_world(session)
base_dirs = arith.bases(session, world)  # seed -> its own base model (10_pretrain)
curves = arith.run_undo(session, world, base_dirs, teacher_method)

# %%
rec = report.recovery(curves)
display(report.recovery_table(rec))

# %%
display(Markdown(report.describe_recovery(rec, max(session.profile.arithmetic.distill_budgets))))
