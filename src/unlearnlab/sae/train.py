"""Training an SAE on a model's activations, and the numbers that say how good it is.

Activations are streamed from the model batch by batch (``hooks.collect_activations``: the
forward pass stops at the SAE's layer, only real tokens are kept) into one in-memory store that
minibatches are drawn from at random. Why one store rather than a rolling buffer: it costs
N tokens × d × 4 bytes (``train_tokens`` in the SAE metrics records N), e.g. 100k tokens at
d = 576 (SmolLM2) is 230 MB and at d = 64 (the synthetic model) 26 MB, so it fits; and shuffling
across the whole corpus keeps consecutive minibatches from being one document. A corpus too large
for that would pass ``max_tokens`` or train on chunks. The optimisation is the project's
``core.training.train`` loop (AdamW, warm-up + cosine, gradient clipping); the SAE supplies its loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from unlearnlab.core import distributed
from unlearnlab.core.batching import TokenSet
from unlearnlab.evals.exact_match import cross_entropy
from unlearnlab.sae.hooks import collect_activations, intervene
from unlearnlab.sae.interventions import splice
from unlearnlab.sae.model import SAEConfig, SparseAutoencoder
from unlearnlab.core.training import TrainConfig, train


@dataclass(frozen=True)
class SAETrainConfig:
    steps: int = 2000
    lr: float = 1e-3
    batch_size: int = 1024  # activation vectors per step
    warmup_frac: float = 0.05
    log_every: int = 50


@dataclass
class SAETrainLog:
    """Loss parts every ``log_every`` steps (the training curve) and wall time."""

    curve: list[dict] = field(default_factory=list)
    steps: int = 0
    wall_s: float = 0.0


def train_sae(acts: torch.Tensor, cfg: SAEConfig, train_cfg: SAETrainConfig = SAETrainConfig(),
              seed: int = 0, device: str = "cpu", **hardware) -> tuple[SparseAutoencoder, SAETrainLog]:
    """An SAE of ``cfg`` fitted to the activation store ``acts`` (N, d_in)."""
    sae = SparseAutoencoder(cfg, seed).to(device)
    return sae, fit_sae(sae, acts, train_cfg, seed, **hardware)


def fit_sae(sae: SparseAutoencoder, acts: torch.Tensor, train_cfg: SAETrainConfig = SAETrainConfig(),
            seed: int = 0, **hardware) -> SAETrainLog:
    """Train ``sae`` in place on ``acts`` (N, d_in): input scale and decoder bias from the data,
    then ``train_cfg.steps`` steps on random minibatches drawn with ``seed``; left in eval mode."""
    if acts.ndim != 2 or acts.shape[1] != sae.cfg.d_in:
        raise ValueError(f"activations of shape {tuple(acts.shape)} do not match d_in={sae.cfg.d_in}")
    device = sae.W_enc.device
    sae.initialise_from(acts.to(device))
    gen = torch.Generator().manual_seed(seed)
    log = SAETrainLog()

    def step_loss(fwd, step):
        # under `accelerate launch`: this process's part of the global batch, and the loss through the
        # wrapper's forward (DDP / FSDP2 synchronise there); in one process, the calls made before
        rows = distributed.shard(torch.randint(len(acts), (train_cfg.batch_size,), generator=gen))
        x = acts[rows].to(device)
        loss, parts = fwd.loss(x) if distributed.current() is None else fwd(x, loss=True)
        if step % train_cfg.log_every == 0 or step == train_cfg.steps - 1:
            log.curve.append({"step": step, "loss": float(loss.detach()), **parts})
        return loss, len(rows)

    result = train(sae, step_loss, TrainConfig(steps=train_cfg.steps, lr=train_cfg.lr, batch_size=train_cfg.batch_size,
                                               warmup_frac=train_cfg.warmup_frac, **hardware),
                   desc=f"SAE {sae.cfg.kind}")
    log.steps, log.wall_s = result.steps, result.wall_s
    sae.eval()
    return log


@torch.no_grad()
def reconstruction_metrics(sae: SparseAutoencoder, acts: torch.Tensor, batch_size: int = 4096) -> dict[str, float]:
    """On held-out activations: MSE (per element, model units), explained variance, L0 (active
    features per token) and the fraction of features that never fire on them."""
    sq_err, fired, l0 = 0.0, torch.zeros(sae.cfg.d_sae, dtype=torch.bool), 0.0
    device = sae.W_enc.device
    for start in range(0, len(acts), batch_size):
        x = acts[start:start + batch_size].to(device)
        f = sae.encode(x)
        sq_err += float((sae.decode(f) - x).pow(2).sum())
        fired |= (f > 0).any(0).cpu()
        l0 += float((f > 0).sum())
    variance = float((acts - acts.mean(0)).pow(2).sum())
    n = len(acts)
    return {"mse": sq_err / (n * acts.shape[1]), "explained_variance": 1.0 - sq_err / max(variance, 1e-12),
            "l0": l0 / n, "dead_fraction": float((~fired).float().mean())}


def delta_loss(model: torch.nn.Module, sae: SparseAutoencoder, data: TokenSet,
               batch_size: int = 64) -> dict[str, float]:
    """Next-token cross-entropy with the SAE reconstruction spliced in, minus the clean one."""
    clean = cross_entropy(model, data, batch_size)
    with intervene(model, sae.cfg.site, sae.cfg.layer, splice(sae)):
        spliced = cross_entropy(model, data, batch_size)
    return {"ce_clean": clean, "ce_spliced": spliced, "delta_loss": spliced - clean}


def sae_for(model: torch.nn.Module, data: TokenSet, cfg: SAEConfig, train_cfg: SAETrainConfig, seed: int = 0,
            eval_fraction: float = 0.1, special_ids: tuple[int, ...] = (), max_tokens: int | None = None,
            loss_data: TokenSet | None = None, **hardware) -> tuple[SparseAutoencoder, SAETrainLog, dict[str, float]]:
    """Collect activations at the SAE's site from ``data``, train on all but the last
    ``eval_fraction`` of examples, and measure reconstruction on those and Δ loss on ``loss_data``
    (default: the same held-out examples). Pass text the model was trained to predict: on prompts
    whose tokens it never learned to predict, its clean loss is above chance and Δ loss means
    nothing."""
    n_eval = max(1, int(eval_fraction * len(data)))
    train_set, eval_set = data.subset(range(len(data) - n_eval)), data.subset(range(len(data) - n_eval, len(data)))
    acts = collect_activations(model, train_set, cfg.site, cfg.layer, special_ids=special_ids, max_tokens=max_tokens)
    device = str(next(model.parameters()).device)
    sae, log = train_sae(acts, cfg, train_cfg, seed, device, **hardware)
    held_out = collect_activations(model, eval_set, cfg.site, cfg.layer, special_ids=special_ids)
    metrics = {**reconstruction_metrics(sae, held_out), **delta_loss(model, sae, loss_data or eval_set),
               "train_tokens": len(acts), "train_wall_s": log.wall_s}
    return sae, log, metrics
