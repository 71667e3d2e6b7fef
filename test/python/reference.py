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


def conv2d(x, w, b, stride, padding, groups=1):
    """``torch.nn.Conv2d`` (``groups`` as its) with TF/XLA 'same' padding, or
    ``(top, bottom, left, right)`` zeros, in float64."""
    if groups > 1:
        cin, cout = x.shape[1] // groups, w.shape[0] // groups
        return np.concatenate([
            conv2d(x[:, j * cin:(j + 1) * cin], w[j * cout:(j + 1) * cout],
                   b[j * cout:(j + 1) * cout], stride, padding) for j in range(groups)], axis=1)
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    if isinstance(padding, tuple):
        t, bt, l, r = padding
    elif str(padding) == "same":
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


def avg_pool(x, window, stride, padding=0):
    """``torch.nn.AvgPool2d`` (zeros of the padding counted), in float64."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = x.shape
    ho, wo = (h - window) // stride + 1, (w - window) // stride + 1
    y = np.zeros((n, c, ho, wo))
    for u in range(window):
        for v in range(window):
            y += x[:, :, u:u + (ho - 1) * stride + 1:stride, v:v + (wo - 1) * stride + 1:stride]
    return y / (window * window)


def max_pool(x, window, stride, padding=0):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
               constant_values=-np.inf)
    n, c, h, w = x.shape
    ho, wo = (h - window) // stride + 1, (w - window) // stride + 1
    y = np.full((n, c, ho, wo), -np.inf)
    for u in range(window):
        for v in range(window):
            y = np.maximum(y, x[:, :, u:u + (ho - 1) * stride + 1:stride,
                                v:v + (wo - 1) * stride + 1:stride])
    return y


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(y):
    return 1.0 / (1.0 + np.exp(-y))


#: Each activation (``lm.Activation``) in float64, from its definition.
ACTIVATIONS = {
    "identity": lambda y: y,
    "relu": lambda y: np.maximum(y, 0),
    "relu6": lambda y: np.clip(y, 0, 6),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "silu": lambda y: y * _sigmoid(y),
    "gelu": lambda y: y * 0.5 * (1 + _erf(y / math.sqrt(2))),
    "gelu_tanh": lambda y: y * 0.5 * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                  * (y + 0.044715 * y ** 3))),
    "hardswish": lambda y: y * np.clip(y + 3, 0, 6) / 6,
    "hardsigmoid": lambda y: np.clip(y + 3, 0, 6) / 6,
}


def act(y, activation):
    return ACTIVATIONS[str(activation)](y)


def batch_norm(x, p, prefix, training, stats, eps=1e-5, momentum=0.1):
    """torch.nn.BatchNorm2d (or BatchNorm1d on [N, C]) in float64.

    ``stats`` receives the new running statistics in training mode.
    """
    def get(k):
        return np.asarray(p[prefix + k], np.float64)

    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    if training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        m = x.size // x.shape[1]
        if stats is not None:
            stats[prefix + "running_mean"] = (1 - momentum) * get("running_mean") + momentum * mean
            stats[prefix + "running_var"] = ((1 - momentum) * get("running_var")
                                             + momentum * var * m / (m - 1))
    else:
        mean, var = get("running_mean"), get("running_var")
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return xhat * get("weight").reshape(shape) + get("bias").reshape(shape)


def conv_bn(x, p, prefix, stride, padding, activation, training, stats, groups=1, eps=1e-5,
            momentum=0.1):
    w = np.asarray(p[prefix + "conv.weight"], np.float64)
    y = conv2d(x, w, np.zeros(w.shape[0]), stride, padding, groups)
    return act(batch_norm(y, p, prefix + "bn.", training, stats, eps, momentum), activation)


def block_pad(layer, kernel):
    """A block's padding for a ``kernel`` convolution: the book's 'same', or PyTorch's
    ``kernel // 2`` on every side (``padding="torch"``)."""
    return "same" if getattr(layer, "padding", "same") == "same" else (kernel // 2,) * 4


def residual_block(x, p, prefix, layer, training, stats):
    def cbn(h, conv, bn, stride, activation):
        w = np.asarray(p[prefix + conv + ".weight"], np.float64)
        y = conv2d(h, w, np.zeros(w.shape[0]), stride, block_pad(layer, w.shape[-1]))
        return act(batch_norm(y, p, prefix + bn + ".", training, stats), activation)

    y = cbn(x, "conv1", "bn1", layer.stride, "relu")
    y = cbn(y, "conv2", "bn2", 1, "identity")
    skip = cbn(x, "proj", "proj_bn", layer.stride, "identity") if layer.projects else x
    return np.maximum(y + skip, 0)


def layer_norm(x, p, prefix, layer):
    """Over the channel axis (1 of NCHW, the last of [N, C] and [N, T, C]), each
    sample's, position's or token's own statistics."""
    axis, shape = (1, (1, -1, 1, 1)) if x.ndim == 4 else (-1, (-1,))
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + layer.eps)
    return (xhat * np.asarray(p[prefix + "weight"], np.float64).reshape(shape)
            + np.asarray(p[prefix + "bias"], np.float64).reshape(shape))


def convnext_block(x, p, prefix, layer):
    def get(k):
        return np.asarray(p[prefix + k], np.float64)

    c = layer.channels
    y = conv2d(x, get("dwconv.weight"), get("dwconv.bias"), 1, block_pad(layer, 7), c)
    y = layer_norm(y, p, prefix + "norm.", type("LN", (), {"eps": 1e-6}))
    y = act(conv2d(y, get("pwconv1.weight"), get("pwconv1.bias"), 1, "same"), "gelu")
    y = conv2d(y, get("pwconv2.weight"), get("pwconv2.bias"), 1, "same")
    return x + y * get("layer_scale")[None]


def squeeze_excite(x, p, prefix, layer):
    def get(k):
        return np.asarray(p[prefix + k], np.float64)

    s = x.mean(axis=(2, 3))
    h = act(s @ get("fc1.weight")[:, :, 0, 0].T + get("fc1.bias"), layer.activation)
    z = h @ get("fc2.weight")[:, :, 0, 0].T + get("fc2.bias")
    gate = act(z, "hardsigmoid") if getattr(layer, "gate", "") == "hardsigmoid" else _sigmoid(z)
    return x * gate[:, :, None, None]


def mbconv(x, p, prefix, layer, training, stats):
    y, eps = x, getattr(layer, "eps", 1e-5)
    if layer.expand_ratio != 1:
        y = conv_bn(y, p, prefix + "expand.", 1, "same", "silu", training, stats, eps=eps)
    y = conv_bn(y, p, prefix + "depthwise.", layer.stride, block_pad(layer, layer.kernel_size),
                "silu", training, stats, groups=layer.hidden, eps=eps)
    se = type("SE", (), {"activation": "silu"})
    y = squeeze_excite(y, p, prefix + "se.", se)
    y = conv_bn(y, p, prefix + "project.", 1, "same", "identity", training, stats, eps=eps)
    return y + x if layer.adds_input else y


def inverted_residual(x, p, prefix, layer, training, stats):
    y = x
    if layer.expand_ratio != 1:
        y = conv_bn(y, p, prefix + "expand.", 1, "same", "relu6", training, stats)
    y = conv_bn(y, p, prefix + "depthwise.", layer.stride, block_pad(layer, 3), "relu6",
                training, stats, groups=layer.hidden)
    y = conv_bn(y, p, prefix + "project.", 1, "same", "identity", training, stats)
    return y + x if layer.adds_input else y


def softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention(x, p, prefix, layer):
    """timm's Attention: fused qkv, per head softmax(q k^T / sqrt(d)) v, proj."""
    def get(k):
        return np.asarray(p[prefix + k], np.float64)

    n, t, c = x.shape
    d = c // layer.heads
    qkv = (x @ get("qkv.weight") + get("qkv.bias")).reshape(n, t, 3, layer.heads, d)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))   # [N, H, T, D]
    weights = softmax(np.einsum("nhtd,nhsd->nhts", q, k) / math.sqrt(d))
    out = np.einsum("nhts,nhsd->nthd", weights, v).reshape(n, t, c)
    return out @ get("proj.weight") + get("proj.bias")


def vit_block(x, p, prefix, layer):
    def get(k):
        return np.asarray(p[prefix + k], np.float64)

    norm = type("LN", (), {"eps": layer.eps})
    x = x + attention(layer_norm(x, p, prefix + "norm1.", norm), p, prefix + "attn.", layer)
    h = act(layer_norm(x, p, prefix + "norm2.", norm) @ get("mlp.fc1.weight")
            + get("mlp.fc1.bias"), layer.activation)
    return x + h @ get("mlp.fc2.weight") + get("mlp.fc2.bias")


def residual(x, p, prefix, layer, training, stats):
    """The body's output plus the input (or the shortcut's output); sub-layers named
    as the layer names them."""
    outputs = {"body": x, "shortcut": x}
    for path, name, sub in layer._named():
        branch = path.split("[")[0]
        outputs[branch] = FORWARD[sub.kind](outputs[branch], sub, p, f"{prefix}{name}.",
                                            training, stats)
    return outputs["body"] + outputs["shortcut"]


def patch_embed(x, p, prefix, layer):
    w, b = (np.asarray(p[prefix + k], np.float64) for k in ("proj.weight", "proj.bias"))
    y = conv2d(x, w, b, layer.patch, "valid")
    return y.reshape(y.shape[0], y.shape[1], -1).transpose(0, 2, 1)


def _weights(params, prefix):
    return (np.asarray(params[prefix + k], np.float64) if prefix + k in params else None
            for k in ("weight", "bias"))


def _conv2d_layer(h, layer, params, prefix, training, stats):
    w, b = _weights(params, prefix)
    b = np.zeros(w.shape[0]) if b is None else b
    return act(conv2d(h, w, b, layer.stride, layer.padding, layer.groups),
               layer.activation)


def _dense_layer(h, layer, params, prefix, training, stats):
    w, b = _weights(params, prefix)
    return act(h @ w + (0 if b is None else b), layer.activation)


def composite(h, layer, params, prefix, training, stats):
    """A block made of parts (``layer.parts()``), each computed by its own reference."""
    for part in layer.parts():
        where = f"{prefix}{part.name}." if part.name else prefix
        h = FORWARD[part.kind](h, part, params, where, training, stats)
    return h


#: Each layer kind's float64 forward (``lm.LAYERS``): ``(h, layer, params, name prefix,
#: training, stats) -> h``.
FORWARD = {
    "conv2d": _conv2d_layer,
    "max_pool2d": lambda h, layer, *_: max_pool(h, layer.window, layer.stride, layer.padding),
    "avg_pool2d": lambda h, layer, *_: avg_pool(h, layer.window, layer.stride, layer.padding),
    "flatten": lambda h, *_: h.reshape(h.shape[0], -1),
    "dense": _dense_layer,
    "relu": lambda h, *_: np.maximum(h, 0),
    "batch_norm": lambda h, layer, params, prefix, training, stats: act(
        batch_norm(h, params, prefix, training, stats, layer.eps, layer.momentum),
        layer.activation),
    "conv_bn": lambda h, layer, params, prefix, training, stats: conv_bn(
        h, params, prefix, layer.stride, layer.padding, layer.activation, training, stats,
        layer.groups, layer.eps, layer.momentum),
    "global_avg_pool": lambda h, *_: h.mean(axis=(2, 3)),
    "residual_block": lambda h, layer, params, prefix, training, stats: residual_block(
        h, params, prefix, layer, training, stats),
    "inverted_residual": lambda h, layer, params, prefix, training, stats: inverted_residual(
        h, params, prefix, layer, training, stats),
    "squeeze_excite": lambda h, layer, params, prefix, *_: squeeze_excite(h, params, prefix,
                                                                          layer),
    "layer_norm": lambda h, layer, params, prefix, *_: layer_norm(h, params, prefix, layer),
    "layer_scale": lambda h, layer, params, prefix, *_: h * np.asarray(
        params[prefix + "gamma"], np.float64)[None],
    "convnext_block": lambda h, layer, params, prefix, *_: convnext_block(h, params, prefix,
                                                                          layer),
    "mbconv": lambda h, layer, params, prefix, training, stats: mbconv(
        h, params, prefix, layer, training, stats),
    "residual": lambda h, layer, params, prefix, training, stats: residual(
        h, params, prefix, layer, training, stats),
    "patch_embed": lambda h, layer, params, prefix, *_: patch_embed(h, params, prefix, layer),
    "class_token": lambda h, layer, params, prefix, *_: np.concatenate(
        [np.broadcast_to(np.asarray(params[prefix + "token"], np.float64),
                         (h.shape[0], 1, h.shape[2])), h], axis=1),
    "position_embedding": lambda h, layer, params, prefix, *_: h + np.asarray(
        params[prefix + "embedding"], np.float64),
    "attention": lambda h, layer, params, prefix, *_: attention(h, params, prefix, layer),
    "take_token": lambda h, layer, *_: h[:, layer.index],
    "vit_block": lambda h, layer, params, prefix, *_: vit_block(h, params, prefix, layer),
    "bottleneck": composite,
    "mobilenet_v3_block": composite,
    "fused_mbconv": composite,
    "uib": composite,
}


def forward(spec: lm.NetSpec, params: dict, x: np.ndarray, training: bool = False,
            stats: dict | None = None) -> np.ndarray:
    """Logits in float64. ``training``: batch norm uses the batch's statistics (and
    writes the new running ones into ``stats``)."""
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(spec.layers):
        h = FORWARD[layer.kind](h, layer, params, spec.layer_names[i] + ".", training, stats)
    return h


def cross_entropy(logits, y, smoothing=0.0):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    k = logits.shape[1]
    target = np.eye(k)[y] * (1 - smoothing) + smoothing / k
    return -(target * logp).sum() / len(y)


def loss(spec, params, x, y, smoothing=0.0):
    """The training loss (batch norm with the batch's statistics)."""
    return cross_entropy(forward(spec, params, x, training=True), y, smoothing)


def finite_difference_grads(spec, params, x, y, smoothing=0.0, eps=1e-6):
    """Central differences of the float64 loss, for every trainable parameter element."""
    p64 = {k: np.asarray(v, np.float64).copy() for k, v in params.items()}
    trainable = {p.name for p in spec.trainable_params}
    grads = {}
    for name, value in p64.items():
        if name not in trainable:
            continue
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
