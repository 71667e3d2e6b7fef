"""Every activation, in every layer that takes one, on every target's forms.

A small network holds each activation four times (a convolution, a convBn, a
dense layer and a batch norm over features); its ``predict`` must equal the
float64 reference, and its ``value_and_grad`` central differences of the
float64 loss and PyTorch's float64 autograd of the same network. silu's and
gelu's derivatives read the value before the activation, which the forward
pass keeps for the VJP; the others read the output.
"""

import lean_mlir as lm
import numpy as np
import pytest
import reference
from lean_mlir import bench, explanation
from test_gradients import assert_matches_float64_and_pytorch

ACTIVATIONS = [a.value for a in lm.Activation]
TARGETS = ["generic", "cpu", "gpu"]


def network(activation: str) -> lm.NetSpec:
    return lm.NetSpec(f"act_{activation}", (2, 5, 5), [
        lm.conv2d(2, 3, 3, stride=1, padding="same", activation=activation),
        lm.conv_bn(3, 3, 3, stride=2, padding="same", activation=activation),
        lm.flatten(),
        lm.dense(27, 6, activation),
        lm.batch_norm(6, activation),
        lm.dense(6, 3)])


def inputs(spec, seed=0):
    rng = np.random.default_rng(seed)
    params = spec.init_params(seed)
    for p in spec.params:
        if p.name.endswith((".bias", ".shift")):
            params[p.name] = rng.normal(0, 0.3, p.shape).astype(np.float32)
    # Wide inputs: relu6 saturates somewhere, sigmoid's tails are reached.
    x = (3 * rng.standard_normal((4, *spec.input_shape))).astype(np.float32)
    y = rng.integers(0, 3, 4).astype(np.int32)
    return params, x, y


def test_every_activation_is_known_everywhere():
    tables = {"bench.ACTIVATIONS": bench.ACTIVATIONS,
              "bench.JAX_ACTIVATIONS": bench.JAX_ACTIVATIONS,
              "reference.ACTIVATIONS": reference.ACTIVATIONS,
              "explanation.ACTIVATION_VJPS (and identity)":
                  {"identity": None, **explanation.ACTIVATION_VJPS}}
    for name, table in tables.items():
        assert set(table) == set(ACTIVATIONS), f"{name}: {sorted(set(table) ^ set(ACTIVATIONS))}"


def test_an_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*'silu'"):
        lm.dense(4, 2, "swish")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("activation", ACTIVATIONS[2:])
def test_activation_gradients_match_float64(activation, target):
    spec = network(activation)
    params, x, y = inputs(spec)
    assert_matches_float64_and_pytorch(spec, params, x, y, target)
