"""Random small networks for property tests (shapes worked out independently)."""

import math
import random

import lean_mlir as lm


def _conv_out(size, k, s, padding):
    return math.ceil(size / s) if padding == "same" else (size - k) // s + 1


def random_net(rng: random.Random, max_convs: int = 2):
    """A random conv/pool/dense network; returns (input_shape, layers)."""
    c, size = rng.randint(1, 3), rng.randint(5, 9)
    layers, (ch, h) = [], (c, size)
    for _ in range(rng.randint(1, max_convs)):
        k, s = rng.randint(1, 5), rng.randint(1, 3)
        pad = rng.choice(["same", "valid"])
        if pad == "valid" and k > h:
            pad = "same"
        out_c = rng.randint(1, 4)
        layers.append(lm.conv2d(ch, out_c, k, stride=s, padding=pad,
                                activation=rng.choice(["relu", "identity"])))
        ch, h = out_c, _conv_out(h, k, s, pad)
        if rng.random() < 0.6 and h >= 2:
            window = rng.randint(2, min(3, h))
            stride = rng.randint(1, window)   # stride < window: overlapping windows
            layers.append(lm.max_pool(window, stride))
            h = (h - window) // stride + 1
    layers.append(lm.flatten())
    hidden = rng.randint(2, 6)
    layers.append(lm.dense(ch * h * h, hidden, rng.choice(["relu", "identity"])))
    if rng.random() < 0.3:
        layers.append(lm.relu())
    layers.append(lm.dense(hidden, rng.randint(2, 4)))
    return (c, size, size), layers
