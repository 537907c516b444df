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

from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.localize import run as loc
from unlearnlab.experiments.session import start
from unlearnlab.experiments.targeted import report
from unlearnlab.experiments.targeted import run as targeted
from unlearnlab.plots import localize as lplots
from unlearnlab.reporting import figures
from unlearnlab.reporting.tables import readable

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set

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
front = report.frontier(session)
ratios = report.steps_ratio(front, max(p.arithmetic.distill_budgets))
oracle_after = report.oracle_after_attack(session)
fig = figures.draw(session.paths, "arith_targeted_frontier", lplots.targeted_frontier, front, oracle_after,
                   max(p.arithmetic.distill_budgets))
display(fig)

# %%
display(readable(report.write_table(session, front, ratios)))

# %%
display(Markdown(report.describe(front, ratios, oracle_after)))
