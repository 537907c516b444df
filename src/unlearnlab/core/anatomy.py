"""Where the parts of a Hugging Face causal LM live, and the one way to read an activation.

Code that touches model internals asks this module instead of spelling ``model.model.layers[i]``
itself, so that a new architecture is taught here once: one :class:`Layout` per family says
where the decoder layers, the attention and MLP projections (fused or not), the norms and the
unembedding are. Known families (``tests/test_anatomy_architectures.py`` checks every claim on
a tiny random checkpoint of each, built by ``core.tiny_checkpoints``):

* **Llama** layout (``model_type`` llama, mistral, qwen2; SmolLM2, Llama-3.1, Qwen2.5 and
  Mistral checkpoints): ``model.layers[i].self_attn.{q,k,v,o}_proj`` and
  ``.mlp.{gate,up,down}_proj``. Qwen2's q/k/v biases are parameters of those modules.
* **Phi-3**: the same names with fused ``qkv_proj`` (query rows, then key rows, then value rows)
  and fused ``gate_up_proj`` (gate rows, then up rows).
* **Gemma-2**: the Llama names plus a norm on each block's output before it is added
  (``post_attention_layernorm``, ``post_feedforward_layernorm``); the MLP reads
  ``pre_feedforward_layernorm``; final logits are soft-capped.
* **GPT-NeoX** (Pythia): ``gpt_neox.layers[i].attention.query_key_value`` (q, k, v interleaved
  per head), ``.attention.dense``, ``.mlp.dense_h_to_4h`` / ``dense_4h_to_h`` (no gate), and a
  parallel residual in Pythia's configs.

Anything else raises :class:`UnknownArchitecture` naming the ``model_type`` and the fix (add a
``Layout`` here). A peft-wrapped model (LoRA, (IA)³) and a ``torch.compile``d one are unwrapped
first.

Activations are read at named *sites* with a forward hook on the module that produces them; the
names follow TransformerLens (``tests/test_anatomy.py`` checks them against TransformerBridge's
hooks on the same weights):

* ``resid_post``: the residual stream after decoder layer L (``blocks.L.hook_resid_post``),
* ``attn_out``: the attention block's contribution before it is added (``blocks.L.hook_attn_out``;
  on Gemma-2 after its output norm, since that is what is added),
* ``mlp_out``: the MLP's contribution before it is added (``blocks.L.hook_mlp_out``; likewise).

Why hooks and not TransformerBridge here: an edit (an SAE clamp) or a loss on an activation (RMU)
must live on the very model that is evaluated and fine-tuned, and the bridge rewires a copy.
Localization reads activations through the bridge (``localization.activations``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

SITES = ("resid_post", "attn_out", "mlp_out")

Index = tuple[slice, ...]
Entry = tuple[str, Index]  # (parameter name in the plain model, index into that parameter)


class UnknownArchitecture(ValueError):
    """A model whose layout this module has not been taught."""


@dataclass(frozen=True)
class Layout:
    """Attribute names of one architecture family (module docstring). ``None``: the part is
    absent or fused into another (``qkv``, ``gate_up``)."""

    family: str
    model_types: tuple[str, ...]
    body: str = "model"  # attribute of the causal LM that holds embeddings, layers, final norm
    layers: str = "layers"
    embedding: str = "embed_tokens"
    final_norm: str = "norm"
    attention: str = "self_attn"
    q: str | None = "q_proj"
    k: str | None = "k_proj"
    v: str | None = "v_proj"
    qkv: str | None = None  # fused query/key/value projection
    qkv_per_head: bool = False  # GPT-NeoX: rows are [head0: q k v, head1: q k v, ...]
    o: str = "o_proj"
    mlp: str = "mlp"
    gate: str | None = "gate_proj"
    up: str | None = "up_proj"  # the MLP's first projection (GPT-NeoX: dense_h_to_4h, no gate)
    gate_up: str | None = None  # fused gate and up projection (gate rows first)
    down: str = "down_proj"
    norm_before_attention: str = "input_layernorm"
    norm_before_mlp: str = "post_attention_layernorm"
    attn_out_norm: str | None = None  # Gemma-2: norm on the attention output before the residual add
    mlp_out_norm: str | None = None

    @property
    def attention_inputs(self) -> tuple[str, ...]:
        """Projections that read the residual stream into the attention block."""
        return (self.qkv,) if self.qkv else (self.q, self.k, self.v)

    @property
    def mlp_inputs(self) -> tuple[str, ...]:
        """Projections that read the residual stream into the MLP (their rows are neurons)."""
        if self.gate_up:
            return (self.gate_up,)
        return tuple(p for p in (self.gate, self.up) if p)


LAYOUTS = (
    Layout("llama", ("llama", "mistral", "qwen2")),
    Layout("phi3", ("phi3",), q=None, k=None, v=None, qkv="qkv_proj", gate=None, up=None, gate_up="gate_up_proj"),
    Layout("gemma2", ("gemma2",), norm_before_mlp="pre_feedforward_layernorm",
           attn_out_norm="post_attention_layernorm", mlp_out_norm="post_feedforward_layernorm"),
    Layout("gpt_neox", ("gpt_neox",), body="gpt_neox", embedding="embed_in", final_norm="final_layer_norm",
           attention="attention", q=None, k=None, v=None, qkv="query_key_value", qkv_per_head=True, o="dense",
           gate=None, up="dense_h_to_4h", down="dense_4h_to_h"),
)
KNOWN_MODEL_TYPES = tuple(t for lay in LAYOUTS for t in lay.model_types)


def unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The plain causal LM under a DDP wrapper (``accelerate launch``), a ``torch.compile`` wrapper
    and a peft adapter wrapper (the forward still runs through the wrapper it was given)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    model = getattr(model, "_orig_mod", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _config(model_or_config):
    return getattr(unwrapped(model_or_config), "config", model_or_config) \
        if isinstance(model_or_config, torch.nn.Module) else model_or_config


def layout(model_or_config) -> Layout:
    """The :class:`Layout` of a model (or of its config), or :class:`UnknownArchitecture`."""
    model_type = getattr(_config(model_or_config), "model_type", None)
    for lay in LAYOUTS:
        if model_type in lay.model_types:
            return lay
    raise UnknownArchitecture(
        f"architecture {model_type!r} is not known to unlearnlab.core.anatomy (known: {', '.join(KNOWN_MODEL_TYPES)});"
        " use a model of a known family, or add a Layout for it in src/unlearnlab/core/anatomy.py")


# --------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------

def hidden_size(model: torch.nn.Module) -> int:
    """Width of the residual stream."""
    return _config(model).hidden_size


def n_heads(model) -> int:
    return _config(model).num_attention_heads


def n_kv_heads(model) -> int:
    """Key/value heads (grouped-query attention); a per-head fused projection (GPT-NeoX) has one
    per query head whatever a stray ``num_key_value_heads`` in its config says."""
    cfg = _config(model)
    if layout(model).qkv_per_head:
        return cfg.num_attention_heads
    return getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads


def head_dim(model) -> int:
    cfg = _config(model)
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def d_mlp(model) -> int:
    """MLP neurons per layer."""
    return _config(model).intermediate_size


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------

def _body(model: torch.nn.Module) -> torch.nn.Module:
    plain = unwrapped(model)
    return getattr(plain, layout(plain).body)


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder layers, first to last."""
    return getattr(_body(model), layout(model).layers)


def n_layers(model: torch.nn.Module) -> int:
    return len(decoder_layers(model))


def layer_prefix(model: torch.nn.Module, index: int) -> str:
    """Parameter-name prefix of decoder layer ``index`` in the plain model (``model.layers.3``)."""
    lay = layout(model)
    return f"{lay.body}.{lay.layers}.{index}"


def layer(model: torch.nn.Module, index: int) -> torch.nn.Module:
    """Decoder layer ``index`` (negative counts from the last), with a clear error when outside."""
    layers = decoder_layers(model)
    if not -len(layers) <= index < len(layers):
        raise ValueError(f"layer {index} outside the model's {len(layers)} layers")
    return layers[index]


def attention(model: torch.nn.Module, index: int) -> torch.nn.Module:
    return getattr(layer(model, index), layout(model).attention)


def mlp(model: torch.nn.Module, index: int) -> torch.nn.Module:
    return getattr(layer(model, index), layout(model).mlp)


def mlp_out_proj(model: torch.nn.Module, index: int) -> torch.nn.Module:
    """The MLP's output projection (the matrix that writes into the residual stream)."""
    return getattr(mlp(model, index), layout(model).down)


def layer_norms(model: torch.nn.Module, index: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The norms before attention and before the MLP of layer ``index``."""
    lay, block = layout(model), layer(model, index)
    return getattr(block, lay.norm_before_attention), getattr(block, lay.norm_before_mlp)


def final_norm(model: torch.nn.Module) -> torch.nn.Module:
    """The norm between the last decoder layer and the unembedding."""
    return getattr(_body(model), layout(model).final_norm)


def embedding(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(_body(model), layout(model).embedding)


def unembedding(model: torch.nn.Module) -> torch.nn.Module:
    return unwrapped(model).get_output_embeddings()


def logits_from_residual(model: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Logits the model would give if the residual stream ``hidden`` were its last layer's output
    (the logit lens): final norm, unembedding, and Gemma-2's final soft-capping."""
    logits = unembedding(model)(final_norm(model)(hidden))
    cap = getattr(_config(model), "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def site_module(model: torch.nn.Module, site: str, index: int) -> torch.nn.Module:
    """The module whose output is ``site`` of layer ``index``."""
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; use one of {sorted(SITES)}")
    lay, block = layout(model), layer(model, index)
    if site == "resid_post":
        return block
    if site == "attn_out":
        return getattr(block, lay.attn_out_norm or lay.attention)
    return getattr(block, lay.mlp_out_norm or lay.mlp)


# --------------------------------------------------------------------------------------------
# Linear modules by role (localization's candidates, adapters' targets)
# --------------------------------------------------------------------------------------------

def _module_pattern(lay: Layout) -> re.Pattern:
    return re.compile(rf"^(?:.*\.)?{lay.layers}\.(\d+)\.({lay.attention}|{lay.mlp})\.(\w+)$")


def module_role(model: torch.nn.Module, name: str) -> tuple[int, str] | None:
    """``(layer, role)`` of a decoder-block linear module's name, role one of ``"attn_in"``
    (q/k/v), ``"attn_out"`` (o), ``"mlp_in"`` (gate/up), ``"mlp_out"`` (down); None otherwise."""
    lay = layout(model)
    match = _module_pattern(lay).match(name)
    if not match:
        return None
    index, part, proj = int(match.group(1)), match.group(2), match.group(3)
    roles = ({**dict.fromkeys(lay.attention_inputs, "attn_in"), lay.o: "attn_out"} if part == lay.attention
             else {**dict.fromkeys(lay.mlp_inputs, "mlp_in"), lay.down: "mlp_out"})
    return (index, roles[proj]) if proj in roles else None


def linear_modules(model: torch.nn.Module) -> list[str]:
    """Names of the linear layers inside the decoder blocks (attention and MLP projections; the
    embedding and unembedding are not candidates), in model order."""
    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module_role(model, name) is not None]


def peft_targets(model: torch.nn.Module, parts: tuple[str, ...] = ("attention", "mlp")) -> list[str]:
    """Short module names to give peft's ``target_modules`` for the attention and/or MLP
    projections (``["q_proj", …]``; Phi-3: ``["qkv_proj", "o_proj", …]``)."""
    lay = layout(model)
    names = {"attention": [*lay.attention_inputs, lay.o], "mlp": [*lay.mlp_inputs, lay.down]}
    return [n for part in parts for n in names[part]]


def is_mlp_out(model: torch.nn.Module, name: str) -> bool:
    """Whether module ``name`` is an MLP output projection ((IA)³'s feed-forward modules: their
    vector scales the MLP neurons, i.e. the input)."""
    role = module_role(model, name)
    return role is not None and role[1] == "mlp_out"


# --------------------------------------------------------------------------------------------
# Neurons and heads as parameter entries
# --------------------------------------------------------------------------------------------

def _rows(start: int, stop: int) -> Index:
    return slice(start, stop), slice(None)


def _cols(start: int, stop: int) -> Index:
    return slice(None), slice(start, stop)


def neuron_entries(model: torch.nn.Module, index: int, j: int) -> tuple[Entry, ...]:
    """Weight entries of MLP neuron ``j`` in layer ``index``: its rows of the input projections
    (gate and up; rows ``j`` and ``d_mlp + j`` of a fused gate_up) and its column of the output
    projection. Biases are left out: adapters and masks act on weight matrices."""
    lay, prefix, width = layout(model), f"{layer_prefix(model, index)}.{layout(model).mlp}", d_mlp(model)
    if not 0 <= j < width:
        raise ValueError(f"neuron {j} outside the layer's {width} MLP neurons")
    if lay.gate_up:
        inputs = [(f"{prefix}.{lay.gate_up}.weight", _rows(j, j + 1)),
                  (f"{prefix}.{lay.gate_up}.weight", _rows(width + j, width + j + 1))]
    else:
        inputs = [(f"{prefix}.{p}.weight", _rows(j, j + 1)) for p in lay.mlp_inputs]
    return (*inputs, (f"{prefix}.{lay.down}.weight", _cols(j, j + 1)))


def head_entries(model: torch.nn.Module, index: int, h: int) -> tuple[Entry, ...]:
    """Weight entries of attention head ``h`` in layer ``index``: its query rows, the key and value
    rows of its KV group (shared with the group's other heads under grouped-query attention), and
    its columns of the output projection; in a fused projection, the same rows at their offsets."""
    lay, prefix = layout(model), f"{layer_prefix(model, index)}.{layout(model).attention}"
    heads, kv, d = n_heads(model), n_kv_heads(model), head_dim(model)
    if not 0 <= h < heads:
        raise ValueError(f"head {h} outside the layer's {heads} attention heads")
    g = h // (heads // kv)
    q, k, v = (h * d, (h + 1) * d), (g * d, (g + 1) * d), (g * d, (g + 1) * d)
    if lay.qkv_per_head:
        inputs = [(f"{prefix}.{lay.qkv}.weight", _rows(3 * h * d, 3 * (h + 1) * d))]
    elif lay.qkv:
        name, k_at, v_at = f"{prefix}.{lay.qkv}.weight", heads * d, (heads + kv) * d
        inputs = [(name, _rows(*q)), (name, _rows(k_at + k[0], k_at + k[1])), (name, _rows(v_at + v[0], v_at + v[1]))]
    else:
        inputs = [(f"{prefix}.{lay.q}.weight", _rows(*q)), (f"{prefix}.{lay.k}.weight", _rows(*k)),
                  (f"{prefix}.{lay.v}.weight", _rows(*v))]
    return (*inputs, (f"{prefix}.{lay.o}.weight", _cols(*q)))


def describe(model: torch.nn.Module) -> dict[str, object]:
    """What the anatomy found in ``model``: family, sizes, fused projections, peft targets."""
    lay = layout(model)
    return {"family": lay.family, "model_type": _config(model).model_type, "layers": n_layers(model),
            "hidden": hidden_size(model), "heads": n_heads(model), "kv_heads": n_kv_heads(model),
            "head_dim": head_dim(model), "d_mlp": d_mlp(model), "fused_qkv": lay.qkv is not None,
            "fused_gate_up": lay.gate_up is not None, "peft_targets": peft_targets(model)}


# --------------------------------------------------------------------------------------------
# Reading activations
# --------------------------------------------------------------------------------------------

def output_tensor(out: object) -> torch.Tensor:
    """The activation in a module's output (attention and some layers return tuples)."""
    return out[0] if isinstance(out, tuple) else out


def replace_output(out: object, new: torch.Tensor) -> object:
    """``out`` with its activation replaced by ``new`` (the return value of an editing hook)."""
    return (new, *out[1:]) if isinstance(out, tuple) else new


class _Stop(Exception):
    """Raised by a reading hook to skip the rest of the forward pass."""


def read(model: torch.nn.Module, inputs: Mapping[str, torch.Tensor], site: str, index: int,
         stop: bool = True) -> torch.Tensor:
    """``site`` of layer ``index`` (B, T, d) for one forward pass on ``inputs`` (``input_ids``,
    ``attention_mask``), gradient attached when enabled. ``stop`` ends the pass right after the
    site (the layers above and the unembedding cost nothing). A compiled model is read through
    its original module: a hook that ends the pass cannot run inside a compiled graph."""
    model = getattr(model, "_orig_mod", model)
    store: dict[str, torch.Tensor] = {}

    def hook(module, args, out):
        store["x"] = output_tensor(out)
        if stop:
            raise _Stop

    handle = site_module(model, site, index).register_forward_hook(hook)
    try:
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    except _Stop:
        pass
    finally:
        handle.remove()
    return store["x"]
