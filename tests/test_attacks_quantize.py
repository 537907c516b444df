"""The quantization attack (issue 19, item 4): exact grid values on a hand-made matrix, the error
bound, which parameters are rounded, and that the unlearned model itself is never touched."""

import pytest
import torch

from unlearnlab.attacks.quantize import (SCHEMES, channel_scales, fake_quantize, quantization_attack,
                                         quantized_copy, quantized_linears, qmax, to_grid)
from unlearnlab.core.models import fresh_copy

pytestmark = pytest.mark.unit

# Exact binary fractions, so no level lands on x.5 by float accident. Row 0: absmax 127/128
# (int8 scale 2^-7); row 1: absmax 7/8 (int4 scale 1/8); row 2: zeros (scale 1).
W = torch.tensor([[0.9921875, -0.375, 0.00390625, 0.01171875, -0.9921875],
                  [0.875, 0.3125, -0.1875, 0.04, 0.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0]])


def test_grid_limits():
    assert (qmax(8), qmax(4)) == (127, 7) and SCHEMES == {"int8": 8, "int4": 4}
    with pytest.raises(ValueError, match="at least 2 bits"):
        qmax(1)


def test_int8_scales_and_levels_by_hand():
    scale = channel_scales(W, 8)
    assert scale.shape == (3, 1) and torch.allclose(scale.squeeze(1), torch.tensor([2 ** -7, 0.875 / 127, 1.0]))
    levels = to_grid(W, scale, 8)
    assert levels[0].tolist() == [127, -48, 0, 2, -127]  # 0.5 -> 0 and 1.5 -> 2: half to even
    assert levels[1].tolist() == [127, 45, -27, 6, 0]  # 45.36, -27.21, 5.81
    assert levels[2].tolist() == [0, 0, 0, 0, 0]
    assert fake_quantize(W, 8)[0].tolist() == [0.9921875, -0.375, 0.0, 0.015625, -0.9921875]
    assert fake_quantize(W, 8)[2].tolist() == [0.0] * 5


def test_int4_scales_and_levels_by_hand():
    scale = channel_scales(W, 4)
    assert torch.allclose(scale.squeeze(1), torch.tensor([0.9921875 / 7, 0.125, 1.0]))
    levels = to_grid(W, scale, 4)
    assert levels[0].tolist() == [7, -3, 0, 0, -7]  # -2.65 -> -3
    assert levels[1].tolist() == [7, 2, -2, 0, 0]  # 2.5 -> 2 and -1.5 -> -2: half to even; 0.32 -> 0
    assert fake_quantize(W, 4)[1].tolist() == [0.875, 0.25, -0.25, 0.0, 0.0]


def test_levels_are_clamped_to_the_symmetric_grid():
    """With a scale too small for the row (2^-10), levels stop at ±qmax: −128 and −8 never occur."""
    small = torch.full((3, 1), 2.0 ** -10)
    assert to_grid(W, small, 8)[0].tolist() == [127, -127, 4, 12, -127]
    assert to_grid(W, small, 4)[1].tolist() == [7, 7, -7, 7, 0]


def test_int8_error_is_at_most_half_a_step():
    weight = torch.randn(32, 48, generator=torch.Generator().manual_seed(0))
    for bits in (8, 4):
        error = (fake_quantize(weight, bits) - weight).abs()
        assert bool((error <= channel_scales(weight, bits) / 2 + 1e-7).all())
    assert fake_quantize(weight, 8).dtype == weight.dtype
    with pytest.raises(ValueError, match="2-D"):
        fake_quantize(torch.ones(3), 8)


def test_linear_output_moves_by_a_bounded_amount():
    """|y_q − y|_i ≤ Σ_j |x_j| · scale_i / 2 for every output i (the per-entry bound, summed)."""
    gen = torch.Generator().manual_seed(1)
    linear = torch.nn.Linear(24, 8, bias=False)
    linear.weight.data = torch.randn(8, 24, generator=gen)
    x = torch.randn(5, 24, generator=gen)
    rounded = torch.nn.Linear(24, 8, bias=False)
    rounded.weight.data = fake_quantize(linear.weight.data, 8)
    with torch.no_grad():
        change = (rounded(x) - linear(x)).abs()
    bound = x.abs().sum(-1, keepdim=True) * channel_scales(linear.weight, 8).T / 2
    assert bool((change <= bound + 1e-6).all()) and float(change.max()) > 0


def test_copy_rounds_decoder_linears_only_and_leaves_the_original(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    copy = quantized_copy(tiny_model, 4)
    assert copy is not tiny_model
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, before[k])
    names = {name for name, _ in quantized_linears(copy)}
    assert {"0.self_attn.q_proj", "1.mlp.down_proj", "1.mlp.gate_proj"} <= names and len(names) == 2 * 7
    after = copy.state_dict()
    for key, value in after.items():
        rounded = key.startswith("model.layers.") and key.endswith("proj.weight")
        assert torch.equal(value, fake_quantize(before[key], 4) if rounded else before[key]), key
    assert len(torch.unique(after["model.layers.0.mlp.up_proj.weight"][0])) <= 15


def test_a_peft_adapter_is_merged_before_rounding(tiny_model):
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=2, target_modules=["up_proj"], init_lora_weights=False)
    wrapped = peft.get_peft_model(tiny_model, config)
    merged = fresh_copy(wrapped).merge_and_unload().model.layers[0].mlp.up_proj.weight
    copy = quantized_copy(wrapped, 8)
    assert not hasattr(copy, "peft_config") and any("lora_A" in n for n, _ in wrapped.named_parameters())
    assert not torch.equal(merged, tiny_model.model.layers[0].mlp.up_proj.base_layer.weight)
    assert torch.equal(copy.model.layers[0].mlp.up_proj.weight, fake_quantize(merged, 8))


def test_attack_rows_per_scheme(tiny_model):
    seen: list[torch.Tensor] = []

    def metric(model):
        seen.append(model.model.layers[0].mlp.up_proj.weight.detach().clone())
        return {"forget_acc": float(len(seen))}

    rows = quantization_attack(tiny_model, metric)
    assert [(r["scheme"], r["bits"], r["forget_acc"]) for r in rows] == [("none", 32, 1.0), ("int8", 8, 2.0),
                                                                          ("int4", 4, 3.0)]
    original = tiny_model.model.layers[0].mlp.up_proj.weight
    assert torch.equal(seen[0], original) and torch.equal(seen[1], fake_quantize(original, 8))
    assert torch.equal(seen[2], fake_quantize(original, 4))
    with pytest.raises(ValueError, match="unknown quantization scheme"):
        quantization_attack(tiny_model, metric, schemes=("int2",))
