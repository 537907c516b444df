"""Model construction, saving and loading.

The synthetic tier is a Llama-architecture ``LlamaForCausalLM`` built from a config (RMSNorm,
SwiGLU, rotary), so module names match Qwen/SmolLM/Llama checkpoints and every method and hook
works unchanged on real models.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from unlearnlab.core.timing import in_phase


@dataclass(frozen=True)
class ModelSize:
    """Size of a synthetic-tier Llama model."""

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_mlp: int = 384
    max_len: int = 64


def build_llama(size: ModelSize, vocab_size: int, tokenizer: PreTrainedTokenizerFast | None = None,
                seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised Llama model of ``size`` (deterministic for ``seed``)."""
    cfg = LlamaConfig(
        vocab_size=vocab_size, hidden_size=size.d_model, intermediate_size=size.d_mlp,
        num_hidden_layers=size.n_layers, num_attention_heads=size.n_heads,
        num_key_value_heads=size.n_heads, max_position_embeddings=size.max_len,
        tie_word_embeddings=True, rms_norm_eps=1e-5, attention_dropout=0.0,
        pad_token_id=getattr(tokenizer, "pad_token_id", 0),
        bos_token_id=getattr(tokenizer, "bos_token_id", 1),
        eos_token_id=getattr(tokenizer, "eos_token_id", 2),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    return model.eval()


def fresh_copy(model: torch.nn.Module) -> torch.nn.Module:
    """An independent deep copy (never share parameters between teacher and student); of a model
    sharded by FSDP2 (which refuses deepcopy), a whole unsharded copy on every process."""
    from unlearnlab.core import distributed
    if distributed.sharded() and distributed.is_sharded_module(model):
        return distributed.unsharded_copy(model)
    return copy.deepcopy(model)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


@in_phase("save")
def save_model(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast | None, directory: Path) -> None:
    """``save_pretrained`` (safetensors) of model and tokenizer into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)


@in_phase("load")
def load_model(directory: str | Path, device: str = "cpu", dtype: torch.dtype | None = None) -> LlamaForCausalLM:
    """Load a saved model, with a clear error when the directory is missing or corrupt."""
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(
            f"no model at {directory} (config.json missing); run the notebook that trains it "
            "(10_pretrain) or delete the directory so it is rebuilt")
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype or torch.float32,
                                                     use_safetensors=True)
    except Exception as err:  # transformers raises several types for broken files
        raise RuntimeError(
            f"model checkpoint at {directory} is corrupt or incomplete ({type(err).__name__}: {err}); "
            "delete that directory and rerun the notebook that produces it") from err
    return model.to(device).eval()


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """Load the tokenizer saved next to a model."""
    directory = Path(directory)
    if not (directory / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer.json in {directory}; rerun 00_data to rebuild it")
    return PreTrainedTokenizerFast.from_pretrained(directory)
