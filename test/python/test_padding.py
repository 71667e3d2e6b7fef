"""PyTorch's padding (counts of zeros per side) and average pooling, on every target's forms.

``lm.conv2d(..., padding=1)`` is ``torch.nn.Conv2d(..., padding=1)``: zeros on
both sides alike, where 'same' with a stride puts the odd pixel after (XLA's
convention). A network with even, (height, width) and uneven (top, bottom,
left, right) padding, strided and not, must compute what the float64 reference
and PyTorch compute, its gradients too; the netspec IR keeps the counts.
"""

import lean_mlir as lm
import numpy as np
import pytest
from test_gradients import assert_matches_float64_and_pytorch

PADDINGS = {"1": 1, "(0, 2)": (0, 2), "(1, 0, 2, 1)": (1, 0, 2, 1)}


def network(padding, stride) -> lm.NetSpec:
    first = lm.conv2d(2, 3, 3, stride=stride, padding=padding, activation="tanh")
    second = lm.conv_bn(3, 4, 3, padding=padding)
    top, bottom, left, right = first.padding
    h, w = (7 + top + bottom - 3) // stride + 1, (7 + left + right - 3) // stride + 1
    h, w = h + top + bottom - 2, w + left + right - 2
    return lm.NetSpec("padded", (2, 7, 7), [first, second, lm.flatten(),
                                            lm.dense(4 * h * w, 3)])


@pytest.mark.parametrize("target", ["generic", "cpu", "gpu"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", sorted(PADDINGS))
def test_padded_convolutions_match_float64_and_pytorch(padding, stride, target):
    spec = network(PADDINGS[padding], stride)
    rng = np.random.default_rng(stride)
    params = spec.init_params(1)
    for p in spec.params:
        if p.name.endswith(".bias"):
            params[p.name] = rng.normal(0, 0.3, p.shape).astype(np.float32)
    x = rng.standard_normal((3, 2, 7, 7)).astype(np.float32)
    y = rng.integers(0, 3, 3).astype(np.int32)
    assert_matches_float64_and_pytorch(spec, params, x, y, target)


def test_counts_are_kept_and_checked():
    layer = lm.conv2d(2, 3, 3, padding=(1, 2))
    assert layer.padding == (1, 1, 2, 2)
    spec = lm.NetSpec("kept", (2, 7, 7), [layer, lm.flatten(), lm.dense(3 * 7 * 9, 2)])
    assert "padding(explicit) pads([1, 1, 2, 2])" in str(spec.to_mlir())
    assert lm.NetSpec.from_dict(spec.to_dict()).fingerprint() == spec.fingerprint()
    for bad in (-1, (1, 2, 3), (1.5, 1), "explicit", True):
        with pytest.raises(ValueError, match="padding"):
            lm.conv2d(2, 3, 3, padding=bad)


@pytest.mark.parametrize("target", ["generic", "cpu", "gpu"])
@pytest.mark.parametrize("window, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)])
def test_average_pooling_matches_float64_and_pytorch(window, stride, padding, target):
    """torch.nn.AvgPool2d's mean (the padding's zeros counted), overlapping windows too;
    its VJP spreads each window's cotangent over the window."""
    out = (7 + 2 * padding - window) // stride + 1
    spec = lm.NetSpec("avg", (2, 7, 7), [
        lm.conv2d(2, 3, 3, padding=1, activation="relu"),
        lm.avg_pool(window, stride, padding), lm.flatten(), lm.dense(3 * out * out, 3)])
    rng = np.random.default_rng(window + stride)
    params = spec.init_params(2)
    x = rng.standard_normal((3, 2, 7, 7)).astype(np.float32)
    y = rng.integers(0, 3, 3).astype(np.int32)
    assert_matches_float64_and_pytorch(spec, params, x, y, target)
