"""The localization study's protocol: which choices it makes, on which items, by which rule.

Notebook 20 prints it before its first result; ``paper/sec_localize.tex`` states the same rules.
The functions that apply each rule are named next to it, so a reader can check that the code
does what the text says.
"""

from __future__ import annotations

from unlearnlab.experiments.session import Session


def protocol(session: Session, agreement_budget: float = 0.05) -> str:
    """The protocol as Markdown, with the profile's settings (and the notebook's agreement
    budget) filled in."""
    p, a = session.profile.localize, session.profile.arithmetic
    return "\n".join([
        "**Protocol (fixed before the results below).**",
        f"- *Items.* Scores read only training items: {p.items} forget and {p.items} retain examples "
        f"(`forget_train`, `retain_train`) and {p.patching_items} clean/corrupt forget-train equations. "
        f"Causal validation zeroes each mask in the first seed's base model ({a.seeds[0]}) and measures "
        f"forget and retain accuracy on the test items (`eval`, {100 * a.eval_fraction:g} % of each "
        "operation's operand pairs: what the figures and the paper report) and on the validation items "
        f"(`val`, another {100 * a.val_fraction:g} %).",
        f"- *Fixed in the profile, not tuned:* the localizers, the budgets {list(p.mask_budgets)}, "
        f"{p.causal_random_draws} random masks per mask, the learning rate {p.reference_lr:g} of the short "
        "GradDiff run behind the weight difference (unchanged since the study's first version, 2026-11-23; "
        f"no sweep was run) and the agreement budget {100 * agreement_budget:g} % (a notebook parameter).",
        f"- *Above random* (`report.above_random`): a mask is more selective than random when its test "
        f"selectivity (forget drop minus retain drop) is above every one of its {p.causal_random_draws} "
        "random masks of the same size. A test, not a choice.",
        f"- *The most selective mask* named at {100 * agreement_budget:g} % (`report.most_selective`): the "
        "highest selectivity on the validation items; its test numbers are reported. Until 2026-12-03 it "
        "was the highest test selectivity.",
        "- *Real tier* (SmolLM2-135M-Instruct, one pretrained model): one fact (the notebook's parameter, "
        "default France → Paris), chosen by hand before the study because the model ranks the answer first "
        "after every template; there is no validation split. Exact patching of neurons covers the top ones "
        "by attribution on the same prompts (a compute shortcut, stated below the figure); the top components "
        "are listed, nothing is chosen from them.",
        "- *Targeted-UNDO* (notebook 41) recomputes every mask on each seed's own base model; its choices "
        "are in the arithmetic protocol.",
    ])
