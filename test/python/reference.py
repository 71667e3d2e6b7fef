"""An independent float64 NumPy forward pass of a NetSpec, for checking compiled code.

Written from the layer definitions (NCHW, OIHW, [in, out], TF/XLA 'same'
padding), not from lean-mlir's lowering.
"""

import math

import lean_mlir as lm
import numpy as np


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, w, b, stride, padding):
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    if padding == "same":
        (t, bt), (l, r) = same_padding(h, kh, stride), same_padding(wd, kw, stride)
    else:
        t = bt = l = r = 0
    xp = np.pad(x, ((0, 0), (0, 0), (t, bt), (l, r)))
    ho = (h + t + bt - kh) // stride + 1
    wo = (wd + l + r - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, :, u:u + (ho - 1) * stride + 1:stride, v:v + (wo - 1) * stride + 1:stride]
            y += np.einsum("nihw,oi->nohw", patch, w[:, :, u, v])
    return y + b[None, :, None, None]


def max_pool(x, window, stride):
    n, c, h, w = x.shape
    ho, wo = (h - window) // stride + 1, (w - window) // stride + 1
    y = np.full((n, c, ho, wo), -np.inf)
    for u in range(window):
        for v in range(window):
            y = np.maximum(y, x[:, :, u:u + (ho - 1) * stride + 1:stride,
                                v:v + (wo - 1) * stride + 1:stride])
    return y


def act(y, activation):
    return np.maximum(y, 0) if activation == lm.Activation.RELU else y


def forward(spec: lm.NetSpec, params: dict, x: np.ndarray) -> np.ndarray:
    """Logits in float64."""
    h = np.asarray(x, np.float64)
    names = iter(spec.params)
    for layer in spec.layers:
        if isinstance(layer, lm.Conv2d):
            w, b = (np.asarray(params[next(names).name], np.float64) for _ in range(2))
            h = act(conv2d(h, w, b, layer.stride, layer.padding.value), layer.activation)
        elif isinstance(layer, lm.MaxPool):
            h = max_pool(h, layer.window, layer.stride)
        elif isinstance(layer, lm.Flatten):
            h = h.reshape(h.shape[0], -1)
        elif isinstance(layer, lm.Dense):
            w, b = (np.asarray(params[next(names).name], np.float64) for _ in range(2))
            h = act(h @ w + b, layer.activation)
        elif isinstance(layer, lm.ReLU):
            h = np.maximum(h, 0)
        else:
            raise TypeError(layer)
    return h


def cross_entropy(logits, y, smoothing=0.0):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    k = logits.shape[1]
    target = np.eye(k)[y] * (1 - smoothing) + smoothing / k
    return -(target * logp).sum() / len(y)


def loss(spec, params, x, y, smoothing=0.0):
    return cross_entropy(forward(spec, params, x), y, smoothing)


def finite_difference_grads(spec, params, x, y, smoothing=0.0, eps=1e-6):
    """Central differences of the float64 loss, for every parameter element."""
    p64 = {k: np.asarray(v, np.float64).copy() for k, v in params.items()}
    grads = {}
    for name, value in p64.items():
        g = np.zeros_like(value)
        flat, gflat = value.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = loss(spec, p64, x, y, smoothing)
            flat[i] = old - eps
            down = loss(spec, p64, x, y, smoothing)
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        grads[name] = g
    return grads
