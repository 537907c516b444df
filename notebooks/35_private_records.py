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
# diagnosis; `python -m unlearnlab.data.medical --dry-run --sample 3` prints some). For every
# seed, a small Llama is pretrained from scratch (that seed's init and data order) on *public*
# clients' notes and questions, then fine-tuned on the private clients: that seed's **base** on
# all of them, one **oracle** per forget ratio (1, 5, 10, 20 % of the clients) on all but that
# ratio's forget clients. Each method unlearns each forget split from the base of its seed and is
# compared with the oracle of its seed: the intervals are over independently trained models, and
# the tables say how many stand behind each row. The question: is an unlearned client
# indistinguishable from one the model never saw? Evidence:
# QA accuracy in a paraphrase no training set contains, verbatim extraction of the notes (scored
# on their private tokens: the client's numbers, diagnosis, drug, symptoms and findings, not the
# template), membership inference (LOSS, zlib, min-k %, min-k %++; forget notes against holdout
# clients' notes) with the privacy leak relative to the oracle, and relearning on half of the
# forget clients scored on the *other* half. The grid is the profile's (`private.methods`):
# `default` runs GradDiff, NPO, SimNPO and RMU, each seed on its own public, base and oracle
# models; `smoke` and `gpu` add UNDO (noise, then distillation of the GradDiff model), which does
# not fit the default CPU budget; the grid line printed below says which made the numbers. A second part repeats the protocol on a real
# pretrained model: LoRA fine-tunes of SmolLM2-135M-Instruct.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.private import numbers as private_numbers
from unlearnlab.experiments.private import attacks_more, protocol, real, report, report_more
from unlearnlab.experiments.private import run as private
from unlearnlab.experiments.private.evaluate import results
from unlearnlab.core.real_model import model_slug
from unlearnlab.experiments.session import start
from unlearnlab.plots import private as plots
from unlearnlab.reporting.figures import draw
from unlearnlab.reporting.tables import readable

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set
model = ""  # the real tier's model: empty for the profile's (SmolLM2-135M-Instruct), or a local directory / hub name

# %%
session = start(profile, output_root, overrides)
display(Markdown(protocol.protocol(session)))  # the rules, before any result
world = private.load_world(session)
print(report.grid_note(session))
display(report.card_sizes(world))
print(report.example_note(world))

# %%
dirs = private.run(session, world)
df = results(session, dirs)
display(report.summary(df))

# %% [markdown]
# Forget-client QA accuracy per field (mean over seeds, %): which facts go first and which stay.
# `verbatim_all` above scores every token of the notes' second half, template included: it
# barely separates the base from the oracle, which is why the table scores the private tokens.

# %%
display(report.field_table(df))

# %% [markdown]
# Forget-client QA accuracy (held-out paraphrase), retain-client QA accuracy and verbatim
# extraction of the forget notes' private tokens, per forget ratio; dashed: the oracle, dotted:
# the base.

# %%
display(draw(session.paths, "private_accuracy", plots.accuracy_vs_ratio, df))

# %% [markdown]
# Membership inference on the forget clients' notes against holdout clients' notes, and the
# privacy leak `(AUC − AUC_oracle) / AUC_oracle` (0: oracle-like). All four attacks, then each
# method's min-k % AUC and leak beside the oracle's own AUC and the base's (chance: 0.5; an oracle
# far from it is why the leak is read against the oracle, not against chance):

# %%
display(draw(session.paths, "private_mia", plots.privacy_vs_ratio, df, report.HEADLINE_ATTACK))
display(report.mia_by_attack(df))
display(readable(report.leak_beside_references(df)))  # each leak next to the oracle's own AUC and the base's

# %% [markdown]
# Relearning on half of the forget clients: QA accuracy on the other half before and after
# (the table's "relearn gain" is the difference, per attack).

# %%
display(draw(session.paths, "private_relearning", plots.relearning_transfer, df))

# %%
display(readable(report.write_table(session, df)))

# %%
display(Markdown(report.describe(df)))

# %% [markdown]
# ## Attacks without training: quantization, a linear probe, in-context relearning
#
# Every model (base, oracle, each unlearned one) rounded to int8 and int4 (does rounding undo the
# unlearning update?); a linear probe per layer that reads the forget clients' diagnosis from the
# hidden states (fitted on retain clients' validation wording, its layer chosen on other retain
# clients, scored on the forget clients' test wording; grey: holdout clients no model saw); and
# the relearning attack's split without a gradient step: k of the relearned clients' trained
# question-answer pairs in the prompt before each question about the other forget clients.

# %%
more = attacks_more.joined(df, attacks_more.run(session, world, dirs))
more = report_more.ordered(more, [m for m, _ in session.profile.private.methods])
quant_probe, icl = report_more.write_tables(session, more)
display(readable(quant_probe))
display(readable(icl))

# %%
display(draw(session.paths, "private_probe", plots.probe_vs_layer, attacks_more.probe_curves(more)))

# %%
display(Markdown(report_more.describe(more)))

# %% [markdown]
# ## Real tier: SmolLM2-135M-Instruct with LoRA
#
# The same question on a pretrained model. A LoRA adapter on SmolLM2's last layers learns the
# members' diagnosis and medication questions (trained paraphrases) and, where the profile sets
# `private.real_train_notes` (smoke, gpu; not default, for time), their notes; the oracle's
# adapter learns the retain members only; each method trains the base's adapter further on the
# forget clients (RMU, where the grid has it, steers a layer inside the adapted ones). Scored as
# above, with membership inference on the clients' question–answer texts (forget against holdout
# clients in the same templates) and, with notes, on the notes plus verbatim extraction of their
# private tokens. The line printed below says what this run trained.
# Attacks that train nothing on every adapter (base, oracle, each method): int8/int4 rounding,
# and in-context relearning with the relearning attack's split (k of the relearned clients'
# trained pairs before each question about the other forget clients). No probe here: the counts
# printed below say why (a probe fitted on the retain members can only name diagnoses they have).

# %%
print(report.real_note(session, model or None))
real_df = real.run(session, world, model or None)
print(report.real_knowledge_note(session, real_df, model or None))
display(report.summary(real_df, by=("method",)))
display(readable(report.leak_beside_references(real_df)))
display(report.field_table(real_df))

# %%
name = "private_real" + ("_" + model_slug(model) if model else "")
display(draw(session.paths, name, plots.real_tier_bars, real_df, report.HEADLINE_ATTACK))

# %%
display(readable(report.write_real_table(session, real_df, model or None)))
real_more = attacks_more.real_run(session, world, real_df, model or None)  # every adapter merged, then rounded
display(readable(report_more.write_real_table(session, real_more, model or None)))
real_icl = attacks_more.real_icl_run(session, world, real_df, model or None)  # k relearned clients' pairs in the prompt
display(readable(report_more.write_real_icl_table(session, real_icl, model or None)))
display(Markdown(report_more.describe_real_icl(real_icl)))
coverage = attacks_more.real_probe_coverage(session, world, model or None)  # why the real tier has no probe
print(coverage)
print(private_numbers.write(session, df, real_df, model or None, more, real_more, real_icl,
                            coverage))  # the macros paper/sec_private.tex states

# %%
display(Markdown(report.describe(real_df)))
