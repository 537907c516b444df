"""Weight-space localization: where unlearning moved the weights, and where the forget loss is
sensitive (gradient norms, Fisher information relative to retain data)."""

from __future__ import annotations

import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.core.logprobs import logits_of, nll
from unlearnlab.core.timing import in_phase


@torch.no_grad()
@in_phase("localize")
def weight_diff_scores(base: torch.nn.Module, unlearned: torch.nn.Module) -> dict[str, torch.Tensor]:
    """|θ_base − θ_unlearned| per entry (the seed's "unlearning logic": a short GradDiff run
    points at the weights that carry the forget knowledge)."""
    other = dict(unlearned.named_parameters())
    return {n: (p.detach().float() - other[n].detach().float()).abs().cpu() for n, p in base.named_parameters()}


def gradient_moments(model: torch.nn.Module, data: TokenSet, batch_size: int = 32, max_batches: int = 8,
                     answer_only: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Mean |g| and mean g² per entry over mini-batches of the language-model loss on ``data``.

    Mean g² over mini-batches is the empirical Fisher information (diagonal) up to batch size.
    """
    device = next(model.parameters()).device
    abs_sum = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in model.named_parameters()}
    sq_sum = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in model.named_parameters()}
    n_batches = 0
    was_training = model.training
    model.eval()
    for n_batches, batch in enumerate(data.batches(batch_size, device), start=1):
        model.zero_grad(set_to_none=True)
        nll(logits_of(model, batch), batch, answer_only).backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                g = p.grad.float()
                abs_sum[n] += g.abs()
                sq_sum[n] += g * g
        if n_batches >= max_batches:
            break
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    if n_batches == 0:
        raise ValueError("no data to compute gradients on")
    return ({n: (v / n_batches).cpu() for n, v in abs_sum.items()},
            {n: (v / n_batches).cpu() for n, v in sq_sum.items()})


@in_phase("localize")
def gradient_norm_scores(model, forget: TokenSet, **kwargs) -> dict[str, torch.Tensor]:
    """Mean |∂ forget loss / ∂θ| per entry."""
    return gradient_moments(model, forget, **kwargs)[0]


@in_phase("localize")
def fisher_ratio_scores(model, forget: TokenSet, retain: TokenSet, eps: float = 1e-12,
                        **kwargs) -> dict[str, torch.Tensor]:
    """F_forget / (F_retain + eps): important for forget data, unimportant for retain data."""
    f_forget = gradient_moments(model, forget, **kwargs)[1]
    f_retain = gradient_moments(model, retain, **kwargs)[1]
    scale = eps * max(float(v.mean()) for v in f_retain.values())  # relative floor
    return {n: f_forget[n] / (f_retain[n] + scale + eps) for n in f_forget}
