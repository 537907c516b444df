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
# The teacher is the MaxEnt-unlearned model (chosen learning rate, per seed). A copy is perturbed
# toward a fresh Xavier init by α and distilled on the teacher's outputs over retain + English
# data. We sweep α and keep snapshots at several distillation budgets; the stopping rule (retain
# accuracy back within the threshold of the teacher's) is recorded as the `recovered` snapshot.
# Full distillation from a random init (α = 1) is the most expensive end of the trade-off.

# %%
import pandas as pd
from IPython.display import Markdown, display

from unlearnlab.core.artifacts import read_json
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.arithmetic import report
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)
teacher_method = "MaxEnt"

# %%
session = start(profile, output_root, overrides)
world = arith.load_world(session)
base_dir = arith.pretrain(session, world, "base")
lr = report.selected_lrs(session, [teacher_method])[teacher_method]
curves = []
for seed in session.profile.arithmetic.seeds:
    teacher = arith.unlearn(session, world, base_dir, teacher_method, lr, seed)
    for alpha in session.profile.arithmetic.undo_alphas:
        out = arith.distill(session, world, teacher, "UNDO", seed, alpha)
        curves.append({"label": f"UNDO α={alpha:g}", "seed": seed, **read_json(out / "retain_curve.json")})
    out = arith.distill(session, world, teacher, "Distill", seed)
    curves.append({"label": "Distill (α=1)", "seed": seed, **read_json(out / "retain_curve.json")})

# %%
rec = pd.DataFrame([{"label": c["label"], "seed": c["seed"], "teacher retain": c["teacher_retain_acc"],
                     "recovered at step": c["recovered_step"]} for c in curves])
display(rec.groupby("label").agg({"teacher retain": "mean", "recovered at step": list}))

# %%
never = rec[rec["recovered at step"].isna()]["label"].unique().tolist()
display(Markdown(
    f"Distillation budget up to {max(session.profile.arithmetic.distill_budgets)} steps. "
    + (f"Retain accuracy did not recover within the budget for: {', '.join(never)}." if never
       else "Every run recovered retain accuracy within the budget.")
    + " Larger α means more noise: more distillation to recover retain, and (we test next) less"
      " latent forget knowledge left for an attacker."))
