"""The fast forms (target=cpu, target=gpu) and the textbook forms (target=generic)
give the same numbers.

The lowerings share nothing below the layer boundary: NHWC convolutions,
per-tap weight gradients, multiply-add first layers and the window-view
max-pool backward on one side; NCHW convolutions and per-offset masks on the
other. The gpu forms are the cpu forms with long reductions split into partial
sums (weight and bias gradients over the batch, long dense inputs in chunks).
All run here on IREE's CPU backend and must agree to float32 rounding.
"""

import random

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.compiler import TARGETS, compile_spec, lower_to_stablehlo, lowering_pipeline
from netgen import random_net
from test_normalization import NETS as NORMALIZATION_NETS
from test_normalization import perturbed_params

FAST = ["cpu", "gpu"]


def run_both(spec, function, batch, *args, target, options=None):
    """``function`` compiled from the generic forms and from ``target``'s, called
    with ``args``."""
    out = {}
    for forms in ("generic", target):
        module = compile_spec(spec, function, batch, "llvm-cpu",
                              {**(options or {}), "target": forms})
        out[forms] = module.call(function, *args)
    return out["generic"], out[target]


def assert_same(generic, cpu, names, floor=1e-6):
    """Equal to float32 rounding, relative to each tensor's largest value (or to
    ``floor`` where that is smaller: a value zero in exact arithmetic)."""
    for name, g, c in zip(names, generic, cpu, strict=True):
        scale = max(float(np.abs(g).max()), floor)
        np.testing.assert_allclose(c, g, rtol=1e-5, atol=2e-6 * scale, err_msg=name)


def inputs(spec, n, seed, ties=False):
    rng = np.random.default_rng(seed)
    params = spec.init_params(seed)
    for p in spec.params:
        if p.name.endswith(".bias"):
            params[p.name] = rng.normal(0, 0.1, p.shape).astype(np.float32)
    x = rng.standard_normal((n, *spec.input_shape)).astype(np.float32)
    if ties:
        # Quantised inputs and weights: many windows hold tied maxima.
        x = np.round(x).astype(np.float32)
        params = {k: np.round(4 * v) / 4 for k, v in params.items()}
    y = rng.integers(0, spec.output_shape[0], n).astype(np.int32)
    return [params[p.name] for p in spec.params], x, y


CASES = {
    # name: (input shape, layers)
    "first_channel_same": ((1, 8, 8), [lm.conv2d(1, 4, 3, padding="same", activation="relu")]),
    "first_channel_strided_valid": ((1, 9, 9), [lm.conv2d(1, 3, 3, stride=2, padding="valid")]),
    "multi_channel_strided_same": ((3, 7, 7), [lm.conv2d(3, 4, 3, stride=2, padding="same",
                                                         activation="relu"),
                                               lm.conv2d(4, 5, 3, stride=2, padding="same")]),
    "stride3_rows_left_over": ((2, 8, 8), [lm.conv2d(2, 3, 2, stride=3, padding="valid"),
                                           lm.conv2d(3, 2, 2, stride=1, padding="valid")]),
    "kernel5_same": ((2, 6, 6), [lm.conv2d(2, 2, 5, padding="same", activation="relu"),
                                 lm.conv2d(2, 3, 5, padding="same")]),
    "pool_2x2": ((2, 8, 8), [lm.conv2d(2, 3, 3, padding="same", activation="relu"),
                             lm.max_pool(2, 2)]),
    "pool_odd_size": ((2, 7, 7), [lm.conv2d(2, 3, 3, padding="same", activation="relu"),
                                  lm.max_pool(2, 2)]),
    "pool_overlapping": ((2, 7, 7), [lm.conv2d(2, 3, 3, padding="same"), lm.max_pool(3, 2)]),
    "pool_overlapping_stride1": ((2, 6, 6), [lm.conv2d(2, 2, 3, padding="valid"),
                                             lm.max_pool(2, 1)]),
    "pool_3x3_on_input": ((3, 9, 9), [lm.max_pool(3, 3), lm.conv2d(3, 2, 1, padding="valid")]),
}


def make_spec(name):
    input_shape, layers = CASES[name]
    probe = lm.NetSpec(name, input_shape, [*layers, lm.flatten()])
    features = probe.output_shape[0]
    return lm.NetSpec(name, input_shape, [*layers, lm.flatten(), lm.dense(features, 3)])


@pytest.mark.parametrize("target", FAST)
@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_forms_match_generic_forms(name, ties, target):
    spec = make_spec(name)
    params, x, y = inputs(spec, 3, seed=len(name), ties=ties)
    names = ["loss"] + [p.name for p in spec.params]
    assert_same(*run_both(spec, "value_and_grad", 3, *params, x, y, target=target), names)
    assert_same(*run_both(spec, "predict", 3, *params, x, target=target), ["logits"])


@pytest.mark.parametrize("target", FAST)
@pytest.mark.parametrize("seed", range(6))
def test_fast_forms_match_generic_forms_on_random_networks(seed, target):
    input_shape, layers = random_net(random.Random(100 + seed))
    spec = lm.NetSpec(f"forms{seed}", input_shape, layers)
    params, x, y = inputs(spec, 2, seed)
    names = ["loss"] + [p.name for p in spec.params]
    assert_same(*run_both(spec, "value_and_grad", 2, *params, x, y, target=target,
                          options={"label_smoothing": 0.1}), names)


@pytest.mark.parametrize("target", FAST)
def test_fast_forms_match_generic_forms_on_the_book_cnn_train_step(cnn, target):
    # The 6272 -> 512 dense layer is the one the gpu forms contract in chunks.
    params, x, y = inputs(cnn, 16, seed=3)
    state = [np.zeros_like(p) for p in params]
    args = (*params, *state, x, y, np.float32(0.1), np.int32(0))
    names = [p.name for p in cnn.params] + [f"{p.name}.velocity" for p in cnn.params] + ["loss"]
    assert_same(*run_both(cnn, "train_step", 16, *args, target=target,
                          options={"momentum": 0.9}), names)
    if target == "gpu":
        text = lower_to_stablehlo(cnn, lowering_pipeline("train_step", 16, {"target": "gpu"}))
        assert "tensor<16x7x896xf32>" in text       # x in 7 chunks of 896
        assert "lhs_batching_dimensions" in text     # taps batched over N


def test_each_backend_gets_its_forms(cnn):
    cpu = compile_spec(cnn, "predict", 2, "llvm-cpu").stablehlo
    assert "optimization_barrier" in cpu and "transpose" in cpu
    assert "lhs_batching_dimensions" not in cpu
    gpu = lower_to_stablehlo(cnn, lowering_pipeline("predict", 2, {"target": TARGETS["cuda"]}))
    assert "optimization_barrier" in gpu and "lhs_batching_dimensions" in gpu
    generic = lower_to_stablehlo(cnn, lowering_pipeline("predict", 2,
                                                        {"target": TARGETS["rocm"]}))
    assert "optimization_barrier" not in generic and "transpose" not in generic


@pytest.mark.parametrize("target", FAST)
@pytest.mark.parametrize("name", sorted(NORMALIZATION_NETS))
def test_fast_forms_match_generic_forms_on_batch_norm_pooling_and_residuals(name, target):
    # Batch norm (NCHW and [N, C]), global average pooling, residual adds and
    # standalone ReLUs: a train step with momentum returns every parameter,
    # running statistic and velocity. A shift that a later batch norm removes
    # has a velocity of zero in exact arithmetic (rounding noise here), so
    # tensors are compared relative to the largest velocity at least.
    input_shape, layers = NORMALIZATION_NETS[name]
    spec = lm.NetSpec(name, input_shape, layers)
    params = perturbed_params(spec, 2)
    values = [params[p.name] for p in spec.params]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.output_shape[0], 4).astype(np.int32)
    state = [np.zeros_like(params[p.name]) for p in spec.trainable_params]
    names = ([p.name for p in spec.params] + [f"{p.name}.velocity" for p in spec.trainable_params]
             + ["loss"])
    generic, fast = run_both(spec, "train_step", 4, *values, *state, x, y, np.float32(0.1),
                             np.int32(0), target=target, options={"momentum": 0.9})
    velocities = generic[len(spec.params):-1]
    assert_same(generic, fast, names, floor=max(float(np.abs(v).max()) for v in velocities))
    assert_same(*run_both(spec, "predict", 4, *values, x, target=target), ["logits"])
