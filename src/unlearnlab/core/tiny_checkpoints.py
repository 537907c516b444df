"""Tiny random-init checkpoints of the architectures the field's unlearning studies use.

The studies this repository reproduces ran on Llama-3.1, Qwen2.5, Phi-3 and Gemma-2 (and Pythia,
a GPT-NeoX). Their real weights are out of reach offline, but their *layouts* are not: the config
classes of ``transformers`` build each architecture at any size. A two-layer model of each, with
the architecture's own quirks kept (grouped-query attention, Qwen2's q/k/v biases, Phi-3's fused
``qkv_proj`` and ``gate_up_proj``, Gemma-2's soft-capping and extra norms, GPT-NeoX's other names
and parallel residual), lets every component that touches model internals be tested on each.
The weights are random: a result on them means the code path ran and measured what it claims,
never that the method works.

Each checkpoint can be written to disk (``save_tiny``, or ``python -m
unlearnlab.core.tiny_checkpoints ARCH DIR``) with a byte-level tokenizer built here, so the
whole real-model path (``core.real_model.load_real_model``, chat prompts, generation, the
pipeline's ``-p model=DIR``) runs offline on every architecture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers.utils import logging as hf_logging

ARCHITECTURES = ("llama", "qwen2", "mistral", "phi3", "gemma2", "gpt_neox")

# Small but not degenerate: 4 query heads in 2 KV groups (GQA, as Llama-3.1 and Qwen2.5 have),
# a head size of 8, an MLP 3x wider than the residual stream.
_SIZES = dict(hidden_size=32, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256)

_CONFIGS: dict[str, tuple[type, dict]] = {
    "llama": (transformers.LlamaConfig, {"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0,
                                                            "factor": 8.0, "low_freq_factor": 1.0,
                                                            "high_freq_factor": 4.0,
                                                            "original_max_position_embeddings": 64}}),
    "qwen2": (transformers.Qwen2Config, {}),
    "mistral": (transformers.MistralConfig, {"sliding_window": 64}),
    "phi3": (transformers.Phi3Config, {}),
    "gemma2": (transformers.Gemma2Config, {"head_dim": 8, "sliding_window": 64,
                                           "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0}),
    "gpt_neox": (transformers.GPTNeoXConfig, {"rotary_pct": 0.25, "use_parallel_residual": True}),
}


# The byte-level tokenizer: these special tokens take ids 0..4 (pad, bos and eos match the configs'
# ids), then byte b has id N_SPECIAL + b. 261 ids in all, so they fit the configs' 512-token vocabulary.
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
N_SPECIAL = len(SPECIAL_TOKENS)
TOKENIZER_SIZE = N_SPECIAL + 256
VOCAB_SIZE = 512
CHATML_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                   "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tiny_config(arch: str, vocab_size: int = VOCAB_SIZE, pad_token_id: int = 0, bos_token_id: int = 1,
                eos_token_id: int = 2) -> transformers.PretrainedConfig:
    """The config of a two-layer ``arch`` model (one of ``ARCHITECTURES``) with ``vocab_size`` tokens."""
    if arch not in _CONFIGS:
        raise ValueError(f"no tiny checkpoint for {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    cls, extra = _CONFIGS[arch]
    # GPT-NeoX has no grouped-query attention; its config would keep an unknown
    # num_key_value_heads as a stray attribute that other tools (TransformerBridge) then believe.
    sizes = {k: v for k, v in _SIZES.items() if not (arch == "gpt_neox" and k == "num_key_value_heads")}
    return cls(**sizes, **extra, vocab_size=vocab_size, pad_token_id=pad_token_id,
               bos_token_id=bos_token_id, eos_token_id=eos_token_id)


def tiny_model(arch: str, vocab_size: int = VOCAB_SIZE, seed: int = 0) -> transformers.PreTrainedModel:
    """A randomly initialised two-layer ``arch`` causal LM in eval mode (same ``seed``, same weights)."""
    config = tiny_config(arch, vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.AutoModelForCausalLM.from_config(config)
    return model.eval()


def _byte_symbols() -> list[str]:
    """The printable stand-in of each byte 0..255 used by byte-level BPE (GPT-2's table), so that
    the ``ByteLevel`` pre-tokenizer's output and decoder match the vocabulary below."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {}, 0
    for b in range(256):
        if b in printable:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def tiny_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """A byte-level tokenizer with ChatML special tokens and chat template, built without a download.

    Byte-level BPE with no merges: every byte of the UTF-8 text is one token, so any text
    round-trips through encode and decode, and 256 byte ids plus the specials fit a tiny vocabulary.
    Nothing is added around the text (SmolLM2's tokenizer adds no BOS either); the ChatML template
    gives ``core.real_model.chat_prompt`` the same format SmolLM2 uses.
    """
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    vocab.update({symbol: N_SPECIAL + b for b, symbol in enumerate(_byte_symbols())})
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        additional_special_tokens=list(SPECIAL_TOKENS[3:]), clean_up_tokenization_spaces=False)
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def save_tiny(arch: str, directory: str | Path, seed: int = 0) -> Path:
    """Write the tiny ``arch`` checkpoint (``tiny_model(arch, seed=seed)``, safetensors) and
    ``tiny_tokenizer()`` into ``directory``, as ``save_pretrained`` would for a real model.

    Written into a temporary sibling and renamed into place, so a reader never sees half a
    checkpoint. ``directory`` may be missing or empty (e.g. from ``mktemp -d``); a non-empty one is
    refused before anything is written, so no one's files are replaced.
    """
    directory = Path(directory).expanduser().absolute()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(f"{directory} already exists and is not an empty directory; "
                              "name a new or empty directory for the tiny checkpoint")
    model = tiny_model(arch, seed=seed)  # checks ``arch`` before anything is written
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a one-shard "Writing model shards" bar says nothing here
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a checkpoint should be readable like any folder
        model.save_pretrained(tmp, safe_serialization=True)
        tiny_tokenizer().save_pretrained(tmp)
        if directory.exists():
            directory.rmdir()  # empty (checked above); fails rather than replace files written since
        os.rename(tmp, directory)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def main(argv: list[str] | None = None) -> int:
    """``python -m unlearnlab.core.tiny_checkpoints ARCH DIR [--seed N]``: write one tiny checkpoint;
    bad input gives one line and exit status 2, with nothing written."""
    parser = argparse.ArgumentParser(description="Write a tiny random-init checkpoint (model + tokenizer).")
    parser.add_argument("arch", help=f"one of {', '.join(ARCHITECTURES)}")
    parser.add_argument("directory", help="a new or empty directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        path = save_tiny(args.arch, args.directory, args.seed)
    except (ValueError, OSError) as err:
        print(f"[tiny_checkpoints] error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(f"[tiny_checkpoints] wrote a tiny random {args.arch} checkpoint to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
