"""The arithmetic study's protocol: which choices it makes, on which items, by which rule.

Written before the results it governs; notebooks 30, 31, 40 and 41 print it before their first
result, and the paper's setup section states the same rules. The functions that apply each rule
are named next to it, so a reader can check that the code does what the text says.
"""

from __future__ import annotations

from unlearnlab.experiments.arithmetic.attacks_report import ICL_KEEP
from unlearnlab.experiments.arithmetic.selection import MAX_RETAIN_DROP
from unlearnlab.experiments.session import Session
from unlearnlab.reporting.numbers import CI_LEVEL


def protocol(session: Session) -> str:
    """The protocol as Markdown, with the profile's settings filled in."""
    p = session.profile.arithmetic
    return "\n".join([
        "**Protocol (fixed before the results below).**",
        f"- *Items.* Test: {100 * p.eval_fraction:g} % of each operation's operand pairs (`eval`), "
        f"what every table reports. Validation: another {100 * p.val_fraction:g} % (`val`), what every "
        "choice reads. Neither is ever trained on by unlearning, distillation or the attack.",
        f"- *Models.* Seeds {list(p.seeds)}: each pretrains its own base model and oracle; every run of "
        "seed s starts from base s and is compared with oracle s. Intervals are over these models.",
        f"- *Baseline learning rate* (`selection.select_lr`): from {list(p.unlearn_lrs)}, the lowest mean "
        "validation forget accuracy among the rates whose mean validation retain accuracy is within "
        f"{100 * MAX_RETAIN_DROP:g} points of the base models'.",
        f"- *UNDO's stopping step* (`methods.distill`): the first check (every {p.distill_eval_every} "
        f"steps; {p.extend_eval_every} in extended runs) at which validation retain accuracy is back "
        f"within {100 * p.retain_threshold:g} points of the teacher's.",
        f"- *Attacker's learning rate* (`attacks.relearn.worst_case`): of {list(p.attack_lrs)}, the one "
        "with the highest validation forget accuracy after the attack; the table reports the test forget "
        "accuracy at that rate.",
        f"- *Probe layer* (`extra_attacks.cross_validated`): the layer whose probe scores best under "
        f"{p.probe_folds}-fold cross-validation over validation facts; the table reports that layer's test "
        "accuracy (probe fitted on every validation item). *In-context shots*: forget-train examples of other "
        f"facts, k of {list(p.icl_ks)}, as many as fit the {p.model.max_len}-token context; read as an attack only "
        f"if the base models keep at least {100 * ICL_KEEP:g} % of their zero-shot forget accuracy with shots "
        "(`attacks_report.icl_informative`), else reported as uninformative.",
        "- *Named configurations* (most robust baseline and UNDO setting, best Targeted-UNDO mask): "
        "lowest mean post-attack validation forget accuracy among the configurations that recovered on "
        "every model.",
        f"- *Comparisons*: a word like 'lower' only when the {100 * CI_LEVEL:g} % interval of the per-model differences "
        "excludes zero (`reporting.numbers.paired_word`); otherwise 'indistinguishable'.",
        "- *Changed after results*: until 2026-12-03 the world had no validation split and these choices "
        "read the test items; the rules are otherwise as before. The in-context rule above was written on "
        "2026-12-04 after seeing base models lose their forget accuracy once shots precede the question.",
    ])
