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
# # 40 · Relearning attacks on every model
#
# Fine-tune each model on a few forget-train examples (x, ÷) over a learning-rate sweep and
# measure forget accuracy on the held-out eval items. The oracle never learned x/÷: how fast it
# "relearns" is the floor. A method that only hides the knowledge comes back faster. Then three
# attacks that train nothing: weight quantization, linear probes and in-context examples.

# %%
from IPython.display import Markdown, display

from unlearnlab.experiments.arithmetic import attacks_report, extra_attacks, protocol, report, selection
from unlearnlab.experiments.arithmetic import run as arith
from unlearnlab.experiments.session import start

# %% tags=["parameters"]
profile = "default"
output_root = ""
overrides = {}  # profile fields, e.g. {"concept.steps": 4}; the pipeline's --set

# %%
session = start(profile, output_root, overrides)
display(Markdown(protocol.protocol(session)))  # the rules, before any result
world = arith.load_world(session)
n_models = arith.attack_all(session, world)
print(n_models, "models attacked, learning rates", session.profile.arithmetic.attack_lrs)

# %%
display(report.attack_summary(selection.attacked(session)))

# %% [markdown]
# ## Quantization, linear probes, in-context examples
# The same models under three attacks that train nothing: int8 and int4 weight quantization, a
# linear probe per layer for the forgotten answer's first token (fitted on validation items, scored
# on test items), and k forget examples in the prompt.

# %%
extra_attacks.attack_extra_all(session, world)
display(Markdown(attacks_report.describe(attacks_report.reported_rows(session))))
