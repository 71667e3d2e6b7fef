"""Random small networks for property tests.

:func:`random_net` draws conv/pool/dense networks with their shapes worked out
independently; :data:`GENERATORS` makes a random layer of every kind in
``lm.LAYERS`` for a given input shape, and :func:`network_with` a small network
around one.
"""

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


#: Every activation a layer takes.
ACTIVATIONS = [a.value for a in lm.Activation]
#: How a block may pad (lm.layers.BLOCK_PADDINGS).
PADDINGS = ["same", "torch"]


def _spatial(shape):
    return len(shape) == 3


def _tokens(shape):
    """A token sequence's (tokens, channels)."""
    return len(shape) == 2


def _heads(rng, channels):
    return rng.choice([h for h in (1, 2, 3) if channels % h == 0])


def _residual(rng, shape):
    """A residual around one or two layers that keep ``shape``, with a shortcut
    layer or without."""
    if _spatial(shape):
        c = shape[0]
        body = [lm.conv2d(c, c, rng.choice([1, 3]), activation=rng.choice(ACTIVATIONS))]
        if rng.random() < 0.5:
            body.append(lm.batch_norm(c, rng.choice(ACTIVATIONS)))
        cut = [lm.conv2d(c, c, 1)]
    elif _tokens(shape):
        c = shape[1]
        body = [lm.layer_norm(c), lm.attention(c, _heads(rng, c))]
        cut = [lm.dense(c, c)]
    else:
        body = [lm.dense(shape[0], shape[0], rng.choice(ACTIVATIONS))]
        cut = [lm.dense(shape[0], shape[0])]
    return lm.residual(body, cut if rng.random() < 0.5 else None)


def _conv(rng, shape):
    """A random convolution on ``shape``: plain, grouped (when the channels allow)
    or depthwise."""
    c, h = shape[0], shape[1]
    k = rng.randint(1, min(3, h))
    groups = rng.choice([g for g in (1, 2, c) if c % g == 0])
    return {"in_channels": c, "out_channels": groups * rng.randint(1, 2), "kernel_size": k,
            "stride": rng.randint(1, 2), "padding": rng.choice(["same", "valid"]),
            "activation": rng.choice(ACTIVATIONS), "groups": groups}


#: A random layer of each kind (``lm.LAYERS``) taking ``shape`` (one sample's),
#: or None if the kind cannot take that shape.
GENERATORS = {
    "conv2d": lambda rng, shape: lm.conv2d(**_conv(rng, shape)) if _spatial(shape) else None,
    "max_pool2d": lambda rng, shape: lm.max_pool(
        w := rng.randint(2, 3), rng.randint(1, 2), rng.randint(0, w // 2))
    if _spatial(shape) and shape[1] >= 3 else None,
    "avg_pool2d": lambda rng, shape: lm.avg_pool(
        w := rng.randint(2, 3), rng.randint(1, 2), rng.randint(0, w // 2))
    if _spatial(shape) and shape[1] >= 3 else None,
    "flatten": lambda rng, shape: lm.flatten() if _spatial(shape) else None,
    "dense": lambda rng, shape: None if _spatial(shape) else lm.dense(
        shape[-1], rng.randint(2, 5), rng.choice(ACTIVATIONS)),
    "relu": lambda rng, shape: lm.relu(),
    "batch_norm": lambda rng, shape: lm.batch_norm(shape[0], rng.choice(ACTIVATIONS)),
    "conv_bn": lambda rng, shape: lm.conv_bn(**_conv(rng, shape)) if _spatial(shape) else None,
    "global_avg_pool": lambda rng, shape: lm.global_avg_pool() if _spatial(shape) else None,
    "residual_block": lambda rng, shape: lm.residual_block(
        shape[0], rng.choice([shape[0], shape[0] + 1]), stride=rng.randint(1, 2))
    if _spatial(shape) else None,
    "layer_norm": lambda rng, shape: lm.layer_norm(shape[-1] if _tokens(shape) else shape[0],
                                                   rng.choice([1e-5, 1e-6])),
    "layer_scale": lambda rng, shape: lm.layer_scale(shape[0]) if _spatial(shape) else None,
    "convnext_block": lambda rng, shape: lm.convnext_block(shape[0])
    if _spatial(shape) else None,
    "mbconv": lambda rng, shape: lm.mbconv(
        shape[0], rng.choice([shape[0], shape[0] + 1]), rng.choice([3, 5]),
        stride=rng.randint(1, 2), expand_ratio=rng.choice([1, 2])) if _spatial(shape) else None,
    "squeeze_excite": lambda rng, shape: lm.squeeze_excite(
        shape[0], rng.randint(1, 3), rng.choice(ACTIVATIONS), rng.choice(["sigmoid",
                                                                          "hardsigmoid"]))
    if _spatial(shape) else None,
    "inverted_residual": lambda rng, shape: lm.inverted_residual(
        shape[0], rng.choice([shape[0], shape[0] + 1]), stride=rng.randint(1, 2),
        expand_ratio=rng.choice([1, 2])) if _spatial(shape) else None,
    "residual": _residual,
    "patch_embed": lambda rng, shape: lm.patch_embed(
        shape[0], rng.randint(2, 6), rng.randint(1, min(3, shape[1], shape[2])))
    if _spatial(shape) else None,
    "class_token": lambda rng, shape: lm.class_token(shape[1]) if _tokens(shape) else None,
    "position_embedding": lambda rng, shape: lm.position_embedding(*shape)
    if _tokens(shape) else None,
    "attention": lambda rng, shape: lm.attention(shape[1], _heads(rng, shape[1]))
    if _tokens(shape) else None,
    "take_token": lambda rng, shape: lm.take_token(rng.randrange(shape[0]))
    if _tokens(shape) else None,
    "vit_block": lambda rng, shape: lm.vit_block(
        shape[1], _heads(rng, shape[1]), rng.randint(2, 8), rng.choice([1e-5, 1e-6]),
        rng.choice(["gelu", "gelu_tanh"])) if _tokens(shape) else None,
    "bottleneck": lambda rng, shape: lm.bottleneck(
        shape[0], rng.randint(1, 2), rng.randint(1, 2), padding=rng.choice(PADDINGS))
    if _spatial(shape) else None,
    "mobilenet_v3_block": lambda rng, shape: lm.mobilenet_v3_block(
        shape[0], rng.choice([shape[0], 2 * shape[0]]), rng.choice([shape[0], 4]),
        rng.choice([3, 5]), rng.randint(1, 2), rng.random() < 0.7,
        rng.choice(["relu", "hardswish"]), padding=rng.choice(PADDINGS))
    if _spatial(shape) else None,
    "fused_mbconv": lambda rng, shape: lm.fused_mbconv(
        shape[0], rng.choice([shape[0], 4]), 3, rng.randint(1, 2), rng.choice([1, 2]),
        padding=rng.choice(PADDINGS), eps=rng.choice([1e-5, 1e-3]))
    if _spatial(shape) else None,
    "uib": lambda rng, shape: _uib(rng, shape) if _spatial(shape) else None,
}


def _uib(rng, shape):
    """A universal inverted bottleneck of a random variant (start and middle depthwise
    convolutions each there or not)."""
    start, mid = rng.choice([(3, 3), (0, 3), (3, 0), (5, 0), (0, 0)])
    return lm.uib(shape[0], rng.choice([shape[0], 4]), start, mid, rng.choice([2, 3]),
                  rng.randint(1, 2) if start or mid else 1, padding=rng.choice(PADDINGS))


def network_with(kind: str, rng: random.Random) -> lm.NetSpec:
    """A small network holding a random ``kind`` layer: the layer on a 2-3 channel
    image (after a flatten if it takes features, after a patch embedding if it takes
    tokens), then dense layers to 3 classes."""
    shape = (rng.randint(2, 3), rng.randint(4, 6), rng.randint(4, 6))
    layers = []
    layer = GENERATORS[kind](rng, shape)
    if layer is None:
        layers.append(lm.flatten())
        layer = GENERATORS[kind](rng, (shape[0] * shape[1] * shape[2],))
    if layer is None:   # a kind that takes a token sequence: 2x2 patches as tokens
        dim = rng.choice([3, 4, 6])
        layers = [lm.patch_embed(shape[0], dim, 2)]
        layer = GENERATORS[kind](rng, (shape[1] // 2 * (shape[2] // 2), dim))
    layers.append(layer)
    try:   # a network must end in [batch, features]
        out = lm.NetSpec(f"with-{kind}", shape, layers).output_shape
    except lm.SpecError:
        layers.append(lm.flatten())
        out = lm.NetSpec(f"with-{kind}", shape, layers).output_shape
    layers.append(lm.dense(out[0], 3))
    return lm.NetSpec(f"with-{kind}", shape, layers)
