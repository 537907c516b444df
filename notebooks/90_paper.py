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
# # 90 · Paper figures and tables
#
# Reads the results store only; writes every figure under `figures/` and every table under
# `paper/tables/` with the names `paper/main.tex` includes.

# %%
from IPython.display import Markdown, display

from unlearnlab.plots import arithmetic as plots
from unlearnlab.reporting import figures, tables
from unlearnlab.experiments.arithmetic import report
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)

# %%
session = start(profile, output_root, overrides)
att = report.attacked(session)

# %% [markdown]
# ## Relearning curves
# Forget accuracy under relearning at each model's worst-case learning rate (mean, 95 % CI band).

# %%
fig = figures.draw(session.paths, "arith_relearning_curves", plots.relearning_curves,
                   report.relearning_curves_data(att))
display(fig)

# %% [markdown]
# ## Compute vs robustness
# Retain accuracy (left) and post-attack forget accuracy (right) against distillation steps, for
# each UNDO noise level α and for full distillation; dotted: the unlearned teacher's retain
# accuracy; dashed: the attacked oracle.

# %%
oracle_after = att[att["method"] == "oracle"]["post_attack_forget_acc"].mean()
teacher_retain = att[att["method"] == "MaxEnt"]["retain_acc"].mean()  # UNDO's teacher
fig = figures.draw(session.paths, "arith_compute_vs_robustness", plots.compute_vs_robustness,
                   report.frontier_data(att), oracle_after, teacher_retain)
display(fig)

# %% [markdown]
# ## Retain vs forget

# %%
rows = report.table_rows(att)
fig = figures.draw(session.paths, "arith_retain_vs_forget", plots.retain_forget_scatter, rows)
display(fig)

# %% [markdown]
# ## Main table

# %%
table = tables.mean_ci_table(
    rows, "label",
    {"retain_acc": "retain acc. (\\%)", "forget_acc": "forget acc. (\\%)",
     "post_attack_forget_acc": "forget after attack (\\%)"},
    counts={"steps": "optimizer steps"})
table = table.rename(columns={"label": "method"})
tables.write_latex(table, session.paths.tables / "arith_main.tex",
                   caption=f"Arithmetic world ({profile} profile): exact-match accuracy on held-out items, "
                           "before and after the worst-case relearning attack; mean $\\pm$ 95\\% CI over seeds. "
                           "Optimizer steps count unlearning plus distillation.",
                   label="tab:arith-main")
display(table)

# %%
display(Markdown(report.describe(att)))
