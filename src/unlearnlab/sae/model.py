"""Sparse autoencoders: ReLU with an L1 penalty, and TopK; both with an AuxK loss for dead features.

``f = act(W_enc (s·x − b_dec) + b_enc)``, ``x̂ = (W_dec f + b_dec) / s``, where ``s`` is a fixed
input scale (so that E‖s·x‖² = d_in, which makes one L1 coefficient and one learning rate work
across models) and every decoder row has unit norm *by construction* (``W_dec`` is a normalised
parameter), so the L1 penalty cannot be dodged by shrinking features and growing decoder rows,
and the constraint needs no projection step after each optimizer step (``training.train`` has none).

Dead features (not fired for ``dead_tokens`` training tokens) get a gradient from the AuxK loss of
Gao et al. (2024): the top ``aux_k`` dead pre-activations must reconstruct the main model's error.
A TopK SAE keeps at most ``k`` active features per token (exactly ``k`` whenever at least ``k``
pre-activations are positive, which is all but always).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from unlearnlab.core.anatomy import SITES
from unlearnlab.core.artifacts import write_json_atomic

KINDS = ("relu", "topk")


@dataclass(frozen=True)
class SAEConfig:
    """Architecture, loss and the place in the model the SAE reads (``site`` of ``layer``)."""

    d_in: int
    d_sae: int
    kind: str = "topk"
    k: int = 16  # TopK: active features per token
    l1_coef: float = 3e-3  # ReLU: sparsity penalty on Σ f_i (decoder rows have unit norm)
    aux_k: int = 64  # AuxK: dead features used to reconstruct the error (0: off)
    aux_coef: float = 1 / 32
    dead_tokens: int = 20_000  # a feature silent for this many training tokens is dead
    site: str = "resid_post"
    layer: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown SAE kind {self.kind!r}; choose from {KINDS}")
        if self.site not in SITES:
            raise ValueError(f"unknown SAE site {self.site!r}; choose from {sorted(SITES)}")
        if self.kind == "topk" and not 0 < self.k <= self.d_sae:
            raise ValueError(f"TopK needs 0 < k <= d_sae, got k={self.k}, d_sae={self.d_sae}")


class SparseAutoencoder(torch.nn.Module):
    """An SAE on ``cfg.d_in``-dimensional activations."""

    def __init__(self, cfg: SAEConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        direction = torch.randn(cfg.d_sae, cfg.d_in, generator=gen)
        self.W_dec_raw = torch.nn.Parameter(direction)
        self.W_enc = torch.nn.Parameter(F.normalize(direction, dim=-1).T.clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(cfg.d_sae))
        self.b_dec = torch.nn.Parameter(torch.zeros(cfg.d_in))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("silent_tokens", torch.zeros(cfg.d_sae))

    # ------------------------------------------------------------------ the map

    @property
    def W_dec(self) -> torch.Tensor:
        """Decoder rows (d_sae, d_in), each of unit norm."""
        return F.normalize(self.W_dec_raw, dim=-1)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.scale - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        acts = F.relu(pre)
        if self.cfg.kind == "relu":
            return acts
        top = acts.topk(self.cfg.k, dim=-1)
        return torch.zeros_like(acts).scatter(-1, top.indices, top.values)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations (..., d_sae), in the SAE's own (scaled) units."""
        return self.activate(self.pre_activations(x.to(self.W_enc.dtype)))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction in the model's units."""
        return (f @ self.W_dec + self.b_dec) / self.scale

    def feature_delta(self, f_new: torch.Tensor, f_old: torch.Tensor) -> torch.Tensor:
        """decode(f_new) − decode(f_old), computed as one linear map (exactly 0 where equal)."""
        return (f_new - f_old) @ self.W_dec / self.scale

    def forward(self, x: torch.Tensor, loss: bool = False):
        """The reconstruction of ``x``; with ``loss``, the training loss instead (``loss``): how a
        DDP- or FSDP2-wrapped SAE trains, since a wrapper synchronises only in ``forward``."""
        return self.loss(x) if loss else self.decode(self.encode(x))

    # ------------------------------------------------------------------ training

    @torch.no_grad()
    def initialise_from(self, acts: torch.Tensor) -> None:
        """Set the input scale (E‖s·x‖² = d_in) and the decoder bias (the scaled mean) from data."""
        acts = acts.float()
        self.scale.fill_((self.cfg.d_in / acts.pow(2).sum(-1).mean()).sqrt())
        self.b_dec.copy_((acts * self.scale).mean(0))

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on a batch (N, d_in): normalised MSE + L1 (ReLU) + AuxK; updates the
        dead-feature counters."""
        target = x.to(self.W_enc.dtype) * self.scale
        pre = self.pre_activations(x)
        f = self.activate(pre)
        recon = f @ self.W_dec + self.b_dec
        err = target - recon
        variance = (target - target.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-8)
        mse = err.pow(2).sum(-1).mean() / variance
        total = mse
        parts = {"mse": float(mse.detach())}
        if self.cfg.kind == "relu":
            l1 = f.sum(-1).mean()
            total = total + self.cfg.l1_coef * l1
            parts["l1"] = float(l1.detach())
        with torch.no_grad():
            fired = (f > 0).any(0)
            self.silent_tokens.add_(len(x)).masked_fill_(fired, 0)
        dead = self.silent_tokens >= self.cfg.dead_tokens
        if self.cfg.aux_k and bool(dead.any()):
            aux = self._aux_loss(pre, dead, err.detach())
            total = total + self.cfg.aux_coef * aux
            parts["aux"] = float(aux.detach())
        parts["dead_fraction"] = float(dead.float().mean())
        return total, parts

    def _aux_loss(self, pre: torch.Tensor, dead: torch.Tensor, err: torch.Tensor) -> torch.Tensor:
        """AuxK: the top dead pre-activations reconstruct the residual error (normalised MSE)."""
        k = min(self.cfg.aux_k, int(dead.sum()))
        masked = F.relu(pre).masked_fill(~dead, 0.0)
        top = masked.topk(k, dim=-1)
        f_aux = torch.zeros_like(masked).scatter(-1, top.indices, top.values)
        variance = (err - err.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-8)
        return (err - f_aux @ self.W_dec).pow(2).sum(-1).mean() / variance

    # ------------------------------------------------------------------ files

    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """``sae.safetensors`` + ``sae_config.json`` (+ ``extra`` in it, e.g. training metrics)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(tensors, str(directory / "sae.safetensors"))
        write_json_atomic(directory / "sae_config.json", {"config": asdict(self.cfg), **(extra or {})})
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> "SparseAutoencoder":
        directory = Path(directory)
        cfg_path, weights = directory / "sae_config.json", directory / "sae.safetensors"
        if not (cfg_path.is_file() and weights.is_file()):
            raise FileNotFoundError(f"no SAE in {directory} (sae_config.json and sae.safetensors expected); "
                                    "rerun the step that trains it")
        sae = cls(SAEConfig(**json.loads(cfg_path.read_text())["config"]))
        sae.load_state_dict(load_file(str(weights)))
        return sae.to(device).eval()
