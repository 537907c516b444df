"""Which SAE features carry the forget knowledge: statistics on two corpora and importance scores.

Statistics per feature on the forget and the retain corpus: firing frequency (fraction of real
tokens where it is > 0, BOS/EOS/pad excluded as in SAEBench) and mean activation.

Scores (higher = more forget-specific), each then filtered by the same SAEBench rule: features
firing on at least ``retain_threshold`` of retain tokens are never selected.

* ``frequency``: SAEBench's rule: the forget firing frequency.
* ``kl``: information-theoretic: the one-sided KL divergence between a feature's firing on forget
  and on retain tokens, KL(Bern(p_f) ‖ Bern(p_r)) when p_f > p_r (else 0): a feature scores by
  how much evidence one token's firing gives that the text is forget text, weighted by how often
  it fires there, rather than by raw frequency.
* ``attribution``: causal, first order: the increase of the forget language-model loss if the
  feature were zeroed, −Σ f_i ∂L/∂f_i over forget tokens (attribution patching on features).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.core import anatomy
from unlearnlab.sae.hooks import real_token_mask, site_output
from unlearnlab.sae.model import SparseAutoencoder

RULES = ("frequency", "kl", "attribution")


@dataclass
class FeatureStats:
    """Per-feature firing frequency and mean activation (over all counted tokens) on one corpus."""

    freq: torch.Tensor
    mean_act: torch.Tensor
    n_tokens: int


@torch.no_grad()
def feature_stats(model: torch.nn.Module, sae: SparseAutoencoder, data: TokenSet, batch_size: int = 64,
                  special_ids: tuple[int, ...] = ()) -> FeatureStats:
    """Firing frequency and mean activation of every feature on ``data``."""
    device = next(model.parameters()).device
    fires = torch.zeros(sae.cfg.d_sae)
    total = torch.zeros(sae.cfg.d_sae)
    n = 0
    for batch in data.batches(batch_size, device):
        x = site_output(model, batch, sae.cfg.site, sae.cfg.layer)
        f = sae.encode(x[real_token_mask(batch, special_ids)]).cpu()
        fires += (f > 0).float().sum(0)
        total += f.sum(0)
        n += len(f)
    if n == 0:
        raise ValueError("no tokens to count features on")
    return FeatureStats(fires / n, total / n, n)


def kl_scores(forget: FeatureStats, retain: FeatureStats, eps: float = 1e-6) -> torch.Tensor:
    """One-sided KL(Bern(p_forget) ‖ Bern(p_retain)), zero where the feature fires no more on forget."""
    p = forget.freq.double().clamp(eps, 1 - eps)
    q = retain.freq.double().clamp(eps, 1 - eps)
    kl = p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()
    return torch.where(forget.freq > retain.freq, kl, torch.zeros_like(kl)).float()


def attribution_scores(model: torch.nn.Module, sae: SparseAutoencoder, data: TokenSet, batch_size: int = 32,
                       special_ids: tuple[int, ...] = ()) -> torch.Tensor:
    """Mean over forget tokens of −f_i · ∂L/∂f_i, L the language-model loss on ``data``.

    ∂L/∂f = ∂L/∂x · W_decᵀ / s (x̂ is linear in f), so one backward pass to the site gives every
    feature's gradient; the model runs unchanged (nothing is spliced in).
    """
    device = next(model.parameters()).device
    module = anatomy.site_module(model, sae.cfg.site, sae.cfg.layer)
    scores = torch.zeros(sae.cfg.d_sae)
    n = 0
    for batch in data.batches(batch_size, device):
        captured: dict[str, torch.Tensor] = {}

        def hook(mod, args, out):
            x = anatomy.output_tensor(out)
            if not x.requires_grad:  # frozen weights upstream: make the site a leaf
                x = x.detach().requires_grad_(True)
            captured["x"] = x
            return anatomy.replace_output(out, x)

        handle = module.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                loss = nll(logits_of(model, batch), batch) * batch["attention_mask"][:, 1:].sum()
                grad = torch.autograd.grad(loss, captured["x"])[0]
        finally:
            handle.remove()
        mask = real_token_mask(batch, special_ids)
        with torch.no_grad():
            x = captured["x"].detach()[mask].float()
            f = sae.encode(x)
            grad_f = grad[mask].float() @ sae.W_dec.T / sae.scale
            scores += (-f * grad_f).sum(0).cpu()
        n += int(mask.sum())
    return scores / max(n, 1)


def select_features(scores: torch.Tensor, retain_freq: torch.Tensor, retain_threshold: float,
                    n_features: int) -> list[int]:
    """SAEBench's selection: drop features with retain frequency ≥ threshold, rank the rest by
    score, keep those with a positive score, return the top ``n_features`` (maybe fewer)."""
    masked = torch.where(retain_freq >= retain_threshold, torch.zeros_like(scores), scores.float())
    order = torch.argsort(masked, descending=True, stable=True)
    positive = order[masked[order] > 0]
    return positive[:n_features].tolist()


ScoreFn = Callable[[], torch.Tensor]


def importance_scores(model: torch.nn.Module, sae: SparseAutoencoder, forget: TokenSet, retain: TokenSet,
                      rules: tuple[str, ...] = RULES, special_ids: tuple[int, ...] = (),
                      ) -> tuple[dict[str, torch.Tensor], FeatureStats, FeatureStats]:
    """Every requested rule's scores and the two corpora's statistics (attribution needs a
    backward pass per batch; the others reuse the statistics)."""
    scores, on_forget, on_retain = importance_scores_per_retain(model, sae, forget, {"": retain}, rules, special_ids)
    return scores[""], on_forget, on_retain[""]


def importance_scores_per_retain(model: torch.nn.Module, sae: SparseAutoencoder, forget: TokenSet,
                                 retains: dict[str, TokenSet], rules: tuple[str, ...] = RULES,
                                 special_ids: tuple[int, ...] = (),
                                 ) -> tuple[dict[str, dict[str, torch.Tensor]], FeatureStats, dict[str, FeatureStats]]:
    """``importance_scores`` against several retain corpora: the forget statistics and the
    attribution scores (forget text only; a backward pass per batch) are computed once."""
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ValueError(f"unknown scoring rule(s) {sorted(unknown)}; choose from {RULES}")
    on_forget = feature_stats(model, sae, forget, special_ids=special_ids)
    attribution = attribution_scores(model, sae, forget, special_ids=special_ids) if "attribution" in rules else None
    scores, on_retain = {}, {}
    for name, retain in retains.items():
        on_retain[name] = stats = feature_stats(model, sae, retain, special_ids=special_ids)
        makers: dict[str, ScoreFn] = {
            "frequency": lambda: on_forget.freq.clone(),
            "kl": lambda stats=stats: kl_scores(on_forget, stats),
            "attribution": lambda: attribution.clone(),
        }
        scores[name] = {rule: makers[rule]() for rule in rules}
    return scores, on_forget, on_retain
