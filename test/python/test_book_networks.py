"""The book's networks of its later chapters, at their own sizes.

ResNet-34 and MobileNetV2 at 3x224x224 (the book's Imagenette setting) and 10
classes: their parameter counts are torchvision's ``resnet34(num_classes=10)``
and ``mobilenet_v2(num_classes=10)``'s, and one SGD step of ours (IREE, the
CPU's forms) from the same weights equals PyTorch's on the same network in
float64, every updated tensor within a few times the error PyTorch's own
float32 step makes (as the full-size accuracy test holds the MNIST networks).
The 224x224 compiles make those slow.
"""

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.compiler import compile_spec
from test_full_size_accuracy import FACTOR, FLOOR, update_errors

pytest.importorskip("torch")


def test_mobilenet_v2_has_torchvisions_parameter_count():
    spec = lm.mobilenet_v2()
    # torchvision: 3,504,872 at 1000 classes; its classifier is 1280 x classes + classes.
    assert spec.param_count() == 3_504_872 - 1281 * 1000 + 1281 * 10 == 2_236_682
    assert spec.output_shape == (10,)
    assert lm.mobilenet_v2(num_classes=100).param_count() == 2_236_682 + 1281 * 90
    assert sum(layer.kind == "inverted_residual" for layer in spec.layers) == 17
    # Depthwise filters: one 3x3 filter per channel.
    depthwise = [p for p in spec.params if p.name.endswith("depthwise.conv.weight")]
    assert len(depthwise) == 17 and all(p.shape[1:] == (1, 3, 3) for p in depthwise)


def test_resnet34_has_torchvisions_parameter_count_and_shapes():
    spec = lm.resnet34()
    # torchvision: 21,797,672 at 1000 classes; its classifier is 512 x classes + classes.
    assert spec.param_count() == 21_797_672 - 513 * 1000 + 513 * 10 == 21_289_802
    assert sum(layer.kind == "residual_block" for layer in spec.layers) == 16
    # The stem's padded max pool: 112 -> 56, as torchvision's.
    assert spec.layer_output_shapes[1] == (64, 56, 56)
    assert spec.layer_output_shapes[-3] == (512, 7, 7)


@pytest.mark.slow
@pytest.mark.parametrize("network", ["resnet34", "mobilenet_v2"])
def test_train_step_at_224_equals_pytorchs(network):
    """As the full-size test: a tensor may meet the bound on any of a few batches
    (where a relu's input is within rounding of its kink, float32 and float64 can
    take different sides, and PyTorch's float32 step is then off as much)."""
    spec = getattr(lm, network)()
    params = spec.init_params(0)
    module = compile_spec(spec, "train_step", 4)
    worse = {p.name: "" for p in spec.params}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((4, 3, 224, 224)).astype(np.float32)
        y = rng.integers(0, 10, 4).astype(np.int32)
        for name, (ours, theirs) in update_errors(spec, params, module, x, y).items():
            if name not in worse:
                continue
            if ours <= max(FACTOR * theirs, FLOOR):
                del worse[name]
            else:
                worse[name] += f" {ours:.1e} (PyTorch float32 {theirs:.1e})"
        if not worse:
            return
    pytest.fail(f"{spec.name} at 224x224: " + "; ".join(f"{n}:{e}" for n, e in worse.items()))
