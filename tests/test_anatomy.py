"""``core.anatomy``: where a causal LM's parts live, and reading an activation at a named site."""

import pytest
import torch

from unlearnlab.core import anatomy

pytestmark = pytest.mark.unit


def hidden_states(model, batch):
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    return out.hidden_states


def test_parts_are_the_llama_modules(tiny_model):
    inner = tiny_model.model
    assert anatomy.decoder_layers(tiny_model) is inner.layers and anatomy.n_layers(tiny_model) == 2
    assert anatomy.attention(tiny_model, 1) is inner.layers[1].self_attn
    assert anatomy.mlp_out_proj(tiny_model, 0) is inner.layers[0].mlp.down_proj
    assert anatomy.layer_norms(tiny_model, 0) == (inner.layers[0].input_layernorm,
                                                  inner.layers[0].post_attention_layernorm)
    assert anatomy.final_norm(tiny_model) is inner.norm and anatomy.unembedding(tiny_model) is tiny_model.lm_head
    assert anatomy.hidden_size(tiny_model) == 16
    with pytest.raises(ValueError, match="outside"):
        anatomy.layer(tiny_model, 2)
    with pytest.raises(ValueError, match="unknown site"):
        anatomy.site_module(tiny_model, "resid_mid", 0)


def test_parts_are_found_under_a_peft_adapter(tiny_model):
    peft = pytest.importorskip("peft")
    wrapped = peft.get_peft_model(tiny_model, peft.LoraConfig(r=2, target_modules=["up_proj"]))
    assert anatomy.decoder_layers(wrapped) is tiny_model.model.layers
    assert anatomy.mlp(wrapped, 1) is tiny_model.model.layers[1].mlp


def test_resid_post_is_the_hidden_state_after_the_layer(tiny_model, tokens):
    """``hidden_states[L + 1]`` is decoder layer L's output, bitwise, except after the last layer,
    where Hugging Face reports the final norm's output (RMU keeps that convention)."""
    from unlearnlab.methods.rmu import hidden_at

    batch = tokens.batch(range(6))
    with torch.no_grad():
        states = hidden_states(tiny_model, batch)
        last = anatomy.n_layers(tiny_model) - 1
        for layer in range(last + 1):
            read = anatomy.read(tiny_model, batch, "resid_post", layer)
            want = states[layer + 1]
            if layer == last:
                assert torch.equal(anatomy.final_norm(tiny_model)(read), want)
            else:
                assert torch.equal(read, want)
            assert torch.equal(hidden_at(tiny_model, batch, layer), want.float())


def test_read_keeps_the_gradient_and_stopping_changes_nothing(tiny_model, tokens):
    batch = tokens.batch(range(4))
    early = anatomy.read(tiny_model, batch, "mlp_out", 0)
    full = anatomy.read(tiny_model, batch, "mlp_out", 0, stop=False)
    assert early.requires_grad and torch.equal(early, full)


def test_sites_equal_the_bridge_hooks(tiny_model, tokenizer, tokens):
    """The activations our forward hooks read are TransformerBridge's ``blocks.L.hook_resid_post``,
    ``hook_attn_out`` and ``hook_mlp_out`` on the same weights."""
    pytest.importorskip("transformer_lens", reason="transformer-lens is not installed in this environment")
    from unlearnlab.localization.activations import bridge

    model = tiny_model.eval()
    batch = tokens.batch(range(6))  # mixed lengths: padding exercised
    br = bridge(model, tokenizer)
    hooks = {site: f"hook_{site}" for site in anatomy.SITES}
    with torch.no_grad():
        _, cache = br.run_with_cache(batch["input_ids"], attention_mask=batch["attention_mask"],
                                     names_filter=lambda n: n.endswith(tuple(hooks.values())))
        real = batch["attention_mask"].bool()
        for layer in range(anatomy.n_layers(model)):
            for site, hook in hooks.items():
                ours = anatomy.read(model, batch, site, layer).float()
                torch.testing.assert_close(ours[real], cache[f"blocks.{layer}.{hook}"][real].float())
