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
# repair it. Targeted-UNDO confines the noise to a localization mask (20_localize's localizers, run
# on each seed's own base model; inside:
# `(1−α)p + αβ·xavier`; outside: the teacher's weights) and distils with the same data, learning
# rate and stopping rule (retain accuracy back within the threshold of the teacher's). Each run is
# then attacked by the worst-case relearning fine-tune. The question: at equal post-attack forget
# accuracy, how many distillation steps does Targeted-UNDO need relative to global UNDO? Random
# masks of the same budget are the control. The grid (sources × budgets × α × seeds) is the
# profile's: `default` runs a reduced one, `gpu` the full one; the table says which ran.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.arithmetic import protocol
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.session import start
from unlearnlab.experiments.targeted import global_undo, report
from unlearnlab.experiments.targeted import run as targeted
from unlearnlab.plots import targeted as tplots
from unlearnlab.reporting import figures
from unlearnlab.reporting.tables import readable

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set

# %%
session = start(profile, output_root, overrides)
display(Markdown(protocol.protocol(session)))  # the rules, before any result
p = session.profile
world = arith.load_world(session)
base_dirs = arith.bases(session, world)  # seed -> its own base model (10_pretrain)
localization_dirs = targeted.localizations(session, world, base_dirs)  # masks of seed s computed on base s
n_jobs = targeted.run_sweep(session, world, base_dirs, localization_dirs)
print(f"{n_jobs} runs: sources {p.targeted.sources}, mask budgets {p.targeted.budgets}, α {p.targeted.alphas}, "
      f"masked-only training {p.targeted.train_only}, seeds {p.arithmetic.seeds}")

# %% [markdown]
# ## Global UNDO, extended: the rule (stated before the results)

# %%
display(Markdown(global_undo.rule()))

# %%
extension = global_undo.extend(session, world, base_dirs, report.frontier(session))
display(global_undo.extension_table(extension))

# %% [markdown]
# ## The frontier

# %%
front = report.frontier(session)
result = global_undo.outcome(front, p.arithmetic.distill_cap())
ratios = report.steps_ratio(front, result["max_steps_run"])
oracle_after = report.oracle_after_attack(session)
fig = figures.draw(session.paths, "arith_targeted_frontier", tplots.frontier, front, report.global_curve(session),
                   oracle_after, p.arithmetic.distill_cap())
display(fig)

# %%
display(readable(report.write_table(session, front, ratios, result)))
report.write_numbers(session, front, ratios, result)  # paper/numbers/targeted.tex

# %%
display(Markdown(report.describe_extension(result) + "\n\n" + report.describe(front, ratios, oracle_after)))
