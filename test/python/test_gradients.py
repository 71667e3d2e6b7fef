"""The derived backward pass, compiled by IREE, against finite differences and NumPy."""

import random

import lean_mlir as lm
import numpy as np
import pytest
import reference
from lean_mlir import bench
from lean_mlir.compiler import compile_spec
from netgen import random_net


def batch(spec, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.output_shape[0], n)
    return x, y


def assert_grads_close(got, want, rtol=1e-3):
    """Each gradient within ``rtol`` of the reference's, in norm and entry by entry.
    A gradient that cancels to almost nothing (a bias before a batch norm whose
    activation is linear on the whole batch: the normalisation removes any shift)
    is float32 rounding of terms the size of the others; its error is judged
    against 1e-2 of the largest gradient's norm (an error of 1e-5 of it passes)."""
    floor = 1e-2 * max(np.linalg.norm(g) for g in want.values())
    for name, g in want.items():
        err = np.linalg.norm(got[name] - g) / max(np.linalg.norm(g), floor, 1e-8)
        assert err < rtol, f"{name}: relative error {err:.2e}"
        np.testing.assert_allclose(got[name], g, rtol=rtol,
                                   atol=rtol * max(np.abs(g).max(), floor) + 1e-7, err_msg=name)


def assert_matches_float64_and_pytorch(spec, params, x, y, target):
    """``predict`` of ``target``'s forms against the float64 reference, and
    ``value_and_grad`` against central differences of the float64 loss and
    PyTorch's float64 autograd of the same network (when PyTorch is installed)."""
    values = [params[p.name] for p in spec.params]
    options = {"target": target}
    (logits,) = compile_spec(spec, "predict", len(x), options=options).call("predict",
                                                                           *values, x)
    expected = reference.forward(spec, params, x)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())

    loss, *grads = compile_spec(spec, "value_and_grad", len(x), options=options).call(
        "value_and_grad", *values, x, y)
    assert float(loss) == pytest.approx(reference.loss(spec, params, x, y), rel=1e-5)
    got = {p.name: g for p, g in zip(spec.trainable_params, grads, strict=True)}
    assert_grads_close(got, reference.finite_difference_grads(spec, params, x, y))

    torch = pytest.importorskip("torch")
    net = bench.torch_model(spec, params, exact_padding=True).double().train()
    out = net(torch.from_numpy(x.astype(np.float64)))
    torch.nn.functional.cross_entropy(out, torch.from_numpy(y.astype(np.int64))).backward()
    theirs = {key.replace(".0.", "."): p.grad.numpy() for key, p in net.named_parameters()}
    theirs = {k: (v.T if v.ndim == 2 else v) for k, v in theirs.items()}
    assert_grads_close(got, {name: theirs[name] for name in got})


@pytest.mark.parametrize("seed", range(12))
def test_random_network_gradients_match_finite_differences(seed):
    rng = random.Random(seed)
    input_shape, layers = random_net(rng)
    spec = lm.NetSpec(f"fd{seed}", input_shape, layers)
    params = spec.init_params(seed)
    # Non-zero biases so the bias paths and ReLU masks are exercised.
    for p in spec.params:
        if p.name.endswith(".bias"):
            params[p.name] = np.random.default_rng(seed).normal(0, 0.1, p.shape).astype(np.float32)
    x, y = batch(spec, rng.randint(2, 4), seed)
    smoothing = rng.choice([0.0, 0.1])

    logits = lm.predict(spec, params, x)
    np.testing.assert_allclose(logits, reference.forward(spec, params, x), rtol=1e-4, atol=1e-4)

    ref_logits = reference.forward(spec, params, x)
    eval_loss, correct = lm.evaluate_batch(spec, params, x, y)
    assert eval_loss == pytest.approx(reference.cross_entropy(ref_logits, y), rel=1e-5)
    assert correct == int((ref_logits.argmax(axis=1) == y).sum())

    loss, grads = lm.value_and_grad(spec, params, x, y, label_smoothing=smoothing)
    assert loss == pytest.approx(reference.loss(spec, params, x, y, smoothing), rel=1e-5)
    assert_grads_close(grads, reference.finite_difference_grads(spec, params, x, y, smoothing))


@pytest.mark.parametrize("kernel, stride, padding", [
    (1, 1, "valid"), (2, 2, "same"), (3, 1, "same"), (3, 2, "valid"), (4, 3, "same"),
    (5, 2, "same"), (5, 3, "valid"),
])
def test_conv2d_gradients_every_kernel_stride_padding(kernel, stride, padding):
    spec = lm.NetSpec("conv", (2, 7, 7), [
        lm.conv2d(2, 3, kernel, stride=stride, padding=padding, activation="relu"),
        lm.flatten(), lm.dense(3 * reference_out(7, kernel, stride, padding) ** 2, 3)])
    params = spec.init_params(1)
    params["conv2d_0.bias"] = np.linspace(-0.2, 0.2, 3).astype(np.float32)
    x, y = batch(spec, 2, 5)
    _, grads = lm.value_and_grad(spec, params, x, y)
    assert_grads_close(grads, reference.finite_difference_grads(spec, params, x, y))


def reference_out(size, k, s, padding):
    return -(-size // s) if padding == "same" else (size - k) // s + 1


def test_input_gradient_flows_through_two_convolutions():
    # The second conv's input cotangent (a transposed convolution) decides the
    # first conv's weight gradient.
    spec = lm.NetSpec("two", (1, 8, 8), [
        lm.conv2d(1, 2, 3, stride=2, padding="same", activation="relu"),
        lm.conv2d(2, 3, 2, stride=1, padding="valid"),
        lm.max_pool(3, 1), lm.flatten(), lm.dense(3, 2)])
    params = spec.init_params(4)
    x, y = batch(spec, 3, 6)
    _, grads = lm.value_and_grad(spec, params, x, y)
    assert_grads_close(grads, reference.finite_difference_grads(spec, params, x, y))


@pytest.mark.parametrize("window, stride", [(2, 2), (3, 2), (2, 1)])
def test_max_pool_ties_route_to_the_first_maximum(window, stride):
    """Every window has tied maxima; exactly one input, the first in row-major order, wins.

    A 1x1 conv reads two channels: channel 0 (weight 1) holds the tied values
    and decides the forward pass; channel 1 (weight 0) holds each position's
    index and does not. The gradient of the channel-1 weight is then the sum,
    over windows, of the upstream gradient times the index of the position
    that received it.
    """
    size = 5
    spec = lm.NetSpec("ties", (2, size, size), [
        lm.conv2d(2, 1, 1, padding="valid"), lm.max_pool(window, stride), lm.flatten(),
        lm.dense(((size - window) // stride + 1) ** 2, 2)])
    params = spec.init_params(0)
    params["conv2d_0.weight"] = np.array([[[[1.0]], [[0.0]]]], np.float32)
    params["conv2d_0.bias"] = np.zeros(1, np.float32)
    tied = np.array([[1, 1, 0, 1, 1], [1, 1, 0, 1, 1], [0, 0, 0, 0, 0],
                     [2, 0, 2, 2, 2], [2, 2, 0, 2, 2]], np.float32)
    index = np.arange(size * size, dtype=np.float32).reshape(size, size)
    x = np.stack([tied, index])[None]
    y = np.array([1])
    _, grads = lm.value_and_grad(spec, params, x, y)

    # The upstream gradient of each window, from the dense layer alone.
    logits = reference.forward(spec, params, x)
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    dlogits = (p - np.eye(2)[y])[0]
    out = (size - window) // stride + 1
    upstream = (params["dense_0.weight"] @ dlogits).reshape(out, out)

    def routed(pick):
        total_index = total_value = 0.0
        for r in range(out):
            for c in range(out):
                win = tied[r * stride:r * stride + window, c * stride:c * stride + window]
                hits = np.argwhere(win == win.max())
                u, v = hits[0] if pick == "first" else hits[-1]
                total_index += upstream[r, c] * index[r * stride + u, c * stride + v]
                total_value += upstream[r, c] * win.max()
        return total_index, total_value

    want_index, want_value = routed("first")
    got = grads["conv2d_0.weight"].reshape(2)
    # Exactly one winner per window: the tied channel's gradient counts each window once.
    assert got[0] == pytest.approx(want_value, rel=1e-5, abs=1e-6)
    # And that winner is the first maximum, not the last.
    assert got[1] == pytest.approx(want_index, rel=1e-5, abs=1e-5)
    assert routed("last")[0] != pytest.approx(want_index, rel=1e-5, abs=1e-5)


def test_bad_inputs_are_rejected_before_compiling(cnn):
    params = cnn.init_params(0)
    x = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 28, 28\)"):
        lm.predict(cnn, params, np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        lm.value_and_grad(cnn, params, x, np.array([0, 10]))
    with pytest.raises(ValueError, match="parameter 'dense_0.bias' has shape"):
        lm.predict(cnn, {**params, "dense_0.bias": np.zeros(3, np.float32)}, x)
    with pytest.raises(ValueError, match="missing"):
        lm.predict(cnn, {k: v for k, v in params.items() if k != "dense_0.bias"}, x)


@pytest.mark.parametrize("target", ["generic", "cpu", "gpu"])
@pytest.mark.parametrize("window, stride, padding", [(3, 2, 1), (2, 2, 1), (3, 1, 1)])
def test_padded_max_pool_gradients_every_target(window, stride, padding, target):
    """The -inf padding never wins a window; the cotangent of the padded input is
    cut back to the input's."""
    pool = lm.max_pool(window, stride, padding)
    head = lm.NetSpec("p", (2, 5, 5), [lm.conv2d(2, 2, 1), pool, lm.flatten()])
    spec = lm.NetSpec("p", (2, 5, 5), [lm.conv2d(2, 2, 1), pool, lm.flatten(),
                                       lm.dense(head.output_shape[0], 3)])
    params = spec.init_params(3)
    x, y = batch(spec, 2, 7)
    loss, *grads = compile_spec(spec, "value_and_grad", 2, options={"target": target}).call(
        "value_and_grad", *[params[p.name] for p in spec.params], x, y.astype(np.int32))
    assert float(loss) == pytest.approx(reference.loss(spec, params, x, y), rel=1e-5)
    got = {p.name: g for p, g in zip(spec.trainable_params, grads, strict=True)}
    assert_grads_close(got, reference.finite_difference_grads(spec, params, x, y))
