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
# # 35 · Private records: unlearned, but forgotten?
#
# Synthetic SOAP notes (one visit per client, unique names, vitals and drugs consistent with the
# diagnosis; `python -m unlearnlab.data.medical --dry-run --sample 3` prints some). A small Llama
# is pretrained on *public* clients' notes and questions, then fine-tuned on the private clients:
# the **base** on all of them, one **oracle** per forget ratio (1, 5, 10, 20 % of the clients) on
# all but that ratio's forget clients. Each method unlearns each forget split from the base. The
# question: is an unlearned client indistinguishable from one the model never saw? Evidence:
# QA accuracy in a paraphrase no training set contains, verbatim extraction of the notes (scored
# on their private tokens: the client's numbers, diagnosis, drug, symptoms and findings, not the
# template), membership inference (LOSS, zlib, min-k %, min-k %++; forget notes against holdout
# clients' notes) with the privacy leak relative to the oracle, and relearning on half of the
# forget clients scored on the *other* half. The grid is the profile's: `default` runs a reduced
# one (GradDiff, NPO, SimNPO; three seeds), `smoke` and `gpu` add RMU and UNDO (noise, then
# distillation of the GradDiff model), which do not fit the default CPU budget; the grid line
# printed below says which made the numbers. A second part repeats the protocol on a real
# pretrained model: LoRA fine-tunes of SmolLM2-135M-Instruct.

# %%
import pandas as pd
from IPython.display import Markdown, display

from unlearnlab.plots import private as private_plots
from unlearnlab.reporting import tables
from unlearnlab.experiments.private import real as rr
from unlearnlab.experiments.private import run as pr
from unlearnlab.experiments.session import start
from unlearnlab.plots.arithmetic import save_figure

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4} (pipeline: --set concept.steps=4)
real_model = ""  # model of the real tier: empty for the profile default (SmolLM2), or a local HF directory

# %%
session = start(profile, output_root, overrides)
world = pr.load_world(session)
print(pr.grid_note(session))
display(pr.card_sizes(world))
print(pr.example_note(world))

# %%
dirs = pr.run(session, world)
df = pr.results(session, dirs)
cols = ["forget_qa_acc", "retain_qa_acc", "forget_verbatim", "forget_verbatim_all", f"auc_{pr.HEADLINE_ATTACK}",
        f"leak_{pr.HEADLINE_ATTACK}", f"auc_note_{pr.HEADLINE_ATTACK}", "others_before", "relearn_gain", "others_after"]
display(pr.with_gain(df).groupby(["ratio", "method"], sort=False)[[c for c in cols if c in df or c == "relearn_gain"]]
        .mean().round(3))

# %% [markdown]
# Forget-client QA accuracy per field (mean over seeds, %): which facts go first and which stay.
# `verbatim_all` above scores every token of the notes' second half, template included: it
# barely separates the base from the oracle, which is why the table scores the private tokens.

# %%
display(pr.field_table(df))

# %% [markdown]
# Forget-client QA accuracy (held-out paraphrase), retain-client QA accuracy and verbatim
# extraction of the forget notes' private tokens, per forget ratio; dashed: the oracle, dotted:
# the base.

# %%
fig = private_plots.accuracy_vs_ratio(df)
save_figure(fig, session.paths.figures, "private_accuracy")
display(fig)

# %% [markdown]
# Membership inference on the forget clients' notes against holdout clients' notes, and the
# privacy leak `(AUC − AUC_oracle) / AUC_oracle` (0: oracle-like). All four attacks:

# %%
fig = private_plots.privacy_vs_ratio(df, pr.HEADLINE_ATTACK)
save_figure(fig, session.paths.figures, "private_mia")
display(fig)
display(df.groupby(["method"], sort=False)[[f"auc_{a}" for a in pr.ATTACKS]].mean().round(3))

# %% [markdown]
# Relearning on half of the forget clients: QA accuracy on the other half before and after
# (the table's "relearn gain" is the difference, per attack).

# %%
fig = private_plots.relearning_transfer(df)
save_figure(fig, session.paths.figures, "private_relearning")
display(fig)

# %%
table = pr.table(df)
caption = (f"Private records ({pr.grid_note(session)}). Forget/retain QA: greedy exact match in a held-out "
           f"paraphrase; verbatim: next-token accuracy on the private tokens (client-specific values) of the "
           f"second half of forget notes; MIA AUC ({pr.HEADLINE_ATTACK.replace('_', '-')}) of forget vs holdout "
           "notes and privacy leak relative to the oracle; QA accuracy on the other forget clients before and "
           "after relearning on half of them, and the gain (after $-$ before, points). Unlearned models: mean "
           "$\\pm$ 95\\% CI over seeds. Base and oracle are one model per ratio: their values are shown alone "
           "(no interval); the oracle's relearning columns vary with the attack's client split (one per seed) "
           "and carry a CI.")
tables.write_latex(table, session.paths.tables / "private_records.tex", caption=caption, label="tab:private")
display(table)

# %%
display(Markdown(pr.describe(df)))

# %% [markdown]
# ## Real tier: SmolLM2-135M-Instruct with LoRA
#
# The same question on a pretrained model. A LoRA adapter on SmolLM2's last layers learns the
# members' diagnosis and medication questions (trained paraphrases) and, where the profile sets
# `medical_real_train_notes` (smoke, gpu; not default, for time), their notes; the oracle's
# adapter learns the retain members only; each method trains the base's adapter further on the
# forget clients (RMU, where the grid has it, steers a layer inside the adapted ones). Scored as
# above, with membership inference on the clients' question–answer texts (forget against holdout
# clients in the same templates) and, with notes, on the notes plus verbatim extraction of their
# private tokens. The line printed below says what this run trained.

# %%
print(rr.note(session, real_model or None))
real = rr.run(session, world, real_model or None)
display(pr.with_gain(real).groupby("method", sort=False)[[c for c in cols if c in real or c == "relearn_gain"]]
        .mean().round(3))
display(pr.field_table(real))

# %%
fig = private_plots.real_tier_bars(real, pr.HEADLINE_ATTACK)
save_figure(fig, session.paths.figures, "private_real" + ("_" + rr.slug(real_model) if real_model else ""))
display(fig)

# %%
real_table = pr.table(real)
caption = (f"Private records, real tier ({rr.note(session, real_model or None)}). Columns as in "
           "Table~\\ref{tab:private}; MIA on question--answer texts (note MIA, where present, on the notes as trained). "
           "Mean $\\pm$ 95\\% CI over seeds where there are several; a value without an interval comes from one model "
           "(base, oracle, or any method in a one-seed grid).")
if not real_model:
    tables.write_latex(real_table, session.paths.tables / "private_records_real.tex", caption=caption,
                       label="tab:private-real")
display(real_table)

# %%
display(Markdown(pr.describe(real)))
