"""What 36_tofu chooses and reports, printed before any result."""

from __future__ import annotations

from unlearnlab.data.tofu_world import n_forget
from unlearnlab.experiments.session import Session
from unlearnlab.experiments.tofu.config import LR_SOURCE


def protocol(session: Session) -> str:
    cfg = session.profile.tofu
    data = (f"the TOFU files in `{cfg.source}`" if cfg.source else
            f"the generated TOFU-format world (`data.tofu_world`): {cfg.authors} fictitious authors x "
            f"{cfg.qa_per_author} questions; forget01/05/10 = "
            f"{'/'.join(str(n_forget(cfg.authors, p)) for p in (1, 5, 10))} authors (TOFU: 2/10/20 of 200)")
    return "\n".join([
        "**Protocol (36_tofu)**", "",
        f"- Data: {data}. Forget splits run: {', '.join(cfg.forget_splits)}.",
        f"- Models: per seed ({len(cfg.seeds)}: {list(cfg.seeds)}) one base (LoRA on {cfg.model}'s last "
        f"{cfg.lora_layers} layers, {cfg.steps} steps of {cfg.batch_size} at lr {cfg.lr:g} on `full`) and one oracle per split (same start and steps on "
        "the retain split); each method unlearns from that seed's base.",
        f"- Methods: {', '.join(f'{m} (lr {lr:g})' for m, lr in cfg.methods)}, {cfg.unlearn_steps} steps. "
        f"Learning rates: {LR_SOURCE}. No choice is made at run time, so no validation items are read.",
        "- Reported (TOFU's definitions, `evals.tofu`): forget quality = KS p-value of forget truth ratios vs the "
        "oracle's; model utility = harmonic mean of probability, ROUGE, truth ratio on retain, real authors, world "
        f"facts (ROUGE on the first {cfg.rouge_items} questions of each set); PrivLeak (MUSE, min-k 40 %) of forget vs "
        f"holdout texts relative to the oracle; forget quality after {', '.join(cfg.quant_schemes)} rounding.",
    ])
