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
# clients scored on the *other* half. The grid is the profile's: `default` runs a reduced one
# (two methods, three seeds), `gpu` the full one; the grid line below says which made the numbers.

# %%
import pandas as pd
from IPython.display import Markdown, display

from unlearnlab import private_plots, tables
from unlearnlab.experiments import private_records as pr
from unlearnlab.experiments.session import start
from unlearnlab.plots import save_figure

# %% tags=["parameters"]
profile = "default"
output_root = ""

# %%
session = start(profile, output_root)
world = pr.load_world(session)
print(pr.grid_note(session))
display(pr.card_sizes(world))
print(pr.example_note(world))

# %%
dirs = pr.run(session, world)
df = pr.results(session)
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
