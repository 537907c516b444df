"""Reading and editing the site an SAE sits on, with plain forward hooks (``core.anatomy``).

An SAE reads a named site of one layer (``resid_post``, ``attn_out``, ``mlp_out``: see
``core.anatomy``); its interventions edit that site's output on the very model that evaluation,
unlearning methods and the relearning attack use (``model(input_ids=...)``, fine-tuned in place).
Hooks add no copy, survive ``copy.deepcopy`` and let reading stop at the layer
(``collect_activations`` skips the blocks above it).

Every edit leaves position 0 (BOS, or the chat template's first token) unchanged: its activation
is an outlier the SAE is not trained on, and SAEBench zeroes its features before clamping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from unlearnlab.core import anatomy
from unlearnlab.core.batching import Batch, TokenSet

Edit = Callable[[torch.Tensor], torch.Tensor]  # (B, T, d) -> (B, T, d)


def attach(model: torch.nn.Module, site: str, layer: int, edit: Edit) -> torch.utils.hooks.RemovableHandle:
    """Apply ``edit`` to the site's output on every forward pass until the handle is removed
    (position 0 is kept as it was)."""

    def hook(module, args, out):
        x = anatomy.output_tensor(out)
        new = edit(x)
        new = torch.cat([x[:, :1], new[:, 1:].to(x.dtype)], dim=1)
        return anatomy.replace_output(out, new)

    return anatomy.site_module(model, site, layer).register_forward_hook(hook)


@contextmanager
def intervene(model: torch.nn.Module, site: str, layer: int, edit: Edit | None) -> Iterator[torch.nn.Module]:
    """``with intervene(model, ...):`` the model runs with ``edit`` at the site (None: unchanged)."""
    handle = attach(model, site, layer, edit) if edit is not None else None
    try:
        yield model
    finally:
        if handle is not None:
            handle.remove()


def real_token_mask(batch: Batch, special_ids: tuple[int, ...] = ()) -> torch.Tensor:
    """Real tokens other than position 0 and ``special_ids`` (EOS, pad): where statistics count."""
    mask = batch["attention_mask"].bool().clone()
    mask[:, 0] = False
    for token in special_ids:
        mask &= batch["input_ids"] != token
    return mask


@torch.no_grad()
def site_output(model: torch.nn.Module, batch: Batch, site: str, layer: int) -> torch.Tensor:
    """The site's output (B, T, d) for ``batch``, in float32; the forward pass stops right after it."""
    return anatomy.read(model, batch, site, layer).detach().float()


@torch.no_grad()
def collect_activations(model: torch.nn.Module, data: TokenSet, site: str, layer: int, batch_size: int = 64,
                        max_tokens: int | None = None, special_ids: tuple[int, ...] = ()) -> torch.Tensor:
    """Activations (N, d) at the site for the real tokens of ``data`` (see ``real_token_mask``),
    streamed batch by batch into one tensor, stopping after ``max_tokens``."""
    device = next(model.parameters()).device
    chunks, total = [], 0
    for batch in data.batches(batch_size, device):
        x = site_output(model, batch, site, layer)
        chunks.append(x[real_token_mask(batch, special_ids)].cpu())
        total += len(chunks[-1])
        if max_tokens is not None and total >= max_tokens:
            break
    acts = torch.cat(chunks) if chunks else torch.zeros(0, 0)
    return acts[:max_tokens] if max_tokens is not None else acts
