"""Semi-NMF localization: forget-selective *features* of MLP activations, mapped back to neurons.

Single-neuron scores (``activation_magnitude``) miss knowledge that is stored in superposition,
spread thinly over many neurons that each also do other work. Semi-nonnegative matrix
factorization (Ding, Li & Jordan 2010) decomposes the activations X (tokens × neurons, any sign)
as X ≈ G Fᵀ with G ≥ 0: each token is a nonnegative mix of k directions in neuron space. The
nonnegativity makes a feature's activation readable as "how much it is on", so a feature can be
scored by how much more it is on for forget tokens than for retain tokens; its direction F then
says which neurons carry it. ``semi_nmf_scores`` returns ``L{i}.N{j}`` neuron scores that feed
``mask_from_component_scores(model, scores, "neuron", budget)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from unlearnlab.core.batching import TokenSet
from unlearnlab.localization.activations import (
    _as_bridge,
    _device,
    _float,
    _kind,
    _layers,
    _prediction_mask,
    _site,
    _slots,
    site_activations,
)
from unlearnlab.core.timing import in_phase


def _positive(a: torch.Tensor) -> torch.Tensor:
    return (a.abs() + a) / 2


def _negative(a: torch.Tensor) -> torch.Tensor:
    return (a.abs() - a) / 2


def _fit_f(X: torch.Tensor, G: torch.Tensor, ridge: float = 1e-12) -> torch.Tensor:
    """F = Xᵀ G (Gᵀ G)⁻¹, the least-squares directions for fixed G.

    Solved through the k × k normal equations (cheap: k is small) with a ridge of ``ridge`` times
    the mean diagonal of Gᵀ G, so a feature whose G column has died (multiplicative updates keep
    zeros at zero) gives a zero direction instead of a singular system. At 1e-12 relative the
    ridge leaves the F step least squares for every practical purpose, which is what keeps the
    reconstruction error non-increasing.
    """
    gram = G.T @ G
    scale = float(gram.diagonal().mean()) if gram.numel() else 0.0
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + (ridge * scale + 1e-300) * eye, G.T @ X).T


def _kmeans_start(X: torch.Tensor, k: int, seed: int, iters: int = 20) -> torch.Tensor:
    """Initial G: one-hot k-means cluster memberships of the rows of X, plus 0.2 everywhere.

    k-means++ seeding (centres drawn with probability ∝ squared distance to the nearest centre
    so far; uniformly when every row sits on a centre) and at most ``iters`` Lloyd steps. The
    +0.2 keeps every entry positive: multiplicative updates can never move an exact zero.
    """
    gen = torch.Generator().manual_seed(seed)
    centres = X[torch.randint(len(X), (1,), generator=gen).to(X.device)]
    for _ in range(1, k):
        weight = (torch.cdist(X, centres).min(1).values ** 2).cpu()
        weight = weight if float(weight.sum()) > 0 else torch.ones_like(weight)
        centres = torch.cat([centres, X[torch.multinomial(weight, 1, generator=gen).to(X.device)]])
    labels = torch.cdist(X, centres).argmin(1)
    for _ in range(iters):
        onehot = torch.nn.functional.one_hot(labels, k).to(X.dtype)
        count = onehot.sum(0)[:, None]
        centres = torch.where(count > 0, onehot.T @ X / count.clamp_min(1), centres)  # empty: keep
        new = torch.cdist(X, centres).argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
    return torch.nn.functional.one_hot(labels, k).to(X.dtype) + 0.2


def semi_nmf(X: torch.Tensor, k: int, iters: int = 200, seed: int = 0, eps: float = 1e-9,
             history: list[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Semi-NMF of ``X`` (n × d, any sign): X ≈ G Fᵀ with G (n × k) ≥ 0 and F (d × k) free.

    Ding, Li & Jordan (2010): alternate the closed-form least-squares F = Xᵀ G (Gᵀ G)⁻¹ with the
    multiplicative update G ← G ⊙ sqrt(((XF)⁺ + G (FᵀF)⁻) / ((XF)⁻ + G (FᵀF)⁺)), where
    A⁺ = (|A| + A)/2 and A⁻ = (|A| − A)/2. Both steps never increase ‖X − G Fᵀ‖², and the update
    keeps G ≥ 0 because it only multiplies by nonnegative factors. ``eps`` floors the
    denominator.

    G starts from k-means as Ding et al. suggest (``_kmeans_start``: cluster indicators + 0.2).
    Semi-NMF is not unique (G M, F M⁻ᵀ fits as well for any invertible M ≥ 0 that keeps G M ≥ 0,
    which mixes features), and the updates settle near their start. On planted features that are
    sparse or clustered over tokens, a k-means start recovered a forget-only feature's neurons
    more often than a dense random start, though neither does so reliably (see the caveat in
    ``semi_nmf_scores``). The start is drawn with a CPU generator seeded with ``seed``, so it is
    the same on every device.

    Computed in float64 (the multiplicative update divides small differences) on ``X``'s device.
    Columns of F are rescaled to unit norm at the end, G absorbing the scale, so G reads as the
    activation along each unit direction; the product G Fᵀ is unchanged. If ``history`` is a
    list, the squared reconstruction error is appended after the first F fit and after each
    iteration (``iters + 1`` values, non-increasing up to rounding).
    """
    if X.dim() != 2:
        raise ValueError(f"X must be a matrix (n × d), got shape {tuple(X.shape)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    X = X.to(torch.float64)
    G = _kmeans_start(X, k, seed)
    norm_x = float((X * X).sum())

    F = _fit_f(X, G)
    XF = X @ F
    for step in range(iters + 1):
        if history is not None:  # ‖X − GFᵀ‖² = ‖X‖² − 2⟨G, XF⟩ + ⟨GᵀG, FᵀF⟩, without forming GFᵀ
            history.append(max(norm_x - 2 * float((G * XF).sum()) + float(((G.T @ G) * (F.T @ F)).sum()), 0.0))
        if step == iters:
            break
        FtF = F.T @ F
        numerator = _positive(XF) + G @ _negative(FtF)
        denominator = _negative(XF) + G @ _positive(FtF)
        G = G * torch.sqrt(numerator / (denominator + eps))
        F = _fit_f(X, G)
        XF = X @ F

    length = F.norm(dim=0)
    length = torch.where(length > 0, length, torch.ones_like(length))
    return G * length, F / length


def explained_variance(X: torch.Tensor, G: torch.Tensor, F: torch.Tensor) -> float:
    """1 − ‖X − G Fᵀ‖² / ‖X − mean(X)‖²: the share of the (centred) variance the factors explain."""
    X = X.to(torch.float64)
    residual = X - G.to(torch.float64) @ F.to(torch.float64).T
    error, total = float((residual ** 2).sum()), float(((X - X.mean(0)) ** 2).sum())
    if total == 0:  # a constant X: all or nothing
        return 1.0 if error == 0 else 0.0
    return 1.0 - error / total


def feature_selectivity(G_forget: torch.Tensor, G_retain: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Per feature (mean G on forget − mean G on retain) / (sum of both + eps), clipped at 0.

    In [0, 1]: 1 for a feature on only for forget tokens, 0 for one on equally often or more on
    retain (those are what unlearning should leave alone, so they get no credit).
    """
    on_forget, on_retain = G_forget.mean(0), G_retain.mean(0)
    return ((on_forget - on_retain) / (on_forget + on_retain + eps)).clamp_min(0)


def neuron_scores_from_factors(G_forget: torch.Tensor, G_retain: torch.Tensor, F: torch.Tensor,
                               eps: float = 1e-9) -> torch.Tensor:
    """Neuron j's score Σ_f selectivity_f · |F[j, f]| · mean_forget(G[:, f]), shape (d,).

    Through the factorization, feature f adds G[t, f] · F[j, f] to neuron j on token t, so
    |F[j, f]| · mean_forget(G_f) is how much activation f puts on neuron j on average over forget
    tokens; weighting it by the feature's selectivity keeps only the forget-specific part. The
    sum is how much of the neuron's forget-specific activation the selective features explain,
    in the activation's units (so layers are comparable, as with ``activation_magnitude``), and
    it does not depend on how the factorization splits scale between G and F.
    """
    weight = feature_selectivity(G_forget, G_retain, eps) * G_forget.mean(0)
    return F.abs() @ weight


def _positions(br: Any, data: TokenSet, site: str, layers: list[int], batch_size: int,
               max_batches: int | None) -> dict[int, torch.Tensor]:
    """{layer: (positions, d)} activations at the answer-predicting positions, on the CPU in float32."""
    parts: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for n, batch in enumerate(data.batches(batch_size), start=1):
        mask = _prediction_mask(batch)
        for layer, act in site_activations(br, batch, site, layers).items():
            parts[layer].append(_float(act[mask.to(act.device)]).cpu())
        if max_batches is not None and n >= max_batches:
            break
    out = {layer: torch.cat(chunks) for layer, chunks in parts.items() if chunks}
    if not out or any(len(x) == 0 for x in out.values()):
        raise ValueError("no answer-predicting positions in the data")
    return out


@in_phase("localize")
def semi_nmf_scores(model: Any, forget: TokenSet, retain: TokenSet, k: int = 16, *, site: str = "mlp.hook_post",
                    layers: Iterable[int] | None = None, batch_size: int = 32, max_batches: int | None = None,
                    iters: int = 200, seed: int = 0, eps: float = 1e-9,
                    tokenizer: Any = None) -> tuple[dict[str, float], dict]:
    """Neuron scores ``L{i}.N{j}`` from a per-layer semi-NMF of forget ∪ retain MLP activations.

    Per layer: the activations at ``site`` at the answer-predicting positions (the last prompt
    token and every answer token but the last, as in ``activation_magnitude``) of ``forget`` and
    of ``retain`` are stacked and factorized together with ``semi_nmf`` (one shared dictionary,
    so forget and retain usage of each feature are comparable); features are scored by
    ``feature_selectivity`` and mapped to neurons by ``neuron_scores_from_factors``. Factorizing
    both sets together matters: features of forget data alone would include everything the model
    always does. Activations are gathered on the CPU in float32, one pass over each set for all
    layers; each layer is factorized on the model's device.

    Caveat: semi-NMF is not unique (see ``semi_nmf``). A factorization often represents a
    forget-only feature as "forget neurons up, retain neurons down" against an always-on feature,
    and since the score uses |F| the retain feature's neurons then score too. Read the scores as a
    ranking of neurons involved in forget/retain differences, and compare them against the
    ``activation_magnitude`` and random baselines.

    Returns (scores, details): details holds ``k``, ``site``, the numbers of forget and retain
    positions, and per layer (int keys) each feature's ``selectivity``, ``forget_mean`` and
    ``retain_mean`` and the factorization's ``explained_variance``.
    """
    br = _as_bridge(model, tokenizer)
    site = _site(site)
    if _kind(site) != "mlp":
        raise ValueError(f"semi-NMF scores MLP neurons; site {site!r} is not an MLP site")
    chosen = _layers(br, layers)
    on_forget = _positions(br, forget, site, chosen, batch_size, max_batches)
    on_retain = _positions(br, retain, site, chosen, batch_size, max_batches)
    device = _device(br)
    scores: dict[str, float] = {}
    details: dict = {"k": k, "site": site, "n_forget": len(next(iter(on_forget.values()))),
                     "n_retain": len(next(iter(on_retain.values()))), "layers": {}}
    for layer in chosen:
        n_forget = len(on_forget[layer])
        X = torch.cat([on_forget[layer], on_retain[layer]]).to(device)
        G, F = semi_nmf(X, k, iters, seed, eps)
        per_neuron = neuron_scores_from_factors(G[:n_forget], G[n_forget:], F, eps).cpu()
        for slot in _slots(br, site, layer, torch.Size((1, 1, X.shape[1])), "neuron"):
            scores.update(dict.fromkeys(slot.names, float(per_neuron[slot.index[-1]])))
        details["layers"][layer] = {
            "selectivity": feature_selectivity(G[:n_forget], G[n_forget:], eps).tolist(),
            "forget_mean": G[:n_forget].mean(0).tolist(), "retain_mean": G[n_forget:].mean(0).tolist(),
            "explained_variance": explained_variance(X, G, F)}
    return scores, details
