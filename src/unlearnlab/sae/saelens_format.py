"""SAELens' on-disk format: write our SAEs so SAELens users can load them, and read theirs.

A folder holds ``cfg.json`` and ``sae_weights.safetensors`` with ``W_enc`` (d_in, d_sae), ``b_enc``
(d_sae), ``W_dec`` (d_sae, d_in) and ``b_dec`` (d_in) — what SAELens' ``SAE.save_model`` writes and
``SAE.load_from_disk`` reads (read in SAELens 6.18.0's source, ``sae_lens/saes/{sae,standard_sae,
topk_sae}.py``, ``loading/pretrained_sae_loaders.py``, and the 6.54.12 wheel: the same). Its forward
pass, with ``normalize_activations="none"``::

    f  = act((x − b_dec·[apply_b_dec_to_input]) @ W_enc + b_enc)
    x̂ = f @ W_dec + b_dec

where ``act`` is ReLU for architecture ``"standard"`` and, for ``"topk"``, the top ``k``
pre-activations passed through ReLU (``rescale_acts_by_decoder_norm`` false; if true, the
pre-activations are multiplied by the decoder row norms before the selection and the features
divided by them before decoding).

Our SAE (``sae.model``) is ``f = act((s·x − b) @ W_enc + b_enc)``, ``x̂ = (f @ W_dec + b)/s`` with
unit-norm decoder rows. The input scale folds in exactly as SAELens folds its own activation scale
(``SAE.fold_activation_norm_scaling_factor``): ``W_enc·s``, ``W_dec/s``, ``b/s``. A SAELens user
then gets our feature activations and our reconstruction, up to float32 rounding of the products
(tests: ≤ 1e-5 relative). The decoder rows then have norm ``1/s``; loading inverts this
(``s = 1 / row norm``). A SAELens folder whose decoder rows have unequal norms loads exactly for
ReLU (the norms move into the features, as SAELens' ``fold_W_dec_norm`` does; the features are then
scaled per feature, reconstructions unchanged) and for TopK with ``rescale_acts_by_decoder_norm``;
a TopK SAE without it would change which features win, so it is refused. JumpReLU (Gemma Scope),
gated and the other architectures, per-token input normalisation and attention ``hook_z`` SAEs
cannot be represented by ``SparseAutoencoder`` and are refused with a one-line error.

``sae-lens`` itself is not a dependency: 6.54.12 requires ``transformer-lens<4`` and would
downgrade our pinned 4.3.0 (``pip install --dry-run sae-lens``, 2026-12-04), so the format is read
and written here directly. Checked once against the real package (6.54.12 in a scratch
``pip install --target``, 2026-12-04): its ``SAE.load_from_disk`` on our folders and our loader on
its ``save_model`` folders agree with the source SAE to ≤ 5e-7 relative; CI has no sae-lens, so the
tests check the formula above instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unlearnlab.core.batching import TokenSet
from unlearnlab.sae.hooks import collect_activations
from unlearnlab.sae.model import SAEConfig, SparseAutoencoder
from unlearnlab.sae.train import delta_loss, reconstruction_metrics

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SUBDIR = "saelens"  # the copy a study writes inside each SAE artifact
HUB_NAMES = {"smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}  # our short model names -> SAELens' model_name
FORMAT_VERSION = "6.0.0"  # SAELens' cfg.json layout since 6.0 (metadata block); older readers get top-level keys
SUPPORTED = ("standard (ReLU)", "topk")
TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec")
HOOKS = {"resid_post": "hook_resid_post", "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out"}
_HOOK_RE = re.compile(r"^blocks\.(\d+)\.(hook_resid_post|hook_attn_out|hook_mlp_out)$")
_EQUAL_NORMS_RTOL = 1e-4  # decoder rows this close in norm are one input scale (ours: ~1e-7 apart)


# ---------------------------------------------------------------------- hook names


def saelens_hook_name(site: str, layer: int) -> str:
    """TransformerLens' name of our ``site`` at ``layer`` (``core.anatomy``'s docstring)."""
    if site not in HOOKS:
        raise ValueError(f"unknown SAE site {site!r}; choose from {sorted(HOOKS)}")
    return f"blocks.{layer}.{HOOKS[site]}"


def site_of_hook(hook_name: str) -> tuple[str, int]:
    """Our (site, layer) of a TransformerLens hook name; one-line error for any other hook."""
    match = _HOOK_RE.match(str(hook_name))
    if not match:
        raise ValueError(f"hook {hook_name!r} is not a site unlearnlab reads; supported: blocks.L.hook_resid_post, "
                         "blocks.L.hook_attn_out, blocks.L.hook_mlp_out")
    site = {v: k for k, v in HOOKS.items()}[match.group(2)]
    return site, int(match.group(1))


# ---------------------------------------------------------------------- writing


@torch.no_grad()
def saelens_tensors(sae: SparseAutoencoder) -> dict[str, torch.Tensor]:
    """Our weights with the input scale folded in (SAELens' ``fold_activation_norm_scaling_factor``)."""
    s = sae.scale.float()
    tensors = {"W_enc": sae.W_enc * s, "b_enc": sae.b_enc, "W_dec": sae.W_dec / s, "b_dec": sae.b_dec / s}
    return {k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}


def saelens_config(sae: SparseAutoencoder, model_name: str, hook_name: str, context_size: int | None = None,
                   dataset_path: str = "") -> dict:
    """``cfg.json``: SAELens >= 6 reads the top-level SAEConfig fields and ``metadata``; SAELens 5
    reads the flat keys below them (its SAEConfig has no defaults for them); both ignore the rest."""
    cfg = sae.cfg
    topk = cfg.kind == "topk"
    meta = {"sae_lens_version": FORMAT_VERSION, "sae_lens_training_version": None, "model_name": model_name,
            "hook_name": hook_name, "hook_head_index": None, "prepend_bos": True, "context_size": context_size,
            "dataset_path": dataset_path}
    out = {"architecture": "topk" if topk else "standard", "d_in": cfg.d_in, "d_sae": cfg.d_sae, "dtype": "float32",
           "device": "cpu", "apply_b_dec_to_input": True, "normalize_activations": "none",
           "reshape_activations": "none"}
    if topk:
        out.update(k=cfg.k, rescale_acts_by_decoder_norm=False)
    out["metadata"] = meta
    out.update({"activation_fn": "topk" if topk else "relu", "activation_fn_kwargs": {"k": cfg.k} if topk else {},
                "hook_layer": cfg.layer, "finetuning_scaling_factor": False, "dataset_trust_remote_code": True,
                **{k: v for k, v in meta.items() if k != "sae_lens_version"}})
    out["unlearnlab"] = {"config": asdict(cfg), "input_scale": float(sae.scale)}  # provenance; SAELens ignores it
    return out


def save_saelens(sae: SparseAutoencoder, directory: str | Path, *, model_name: str, hook_name: str | None = None,
                 context_size: int | None = None, dataset_path: str = "") -> Path:
    """Write ``directory`` (replaced if present) in SAELens' format, built in a temporary sibling
    and renamed into place, so a reader never sees half a folder. ``hook_name`` defaults to the
    SAE's own site and layer and must name them."""
    directory = Path(directory)
    hook_name = hook_name or saelens_hook_name(sae.cfg.site, sae.cfg.layer)
    if site_of_hook(hook_name) != (sae.cfg.site, sae.cfg.layer):
        raise ValueError(f"hook {hook_name!r} is not this SAE's site ({sae.cfg.site} of layer {sae.cfg.layer}); "
                         f"pass {saelens_hook_name(sae.cfg.site, sae.cfg.layer)!r} or omit hook_name")
    if not model_name:
        raise ValueError("model_name is empty; pass the model the SAE reads (a hub name or the model's directory)")
    cfg, tensors = saelens_config(sae, model_name, hook_name, context_size, dataset_path), saelens_tensors(sae)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp"))
    try:
        save_file(tensors, str(tmp / WEIGHTS_FILE))
        (tmp / CFG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def save_beside(sae: SparseAutoencoder, artifact_dir: str | Path, model_name: str) -> Path:
    """The study's copy: ``<artifact>/saelens/`` next to our own ``sae.safetensors``; ``model_name``
    is a hub name, a directory, or one of our short names (``HUB_NAMES``)."""
    return save_saelens(sae, Path(artifact_dir) / SUBDIR, model_name=HUB_NAMES.get(model_name, model_name))


# ---------------------------------------------------------------------- reading


def _files(directory: str | Path) -> tuple[Path, Path]:
    """``cfg.json`` and the weights of an SAELens folder, or a one-line error naming the missing one."""
    directory = Path(directory)
    cfg_path, weights_path = directory / CFG_FILE, directory / WEIGHTS_FILE
    if not cfg_path.is_file():
        raise FileNotFoundError(f"no {CFG_FILE} in {directory}; point at an SAELens SAE folder ({CFG_FILE} + "
                                f"{WEIGHTS_FILE}, as SAE.save_model writes)")
    if not weights_path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_FILE} beside {cfg_path}; copy the SAE's weights there "
                                "(safetensors only: convert .pt files with safetensors.torch.save_file)")
    return cfg_path, weights_path


def _read_cfg(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err.msg}, line {err.lineno}); re-export the SAE") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path} holds a {type(cfg).__name__}, not an SAELens config object; re-export the SAE")
    return cfg


def _field(cfg: dict, key: str, default=None):
    """A key of SAELens >= 6 (top level or ``metadata``) or of SAELens 5 (top level)."""
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    return cfg.get(key, meta.get(key, default))


def _architecture(cfg: dict, path: Path) -> tuple[str, int]:
    """("relu" | "topk", k), or a one-line error naming what we cannot represent exactly."""
    arch = cfg.get("architecture") or "standard"
    act = cfg.get("activation_fn", cfg.get("activation_fn_str", "relu"))
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if arch == "standard" and act == "topk" and "k" in kwargs:  # SAELens 5's TopK
        arch = "topk"
    if arch == "topk":
        k = cfg.get("k", kwargs.get("k"))
        if not isinstance(k, int):
            raise ValueError(f"{path}: architecture 'topk' without an integer k; add \"k\" to {CFG_FILE}")
        return "topk", k
    if arch == "standard" and act in (None, "relu"):
        return "relu", 16
    what = arch if arch != "standard" else f"standard with activation_fn {act!r}"
    raise ValueError(f"{path}: SAELens architecture {what!r} cannot be represented exactly by unlearnlab's "
                     f"SparseAutoencoder; supported: {', '.join(SUPPORTED)}")


def _check_preprocessing(cfg: dict, path: Path) -> None:
    """Input normalisations and head-wise hooks our SAE has no place for."""
    norm = cfg.get("normalize_activations")
    if norm in ("expected_average_only_in", True):
        raise ValueError(f"{path}: normalize_activations='expected_average_only_in' keeps its scale outside the "
                         "folder; fold it first (SAELens: sae.fold_activation_norm_scaling_factor(f)) and save again")
    if norm not in (None, False, "none"):
        raise ValueError(f"{path}: normalize_activations={norm!r} normalises each token and cannot be represented "
                         "exactly; supported: 'none'")
    if _field(cfg, "hook_head_index") is not None or cfg.get("reshape_activations", "none") != "none":
        raise ValueError(f"{path}: a per-head / hook_z SAE cannot be represented; supported: whole-site SAEs")
    if cfg.get("finetuning_scaling_factor"):
        raise ValueError(f"{path}: finetuning_scaling_factor is not supported; fold it into W_dec and save again")


def _check_tensors(tensors: dict[str, torch.Tensor], d_in: int, d_sae: int, path: Path) -> None:
    if set(tensors) != set(TENSORS):
        raise ValueError(f"{path} holds tensors {sorted(tensors)}, expected exactly {list(TENSORS)} "
                         "(a standard or TopK SAELens SAE)")
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    for name, shape in shapes.items():
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f"{path}: {name} has shape {tuple(tensors[name].shape)} but {CFG_FILE} (d_in={d_in}, "
                             f"d_sae={d_sae}) implies {shape}; re-export cfg.json and weights from the same SAE")


def _our_config(cfg: dict, kind: str, k: int, site: str, layer: int, path: Path) -> SAEConfig:
    """Our config; training-only fields come from our own provenance block when it agrees."""
    structural = {"d_in": int(cfg["d_in"]), "d_sae": int(cfg["d_sae"]), "kind": kind, "site": site, "layer": layer}
    if kind == "topk":
        structural["k"] = k
    ours = (cfg.get("unlearnlab") or {}).get("config") or {}
    known = {f.name for f in fields(SAEConfig)}
    extra = {key: v for key, v in ours.items() if key in known and key not in structural}
    if any(ours.get(key, v) != v for key, v in structural.items()):
        extra = {}  # edited since we wrote it: trust the SAELens fields only
    try:
        return SAEConfig(**structural, **extra)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


@torch.no_grad()
def _fold(tensors: dict[str, torch.Tensor], kind: str, apply_b_dec: bool, rescale: bool, path: Path) -> dict:
    """SAELens weights -> (input scale s, our state). Exactness argument: module docstring."""
    W_enc, b_enc, W_dec, b_dec = (tensors[n].float() for n in TENSORS)
    if not apply_b_dec:  # (x − b_dec) @ W_enc + (b_enc + b_dec @ W_enc) = x @ W_enc + b_enc
        b_enc = b_enc + b_dec @ W_enc
    norms = W_dec.norm(dim=-1)
    equal = bool(norms.min() > 0) and float((norms.max() - norms.min()) / norms.mean()) <= _EQUAL_NORMS_RTOL
    if kind == "topk" and rescale:  # SAELens' features are pre-activations x row norm
        s, gain = torch.ones(()), norms
    elif equal:
        s, gain = 1 / norms.mean(), torch.ones_like(norms)
    elif kind == "relu":
        s, gain = torch.ones(()), norms
    else:
        raise ValueError(f"{path}: a TopK SAE with unequal decoder norms and rescale_acts_by_decoder_norm=false "
                         "cannot be represented (normalising would change which features win); supported: "
                         "equal norms or rescale_acts_by_decoder_norm=true")
    return {"W_dec_raw": W_dec.clone(), "W_enc": W_enc * gain / s, "b_enc": b_enc * gain, "b_dec": b_dec * s,
            "scale": s.reshape(()).clone()}


def load_saelens(directory: str | Path, device: str = "cpu") -> SparseAutoencoder:
    """Our ``SparseAutoencoder`` from an SAELens folder (ours or SAELens'); float32 whatever the file's dtype."""
    cfg_path, weights_path = _files(directory)
    cfg = _read_cfg(cfg_path)
    missing = [key for key in ("d_in", "d_sae") if not isinstance(cfg.get(key), int)]
    if missing:
        raise ValueError(f"{cfg_path} lacks integer {', '.join(missing)}; add them (the SAE's input and latent widths)")
    kind, k = _architecture(cfg, cfg_path)
    _check_preprocessing(cfg, cfg_path)
    hook = _field(cfg, "hook_name", cfg.get("hook_point"))
    try:
        site, layer = site_of_hook(hook)
    except ValueError as err:
        raise ValueError(f"{cfg_path}: {err}") from None
    ours = _our_config(cfg, kind, k, site, layer, cfg_path)
    tensors = load_file(str(weights_path))
    _check_tensors(tensors, ours.d_in, ours.d_sae, weights_path)
    state = _fold(tensors, kind, cfg.get("apply_b_dec_to_input", True) is not False,
                  bool(cfg.get("rescale_acts_by_decoder_norm", False)), weights_path)
    sae = SparseAutoencoder(ours)
    sae.load_state_dict({**state, "silent_tokens": torch.zeros(ours.d_sae)})
    return sae.to(device).eval()


def load_for_model(directory: str | Path, hidden_size: int, n_layers: int, device: str = "cpu") -> SparseAutoencoder:
    """``load_saelens``, refusing an SAE that cannot read this model (width or layer out of range)."""
    sae = load_saelens(directory, device)
    if sae.cfg.d_in != hidden_size:
        raise ValueError(f"the SAE in {directory} reads d_in={sae.cfg.d_in} but the model's hidden size is "
                         f"{hidden_size}; point at an SAE trained on this model")
    if not 0 <= sae.cfg.layer < n_layers:
        raise ValueError(f"the SAE in {directory} reads layer {sae.cfg.layer} but the model has {n_layers} layers; "
                         "point at an SAE trained on this model")
    return sae


def folder_digest(directory: str | Path) -> str:
    """First 16 hex digits of the SHA-256 of ``cfg.json`` and the weights: an artifact key that
    changes when the SAE a path points at changes."""
    digest = hashlib.sha256()
    for path in _files(directory):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pretrained_sae_for(model: torch.nn.Module, data: TokenSet, directory: str | Path, eval_fraction: float = 0.1,
                       special_ids: tuple[int, ...] = (), loss_data: TokenSet | None = None
                       ) -> tuple[SparseAutoencoder, dict[str, float]]:
    """``sae.train.sae_for`` with an SAELens folder in place of training: the SAE loaded for this
    model and measured on the same held-out examples (the last ``eval_fraction`` of ``data``)."""
    device = str(next(model.parameters()).device)
    sae = load_for_model(directory, model.config.hidden_size, model.config.num_hidden_layers, device)
    n_eval = max(1, int(eval_fraction * len(data)))
    eval_set = data.subset(range(len(data) - n_eval, len(data)))
    held_out = collect_activations(model, eval_set, sae.cfg.site, sae.cfg.layer, special_ids=special_ids)
    metrics = {**reconstruction_metrics(sae, held_out), **delta_loss(model, sae, loss_data or eval_set),
               "train_tokens": 0, "train_wall_s": 0.0}
    return sae, metrics
