"""The private-records study's protocol: which choices it makes, on which items, by which rule.

Written before the results it governs; notebook 35 prints it before its first result, and
``paper/sec_private.tex`` states the same rules. The functions that apply each rule are named
next to it, so a reader can check that the code does what the text says. Choices that were not
made by a rule at run time (the learning rates, fixed in ``config.py`` from pilots) are said to be
so, with the items and seed they were read on.
"""

from __future__ import annotations

from unlearnlab.experiments.private.config import LR_PILOT, REAL_LR_PILOT, PrivateConfig
from unlearnlab.experiments.session import Session
from unlearnlab.methods.distill import UNDOConfig
from unlearnlab.reporting.numbers import CI_LEVEL


def _lrs(methods) -> str:
    return ", ".join(f"{m} {lr:g}" for m, lr in methods)


def items(session: Session) -> list[str]:
    """What is test, what is validation, and which models stand behind a number."""
    p = session.profile.private
    return [
        "- *Items.* Every private client has one question per field in four wordings. Test: one wording "
        "per client and field (`held_out`), what every table reports: forget clients' (all of them), "
        f"{p.retain_eval_clients} sampled retain clients' and the holdout clients'. Validation: a second "
        "wording per client and field (`val`), what every choice reads. No training set (base, oracle, "
        "unlearning, the attack) contains either; the other two wordings are trained. Validation and test "
        "items are disjoint questions about the same clients (the forget clients are too few to split), so "
        "a choice on validation is not blind to which facts the test asks about, only to its items.",
        f"- *Models.* Seeds {list(p.seeds)}: each pretrains its own public model and fine-tunes its own base "
        "and one oracle per forget ratio; every unlearning run of seed s starts from base s and is compared "
        "with oracle s. Intervals are over these models.",
    ]


def run_time_rules(session: Session) -> list[str]:
    """The choices the code makes while it runs, each on validation items."""
    p = session.profile.private
    undo = UNDOConfig()
    lines = [
        f"- *Attacker's learning rate* (`evaluate.attack_summary`): of {list(p.relearn_lrs)} (real tier "
        f"{list(p.real_relearn_lrs)}), the one with the highest validation QA accuracy on the other forget "
        "clients after the attack; the table's 'others after' is the test accuracy at that rate (with one "
        "rate there is nothing to choose).",
        "- *Probe layer* (`attacks_more.probe_scores`): per model, the layer with the best two-fold accuracy on the "
        "retain clients' validation wording (fitted on half of the clients, scored on the other half, both ways); "
        "the probe fitted on all of them is scored at that layer on the forget clients' test wording. Quantization "
        "and in-context relearning choose nothing.",
        "- *Privacy leak*: (AUC − AUC_oracle) / AUC_oracle of min-k % on forget against holdout notes, shown "
        "next to the oracle's own AUC and the base's (their rows of the table; chance is 0.5); nothing is "
        "chosen on it.",
        f"- *Verdicts* (`report.verdicts`): a method fails a criterion at a ratio when the {100 * CI_LEVEL:g} % "
        "interval over models of its per-seed difference from its own oracle excludes 0; one model: no verdict.",
    ]
    if any(m == "UNDO" for m, _ in p.methods):
        lines.insert(1, f"- *UNDO's stopping step* (`run.undo_stop_items`): the first check (every "
                        f"{max(1, p.undo_steps // 6)} steps, at most {p.undo_steps}) at which validation QA on "
                        f"the sampled retain clients is back within {100 * undo.retain_threshold:g} points of "
                        f"the {p.undo_teacher} teacher's.")
    return lines


def _overridden(session: Session, what: str) -> str:
    """Where a profile sets its own learning rates: they come from neither pilot."""
    return (f"In the {session.profile.name} profile the {what} are its own (`profiles/{session.profile.name}.py`), "
            "set without reading any result. ")


def fixed_choices(session: Session) -> list[str]:
    """What was fixed before these results, by hand, on test items: said as such."""
    p, default = session.profile.private, PrivateConfig()
    own = _overridden(session, "learning rates") if p.methods != default.methods else ""
    own_real = _overridden(session, "real tier's learning rates") if p.real_methods != default.real_methods else ""
    return [
        f"- *Fixed before these results, not by a rule at run time*: {own}The default profile's learning "
        f"rates ({_lrs(default.methods)}) and retain weights (`run.METHOD_CONFIG`) were picked by hand in a pilot of "
        f"{LR_PILOT['date']} on "
        f"seed {LR_PILOT['seed']} at the {100 * LR_PILOT['ratio']:g} % split ({LR_PILOT['steps']} steps): "
        f"the lowest forget QA whose retain QA stayed within {100 * LR_PILOT['retain_drop']:g} points of the "
        "base's, both read on the test wording (the world had no validation items then). Re-deriving them on "
        "validation needs a grid of rates, i.e. new training runs; they are reported as chosen. The single "
        "attack rate of the default profile was kept from a pilot that compared two rates on test items.",
        f"- *Real tier* (SmolLM2-135M-Instruct, LoRA): one pretrained model, one base and one oracle adapter, "
        f"unlearning seeds {list(p.real_seeds)}: no interval over models and no verdict. {own_real}The default "
        f"profile's rates ({_lrs(default.real_methods)}) were picked by hand in a pilot of "
        f"{REAL_LR_PILOT['date']} (seed {REAL_LR_PILOT['seed']}, {REAL_LR_PILOT['steps']} steps, rates "
        f"{list(REAL_LR_PILOT['lrs'])}) by the forget QA they left on the test wording (the higher rate was "
        "taken). Its attack rate follows the rule above; its validation columns are computed like the "
        "synthetic tier's.",
        "- *Changed after results*: until 2026-12-03 the world had no validation wording (three wordings "
        "per field were trained, now two, so every model differs from earlier runs), UNDO's stop read the "
        "retain clients' trained wordings and the attack rate read the test items; the rules are otherwise "
        "as before.",
    ]


def protocol(session: Session) -> str:
    """The protocol as Markdown, with the profile's settings filled in."""
    return "\n".join(["**Protocol (fixed before the results below).**", *items(session),
                      *run_time_rules(session), *fixed_choices(session)])
