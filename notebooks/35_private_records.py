# %% [markdown]
# # 35 · Private records: unlearned, but forgotten?
#
# Synthetic SOAP notes (one visit per client, unique names, vitals and drugs consistent with the
# diagnosis; `python -m unlearnlab.data.medical --dry-run --sample 3` prints some). A small Llama
# is pretrained on *public* clients' notes and questions, then fine-tuned on the private clients:
# the **base** on all of them, one **oracle** per forget ratio (1, 5, 10, 20 % of the clients) on
# all but that ratio's forget clients. Each method unlearns each forget split from the base. The
# question: is an unlearned client indistinguishable from one the model never saw? Evidence:
# QA accuracy in a paraphrase no training set contains, verbatim continuation of the notes,
# membership inference (LOSS, zlib, min-k %, min-k %++; forget notes against holdout clients'
# notes) with the privacy leak relative to the oracle, and relearning on half of the forget
# clients scored on the *other* half. The grid is the profile's: `default` runs a reduced one,
# `gpu` the full one; the grid line printed below says which made the numbers. A second part
# repeats the protocol on a real pretrained model: LoRA fine-tunes of SmolLM2-135M-Instruct.

# %%
import pandas as pd
from IPython.display import Markdown, display

from unlearnlab import private_plots, tables
from unlearnlab.experiments import private_real as rr
from unlearnlab.experiments import private_records as pr
from unlearnlab.experiments.session import start
from unlearnlab.plots import save_figure

# %% tags=["parameters"]
profile = "default"
output_root = ""
real_model = ""  # model of the real tier: empty for the profile default (SmolLM2), or a local HF directory

# %%
session = start(profile, output_root)
world = pr.load_world(session)
print(pr.grid_note(session))
display(pr.card_sizes(world))
print(pr.example_note(world))

# %%
dirs = pr.run(session, world)
df = pr.results(session, dirs)
cols = ["forget_qa_acc", "retain_qa_acc", "forget_verbatim", f"auc_{pr.HEADLINE_ATTACK}",
        f"leak_{pr.HEADLINE_ATTACK}", "others_before", "others_after"]
display(df.groupby(["ratio", "method"], sort=False)[cols].mean().round(3))

# %% [markdown]
# Forget-client QA accuracy (held-out paraphrase), retain-client QA accuracy and verbatim
# continuation of the forget notes, per forget ratio; dashed: the oracle, dotted: the base.

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
# Relearning on half of the forget clients: QA accuracy on the other half before and after.

# %%
fig = private_plots.relearning_transfer(df)
save_figure(fig, session.paths.figures, "private_relearning")
display(fig)

# %%
table = pr.table(df)
caption = (f"Private records ({pr.grid_note(session)}). Forget/retain QA: greedy exact match in a held-out "
           f"paraphrase; verbatim: next-token accuracy on the second half of forget notes; MIA AUC "
           f"({pr.HEADLINE_ATTACK.replace('_', '-')}) of forget vs holdout notes and privacy leak relative to "
           "the oracle; QA accuracy on the other forget clients after relearning on half of them. "
           "Mean $\\pm$ 95\\% CI over seeds (base and oracle: one model each).")
tables.write_latex(table, session.paths.tables / "private_records.tex", caption=caption, label="tab:private")
display(table)

# %%
display(Markdown(pr.describe(df)))

# %% [markdown]
# ## Real tier: SmolLM2-135M-Instruct with LoRA
#
# The same question on a pretrained model. A LoRA adapter on SmolLM2's last layers learns the
# members' diagnosis and medication questions (trained paraphrases); the oracle's adapter learns
# the retain members only; each method trains the base's adapter further on the forget clients.
# Scored as above, with membership inference on the clients' question–answer texts (forget
# against holdout clients in the same templates), since only those texts are trained.

# %%
print(rr.note(session, real_model or None))
real = rr.run(session, world, real_model or None)
display(real.groupby("method", sort=False)[[c for c in cols if c in real]].mean().round(3))

# %%
fig = private_plots.real_tier_bars(real, pr.HEADLINE_ATTACK)
save_figure(fig, session.paths.figures, "private_real" + ("_" + rr.slug(real_model) if real_model else ""))
display(fig)

# %%
real_table = pr.table(real)
caption = (f"Private records, real tier ({rr.note(session, real_model or None)}). Columns as in "
           "Table~\\ref{tab:private}; MIA on question--answer texts. Mean $\\pm$ 95\\% CI over seeds (base and oracle: one "
           "model each).")
if not real_model:
    tables.write_latex(real_table, session.paths.tables / "private_records_real.tex", caption=caption,
                       label="tab:private-real")
display(real_table)

# %%
display(Markdown(pr.describe(real)))
