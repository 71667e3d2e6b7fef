"""Every layer kind is known everywhere a kind matters, and they all compute one function.

``lm.LAYERS`` is the one list of layer kinds. The tables keyed by kind (the
PyTorch and JAX peers of the benchmark, the float64 reference and the random
generators of these tests) must each have an entry for every kind and none for
a kind that does not exist; a new kind missing from one fails here, naming it.
Then, for every kind, a small random network holding it is run three ways:
compiled by our passes and IREE, by the float64 reference, and by the PyTorch
peer, which must agree.
"""

import random

import lean_mlir as lm
import netgen
import numpy as np
import pytest
import reference
from lean_mlir import bench, explanation
from lean_mlir.layers import layer_from_dict, layer_to_dict

TABLES = {
    "lean_mlir.bench.TORCH_LAYERS": bench.TORCH_LAYERS,
    "lean_mlir.bench.JAX_LAYERS (None: not modelled)": bench.JAX_LAYERS,
    "lean_mlir.explanation.VJP_RULES": explanation.VJP_RULES,
    "test/python/reference.py FORWARD": reference.FORWARD,
    "test/python/netgen.py GENERATORS": netgen.GENERATORS,
}


@pytest.mark.parametrize("table", TABLES)
def test_every_table_knows_every_kind(table):
    kinds = set(lm.LAYERS)
    missing, unknown = sorted(kinds - set(TABLES[table])), sorted(set(TABLES[table]) - kinds)
    assert not missing, f"{table} has no entry for the layer kind(s) {missing}"
    assert not unknown, f"{table} has entries for kinds lm.LAYERS does not have: {unknown}"


@pytest.mark.parametrize("kind", list(lm.LAYERS))
def test_kind_is_public_and_round_trips(kind):
    cls = lm.LAYERS[kind]
    assert cls.kind == kind
    assert getattr(lm, cls.function).__name__ == cls.function, f"lm.{cls.function} is missing"
    assert cls.build is not lm.Layer.build, f"{cls.__name__} builds no netspec op"
    layer = next(layer for layer in netgen.network_with(kind, random.Random(0)).layers
                 if layer.kind == kind)
    assert isinstance(layer, cls)
    assert layer_from_dict(layer_to_dict(layer)) == layer


@pytest.mark.parametrize("kind", list(lm.LAYERS))
def test_compiled_reference_and_peer_agree(kind):
    """Predict of a random network with ``kind`` in it: IREE against the float64
    reference, and the PyTorch peer (exact padding) against the same."""
    torch = pytest.importorskip("torch")
    rng = random.Random(kind)
    spec = netgen.network_with(kind, rng)
    params = spec.init_params(seed=1)
    for name, value in params.items():     # running statistics away from 0 and 1
        if name.endswith("running_var"):
            params[name] = (value + np.random.default_rng(2).random(value.shape)).astype(
                np.float32)
        elif name.endswith(("running_mean", "bias")):
            params[name] = np.random.default_rng(3).normal(0, 0.5, value.shape).astype(
                np.float32)
    x = np.random.default_rng(4).random((5, *spec.input_shape), dtype=np.float32)
    expected = reference.forward(spec, params, x)
    scale = np.abs(expected).max() + 1e-6
    ours = lm.predict(spec, params, x)
    assert np.abs(ours - expected).max() / scale < 1e-5, spec.summary()
    net = bench.torch_model(spec, params, exact_padding=True).double().eval()
    with torch.no_grad():
        theirs = net(torch.from_numpy(x.astype(np.float64))).numpy()
    assert np.abs(theirs - expected).max() / scale < 1e-9, spec.summary()
