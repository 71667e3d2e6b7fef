"""The later chapters' layers on every target's forms: grouped and depthwise
convolutions (with and without bias), inverted residuals, squeeze-and-excitation,
MBConv blocks, layer norm.

Each case's ``predict`` must equal the float64 reference (which convolves each
group on its own), and its ``value_and_grad`` central differences of the
float64 loss and PyTorch's float64 autograd of ``torch.nn.Conv2d(groups=...)``.
The cases cover a depthwise convolution with stride 2 and 'same' padding (the
per-channel weight gradient), a channel multiplier (one input, two outputs a
group), two groups of several channels (the batched tap products), a
grouped convBn, MobileNetV2's inverted residual blocks and EfficientNet's
squeeze-and-excitation gates (the product rule in the VJP), and ConvNeXt's
pieces: layer norm over the channels of each position and over features, a
depthwise 7x7 convolution and gelu.
"""

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.compiler import lower_to_stablehlo, lowering_pipeline
from test_gradients import assert_matches_float64_and_pytorch

TARGETS = ["generic", "cpu", "gpu"]

CASES = {
    "depthwise-stride2-same": [lm.conv2d(1, 4, 3), lm.conv2d(4, 4, 3, stride=2, groups=4,
                                                             activation="relu6")],
    "depthwise-valid-no-bias": [lm.conv2d(1, 3, 1), lm.conv2d(3, 3, 3, padding="valid",
                                                              groups=3, bias=False)],
    "channel-multiplier": [lm.conv2d(1, 2, 3), lm.conv2d(2, 4, 3, groups=2, activation="silu")],
    "two-groups-stride2": [lm.conv2d(1, 4, 3), lm.conv2d(4, 6, 3, stride=2, groups=2,
                                                         activation="relu")],
    "grouped-conv-bn": [lm.conv2d(1, 4, 3), lm.conv_bn(4, 4, 3, stride=2, groups=2)],
    # MobileNetV2's block: x added back; then strided, unexpanded.
    "inverted-residuals": [lm.conv2d(1, 3, 3), lm.inverted_residual(3, 3, expand_ratio=2),
                           lm.inverted_residual(3, 4, stride=2, expand_ratio=1)],
    # EfficientNet's gate: the product rule, silu inside, after a depthwise conv.
    "squeeze-excite": [lm.conv2d(1, 4, 3), lm.conv2d(4, 4, 3, groups=4, activation="silu"),
                       lm.squeeze_excite(4, 2), lm.squeeze_excite(4, 3, "relu")],
    # EfficientNet's block: x added back (5x5 depthwise); then strided, unexpanded.
    "mbconv": [lm.conv2d(1, 4, 3), lm.mbconv(4, 4, 5, expand_ratio=2),
               lm.mbconv(4, 5, 3, stride=2, expand_ratio=1)],
    # ConvNeXt's pieces: a 4x4 stride-4 patchify stem, channel LayerNorm, a depthwise
    # 7x7 convolution, gelu; then LayerNorm over features.
    "convnext-pieces": [lm.conv2d(1, 4, 2, stride=2), lm.layer_norm(4, 1e-6),
                        lm.conv2d(4, 4, 7, groups=4), lm.layer_norm(4),
                        lm.conv2d(4, 8, 1, activation="gelu"), lm.conv2d(8, 4, 1)],
    # ConvNeXt's block (layer scale 1e-6 at first: the test scales it up, below).
    "convnext-block": [lm.conv2d(1, 3, 2, stride=2), lm.convnext_block(3), lm.layer_scale(3)],
    "layer-norm-features": [lm.conv2d(1, 2, 3, stride=2), lm.flatten(), lm.dense(18, 5),
                            lm.layer_norm(5)],
}


def network(name):
    layers = CASES[name]
    if not any(layer.kind == "flatten" for layer in layers):
        layers = [*layers, lm.flatten()]
    spec = lm.NetSpec(name, (1, 6, 6), layers)
    return lm.NetSpec(name, (1, 6, 6), [*layers, lm.dense(spec.output_shape[0], 3)])


def inputs(spec, seed=0):
    rng = np.random.default_rng(seed)
    params = spec.init_params(seed)
    for p in spec.params:
        if p.name.endswith(".bias"):
            params[p.name] = rng.normal(0, 0.2, p.shape).astype(np.float32)
        elif p.name.endswith(("layer_scale", ".gamma")):   # 1e-6 at first: made to matter
            params[p.name] = rng.normal(0, 0.5, p.shape).astype(np.float32)
    x = rng.standard_normal((3, *spec.input_shape)).astype(np.float32)
    return params, x, rng.integers(0, 3, 3).astype(np.int32)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", CASES)
def test_grouped_gradients_match_float64_and_pytorch(name, target):
    spec = network(name)
    params, x, y = inputs(spec)
    assert_matches_float64_and_pytorch(spec, params, x, y, target)


def test_depthwise_weight_is_one_filter_per_channel_and_counts_as_such():
    layer = lm.conv2d(32, 32, 3, groups=32, bias=False)
    spec = lm.NetSpec("dw", (32, 8, 8), [layer, lm.global_avg_pool(), lm.dense(32, 2)])
    assert (spec.params[0].name, spec.params[0].shape) == ("conv2d_0.weight", (32, 1, 3, 3))
    assert spec.param_count() == 32 * 9 + 32 * 2 + 2
    text = lower_to_stablehlo(spec, lowering_pipeline("predict", 2))
    assert "feature_group_count = 32" in text


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": 3}, "groups=3 must divide in_channels=4 and out_channels=6"),
    ({"groups": 0}, "groups must be positive"),
    ({"groups": 2, "bias": "no"}, "bias must be True or False"),
])
def test_bad_groups_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lm.NetSpec("bad", (4, 5, 5), [lm.conv2d(4, 6, 3, **kwargs)])
