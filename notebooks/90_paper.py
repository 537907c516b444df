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

from unlearnlab.experiments.arithmetic import attacks_report, report, selection
from unlearnlab.experiments.session import start
from unlearnlab.plots import arithmetic as plots
from unlearnlab.reporting import figures
from unlearnlab.reporting.tables import readable

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set

# %%
session = start(profile, output_root, overrides)
att = selection.attacked(session)

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
fig = figures.draw(session.paths, "arith_compute_vs_robustness", plots.compute_vs_robustness,
                   report.frontier_data(att), report.oracle_after_attack(att), report.teacher_retain(att))
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
display(readable(report.write_main_table(rows, session.paths, profile)))
report.write_numbers(session, att, rows)  # paper/numbers/arith.tex

# %% [markdown]
# ## Attacks beyond relearning: quantization, linear probes, in-context examples
# Companion table of the main table's rows; probe accuracy by layer (mean, 95 % CI band; dashed:
# the oracle). The arithmetic numbers file is rewritten with these attacks' macros added.

# %%
more_rows = attacks_report.with_extra(session, rows)
display(readable(attacks_report.write_table(more_rows, session, profile, attacks_report.missing(rows, more_rows))))
fig = figures.draw(session.paths, "arith_probe_by_layer", plots.probe_by_layer, attacks_report.probe_curves(more_rows))
display(fig)
numbers = attacks_report.write_numbers(session, att, rows, more_rows)  # paper/numbers/arith.tex: main macros and these

# %%
display(Markdown(report.describe(att)))
