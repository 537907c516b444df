"""The fact-rewrite study's protocol: which choices it makes, on which items, by which rule.

Notebook 32 prints it before its first result; ``paper/sec_rewrite.tex`` states the same rules.
The functions that apply each rule are named next to it.
"""

from __future__ import annotations

from unlearnlab.experiments.rewrite.config import RewriteConfig
from unlearnlab.experiments.session import Session
from unlearnlab.methods import rewrite as rw


def protocol(session: Session, cfg: RewriteConfig | None = None) -> str:
    """The protocol as Markdown, with the profile's rewrite settings (or ``cfg``) filled in."""
    cfg = cfg or session.profile.rewrite
    lrs = {name: c.lr for name, c in (("(IA)³", rw.RewriteMethodConfig()), ("LoRA", rw.LoRARewriteConfig()),
                                      ("full fine-tuning", rw.FullRewriteConfig()))}
    attack = (f"the one rate {cfg.relearn_lrs[0]:g}" if len(cfg.relearn_lrs) == 1 else
              f"per rewrite, the rate of {list(cfg.relearn_lrs)} with the highest mean final F1 "
              "exact match over the *other* rewrites' runs (`numbers.attack_lrs`: leave one rewrite out; one "
              "rewrite alone: the first rate)")
    return "\n".join([
        "**Protocol (fixed before the results below).**",
        "- *Items.* Each relation has training paraphrases and held-out paraphrases. Training, the "
        "knowledge probe, the module scores and the relearning attack read training paraphrases only; "
        "the table's held-out columns, forced choice and the attack's curve read held-out paraphrases "
        "(its training columns show how well the training prompts were learned). "
        "There is no separate validation split: nothing below is chosen on held-out paraphrases.",
        f"- *Which facts.* The rewrites ({len(cfg.targets)}) are fixed in the profile, taken (2026-11-23; ten "
        "since 2026-12-03) among the capitals the knowledge probe finds known (three *training* "
        "paraphrases, all answered correctly); the `known` column marks a fact the probe misses at this "
        f"run's precision. Controls: the first {cfg.controls[0]} known facts of the same relation "
        f"and {cfg.controls[1]} of other relations (`run.choose_controls`).",
        f"- *Modules.* The top {cfg.k} modules by the `modules` localizer on F1's training paraphrases "
        "against the controls' (`run.setup`); k is the seed project's choice, not tuned.",
        "- *Learning rates* (" + ", ".join(f"{k} {v:g}" for k, v in lrs.items()) + "): from a pilot before "
        "the results (2026-11-23) on two development rewrites, Greece → Thessaloniki and Sweden → Gothenburg. "
        "Sweden → Gothenburg joined the grid on 2026-12-03, so one reported rewrite was seen by that pilot. "
        f"The budget ({cfg.steps} steps per stage) is a fixed setting.",
        f"- *Relearning attack:* {cfg.relearn_steps} full fine-tuning steps on F1's training paraphrases "
        f"(answered as the unedited model answered them); learning rate: {attack}. F1's held-out exact match is "
        "reported at that rate.",
        "- *Comparisons*: 'higher'/'lower' only when the 95 % CI of the paired differences (same rewrite "
        "and seed) excludes zero; otherwise 'not distinguishable'.",
    ])
