"""The concept study's protocol: which choices it makes, on which items, by which rule.

Notebook 33 prints it before its first result; ``paper/sec_masked_lora.tex`` states the same
rules. The functions that apply each rule are named next to it.
"""

from __future__ import annotations

from unlearnlab.experiments.concept.config import ConceptConfig
from unlearnlab.experiments.session import Session


def _concept_rule(cfg: ConceptConfig) -> str:
    """How the concept is chosen: by the knowledge screen (``screen.choose``), or forced."""
    screen = (f"the first of {len(cfg.candidates)} candidate films, in the fixed order "
              f"{', '.join(cfg.candidates)}, whose direct and paraphrased *training* prompts (director, lead "
              f"actor, plot, recommendation) the base model answers with a film fact the prompt does not give "
              f"on at least {100 * cfg.screen_threshold:g} %; if none does, the best-scoring one (ties: the "
              "earlier), and the notebook says so (rule written 2026-12-03, before any screen result)")
    if cfg.name is None:
        return f"- *The concept* is chosen by a knowledge screen: {screen}."
    return (f"- *The concept* ({cfg.name}) is forced by the notebook parameter; the screen ({screen}) is "
            "still shown.")


def protocol(session: Session, cfg: ConceptConfig | None = None) -> str:
    """The protocol as Markdown, with the profile's concept settings (or ``cfg``) filled in."""
    cfg = cfg or session.profile.concept
    lrs = ", ".join(f"{v} {cfg.lr_of(v):g}" for v in cfg.variants)
    return "\n".join([
        "**Protocol (fixed before the results below).**",
        "- *Items.* Every probe form is split once into training and held-out prompts (`data.concepts`). "
        "Unlearning, the localizers and the relearning attack read training prompts only; every table, "
        "the answers and the relearning curves read held-out prompts. There is no validation split.",
        _concept_rule(cfg),
        f"- *Mask.* The top neurons by `{cfg.reference_localizer}` (concept against retain training prompts, batches: "
        f"{cfg.localize_batches}) at a budget of {100 * cfg.budget:g} % of the parameters, fixed "
        "since the study's first version; the random control has as many neurons.",
        f"- *Learning rates* ({lrs}), {cfg.steps} steps and retain weight {cfg.retain_weight:g}: from a pilot "
        "on Inception, seed 0 (learning rates 1e-3, 3e-3, 1e-2; 2026-11-23, before the current results; not "
        "re-tuned for a screened film) that judged "
        "how well the neutral answer was learned, refusals of neighbour films and degenerate answers. Its "
        "record does not say which prompts it read, and seed 0 is a reported seed: read these as chosen on "
        "the reported items.",
        f"- *Relearning attack:* {cfg.relearn_steps} full fine-tuning steps at the one learning rate "
        f"{cfg.relearn_lr:g} on {cfg.relearn_items} training prompts; no sweep, so no choice.",
        "- *Comparisons*: 'lower'/'higher' only when both have two or more seeds and their 95 % intervals do "
        "not overlap; against the base model (one model) when its value lies outside the variant's interval. "
        "The verdict's 'best' variant per column describes the table; no number is reported at a choice.",
    ])
