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
# # 32 · Rewriting a fact with (IA)³: unlearn, then learn — and is the old fact gone?
#
# SmolLM2-135M-Instruct knows "the capital of France is Paris" (F1). We rewrite it to a new
# object (F2, "Lyon") the way the seed did for Phi-3: find the modules that carry F1 (attribution
# patching on `hook_z`/`mlp.hook_pre`/`mlp.hook_post`, activation magnitude and weight-gradient
# norms, rank-averaged; top k), train an (IA)³ adapter on only those modules to answer F1's
# questions with "I am not sure.", merge, then train a second (IA)³ adapter there on F2, merge.
# The comparisons change one factor each, same data and step budget: no unlearning stage, all
# modules, random modules, LoRA instead of (IA)³, and full fine-tuning on F2.
#
# Training answers are phrased the way the model itself answers ("The capital of France is
# Lyon."), not as bare objects: bare one-word answers teach a chat model to answer *everything*
# in one word, which wrecks unrelated answers for reasons that have nothing to do with the fact.
#
# Then the attacks: is F1 still preferred under forced choice? Still computed inside (logit lens
# by layer)? How fast does a few-step fine-tune on F1 bring it back?

# %%
from IPython.display import Markdown, display

from unlearnlab.plots import rewrite as rplots
from unlearnlab.reporting import tables
from unlearnlab.experiments.rewrite import run as fr
from unlearnlab.experiments.session import start
from unlearnlab.plots.arithmetic import save_figure

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)
# a rewrite of your own replaces the profile's list of rewrites (figures then get a suffix and
# the paper's files are left alone); the relation must be one of facts.RELATIONS
subject = ""  # e.g. "Inception"
relation = ""  # e.g. "director"
old_object = ""  # e.g. "Christopher Nolan" (empty: looked up in facts.FACTS)
new_object = ""  # e.g. "Steven Spielberg"

# %%
session = start(profile, output_root, overrides)
custom = bool(subject)
targets = (fr.Target(subject, relation, new_object, old_object or None),) if custom else None
grid = fr.Grid.of(session, targets)
suffix = f"_{fr.Target(subject, relation, new_object).name}".replace("->", "_").replace(" ", "_") if custom else ""
out = fr.run_grid(session, grid)
known = out["known"]
print(f"probe: {int(known.known.sum())} of {len(known)} facts answered correctly in all 3 paraphrases")
known.groupby("relation").known.agg(["sum", "count"])

# %% [markdown]
# ## Results per variant

# %%
df = fr.results(out)
table = fr.table(df)
caption = (f"Rewriting F1 $\\to$ F2 in SmolLM2-135M-Instruct ({profile} profile: {df.target.nunique()} rewrites, "
           f"{len(grid.seeds)} seed(s), {grid.steps} steps per stage, k = {grid.k} modules). Held-out paraphrases "
           "unless marked; F1 still preferred: F1 ranks first among candidate objects under forced choice. "
           "Mean $\\pm$ 95\\% CI over rewrites and seeds.")
if not custom:
    tables.write_latex(table, session.paths.tables / "rewrite_ia3.tex", caption=caption, label="tab:rewrite-ia3")
display(table)

# %%
fig = rplots.accuracy_bars(df)
save_figure(fig, session.paths.figures, f"rewrite_bars{suffix}")
display(fig)

# %% [markdown]
# ## Is F1 still there? Logit lens by layer, and a relearning attack

# %%
lens = fr.lens_frame(out)
fig = rplots.logit_lens(lens)
save_figure(fig, session.paths.figures, f"rewrite_logit_lens{suffix}")
display(fig)

# %%
curves = fr.relearn_frame(out)
fig = rplots.relearn_curves(curves, fr.base_f1_level(out))
save_figure(fig, session.paths.figures, f"rewrite_relearn{suffix}")
display(fig)

# %%
display(Markdown(fr.describe(df, curves, grid, lens)))
