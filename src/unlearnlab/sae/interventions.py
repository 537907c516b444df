"""Edits of a site's activation through an SAE, as ``hooks.Edit`` functions.

* ``splice``: replace the activation by the SAE's reconstruction (the Δ-loss metric); with
  ``keep_error`` the error term is added back, which must leave the model unchanged.
* ``clamp``: SAEBench's intervention (after Anthropic's "Scaling Monosemanticity" steering):
  wherever a selected feature fires (> 0) its activation is set to ``-multiplier``; the SAE error
  term is kept, so only the selected features change, and with no features selected (or none
  firing) the activation is exactly unchanged.
* ``ablate_directions``: project the selected features' decoder directions out of the activation
  at every position, whether or not they fire: the comparison that asks whether the *direction*
  or the *conditional clamp* does the work.

None of them tracks gradients into the SAE (its parameters are frozen by ``freeze``), but all are
differentiable in the activation, so a model carrying one can be fine-tuned (relearning attack).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unlearnlab.sae.hooks import Edit
from unlearnlab.sae.model import SparseAutoencoder


def freeze(sae: SparseAutoencoder) -> SparseAutoencoder:
    return sae.eval().requires_grad_(False)


def splice(sae: SparseAutoencoder, keep_error: bool = False) -> Edit:
    """x → x̂ (or x̂ + (x − x̂) with ``keep_error``)."""
    freeze(sae)

    def edit(x: torch.Tensor) -> torch.Tensor:
        recon = sae(x).to(x.dtype)
        return recon + (x - recon) if keep_error else recon

    return edit


def clamp(sae: SparseAutoencoder, features: Sequence[int], multiplier: float) -> Edit:
    """Selected features set to ``-multiplier`` where they fire, error term kept."""
    freeze(sae)
    idx = torch.as_tensor(list(features), dtype=torch.long)

    def edit(x: torch.Tensor) -> torch.Tensor:
        if len(idx) == 0:
            return x
        f = sae.encode(x)[..., idx.to(x.device)]
        new = torch.where(f > 0, torch.full_like(f, -float(multiplier)), f)
        w = sae.W_dec[idx.to(x.device)]
        return x + ((new - f) @ w / sae.scale).to(x.dtype)

    return edit


def ablate_directions(sae: SparseAutoencoder, features: Sequence[int]) -> Edit:
    """x → x − Q Qᵀ x, Q an orthonormal basis of the selected decoder rows."""
    freeze(sae)
    idx = torch.as_tensor(list(features), dtype=torch.long)
    q = torch.linalg.qr(sae.W_dec[idx].T.detach()).Q if len(idx) else None  # (d_in, n)

    def edit(x: torch.Tensor) -> torch.Tensor:
        if q is None:
            return x
        basis = q.to(device=x.device, dtype=x.dtype)
        return x - (x @ basis) @ basis.T

    return edit
