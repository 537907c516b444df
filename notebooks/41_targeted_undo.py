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
# # 41 · Targeted-UNDO: noise only where the knowledge lives
#
# UNDO buys robustness to relearning by noising the unlearned model and paying distillation to
# repair it. Targeted-UNDO confines the noise to a localization mask from 20_localize (inside:
# `(1−α)p + αβ·xavier`; outside: the teacher's weights) and distils with the same data, learning
# rate and stopping rule (retain accuracy back within the threshold of the teacher's). Each run is
# then attacked by the worst-case relearning fine-tune. The question: at equal post-attack forget
# accuracy, how many distillation steps does Targeted-UNDO need relative to global UNDO? Random
# masks of the same budget are the control. The grid (sources × budgets × α × seeds) is the
# profile's: `default` runs a reduced one, `gpu` the full one; the table says which ran.

# %%
from IPython.display import Markdown, display

from unlearnlab.plots import localize as lplots
from unlearnlab.reporting import tables
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.arithmetic import report
from unlearnlab.experiments.localize import run as loc
from unlearnlab.experiments.targeted import run as targeted
from unlearnlab.experiments.session import start
from unlearnlab.plots.arithmetic import save_figure

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)

# %%
session = start(profile, output_root, overrides)
p = session.profile
world = arith.load_world(session)
base_dir = arith.pretrain(session, world, "base")
localization_dirs = loc.localize_all(session, world, base_dir)
n_jobs = targeted.run_sweep(session, world, base_dir, localization_dirs)
print(f"{n_jobs} runs: sources {p.targeted.sources}, mask budgets {p.targeted.budgets}, α {p.targeted.alphas}, "
      f"masked-only training {p.targeted.train_only}, seeds {p.arithmetic.seeds}")

# %%
front = targeted.frontier(session)
ratios = targeted.steps_ratio(front, max(p.arithmetic.distill_budgets))
oracle_after = report.attacked(session).query("method == 'oracle'")["post_attack_forget_acc"].mean()
fig = lplots.targeted_frontier(front, oracle_after, max(p.arithmetic.distill_budgets))
save_figure(fig, session.paths.figures, "arith_targeted_frontier")
display(fig)

# %%
table = targeted.frontier_table(front, ratios)
budgets = ", ".join(f"{100 * b:g}\\%" for b in p.targeted.budgets)
alphas = ", ".join(f"{a:g}" for a in p.targeted.alphas)
caption = (f"Targeted-UNDO vs global UNDO ({profile} profile; mask budgets {budgets}, $\\alpha$ {alphas}). "
           f"Steps to recover retain accuracy (within {100 * p.arithmetic.retain_threshold:g} points of the teacher, at most "
           f"{max(p.arithmetic.distill_budgets)}), post-attack forget accuracy, and distillation steps relative to global UNDO "
           "at the same post-attack forget accuracy ($<$1: cheaper; bounds in brackets where global UNDO never "
           "reached that robustness within the budget); mean $\\pm$ 95\\% CI over seeds.")
tables.write_latex(table, session.paths.tables / "arith_targeted.tex", caption=caption, label="tab:arith-targeted")
display(table)

# %%
display(Markdown(targeted.describe(front, ratios, oracle_after)))
