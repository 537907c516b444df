"""``core.anatomy`` on every architecture family it claims, each a tiny random checkpoint.

Each claim is checked against the model's own computation, not against the anatomy's idea of it:
the sites add up to the residual stream, a neuron's entries are exactly what touches its channel,
a head's entries exactly what touches its slice of the output projection's input, the logit lens
of the last layer is the model's own output, peft accepts the named targets.
"""

import pytest
import torch
import transformers

from unlearnlab.core import anatomy
from unlearnlab.core.tiny_checkpoints import ARCHITECTURES, tiny_model

pytestmark = pytest.mark.unit

TOKENS = torch.randint(3, 200, (2, 9), generator=torch.Generator().manual_seed(0))
BATCH = {"input_ids": TOKENS, "attention_mask": torch.ones_like(TOKENS)}


@pytest.fixture(params=ARCHITECTURES)
def model(request):
    return tiny_model(request.param)


def _input_of(module: torch.nn.Module, model: torch.nn.Module) -> torch.Tensor:
    """What ``module`` receives as input in one forward pass of ``model`` on BATCH."""
    seen = {}
    handle = module.register_forward_pre_hook(lambda mod, args: seen.setdefault("x", args[0].detach().clone()))
    try:
        with torch.no_grad():
            model(**BATCH)
    finally:
        handle.remove()
    return seen["x"]


@torch.no_grad()
def test_sites_add_up_to_the_residual_stream(model):
    """resid_post(L) − resid_post(L−1) = attn_out(L) + mlp_out(L), for sequential (Llama, Gemma-2's
    normed outputs) and parallel (GPT-NeoX) residuals alike; resid_pre(0) is the embedded input."""
    states = model(**BATCH, output_hidden_states=True).hidden_states
    for i in range(anatomy.n_layers(model)):
        before = states[i]
        after = anatomy.read(model, BATCH, "resid_post", i)
        parts = anatomy.read(model, BATCH, "attn_out", i) + anatomy.read(model, BATCH, "mlp_out", i)
        torch.testing.assert_close(after - before, parts, rtol=1e-4, atol=1e-5)
        if i < anatomy.n_layers(model) - 1:
            assert torch.equal(after, states[i + 1])


@torch.no_grad()
def test_logit_lens_of_the_last_layer_is_the_models_output(model):
    last = anatomy.read(model, BATCH, "resid_post", anatomy.n_layers(model) - 1)
    torch.testing.assert_close(anatomy.logits_from_residual(model, last), model(**BATCH).logits, rtol=1e-5, atol=1e-5)


def _perturbed(model: torch.nn.Module, entries, scale: float = 0.0) -> torch.nn.Module:
    import copy

    other = copy.deepcopy(model)
    params = dict(other.named_parameters())
    with torch.no_grad():
        for name, index in entries:
            params[name][index] = params[name][index] * scale + (1.0 if scale else 0.0)
    return other


def test_a_neurons_entries_are_exactly_its_channel(model):
    """Changing neuron j's input rows changes channel j of the down projection's input and no
    other; zeroing its down column equals zeroing that channel."""
    layer, j = 1, 5
    down = anatomy.mlp_out_proj(model, layer)
    entries = anatomy.neuron_entries(model, layer, j)
    inputs, out_col = entries[:-1], entries[-1:]
    base = _input_of(down, model)
    changed = _perturbed(model, inputs, scale=2.0)
    diff = (_input_of(anatomy.mlp_out_proj(changed, layer), changed) - base).abs().amax(dim=(0, 1))
    assert diff[j] > 0 and torch.count_nonzero(diff) == 1

    zeroed = _perturbed(model, out_col)
    want = _logits_with_pre_hook(model, down, lambda mod, args: (args[0] * _channel_kept(args[0], j),))
    with torch.no_grad():
        torch.testing.assert_close(zeroed(**BATCH).logits, want, rtol=1e-5, atol=1e-6)


def _logits_with_pre_hook(model: torch.nn.Module, module: torch.nn.Module, hook) -> torch.Tensor:
    """The model's logits on BATCH with ``hook`` editing what ``module`` receives."""
    handle = module.register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            return model(**BATCH).logits
    finally:
        handle.remove()


def _channel_kept(x: torch.Tensor, j: int) -> torch.Tensor:
    keep = torch.ones(x.shape[-1])
    keep[j] = 0
    return keep


def test_a_heads_entries_are_exactly_its_slice(model):
    """Changing head h's query/key/value entries changes the output projection's input only in
    the slices of heads that share its KV group (h itself included); zeroing its output columns
    equals zeroing its slice."""
    layer, h = 0, 3
    d, heads, kv = anatomy.head_dim(model), anatomy.n_heads(model), anatomy.n_kv_heads(model)
    lay = anatomy.layout(model)
    o_proj = getattr(anatomy.attention(model, layer), lay.o)
    entries = anatomy.head_entries(model, layer, h)
    base = _input_of(o_proj, model)
    changed = _perturbed(model, entries[:-1], scale=2.0)
    diff = (_input_of(getattr(anatomy.attention(changed, layer), lay.o), changed) - base).abs()
    per_head = diff.reshape(*diff.shape[:-1], heads, d).amax(dim=(0, 1, 3))
    group = h // (heads // kv)
    same_group = torch.tensor([g // (heads // kv) == group for g in range(heads)])
    assert per_head[h] > 0 and torch.all(per_head[~same_group] == 0)

    zeroed = _perturbed(model, entries[-1:])

    def drop_slice(mod, args):
        x = args[0].clone()
        x[..., h * d:(h + 1) * d] = 0
        return (x,)

    want = _logits_with_pre_hook(model, o_proj, drop_slice)
    with torch.no_grad():
        torch.testing.assert_close(zeroed(**BATCH).logits, want, rtol=1e-5, atol=1e-6)


def test_linear_modules_and_peft_targets_agree(model):
    peft = pytest.importorskip("peft")
    names = anatomy.linear_modules(model)
    targets = anatomy.peft_targets(model)
    assert len(names) == anatomy.n_layers(model) * len(targets)
    assert {n.rsplit(".", 1)[1] for n in names} == set(targets)
    roles = [anatomy.module_role(model, n)[1] for n in names]
    assert roles.count("mlp_out") == anatomy.n_layers(model) == roles.count("attn_out")
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=targets))
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(trainable) == 2 * len(names)



def test_describe_reports_the_fused_projections():
    fused = {arch: anatomy.describe(tiny_model(arch)) for arch in ARCHITECTURES}
    assert fused["phi3"]["fused_qkv"] and fused["phi3"]["fused_gate_up"]
    assert fused["gpt_neox"]["fused_qkv"] and not fused["gpt_neox"]["fused_gate_up"]
    assert not fused["qwen2"]["fused_qkv"] and fused["qwen2"]["kv_heads"] == 2


def test_an_unknown_architecture_is_named_with_the_fix():
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(anatomy.UnknownArchitecture, match="'gpt2' is not known.*add a Layout"):
        anatomy.decoder_layers(gpt2)
