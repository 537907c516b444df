"""Activation-space localization: the bridge, exact and attribution patching, magnitudes."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from unlearnlab.localization import (
    activation_magnitude,
    activation_patching,
    answer_metric,
    attribution_patching,
    bridge,
    iter_components,
    patch_with,
    site_activations,
)
from unlearnlab.localization.activations import answer_positions

pytestmark = pytest.mark.unit

ATTN_MLP_SITES = ("hook_z", "hook_v", "mlp.hook_pre", "mlp.hook_post")


@pytest.fixture(scope="module", autouse=True)
def transformer_lens():
    """Import TransformerLens once per module (a second or two) so no single test pays for it."""
    return pytest.importorskip("transformer_lens")


def logits(br, batch):
    return br(batch["input_ids"], attention_mask=batch["attention_mask"])


def equal_length_batch(tokens, n=4):
    """``n`` examples whose prompt and answer lengths agree, so every row has the same layout."""
    by_shape = {}
    for i, (p, a) in enumerate(zip(tokens.prompts, tokens.answers)):
        by_shape.setdefault((len(p), len(a)), []).append(i)
    rows = max(by_shape.values(), key=len)
    assert len(rows) >= n
    return tokens.batch(rows[:n])


def corrupted(batch, vocab_size, seed=0):
    """The batch with every prompt token strictly between <bos> and the last prompt token replaced
    at random; masks, answers and the last prompt token are untouched."""
    gen = torch.Generator().manual_seed(seed)
    position, _ = answer_positions(batch)
    ids = batch["input_ids"].clone()
    for row, last in enumerate(position.tolist()):
        ids[row, 1:last] = torch.randint(3, vocab_size, (last - 1,), generator=gen)
    return {**batch, "input_ids": ids}


class Float64RMSNorm(LlamaRMSNorm):
    """HF's RMSNorm computes in float32 whatever the input dtype; this one stays in float64."""

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)


def gqa_model(vocab_size, final_norm=True, last_mlp=True):
    """A float64 Llama with grouped-query attention (4 query heads, 2 KV heads), initialised
    10x larger than usual so that patching moves the metric by clearly more than rounding.
    ``final_norm=False`` replaces the final RMSNorm by the identity; ``last_mlp=False`` zeroes the
    last layer's down-projection, so that layer's MLP adds nothing to the residual stream."""
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=True, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                      initializer_range=0.2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).double().eval()
    for module in model.modules():
        if isinstance(module, LlamaRMSNorm):
            module.__class__ = Float64RMSNorm
    if not final_norm:
        model.model.norm = torch.nn.Identity()
    if not last_mlp:
        with torch.no_grad():
            model.model.layers[-1].mlp.down_proj.weight.zero_()
    return model


def test_bridge_logits_equal_hf_logits_and_leave_the_model_alone(tiny_model, tokenizer, tokens):
    batch = tokens.batch(range(6))  # mixed lengths: right padding is exercised
    br = bridge(tiny_model, tokenizer)
    with torch.no_grad():
        expected = tiny_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        got = logits(br, batch)
    torch.testing.assert_close(got, expected)
    assert type(tiny_model.model.layers[0].self_attn).__name__ == "LlamaAttention"  # not rewired
    assert not any(p is q for p in tiny_model.parameters() for q in br.parameters())


def test_sites_read_the_hf_activations(tiny_model, tokenizer, tokens):
    """hook_z is o_proj's input per head, hook_pre the gate output, hook_post down_proj's input."""
    batch = tokens.batch(range(4))
    seen = {}
    layer = tiny_model.model.layers[1]
    handles = [layer.self_attn.o_proj.register_forward_pre_hook(lambda m, a: seen.setdefault("z", a[0])),
               layer.mlp.gate_proj.register_forward_hook(lambda m, a, o: seen.setdefault("pre", o)),
               layer.mlp.down_proj.register_forward_pre_hook(lambda m, a: seen.setdefault("post", a[0]))]
    with torch.no_grad():
        tiny_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    for h in handles:
        h.remove()
    br = bridge(tiny_model, tokenizer)
    z = site_activations(br, batch, "hook_z", [1])[1]
    assert z.shape[2:] == (2, 8)
    torch.testing.assert_close(z.flatten(-2), seen["z"])
    torch.testing.assert_close(site_activations(br, batch, "mlp.hook_pre", [1])[1], seen["pre"])
    torch.testing.assert_close(site_activations(br, batch, "mlp.hook_post", [1])[1], seen["post"])


@pytest.mark.parametrize("site", ATTN_MLP_SITES + ("hook_resid_pre",))
def test_patching_a_run_with_its_own_activations_changes_nothing(tiny_model, tokenizer, tokens, site):
    br = bridge(tiny_model, tokenizer)
    batch = tokens.batch(range(6))
    with torch.no_grad():
        clean = float(answer_metric(logits(br, batch), batch))
    acts = site_activations(br, batch, site)
    assert patch_with(br, batch, site, None, acts) == clean
    one = "L1.N3" if site.startswith("mlp") else "L0.resid_pre" if site == "hook_resid_pre" else "L1.H1"
    assert patch_with(br, batch, site, [one], acts) == clean


def test_patching_every_head_restores_the_clean_metric(tiny_model, tokenizer, tokens):
    """The corruption changes only tokens before the last prompt position, which reach it only
    through attention: with hook_z patched in every layer, that position computes exactly as in
    the clean run. resid_pre of any layer carries everything, so patching it restores too."""
    br = bridge(tiny_model, tokenizer)
    clean = equal_length_batch(tokens)
    corrupt = corrupted(clean, len(tokenizer))
    with torch.no_grad():
        clean_metric = answer_metric(logits(br, clean), clean)
        corrupt_metric = answer_metric(logits(br, corrupt), clean)
    assert abs(float(clean_metric - corrupt_metric)) > 1e-3  # the corruption matters
    restored = patch_with(br, corrupt, "hook_z", None, site_activations(br, clean, "hook_z"), answers=clean)
    torch.testing.assert_close(torch.tensor(restored), clean_metric)
    resid = site_activations(br, clean, "hook_resid_pre", [1])
    restored = patch_with(br, corrupt, "hook_resid_pre", ["L1.resid_pre"], resid, answers=clean)
    torch.testing.assert_close(torch.tensor(restored), clean_metric)
    # and the single-component scores are measured against the corrupt run
    scores = activation_patching(br, clean, corrupt, "hook_z")
    assert sorted(scores) == sorted(c.name for c in iter_components(tiny_model, "head"))


@pytest.mark.parametrize("site", ("hook_z", "hook_v", "mlp.hook_post"))
def test_attribution_equals_exact_patching_where_the_metric_is_linear(tokenizer, tokens, site):
    """A genuinely linear case, not a loose tolerance. The site is in the last layer, whose path
    to the logits is made linear: hook_post -> down_proj -> residual; hook_z -> o_proj ->
    residual; hook_v -> attention-weighted sum (the pattern comes from q and k, which v does not
    touch) -> o_proj -> residual. For the attention sites the last MLP (which reads the residual
    stream through an RMSNorm and SiLU) is switched off by zeroing its down-projection. The final
    RMSNorm is replaced by the identity, the unembedding is linear, and the metric is the answer's
    raw logit (the log-probability is not linear in the logits: log-softmax). So
    metric(corrupt + Δ) − metric(corrupt) = ∇metric · Δ exactly. The test first checks the
    linearity it relies on (twice the patch, twice the effect), in float64."""
    model = gqa_model(len(tokenizer), final_norm=False, last_mlp=site.startswith("mlp"))
    br = bridge(model, tokenizer)
    clean = equal_length_batch(tokens)
    corrupt = corrupted(clean, len(tokenizer))
    clean_acts = site_activations(br, clean, site, [1])
    corrupt_acts = site_activations(br, corrupt, site, [1])
    base = patch_with(br, corrupt, site, None, corrupt_acts, answers=clean, metric="logit")
    component = "L1.N5" if site.startswith("mlp") else "L1.H2"
    effects = [patch_with(br, corrupt, site, [component],
                          {1: corrupt_acts[1] + k * (clean_acts[1] - corrupt_acts[1])},
                          answers=clean, metric="logit") - base for k in (1, 2)]
    assert abs(effects[0]) > 1e-3
    assert effects[1] == pytest.approx(2 * effects[0], rel=1e-9)
    exact = activation_patching(br, clean, corrupt, site, layers=[1], metric="logit")
    approx = attribution_patching(br, clean, corrupt, site, layers=[1], metric="logit")
    assert approx.keys() == exact.keys()
    names = sorted(exact)
    torch.testing.assert_close(torch.tensor([approx[n] for n in names], dtype=torch.float64),
                               torch.tensor([exact[n] for n in names], dtype=torch.float64))


@pytest.mark.parametrize("site", ATTN_MLP_SITES)
def test_attribution_is_the_derivative_of_exact_patching(tokenizer, tokens, site):
    """With the usual log-probability metric and a real RMSNorm, attribution is the derivative of
    patching along the clean − corrupt direction: a central difference with step 1e-5 agrees to
    O(step²). The site is in the last layer and the RMSNorms compute in float64, so everything
    downstream of the patch runs in float64 (HF's eager attention takes its softmax in float32 and
    its RMSNorm in float32, which would add rounding noise of about 1e-7 / step)."""
    model = gqa_model(len(tokenizer))
    br = bridge(model, tokenizer)
    clean = equal_length_batch(tokens)
    corrupt = corrupted(clean, len(tokenizer), seed=1)
    clean_acts = site_activations(br, clean, site, [1])[1]
    corrupt_acts = site_activations(br, corrupt, site, [1])[1]
    approx = attribution_patching(br, clean, corrupt, site, layers=[1])
    step = 1e-5
    for name in list(approx)[:4]:
        ends = [patch_with(br, corrupt, site, [name], {1: corrupt_acts + s * (clean_acts - corrupt_acts)},
                           answers=clean) for s in (step, -step)]
        assert (ends[0] - ends[1]) / (2 * step) == pytest.approx(approx[name], rel=1e-5, abs=1e-8)


def test_gqa_value_heads_score_their_whole_query_group(tokenizer, tokens):
    model = gqa_model(len(tokenizer))
    br = bridge(model, tokenizer)
    clean = equal_length_batch(tokens)
    assert site_activations(br, clean, "hook_v", [0])[0].shape[2] == 2  # KV heads, not query heads
    scores = activation_patching(br, clean, corrupted(clean, len(tokenizer)), "hook_v")
    assert sorted(scores) == sorted(c.name for c in iter_components(model, "head"))
    for layer in range(2):
        assert scores[f"L{layer}.H0"] == scores[f"L{layer}.H1"] != scores[f"L{layer}.H2"] == scores[f"L{layer}.H3"]


def test_layer_granularity_names(tiny_model, tokenizer, tokens):
    br = bridge(tiny_model, tokenizer)
    clean = equal_length_batch(tokens)
    corrupt = corrupted(clean, len(tokenizer))
    assert sorted(activation_patching(br, clean, corrupt, "mlp.hook_post", "layer")) == ["L0.mlp", "L1.mlp"]
    assert sorted(attribution_patching(br, clean, corrupt, "hook_z", "layer")) == ["L0.attn", "L1.attn"]
    with pytest.raises(ValueError, match="does not apply"):
        activation_patching(br, clean, corrupt, "hook_z", "neuron")


def test_activation_magnitude_names_and_values(tiny_model, tokenizer, tokens):
    br = bridge(tiny_model, tokenizer)
    forget, retain = tokens.subset(range(0, 8)), tokens.subset(range(8, 20))
    scores = activation_magnitude(br, forget, retain)
    expected = {c.name for c in iter_components(tiny_model, "head")} | \
               {c.name for c in iter_components(tiny_model, "neuron")}
    assert set(scores) == expected
    assert any(v != 0 for v in scores.values())
    same = activation_magnitude(br, forget, forget, sites=("mlp.hook_pre",))
    assert set(same) == {c.name for c in iter_components(tiny_model, "neuron")}
    assert all(v == 0 for v in same.values())
    ratio = activation_magnitude(br, forget, forget, sites=("hook_v", "mlp.hook_post"), granularity="layer",
                                 mode="ratio")
    assert sorted(ratio) == ["L0.attn", "L0.mlp", "L1.attn", "L1.mlp"]
    assert all(v == pytest.approx(1.0, rel=1e-5) for v in ratio.values())  # 1 up to the 1e-6 floor
    with pytest.raises(ValueError, match="same component names"):
        activation_magnitude(br, forget, retain, sites=("hook_z", "hook_v"))
    # the HF model works too, given the tokenizer
    assert activation_magnitude(tiny_model, forget, retain, tokenizer=tokenizer) == scores


def test_activation_magnitude_averages_the_answer_predicting_positions(tiny_model, tokenizer, tokens):
    """Against a hand computation from cached activations at the last prompt token and the
    answer tokens but the last."""
    br = bridge(tiny_model, tokenizer)
    forget, retain = tokens.subset(range(0, 5)), tokens.subset(range(5, 9))

    def by_hand(data):
        batch = data.batch(range(len(data)))
        post = site_activations(br, batch, "mlp.hook_post", [0])[0]
        rows = [(r, t) for r in range(len(data)) for t in range(batch["input_ids"].shape[1] - 1)
                if batch["answer_mask"][r, t + 1]]
        assert len(rows) == sum(len(a) for a in data.answers)
        return torch.stack([post[r, t] for r, t in rows]).abs().mean(0)

    expected = by_hand(forget) - by_hand(retain)
    scores = activation_magnitude(br, forget, retain, sites=("mlp.hook_post",), layers=[0], batch_size=2)
    got = torch.tensor([scores[f"L0.N{j}"] for j in range(32)])
    torch.testing.assert_close(got, expected)
