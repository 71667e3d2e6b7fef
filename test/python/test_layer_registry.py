"""Every layer kind is known everywhere a kind matters, and they all compute one function.

``lm.LAYERS`` is the one list of layer kinds. The tables keyed by kind (the
PyTorch and JAX peers of the benchmark, the float64 reference and the random
generators of these tests) must each have an entry for every kind and none for
a kind that does not exist; a new kind missing from one fails here, naming it.
Then, for every kind, a small random network holding it is run three ways:
compiled by our passes and IREE, by the float64 reference, and by the PyTorch
peer, which must agree; and its gradient, in every target's forms, must agree
with central differences of the float64 reference loss and with PyTorch's
float64 autograd of the peer, which itself must agree with the differences.
"""

import random

import lean_mlir as lm
import netgen
import numpy as np
import pytest
import reference
from lean_mlir import bench, explanation
from lean_mlir.compiler import TARGETS, compile_spec
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


def perturbed_params(spec):
    """``spec``'s initial parameters, with each one its init makes constant (biases,
    normalization scales and shifts, running statistics, layer scales) drawn at
    random instead: a rule that drops one, or mixes up its channels, then changes
    the numbers. Running variances stay positive."""
    params = spec.init_params(seed=1)
    rng = np.random.default_rng(2)
    for name, value in params.items():
        if np.ptp(value) > 0:
            continue
        noise = (rng.random(value.shape) if name.endswith("running_var")
                 else rng.normal(0, 0.5, value.shape))
        params[name] = (value + noise).astype(np.float32)
    return params


@pytest.mark.parametrize("kind", list(lm.LAYERS))
def test_compiled_reference_and_peer_agree(kind):
    """Predict of a random network with ``kind`` in it: IREE against the float64
    reference, and the PyTorch peer (exact padding) against the same."""
    torch = pytest.importorskip("torch")
    spec = netgen.network_with(kind, random.Random(kind))
    params = perturbed_params(spec)
    x = np.random.default_rng(4).random((5, *spec.input_shape), dtype=np.float32)
    expected = reference.forward(spec, params, x)
    scale = np.abs(expected).max() + 1e-6
    ours = lm.predict(spec, params, x)
    assert np.abs(ours - expected).max() / scale < 1e-5, spec.summary()
    net = bench.torch_model(spec, params, exact_padding=True).double().eval()
    with torch.no_grad():
        theirs = net(torch.from_numpy(x.astype(np.float64))).numpy()
    assert np.abs(theirs - expected).max() / scale < 1e-9, spec.summary()


# ---------------------------------------------------------------------------- gradients

#: Every target's forms (lean_mlir.compiler.TARGETS), each compiled for and run on
#: IREE's CPU backend, as test_forms.py runs them.
FORMS = sorted(set(TARGETS.values()))

#: A float32 gradient may be off from the float64 one by this share of the
#: tensor's size (its largest entry; its norm, along a direction): every kind, in
#: each target's forms, stays under 2e-6 of it, so a gradient 0.1% off fails ...
F32_TOLERANCE = 1e-4
#: ... or by this many times PyTorch's own float32 error on it, where that is more:
#: a gradient far smaller than the terms that cancel in it (a 1x1 depthwise
#: weight, which the batch norm after it normalizes away but for its eps) is
#: their rounding noise in any float32 implementation; ours is within 3x of
#: PyTorch's there.
PEER_FLOAT32_FACTOR = 20
#: PyTorch's float64 autograd against central differences, as a share of |grad|.
F64_TOLERANCE = 1e-6
#: What a central difference of the float64 loss (about 1) with step 1e-6 may be
#: off by: rounding 2e-16 / 1e-6, truncation ~1e-12 times the third derivative.
DIFFERENCE_ERROR = 1e-8


def gradient_case(kind):
    """The network holding ``kind`` (as the forward check builds it), its perturbed
    parameters and a batch of four random images with labels."""
    spec = netgen.network_with(kind, random.Random(kind))
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.output_shape[0], 4).astype(np.int32)   # the labels' type
    return spec, perturbed_params(spec), x, y


def directional_differences(spec, params, x, y, grads, eps=1e-6):
    """For each trainable tensor and two unit directions ``d`` in it, a random one and
    ``grads``' own (a gradient off by a factor is far from orthogonal to that one):
    the tensor's name, <grads, d>, and (L(p + eps d) - L(p - eps d)) / 2 eps of
    the float64 reference's training loss."""
    rng = np.random.default_rng(6)
    p64 = {name: np.asarray(value, np.float64) for name, value in params.items()}
    for p in spec.trainable_params:
        g = np.asarray(grads[p.name], np.float64)
        for d in (rng.standard_normal(p.shape), g):
            if not np.any(d):
                continue
            d = d / np.linalg.norm(d)
            up = reference.loss(spec, {**p64, p.name: p64[p.name] + eps * d}, x, y)
            down = reference.loss(spec, {**p64, p.name: p64[p.name] - eps * d}, x, y)
            yield p.name, float(np.vdot(g, d)), (up - down) / (2 * eps)


def assert_directional(spec, params, x, y, grads, allowed):
    """<grads, d> within ``allowed[name]`` (and the differences' own error) of the
    central differences, along each of directional_differences' directions."""
    for name, along, fd in directional_differences(spec, params, x, y, grads):
        assert abs(along - fd) <= allowed[name] + DIFFERENCE_ERROR, (
            f"{spec.summary()}\n{name}: <grad, d> = {along:.9g}, central difference "
            f"{fd:.9g}, allowed {allowed[name]:.1e}")


def float32_allowance(exact, peer32, norm):
    """What a float32 gradient may be off from ``exact`` by, per tensor, in ``norm``."""
    return {name: max(F32_TOLERANCE * norm(g), PEER_FLOAT32_FACTOR * norm(peer32[name] - g))
            for name, g in exact.items()}


def torch_gradients(spec, params, x, y, dtype):
    """Loss and gradients (by our names) of PyTorch's autograd in ``dtype`` through the
    peer in training mode: batch norm on the batch's statistics, as our
    value_and_grad. Each peer parameter must hold our value of the name it maps to."""
    import torch

    net = bench.torch_model(spec, params, exact_padding=True).to(dtype).train()
    loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x).to(dtype)),
                                             torch.from_numpy(y).long())
    loss.backward()
    grads = {}
    for key, p in net.named_parameters():
        # Our name is the peer's less its Sequential indices (dense_0.0.weight).
        name = ".".join(part for part in key.split(".") if not part.isdigit())
        value, grad = p.detach().numpy(), p.grad.numpy().astype(np.float64)
        if value.ndim == 2 and name.endswith(".weight"):   # dense: [out, in] there
            value, grad = value.T, grad.T
        assert name in params and np.array_equal(value, params[name]), f"{key} is not {name}"
        grads[name] = grad
    assert sorted(grads) == sorted(p.name for p in spec.trainable_params), spec.summary()
    return loss.item(), grads


def compiled_value_and_grad(spec, params, x, y, forms):
    module = compile_spec(spec, "value_and_grad", len(x), options={"target": forms})
    sig = module.signature
    out = sig.name_results(module.call("value_and_grad",
                                       *sig.arguments(params=params, images=x, labels=y)))
    return float(out["loss"]), {name: out[f"grad:{name}"] for name in sig.grads}


@pytest.mark.parametrize("kind", list(lm.LAYERS))
def test_peer_gradients_match_finite_differences(kind):
    """The PyTorch peer's float64 autograd, which the compiled gradients are held to
    entry by entry, against central differences of the float64 reference's loss."""
    torch = pytest.importorskip("torch")
    spec, params, x, y = gradient_case(kind)
    loss, grads = torch_gradients(spec, params, x, y, torch.float64)
    assert loss == pytest.approx(reference.loss(spec, params, x, y), rel=1e-12)
    allowed = {name: F64_TOLERANCE * np.linalg.norm(g) for name, g in grads.items()}
    assert_directional(spec, params, x, y, grads, allowed)


@pytest.mark.parametrize("forms", FORMS)
@pytest.mark.parametrize("kind", list(lm.LAYERS))
def test_gradients_match_float64_references(kind, forms):
    """value_and_grad of the network with ``kind``, compiled from ``forms``: its loss
    against the float64 reference's, every gradient against central differences
    of that loss, and entry by entry against PyTorch's float64 autograd."""
    torch = pytest.importorskip("torch")
    spec, params, x, y = gradient_case(kind)
    loss, grads = compiled_value_and_grad(spec, params, x, y, forms)
    assert sorted(grads) == sorted(p.name for p in spec.trainable_params), spec.summary()
    assert loss == pytest.approx(reference.loss(spec, params, x, y), rel=1e-5), spec.summary()
    _, exact = torch_gradients(spec, params, x, y, torch.float64)
    _, peer32 = torch_gradients(spec, params, x, y, torch.float32)
    assert_directional(spec, params, x, y, grads,
                       float32_allowance(exact, peer32, np.linalg.norm))
    allowed = float32_allowance(exact, peer32, lambda g: np.abs(g).max())
    for name, want in exact.items():
        err = np.abs(grads[name] - want).max()
        assert err <= allowed[name], (f"{spec.summary()}\n{name}: max |ours - PyTorch's "
                                      f"float64| is {err:.1e}, allowed {allowed[name]:.1e}")
