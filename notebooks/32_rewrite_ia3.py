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
from dataclasses import replace

from IPython.display import Markdown, display

from unlearnlab.experiments.rewrite import numbers, protocol, report, results
from unlearnlab.experiments.rewrite import run as fr
from unlearnlab.experiments.session import start
from unlearnlab.plots import rewrite as rplots
from unlearnlab.reporting.figures import draw
from unlearnlab.reporting.tables import readable

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set
# a rewrite of your own replaces the profile's list of rewrites (figures then get a suffix and
# the paper's files are left alone); the relation must be one of facts.RELATIONS
subject = ""  # e.g. "Inception"
relation = ""  # e.g. "director"
old_object = ""  # e.g. "Christopher Nolan" (empty: looked up in facts.FACTS)
new_object = ""  # e.g. "Steven Spielberg"
model = ""  # empty: the profile's (SmolLM2-135M-Instruct); or a local model directory / hub name

# %%
session = start(profile, output_root, overrides)
custom = bool(subject or model)  # a rewrite or a model of your own: its own file names, the paper's left alone
cfg = session.profile.rewrite
if subject:
    cfg = replace(cfg, targets=((subject, relation, new_object, old_object or None),))
if model:
    cfg = replace(cfg, model=model)
display(Markdown(protocol.protocol(session, cfg)))  # the rules, before any result
suffix = report.file_suffix(cfg, own_target=bool(subject), model=model)
out = fr.run_grid(session, cfg)
known = out["known"]
print(report.probe_line(known, cfg))
known.groupby("relation").known.agg(["sum", "count"])

# %% [markdown]
# ## Results per variant

# %%
if out["runs"]:  # none for an untrained-looking model (the probe above says so); likewise below
    df = results.results(out)
    numbers.write_numbers(df, results.relearn_frame(out), cfg, session, known, write=not custom)
    display(readable(report.write_table(df, cfg, session, write=not custom)))

# %%
if out["runs"]:
    display(draw(session.paths, f"rewrite_bars{suffix}", rplots.accuracy_bars, df))

# %% [markdown]
# ## Is F1 still there? Logit lens by layer, and a relearning attack

# %%
if out["runs"]:
    lens = results.lens_frame(out)
    display(draw(session.paths, f"rewrite_logit_lens{suffix}", rplots.logit_lens, lens))

# %%
if out["runs"]:
    curves = results.relearn_frame(out)
    display(draw(session.paths, f"rewrite_relearn{suffix}", rplots.relearn_curves, curves,
                 results.base_f1_level(out)))

# %%
if out["runs"]:
    display(Markdown(report.describe(df, curves, cfg, lens)))
