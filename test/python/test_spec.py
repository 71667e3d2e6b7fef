"""The data-first NetSpec API: counts, shapes, IR, errors naming the layer, init."""

import math
import random

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.ir import Context, Module
from lean_mlir.passmanager import PassManager


def summarize(spec: lm.NetSpec) -> dict:
    """Runs netspec-model-summary on the spec's IR and returns the annotations."""
    module = spec.to_mlir()
    PassManager.parse("builtin.module(netspec-model-summary)",
                      context=module.context).run(module.operation)
    ops = module.operation.walk()
    model = next(op for op in ops if op.name == "netspec.model")
    layers = [op for op in ops if "netspec.output_shape" in op.attributes]
    return {"params": model.attributes["netspec.param_count"],
            "shapes": [tuple(op.attributes["netspec.output_shape"]) for op in layers],
            "layer_params": [op.attributes["netspec.param_count"] for op in layers]}


def test_book_models_param_counts(cnn, mlp):
    assert cnn.param_count() == 3_489_130
    assert mlp.param_count() == 669_706
    assert summarize(cnn)["params"] == 3_489_130
    assert summarize(mlp)["params"] == 669_706


def test_book_cnn_shapes_and_names(cnn):
    assert cnn.layer_output_shapes == [(32, 28, 28), (32, 28, 28), (32, 14, 14), (6272,),
                                       (512,), (512,), (10,)]
    assert cnn.output_shape == (10,)
    assert [p.name for p in cnn.params] == [
        "conv2d_0.weight", "conv2d_0.bias", "conv2d_1.weight", "conv2d_1.bias",
        "dense_0.weight", "dense_0.bias", "dense_1.weight", "dense_1.bias",
        "dense_2.weight", "dense_2.bias"]
    assert cnn.params[2].shape == (32, 32, 3, 3) and cnn.params[4].shape == (6272, 512)
    assert summarize(cnn)["shapes"] == cnn.layer_output_shapes


def test_the_issue_example_builds_the_same_ir(cnn):
    spec = lm.NetSpec("MNIST-CNN-noBN", input_shape=(1, 28, 28), layers=[
        lm.conv2d(1, 32, 3, padding="same", activation="relu"),
        lm.conv2d(32, 32, 3, padding="same", activation="relu"),
        lm.max_pool(2, 2),
        lm.flatten(),
        lm.dense(6272, 512, activation="relu"),
        lm.dense(512, 512, activation="relu"),
        lm.dense(512, 10, activation="identity"),
    ])
    assert str(spec.to_mlir()) == str(cnn.to_mlir())


def test_to_mlir_round_trips_and_verifies(cnn):
    module = cnn.to_mlir()
    assert module.operation.verify()
    text = str(module)
    with Context():
        assert str(Module.parse(text)) == text


def test_ir_locations_point_at_the_layer_source():
    spec = lm.NetSpec("loc", (4,), [lm.dense(4, 2, name="head")])  # this line
    text = spec.to_mlir().operation.get_asm(enable_debug_info=True)
    assert 'loc("head"(#loc' in text and "test_spec.py" in text


def _expected_shapes(input_shape, layers):
    """Independent shape arithmetic: same = ceil(n / s), valid = (n - k) // s + 1."""
    shape, out = tuple(input_shape), []
    for layer in layers:
        if isinstance(layer, lm.Conv2d):
            c, h, w = shape
            if layer.padding is lm.Padding.SAME:
                h, w = math.ceil(h / layer.stride), math.ceil(w / layer.stride)
            else:
                h = (h - layer.kernel_size) // layer.stride + 1
                w = (w - layer.kernel_size) // layer.stride + 1
            shape = (layer.out_channels, h, w)
        elif isinstance(layer, lm.MaxPool):
            c, h, w = shape
            shape = (c, (h - layer.window) // layer.stride + 1,
                     (w - layer.window) // layer.stride + 1)
        elif isinstance(layer, lm.Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, lm.Dense):
            shape = (layer.out_features,)
        out.append(shape)
    return out


def _random_net(rng: random.Random):
    c, size = rng.randint(1, 3), rng.randint(6, 12)
    layers, shape = [], (c, size, size)
    for _ in range(rng.randint(1, 3)):
        k, s = rng.randint(1, 5), rng.randint(1, 3)
        pad = rng.choice(["same", "valid"])
        if pad == "valid" and k > shape[1]:
            pad = "same"
        out_c = rng.randint(1, 5)
        layers.append(lm.conv2d(shape[0], out_c, k, stride=s, padding=pad,
                                activation=rng.choice(["relu", "identity"])))
        shape = _expected_shapes(shape, layers[-1:])[0]
        if rng.random() < 0.5 and shape[1] >= 2:
            window = rng.randint(1, min(3, shape[1], shape[2]))
            layers.append(lm.max_pool(window, rng.randint(1, window)))
            shape = _expected_shapes(shape, layers[-1:])[0]
    layers.append(lm.flatten())
    features = int(np.prod(shape))
    hidden = rng.randint(2, 9)
    layers += [lm.dense(features, hidden, "relu"), lm.relu(), lm.dense(hidden, 3)]
    return (c, size, size), layers


@pytest.mark.parametrize("seed", range(25))
def test_random_networks_shapes_and_counts(seed):
    input_shape, layers = _random_net(random.Random(seed))
    spec = lm.NetSpec(f"random{seed}", input_shape, layers)
    expected = _expected_shapes(input_shape, layers)
    assert spec.layer_output_shapes == expected
    counted = summarize(spec)
    assert counted["shapes"] == expected
    assert counted["params"] == spec.param_count() == sum(
        int(np.prod(s)) for s in (p.shape for p in spec.params))


# Each bad spec, with the layer index and kind the error must name and a
# fragment of the mismatch it must state.
BAD_SPECS = [
    ("channel mismatch", (1, 28, 28), [lm.conv2d(1, 32, 3), lm.conv2d(16, 32, 3)],
     1, "conv2d", "input has 32 channels but the weight expects 16"),
    ("dense after flatten", (1, 28, 28),
     [lm.conv2d(1, 32, 3), lm.max_pool(2, 2), lm.flatten(), lm.dense(6000, 10)],
     3, "dense", "input has 6272 features but the weight expects 6000"),
    ("kernel larger than the padded input", (1, 4, 4),
     [lm.conv2d(1, 2, 5, padding="valid"), lm.flatten(), lm.dense(2, 2)],
     0, "conv2d", "kernel 5x5 is larger than the padded input 4x4"),
    ("pool does not fit", (1, 4, 4), [lm.conv2d(1, 2, 3, stride=2), lm.max_pool(3, 1)],
     1, "max_pool2d", "window 3x3 does not fit the input 2x2"),
    ("zero stride", (1, 8, 8), [lm.conv2d(1, 2, 3, stride=0)],
     0, "conv2d", "stride must be positive, got 0"),
    ("negative pool stride", (1, 8, 8), [lm.max_pool(2, -1)],
     0, "max_pool2d", "stride must be positive, got -1"),
    ("zero channels", (1, 8, 8), [lm.conv2d(1, 0, 3)],
     0, "conv2d", "out_channels must be positive, got 0"),
    ("dense without flatten", (1, 8, 8), [lm.dense(64, 10)],
     0, "dense", "input must be [batch, features] or [batch, tokens, features]"),
    ("non-integer size", (4,), [lm.dense(4, 2.5)],
     0, "dense", "out_features must be an integer, got 2.5"),
    ("duplicate layer names", (4,), [lm.dense(4, 4, name="fc"), lm.dense(4, 2, name="fc")],
     1, "dense", "name 'fc' is already used by layer 0"),
    ("output not logits", (1, 8, 8), [lm.conv2d(1, 2, 3)],
     0, "conv2d", "logits must be a rank-2 [batch, classes] tensor"),
]


@pytest.mark.parametrize("case", BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_specs_name_the_layer(case):
    _, input_shape, layers, index, kind, fragment = case
    with pytest.raises(lm.SpecError) as info:
        lm.NetSpec("bad", input_shape, layers)
    err = info.value
    assert (err.layer_index, err.layer_kind) == (index, kind)
    assert f"layer {index} ({kind}" in str(err)
    assert fragment in str(err)


def test_bad_spec_error_keeps_the_mlir_diagnostic_location():
    with pytest.raises(lm.SpecError) as info:
        lm.NetSpec("bad", (1, 8, 8), [lm.conv2d(3, 4, 3)])  # wrong in_channels
    cause = info.value.__cause__
    assert isinstance(cause, lm.MLIRError)
    assert cause.error_diagnostics[0].location.startswith("conv2d_0 (")
    assert "test_spec.py" in cause.error_diagnostics[0].location


@pytest.mark.parametrize("kwargs, message", [
    ({"padding": "full"}, "unknown padding 'full'"),
    ({"activation": "mish"}, "unknown activation 'mish'"),
])
def test_bad_keywords_fail_at_the_layer_call(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lm.conv2d(1, 2, 3, **kwargs)


def test_bad_network_arguments():
    with pytest.raises(lm.SpecError, match="not a lean_mlir layer"):
        lm.NetSpec("x", (4,), [lm.dense(4, 2), "relu"])
    with pytest.raises(lm.SpecError, match="at least one layer"):
        lm.NetSpec("x", (4,), [])
    with pytest.raises(lm.SpecError, match=r"input_shape\[1\] must be positive"):
        lm.NetSpec("x", (1, 0), [lm.flatten()])


def test_init_params_layout_dtype_and_determinism(cnn):
    a, b, c = cnn.init_params(seed=0), cnn.init_params(seed=0), cnn.init_params(seed=1)
    assert list(a) == [p.name for p in cnn.params]
    for p in cnn.params:
        assert a[p.name].shape == p.shape and a[p.name].dtype == np.float32
        np.testing.assert_array_equal(a[p.name], b[p.name])
    assert not np.array_equal(a["dense_0.weight"], c["dense_0.weight"])
    for name in ("conv2d_0.bias", "dense_2.bias"):
        assert not a[name].any()


@pytest.mark.parametrize("name, fan_in", [("dense_0.weight", 6272), ("conv2d_1.weight", 288),
                                          ("dense_1.weight", 512)])
def test_he_normal_matches_fan_in(cnn, name, fan_in):
    w = cnn.init_params(seed=3)[name].astype(np.float64)
    expected = math.sqrt(2.0 / fan_in)
    # The sample std of n normals has relative sd ~ 1/sqrt(2n); allow 5 of those.
    tol = 5 / math.sqrt(2 * w.size)
    assert abs(w.std() / expected - 1) < tol
    assert abs(w.mean()) < 5 * expected / math.sqrt(w.size)


def test_other_init_schemes():
    spec = lm.NetSpec("inits", (6,), [lm.dense(6, 4)])
    assert spec.params[0].fans == (6, 4)
    assert spec.params[0].init is lm.Init.HE_NORMAL
    with Context():
        module = Module.parse(str(spec.to_mlir()).replace(
            "init(he_normal)", "init(glorot_uniform)"))
    assert "glorot_uniform" in str(module)
