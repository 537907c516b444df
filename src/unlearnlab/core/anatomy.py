"""Where the parts of a Hugging Face causal LM live, and the one way to read an activation.

Code that touches model internals asks this module instead of spelling ``model.model.layers[i]``
itself, so that a new architecture is taught here once. Today's layout is Llama's (Llama,
Qwen2, Mistral, SmolLM2): ``model.model.layers[i]`` with ``.self_attn`` and ``.mlp``
(``.mlp.down_proj`` writes the residual stream), ``input_layernorm`` and
``post_attention_layernorm`` per layer, ``model.model.norm`` and ``lm_head``. A peft-wrapped
model (LoRA, (IA)³) and a ``torch.compile``d one are unwrapped first.

Activations are read at named *sites* with a forward hook on the module that produces them; the
names follow TransformerLens (``tests/test_anatomy.py`` checks them against TransformerBridge's
hooks on the same weights):

* ``resid_post``: the residual stream after decoder layer L (``blocks.L.hook_resid_post``),
* ``attn_out``: the attention block's output before it is added (``blocks.L.hook_attn_out``),
* ``mlp_out``: the MLP's output before it is added (``blocks.L.hook_mlp_out``).

Why hooks and not TransformerBridge here: an edit (an SAE clamp) or a loss on an activation (RMU)
must live on the very model that is evaluated and fine-tuned, and the bridge rewires a copy.
Localization reads activations through the bridge (``localization.activations``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

SITES: dict[str, Callable[[torch.nn.Module], torch.nn.Module]] = {
    "resid_post": lambda layer: layer,
    "attn_out": lambda layer: layer.self_attn,
    "mlp_out": lambda layer: layer.mlp,
}


def unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The plain causal LM under a ``torch.compile`` wrapper and a peft adapter wrapper."""
    model = getattr(model, "_orig_mod", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder layers, first to last."""
    return unwrapped(model).model.layers


def n_layers(model: torch.nn.Module) -> int:
    return len(decoder_layers(model))


def hidden_size(model: torch.nn.Module) -> int:
    """Width of the residual stream."""
    return unwrapped(model).config.hidden_size


def layer(model: torch.nn.Module, index: int) -> torch.nn.Module:
    """Decoder layer ``index`` (negative counts from the last), with a clear error when outside."""
    layers = decoder_layers(model)
    if not -len(layers) <= index < len(layers):
        raise ValueError(f"layer {index} outside the model's {len(layers)} layers")
    return layers[index]


def attention(model: torch.nn.Module, index: int) -> torch.nn.Module:
    return layer(model, index).self_attn


def mlp(model: torch.nn.Module, index: int) -> torch.nn.Module:
    return layer(model, index).mlp


def mlp_out_proj(model: torch.nn.Module, index: int) -> torch.nn.Module:
    """The MLP's output projection (the matrix that writes into the residual stream)."""
    return mlp(model, index).down_proj


def layer_norms(model: torch.nn.Module, index: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The norms before attention and before the MLP of layer ``index``."""
    block = layer(model, index)
    return block.input_layernorm, block.post_attention_layernorm


def final_norm(model: torch.nn.Module) -> torch.nn.Module:
    """The norm between the last decoder layer and the unembedding."""
    return unwrapped(model).model.norm


def unembedding(model: torch.nn.Module) -> torch.nn.Module:
    return unwrapped(model).lm_head


def site_module(model: torch.nn.Module, site: str, index: int) -> torch.nn.Module:
    """The module whose output is ``site`` of layer ``index``."""
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; use one of {sorted(SITES)}")
    return SITES[site](layer(model, index))


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
