"""Benchmarks: the built-in networks on the CPU, lean-mlir against its peers, in one run.

For each model (by default every built-in network, batch 128) it times the
fused train step (plain SGD, as the book's config) and ``predict``, and says
how much resident host memory a call leaves behind:

* lean-mlir: the IREE module our passes derive, called the way the trainer
  calls it (parameters resident on the device, :class:`~lean_mlir.TrainStepper`);
  ``predict`` through :class:`~lean_mlir.Predictor`, its parameters bound at
  load (:func:`~lean_mlir.compiler.bind_parameters`) as an exported model runs
  it, and ``predict-args`` with the parameters passed at every call, as
  :func:`~lean_mlir.predict` passes them;
* PyTorch eager on the same network, weights, batch and thread count
  (optional: ``pip install torch==2.13.0``);
* JAX, ``jax.jit`` of the same step (optional; it also goes through StableHLO).

Systems are interleaved in rounds (these machines drift by 15% within
minutes), so every ratio compares figures taken side by side; it reports min
and median milliseconds, images/s, GFLOP/s and the fraction of the machine's
float32 GEMM peak, measured in the same run with a large NumPy matmul. FLOPs
are the ``netspec-model-summary`` forward count times the batch, times 3 for
a train step (forward, input and weight gradients), the usual estimate.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lean_mlir._host import cpu_name, gemm_peak_gflops, rss_mb
from lean_mlir.compiler import TARGETS, lower, to_numpy, tuned_choice
from lean_mlir.layers import block_pad
from lean_mlir.pipeline import run_pipeline
from lean_mlir.recipes import TrainConfig
from lean_mlir.runtime import Predictor, TrainStepper
from lean_mlir.spec import NetSpec
from lean_mlir.zoo import resolve

#: Each (model, function, system) is called for at least this long per round.
MIN_ROUND_SECONDS = 0.25

__all__ = ["Timing", "forward_flops_per_sample", "gemm_peak_gflops", "run_bench", "torch_model"]


@dataclass
class Timing:
    """One (model, function, system): milliseconds per call over the rounds."""

    model: str
    function: str
    system: str
    ms: list[float] = field(default_factory=list)
    flops: float = 0.0
    batch: int = 128
    #: Resident host memory a call left behind, on average (MB).
    kept_mb: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.ms)

    @property
    def best(self) -> float:
        return min(self.ms)

    def summary(self, peak_gflops: float) -> dict:
        gflops = self.flops / self.median / 1e6
        return {"model": self.model, "function": self.function, "system": self.system,
                "min_ms": round(self.best, 3), "median_ms": round(self.median, 3),
                "images_per_s": round(1000 * self.batch / self.median, 1),
                "gflops": round(gflops, 1), "peak_fraction": round(gflops / peak_gflops, 3),
                "kept_mb_per_call": round(self.kept_mb, 3), "ms": [round(m, 3) for m in self.ms]}


def forward_flops_per_sample(spec: NetSpec) -> int:
    """Forward FLOPs per sample as ``netspec-model-summary`` counts them."""
    module = spec.to_mlir()
    run_pipeline(module, "builtin.module(netspec-model-summary)", "model summary")
    model = next(op for op in module.operation.walk() if op.name == "netspec.model")
    return int(model.attributes["netspec.flops_per_sample"])


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- lean-mlir

#: The lean-mlir systems ``--lowerers`` chooses from: the backend each compiles for.
LOWERER_SYSTEMS = {"iree": ("lean-mlir", "llvm-cpu"), "xla": ("lean-mlir-xla", "xla")}


def _lean_mlir(model, spec, params, x, y, compile_times, backend="llvm-cpu"):
    """The functions lean-mlir runs for ``backend``, each lowered and compiled through
    the one pipeline (:func:`~lean_mlir.compiler.lower`) as the trainer compiles them,
    with the lowering and compile times recorded (compiled anew, not from the cache)."""
    cfg = TrainConfig(batch_size=len(x), backend=backend)
    system = next(name for name, b in LOWERER_SYSTEMS.values() if b == backend)
    for function, options, bind in (("train_step", cfg.lowering_options(), False),
                                    ("predict", {}, True), ("predict-args", {}, False)):
        lowered = lower(spec, function.removesuffix("-args"), len(x), backend, options,
                        bind_params=bind)
        start = time.perf_counter()
        text = lowered.text
        done = time.perf_counter()
        lowered.compile(cache=False)
        compile_times[(model, function, system)] = {
            "lower_s": round(done - start, 3),
            "compile_s": round(time.perf_counter() - done, 3), "stablehlo_chars": len(text)}
    stepper = TrainStepper(spec, params, {}, cfg)
    predictor = Predictor(spec, params, batch_size=len(x), backend=backend)
    module = lower(spec, "predict", len(x), backend).compile()
    predict_args, sig = module.function("predict"), module.signature
    args = sig.arguments(params=dict(zip(sig.params, module.to_device(
        [params[name] for name in sig.params]), strict=True)), images=x)
    return {"train_step": lambda: stepper.step(x, y, lr=0.1, step=0),
            "predict": lambda: predictor.predict(x),
            "predict-args": lambda: to_numpy(predict_args(*args))}


# --------------------------------------------------------------------------- PyTorch

def _torch_padding(kernel: int, stride: int, padding: str) -> int:
    """PyTorch's symmetric padding with the same output size as ours.

    For stride 1 and odd kernels it is the same padding; for stride 2 ours
    (XLA's) puts the odd pixel at the end, PyTorch's on both sides: the same
    sizes and work, so the timings compare (``exact_padding`` in
    :func:`torch_model` computes our function instead).
    """
    if padding == "valid":
        return 0
    if kernel % 2 == 0:
        raise NotImplementedError("bench: 'same' padding maps to PyTorch for odd kernels only")
    return kernel // 2


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Our (XLA's) 'same' padding of one axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _TorchParts:
    """What the PyTorch builders share: ``torch``, ``torch.nn``, the activations and a
    convolution that pads as asked (see :func:`torch_model`)."""

    def __init__(self, exact_padding: bool):
        import torch
        from torch import nn

        self.torch, self.nn, self.exact_padding = torch, nn, exact_padding

        class PaddedConv2d(nn.Conv2d):
            """A convolution after explicit (left, right, top, bottom) zero padding."""

            def __init__(self, *args, pads, **kwargs):
                super().__init__(*args, padding=0, **kwargs)
                self.pads = pads

            def forward(self, x):
                return super().forward(nn.functional.pad(x, self.pads))

        self.padded_conv2d = PaddedConv2d

    def act(self, activation) -> object:
        return ACTIVATIONS[str(activation)](self.nn)()

    def conv(self, i, o, k, stride, padding, size, bias=True, groups=1):
        nn = self.nn
        if isinstance(padding, tuple):   # counts of zeros: PyTorch's own padding
            top, bottom, left, right = padding
            if (top, left) != (bottom, right):
                return self.padded_conv2d(i, o, k, stride, bias=bias, groups=groups,
                                          pads=(left, right, top, bottom))
            return nn.Conv2d(i, o, k, stride, (top, left), bias=bias, groups=groups)
        if self.exact_padding and str(padding) == "same":
            (top, bottom), (left, right) = (_same_padding(d, k, stride) for d in size)
            if (top, left) != (bottom, right):
                return self.padded_conv2d(i, o, k, stride, bias=bias, groups=groups,
                                          pads=(left, right, top, bottom))
            return nn.Conv2d(i, o, k, stride, (top, left), bias=bias, groups=groups)
        return nn.Conv2d(i, o, k, stride, _torch_padding(k, stride, str(padding)), bias=bias,
                         groups=groups)

    def conv_bn(self, i, o, k, stride, padding, activation, size, groups=1, eps=1e-5,
                momentum=0.1):
        seq = self.nn.Sequential()
        seq.add_module("conv", self.conv(i, o, k, stride, padding, size, bias=False,
                                         groups=groups))
        seq.add_module("bn", self.nn.BatchNorm2d(o, eps=eps, momentum=momentum))
        seq.add_module("act", self.act(activation))
        return seq


def _torch_residual(t: _TorchParts, layer, shape):
    torch, nn = t.torch, t.nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            i, o, st = layer.in_channels, layer.out_channels, layer.stride
            self.conv1 = t.conv(i, o, 3, st, block_pad(layer.padding, 3), shape[1:],
                                bias=False)
            self.bn1 = nn.BatchNorm2d(o)
            self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(o)
            if layer.projects:
                self.proj = nn.Conv2d(i, o, 1, st, 0, bias=False)
                self.proj_bn = nn.BatchNorm2d(o)

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + (self.proj_bn(self.proj(x)) if layer.projects else x))

    return Residual()


def _torch_layer_norm(t: _TorchParts, layer, shape):
    nn = t.nn
    if len(shape) <= 2:     # [C] features or [T, C] tokens: the last axis
        return nn.LayerNorm(layer.channels, eps=layer.eps)

    class LayerNorm2d(nn.LayerNorm):
        """torchvision's ConvNeXt LayerNorm2d: over the channels of each position."""

        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    return LayerNorm2d(layer.channels, eps=layer.eps)


def _torch_layer_scale(t: _TorchParts, layer):
    torch, nn = t.torch, t.nn

    class LayerScale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gamma = nn.Parameter(torch.full((layer.channels, 1, 1), 1e-6))

        def forward(self, x):
            return x * self.gamma

    return LayerScale()


def _torch_convnext_block(t: _TorchParts, layer, shape):
    torch, nn = t.torch, t.nn
    c = layer.channels
    norm = type("LayerNormSpec", (), {"channels": c, "eps": 1e-6})

    class ConvNeXtBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.dwconv = t.conv(c, c, 7, 1, block_pad(layer.padding, 7), shape[1:], bias=True,
                                 groups=c)
            self.norm = _torch_layer_norm(t, norm, shape)
            self.pwconv1 = nn.Conv2d(c, 4 * c, 1)
            self.pwconv2 = nn.Conv2d(4 * c, c, 1)
            self.layer_scale = nn.Parameter(torch.full((c, 1, 1), 1e-6))

        def forward(self, x):
            y = self.pwconv2(nn.functional.gelu(self.pwconv1(self.norm(self.dwconv(x)))))
            return x + self.layer_scale * y

    return ConvNeXtBlock()


def _torch_squeeze_excite(t: _TorchParts, layer):
    torch, nn = t.torch, t.nn

    class SqueezeExcite(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Conv2d(layer.channels, layer.squeeze_channels, 1)
            self.fc2 = nn.Conv2d(layer.squeeze_channels, layer.channels, 1)
            self.act = t.act(layer.activation)

        def forward(self, x):
            gate = self.fc2(self.act(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
            hard = getattr(layer, "gate", "sigmoid") == "hardsigmoid"
            return x * (nn.functional.hardsigmoid(gate) if hard else torch.sigmoid(gate))

    return SqueezeExcite()


def _torch_mbconv(t: _TorchParts, layer, shape):
    nn = t.nn
    size = shape[1:]
    strided = [-(-d // layer.stride) for d in size]
    se = type("SqueezeExciteSpec", (), {"channels": layer.hidden, "activation": "silu",
                                        "squeeze_channels": layer.squeeze_channels})

    class MBConv(nn.Module):
        def __init__(self):
            super().__init__()
            i, h, o, k = layer.in_channels, layer.hidden, layer.out_channels, layer.kernel_size
            if layer.expand_ratio != 1:
                self.expand = t.conv_bn(i, h, 1, 1, "same", "silu", size, eps=layer.eps)
            eps = layer.eps
            self.depthwise = t.conv_bn(h, h, k, layer.stride, block_pad(layer.padding, k),
                                       "silu", size, groups=h, eps=eps)
            self.se = _torch_squeeze_excite(t, se)
            self.project = t.conv_bn(h, o, 1, 1, "same", "identity", strided, eps=eps)

        def forward(self, x):
            y = self.expand(x) if layer.expand_ratio != 1 else x
            y = self.project(self.se(self.depthwise(y)))
            return y + x if layer.adds_input else y

    return MBConv()


def _torch_inverted_residual(t: _TorchParts, layer, shape):
    nn = t.nn
    size = shape[1:]
    strided = [-(-d // layer.stride) for d in size]

    class InvertedResidual(nn.Module):
        def __init__(self):
            super().__init__()
            i, h, o = layer.in_channels, layer.hidden, layer.out_channels
            if layer.expand_ratio != 1:
                self.expand = t.conv_bn(i, h, 1, 1, "same", "relu6", size)
            self.depthwise = t.conv_bn(h, h, 3, layer.stride, block_pad(layer.padding, 3),
                                       "relu6", size, groups=h)
            self.project = t.conv_bn(h, o, 1, 1, "same", "identity", strided)

        def forward(self, x):
            y = self.expand(x) if layer.expand_ratio != 1 else x
            y = self.project(self.depthwise(y))
            return y + x if layer.adds_input else y

    return InvertedResidual()


def _torch_composite(t: _TorchParts, layer, shape):
    """A block of parts (``layer.parts()``): each part's peer in turn, a named part's
    under its name, a residual's sub-layers directly."""
    from lean_mlir.layers import Flatten
    from lean_mlir.spec import NetSpec

    nn = t.nn
    parts = layer.parts()
    alone = NetSpec(layer.kind, shape, [*parts, Flatten()])   # each part's input shape
    peers = [TORCH_LAYERS[part.kind](t, part, s)
             for part, s in zip(parts, [shape, *alone.layer_output_shapes], strict=False)]

    class Composite(nn.Module):
        def __init__(self):
            super().__init__()
            for i, (part, peer) in enumerate(zip(parts, peers, strict=True)):
                if part.name:
                    self.add_module(part.name, peer)
                else:   # a residual's sub-layers, or a part without parameters
                    children = list(peer.named_children()) or [(f"part{i}", peer)]
                    for name, child in children:
                        self.add_module(name, child)

        def forward(self, x):
            for peer in peers:
                x = peer(x)
            return x

    return Composite()


def _torch_residual_layer(t: _TorchParts, layer, shape):
    """``body(x) + shortcut(x)`` with each sub-layer's peer under its name (the
    shortcut's in a ``shortcut`` module)."""
    from lean_mlir.layers import Flatten
    from lean_mlir.spec import NetSpec

    nn = t.nn
    branches = {"body": nn.Sequential(), "shortcut": nn.Sequential()}
    names = iter(layer._named())
    for branch, layers in (("body", layer.body), ("shortcut", layer.shortcut or ())):
        if not layers:
            continue
        # The sub-layers' input shapes (a network ends in features: flattened).
        alone = NetSpec(branch, shape, [*layers, Flatten()])
        for sub, sub_shape in zip(layers, [shape, *alone.layer_output_shapes], strict=False):
            name = next(names)[1].removeprefix("shortcut.")
            branches[branch].add_module(name, TORCH_LAYERS[sub.kind](t, sub, sub_shape))

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            for name, module in branches["body"].named_children():
                self.add_module(name, module)
            self.shortcut = branches["shortcut"]

        def forward(self, x):
            return branches["body"](x) + self.shortcut(x)

    return Residual()


def _torch_patch_embed(t: _TorchParts, layer):
    nn = t.nn

    class PatchEmbed(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv2d(layer.in_channels, layer.dim, layer.patch, layer.patch)

        def forward(self, x):
            return self.proj(x).flatten(2).transpose(1, 2)

    return PatchEmbed()


def _torch_class_token(t: _TorchParts, layer):
    torch, nn = t.torch, t.nn

    class ClassToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.token = nn.Parameter(torch.zeros(1, 1, layer.dim))

        def forward(self, x):
            return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)

    return ClassToken()


def _torch_position_embedding(t: _TorchParts, layer):
    torch, nn = t.torch, t.nn

    class PositionEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Parameter(torch.zeros(1, layer.tokens, layer.dim))

        def forward(self, x):
            return x + self.embedding

    return PositionEmbedding()


def _torch_attention(t: _TorchParts, layer):
    """timm's ``Attention``, with PyTorch's fused scaled dot-product attention."""
    nn = t.nn
    d, heads = layer.dim, layer.heads

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)

        def forward(self, x):
            n, tokens, _ = x.shape
            q, k, v = self.qkv(x).reshape(n, tokens, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            y = nn.functional.scaled_dot_product_attention(q, k, v)
            return self.proj(y.transpose(1, 2).reshape(n, tokens, d))

    return Attention()


def _torch_take_token(t: _TorchParts, layer):
    nn = t.nn

    class TakeToken(nn.Module):
        def forward(self, x):
            return x[:, layer.index]

    return TakeToken()


def _torch_vit_block(t: _TorchParts, layer, shape):
    """timm's ``Block``: ``norm1``, ``attn``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``."""
    nn = t.nn
    d = layer.dim

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(d, eps=layer.eps)
            self.attn = _torch_attention(t, layer)
            self.norm2 = nn.LayerNorm(d, eps=layer.eps)
            self.mlp = nn.Sequential()
            self.mlp.add_module("fc1", nn.Linear(d, layer.mlp_dim))
            self.mlp.add_module("act", t.act(layer.activation))
            self.mlp.add_module("fc2", nn.Linear(layer.mlp_dim, d))

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    return Block()


#: The PyTorch peer of each layer kind (``lean_mlir.layers.LAYERS``):
#: ``(parts, layer, input shape per sample) -> nn.Module``, with our parameter
#: names as its ``state_dict`` names (a ``Sequential`` index aside).
TORCH_LAYERS: dict[str, Callable] = {
    "conv2d": lambda t, layer, shape: t.nn.Sequential(
        t.conv(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
               layer.padding, shape[1:], layer.bias, layer.groups), t.act(layer.activation)),
    "max_pool2d": lambda t, layer, shape: t.nn.MaxPool2d(layer.window, layer.stride,
                                                         layer.padding),
    "avg_pool2d": lambda t, layer, shape: t.nn.AvgPool2d(layer.window, layer.stride,
                                                         layer.padding),
    "flatten": lambda t, layer, shape: t.nn.Flatten(),
    "dense": lambda t, layer, shape: t.nn.Sequential(
        t.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias),
        t.act(layer.activation)),
    "relu": lambda t, layer, shape: t.nn.ReLU(),
    "batch_norm": lambda t, layer, shape: t.nn.Sequential(
        (t.nn.BatchNorm2d if len(shape) == 3 else t.nn.BatchNorm1d)(
            layer.channels, eps=layer.eps, momentum=layer.momentum),
        t.act(layer.activation)),
    "conv_bn": lambda t, layer, shape: t.conv_bn(
        layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
        layer.activation, shape[1:], layer.groups, layer.eps, layer.momentum),
    "global_avg_pool": lambda t, layer, shape: t.nn.Sequential(t.nn.AdaptiveAvgPool2d(1),
                                                               t.nn.Flatten()),
    "residual_block": _torch_residual,
    "inverted_residual": _torch_inverted_residual,
    "squeeze_excite": lambda t, layer, shape: _torch_squeeze_excite(t, layer),
    "mbconv": lambda t, layer, shape: _torch_mbconv(t, layer, shape),
    "layer_norm": lambda t, layer, shape: _torch_layer_norm(t, layer, shape),
    "layer_scale": lambda t, layer, shape: _torch_layer_scale(t, layer),
    "convnext_block": lambda t, layer, shape: _torch_convnext_block(t, layer, shape),
    "residual": lambda t, layer, shape: _torch_residual_layer(t, layer, shape),
    "patch_embed": lambda t, layer, shape: _torch_patch_embed(t, layer),
    "class_token": lambda t, layer, shape: _torch_class_token(t, layer),
    "position_embedding": lambda t, layer, shape: _torch_position_embedding(t, layer),
    "attention": lambda t, layer, shape: _torch_attention(t, layer),
    "take_token": lambda t, layer, shape: _torch_take_token(t, layer),
    "vit_block": lambda t, layer, shape: _torch_vit_block(t, layer, shape),
    "bottleneck": _torch_composite,
    "mobilenet_v3_block": _torch_composite,
    "fused_mbconv": _torch_composite,
    "uib": _torch_composite,
}


def torch_model(spec: NetSpec, params: dict[str, np.ndarray], exact_padding: bool = False):
    """The network as a PyTorch module whose ``state_dict`` names are ours.

    With ``exact_padding``, a strided 'same' convolution pads as ours does
    (the odd pixel after), so the module computes exactly our function (a
    reference); without, it pads symmetrically as a PyTorch user writes it
    (the benchmark's peer: the same sizes and work).
    """
    import torch

    parts = _TorchParts(exact_padding)
    net = torch.nn.Sequential()
    inputs = [spec.input_shape, *spec.layer_output_shapes]
    for name, layer, shape in zip(spec.layer_names, spec.layers, inputs, strict=False):
        if layer.kind not in TORCH_LAYERS:
            raise NotImplementedError(f"the PyTorch peer has no {layer.kind!r} layer ({name})")
        net.add_module(name, TORCH_LAYERS[layer.kind](parts, layer, shape))
    net.load_state_dict(_torch_state(net, params), strict=False)
    return net


def _torch_state(net, params: dict[str, np.ndarray]) -> dict:
    """Our parameters as ``net``'s state_dict. The names are the same but for the
    Sequential wrappers' index (``dense_0.0.weight``); dense weights are ``[in, out]``
    here and ``[out, in]`` in PyTorch."""
    import torch

    state = {}
    for key in net.state_dict():
        if key.endswith("num_batches_tracked"):
            continue
        ours = key.replace(".0.", ".")
        value = params[ours]
        if value.ndim == 2 and key.endswith(".weight"):
            value = value.T
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    return state


def _layer_param_names(spec: NetSpec) -> list[list[str]]:
    names, params = [], iter(spec.params)
    for layer in spec.layers:
        names.append([next(params).name for _ in layer.param_shapes()])
    return names


def _torch(spec, params, x, y, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    model = torch_model(spec, params)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        model.train()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    def predict():
        model.eval()
        with torch.no_grad():
            return model(xt).numpy()

    return {"train_step": step, "predict": predict}


# --------------------------------------------------------------------------- JAX

def _jax_conv2d(jax, layer, p, names, h):
    pad = ([tuple(layer.padding[:2]), tuple(layer.padding[2:])]
           if isinstance(layer.padding, tuple)
           else "SAME" if str(layer.padding) == "same" else "VALID")
    h = jax.lax.conv_general_dilated(h, p[names[0]], (layer.stride,) * 2, pad,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                     feature_group_count=layer.groups)
    return h + p[names[1]][None, :, None, None] if layer.bias else h


def _jax_avg_pool(jax, layer, p, names, h):
    k, s, p = layer.window, layer.stride, layer.padding
    total = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 1, k, k), (1, 1, s, s),
                                  ((0, 0), (0, 0), (p, p), (p, p)))
    return total / (k * k)


def _jax_max_pool(jax, layer, p, names, h):
    k, s, p = layer.window, layer.stride, layer.padding
    return jax.lax.reduce_window(h, -float("inf"), jax.lax.max, (1, 1, k, k), (1, 1, s, s),
                                 ((0, 0), (0, 0), (p, p), (p, p)))


#: The PyTorch module of each activation (``lean_mlir.layers.Activation``).
ACTIVATIONS: dict[str, Callable] = {
    "identity": lambda nn: nn.Identity,
    "relu": lambda nn: nn.ReLU,
    "relu6": lambda nn: nn.ReLU6,
    "silu": lambda nn: nn.SiLU,
    "gelu": lambda nn: nn.GELU,          # approximate="none": the erf form
    "gelu_tanh": lambda nn: lambda: nn.GELU(approximate="tanh"),
    "hardswish": lambda nn: nn.Hardswish,
    "hardsigmoid": lambda nn: nn.Hardsigmoid,
    "sigmoid": lambda nn: nn.Sigmoid,
    "tanh": lambda nn: nn.Tanh,
}

#: The JAX function of each activation.
JAX_ACTIVATIONS: dict[str, Callable] = {
    "identity": lambda jax, h: h,
    "relu": lambda jax, h: jax.nn.relu(h),
    "relu6": lambda jax, h: jax.nn.relu6(h),
    "silu": lambda jax, h: jax.nn.silu(h),
    "gelu": lambda jax, h: jax.nn.gelu(h, approximate=False),
    "gelu_tanh": lambda jax, h: jax.nn.gelu(h, approximate=True),
    "hardswish": lambda jax, h: jax.nn.hard_swish(h),
    "hardsigmoid": lambda jax, h: jax.nn.hard_sigmoid(h),
    "sigmoid": lambda jax, h: jax.nn.sigmoid(h),
    "tanh": lambda jax, h: jax.numpy.tanh(h),
}

#: The JAX peer of each layer kind (``lean_mlir.layers.LAYERS``):
#: ``(jax, layer, params, the layer's parameter names, h) -> h`` before the
#: layer's activation; None where the JAX peer does not model the kind (batch
#: statistics and the blocks made of them), and the model is then skipped.
JAX_LAYERS: dict[str, Callable | None] = {
    "conv2d": _jax_conv2d,
    "max_pool2d": _jax_max_pool,
    "avg_pool2d": _jax_avg_pool,
    "flatten": lambda jax, layer, p, names, h: h.reshape(h.shape[0], -1),
    "dense": lambda jax, layer, p, names, h: h @ p[names[0]] + (p[names[1]] if layer.bias
                                                                 else 0),
    "relu": lambda jax, layer, p, names, h: jax.nn.relu(h),
    "batch_norm": None,
    "conv_bn": None,
    "global_avg_pool": None,
    "residual_block": None,
    "inverted_residual": None,
    "squeeze_excite": None,
    "mbconv": None,
    "layer_norm": None,
    "layer_scale": None,
    "convnext_block": None,
    "residual": None,
    "patch_embed": None,
    "class_token": None,
    "position_embedding": None,
    "attention": None,
    "take_token": None,
    "vit_block": None,
    "bottleneck": None,
    "mobilenet_v3_block": None,
    "fused_mbconv": None,
    "uib": None,
}


def _jax(spec, params, x, y):
    import jax
    import jax.numpy as jnp

    names = _layer_param_names(spec)
    unsupported = sorted({layer.kind for layer in spec.layers
                          if JAX_LAYERS.get(layer.kind) is None})
    if unsupported:
        raise NotImplementedError(f"the JAX peer has no {', '.join(unsupported)}")

    def forward(p, xb):
        h = xb
        for layer, pn in zip(spec.layers, names, strict=True):
            h = JAX_LAYERS[layer.kind](jax, layer, p, pn, h)
            h = JAX_ACTIVATIONS[str(getattr(layer, "activation", "identity"))](jax, h)
        return h

    def loss_fn(p, xb, yb):
        logp = jax.nn.log_softmax(forward(p, xb))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    @jax.jit
    def step(p, xb, yb):
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), loss

    predict = jax.jit(forward)
    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def train():
        state["p"], loss = step(state["p"], xj, yj)
        return float(loss)

    return {"train_step": train,
            "predict": lambda: predict(state["p"], xj).block_until_ready()}


# --------------------------------------------------------------------------- driver

def _time_model(model: str, rounds: int, calls: int, batch: int, makers: list[str],
                threads: int, lowerers: tuple[str, ...] = ("iree",),
                log: Callable[[str], None] = print) -> dict:
    """Times one model's functions on every system, interleaved in rounds (in this process)."""
    rng = np.random.default_rng(0)
    spec = resolve(model)
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, spec.output_shape[0], batch).astype(np.int32)
    params = spec.init_params(0)
    compile_times: dict = {}
    skipped: dict[str, str] = {}
    runners = {}
    for lowerer in lowerers:
        system, backend = LOWERER_SYSTEMS[lowerer]
        runners[system] = _lean_mlir(model, spec, params, x, y, compile_times, backend)
    for peer in makers:
        try:
            runners[peer] = (_torch(spec, params, x, y, threads) if peer == "PyTorch"
                             else _jax(spec, params, x, y))
        except NotImplementedError as e:
            skipped[f"{peer} on {model}"] = str(e)
            log(f"  {peer} skipped on {model}: {e}")
    ms: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], int] = {}
    kept: dict[tuple[str, str], float] = {}     # resident MB the timed calls added
    for system, fns in runners.items():
        for function, fn in fns.items():
            fn()   # warm up: allocation, JIT
            # At least `calls` calls, and enough to take MIN_ROUND_SECONDS: a
            # millisecond-sized call timed a few times is mostly noise.
            counts[(function, system)] = max(
                calls, math.ceil(MIN_ROUND_SECONDS / max(_seconds(fn), 1e-6)))
            ms[(function, system)] = []
            kept[(function, system)] = 0.0
    peaks = []
    for r in range(rounds):
        peaks.append(gemm_peak_gflops())
        for system, fns in runners.items():
            for function, fn in fns.items():
                n = counts[(function, system)]
                before = rss_mb()
                seconds = _seconds(lambda fn=fn, n=n: [fn() for _ in range(n)])
                kept[(function, system)] += rss_mb() - before
                ms[(function, system)].append(1000 * seconds / n)
        log(f"  {model}: round {r + 1}/{rounds} done")
    kept_per_call = {key: mb / (rounds * counts[key]) for key, mb in kept.items()}
    return {"flops": forward_flops_per_sample(spec) * batch, "ms": ms, "counts": counts,
            "kept_mb": kept_per_call, "peaks": peaks, "skipped": skipped,
            "compile": compile_times, "tuned": _tuned(spec, batch)}


def _tuned(spec: NetSpec, batch: int) -> dict[str, str]:
    """What ``lean-mlir tune`` chose on this machine for the timed functions, if it did:
    lean-mlir's figures are those of the chosen forms and flags."""
    cfg = TrainConfig(batch_size=batch)
    found = {}
    for function, options, bind in (("train_step", cfg.lowering_options(), False),
                                    ("predict", {}, True)):
        choice = tuned_choice(spec, function, batch, "llvm-cpu",
                              {"target": TARGETS["llvm-cpu"], **options}, bind)
        if choice is not None:
            found[function] = choice.get("candidate", "tuned")
    return found


def _model_process(queue, *args) -> None:
    """Child-process entry: _time_model's result (or its error) and its log lines on ``queue``."""
    try:
        queue.put(("result", _time_model(*args, log=lambda line: queue.put(("log", line)))))
    except BaseException as e:   # noqa: BLE001 - reported to the parent, which raises
        import traceback

        queue.put(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def _in_own_process(model: str, args: tuple, log: Callable[[str], None]) -> dict:
    """Runs _time_model(model, *args) in a fresh process and returns its result.

    Each model gets its own process: what one model's modules leave behind in
    the runtime (their workspaces, the device's pools) must not slow the next
    model's calls, and the memory a call keeps is measured per model.
    """
    import multiprocessing as mp
    import queue as queue_module

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_model_process, args=(queue, model, *args), daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, value = queue.get(timeout=1.0)
            except queue_module.Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"bench: the process timing {model} died "
                                       f"(exit status {proc.exitcode})") from None
                continue
            if kind == "log":
                log(value)
            elif kind == "error":
                raise RuntimeError(f"bench: timing {model} failed: {value}")
            else:
                return value
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()


def run_bench(models: list[str], rounds: int = 5, calls: int = 5, batch: int = 128,
              log: Callable[[str], None] = print, peers: list[str] | None = None,
              lowerers: list[str] | None = None) -> dict:
    """Times every (model, function, system), interleaved in ``rounds`` of ``calls`` calls.

    Each model is timed in a process of its own; within it, the systems take
    turns round by round. ``lowerers`` are lean-mlir's (``["iree"]``, the default,
    and ``"xla"``: system ``lean-mlir-xla``); ``peers`` limits the peers
    (``["PyTorch"]``, ``["JAX"]``); by default every installed one. Returns the
    report (also what ``--json`` writes).
    """
    lowerers = tuple(lowerers or ("iree",))
    unknown = sorted(set(lowerers) - set(LOWERER_SYSTEMS))
    if unknown:
        raise ValueError(f"unknown lowerer {unknown[0]!r}; expected {sorted(LOWERER_SYSTEMS)}")
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    makers, versions, skipped = _peers(peers)
    if "xla" in lowerers:
        import importlib.metadata as md

        versions["jaxlib (lean-mlir-xla)"] = md.version("jaxlib")
    log(f"lean-mlir bench: batch {batch}, {threads} threads, {rounds} rounds of at least "
        f"{calls} calls and {MIN_ROUND_SECONDS} s each, {cpu_name()}; "
        "each model in a process of its own")
    for name, why in skipped.items():
        log(f"  {name} skipped: {why}")

    timings: dict[tuple[str, str, str], Timing] = {}
    counts: dict[tuple[str, str, str], int] = {}
    compile_times: dict = {}
    tuned: dict[str, str] = {}
    peaks: list[float] = []
    for model in models:
        result = _in_own_process(model, (rounds, calls, batch, makers, threads, lowerers), log)
        skipped.update(result["skipped"])
        compile_times.update(result["compile"])
        tuned.update({f"{model} {function}": choice
                      for function, choice in result["tuned"].items()})
        peaks += result["peaks"]
        for (function, system), ms in result["ms"].items():
            timings[(model, function, system)] = Timing(
                model, function, system, ms,
                flops=result["flops"] * (3 if function == "train_step" else 1), batch=batch,
                kept_mb=result["kept_mb"][(function, system)])
            counts[(model, function, system)] = result["counts"][(function, system)]
    peak = statistics.median(peaks)

    rows = [t.summary(peak) for t in timings.values()]
    ours = [LOWERER_SYSTEMS[lowerer][0] for lowerer in lowerers]
    ratios = _speedups(models, makers, timings, ours)
    report = {"batch": batch, "threads": threads, "rounds": rounds, "lowerers": list(lowerers),
              "calls_per_round": {"/".join(k): n for k, n in counts.items()},
              "gemm_peak_gflops": round(peak, 1), "versions": versions, "skipped": skipped,
              "results": rows, "speedups": ratios,
              "tuned": tuned,
              "compile": [{"model": m, "function": f, "system": system, **v}
                          for (m, f, system), v in compile_times.items()]}
    log(format_report(report))
    return report


def _peers(peers: list[str] | None) -> tuple[list[str], dict, dict]:
    """The peers to time (``peers``, default every installed one), the versions of
    what is timed, and why any peer is left out."""
    wanted = None if peers is None else {p.lower() for p in peers}
    makers, skipped = ["PyTorch", "JAX"], {}
    versions = {"numpy": np.__version__}
    for name, module in (("PyTorch", "torch"), ("JAX", "jax")):
        if wanted is not None and name.lower() not in wanted:
            skipped[name] = "not asked for (--peers)"
            makers.remove(name)
            continue
        try:
            versions[name] = __import__(module).__version__
        except ImportError:
            skipped[name] = f"{module} is not installed"
            makers.remove(name)
    return makers, versions, skipped


def _speedups(models: list[str], peers: list[str], timings: dict,
              ours: list[str] = ("lean-mlir",)) -> list[dict]:
    """Each lean-mlir system's speed over each peer's (and the XLA lowerer's over
    IREE's), per model and function, from medians and minima."""
    ratios = []
    for model in models:
        for function in ("train_step", "predict", "predict-args"):
            for system in ours:
                mine = timings[(model, function, system)]
                others = [*peers, *(s for s in ours if s != system and system == "lean-mlir-xla")]
                for peer in others:
                    theirs = timings.get((model, function if peer in ours
                                          else function.removesuffix("-args"), peer))
                    if theirs is None:
                        continue
                    ratios.append({"model": model, "function": function, "system": system,
                                   "peer": peer,
                                   "speedup_median": round(theirs.median / mine.median, 3),
                                   "speedup_min": round(theirs.best / mine.best, 3)})
    return ratios


def format_report(report: dict) -> str:
    """The report as the table ``lean-mlir bench`` prints."""
    lines = [(f"float32 GEMM peak (NumPy {report['versions']['numpy']}, same run): "
              f"{report['gemm_peak_gflops']:.0f} GFLOP/s"), "",
             (f"{'model':6} {'function':12} {'system':13} {'min ms':>8} {'median ms':>10} "
              f"{'images/s':>9} {'GFLOP/s':>8} {'of peak':>8} {'kept MB/call':>13}")]
    for r in report["results"]:
        lines.append(f"{r['model']:6} {r['function']:12} {r['system']:13} {r['min_ms']:8.1f} "
                     f"{r['median_ms']:10.1f} {r['images_per_s']:9.0f} {r['gflops']:8.1f} "
                     f"{100 * r['peak_fraction']:7.0f}% {r['kept_mb_per_call']:13.2f}")
    lines += ["", ("(lean-mlir predict: parameters bound at load, as an exported model runs; "
                   "predict-args: passed at every call; kept MB/call: the process's resident "
                   "memory growth over the timed calls, per call)"), ""]
    for s in report["speedups"]:
        lines.append(f"{s['model']} {s['function']}: {s.get('system', 'lean-mlir')} runs "
                     f"{s['speedup_median']:.2f}x the speed of {s['peer']} (medians; "
                     f"{s['speedup_min']:.2f}x on minima)")
    for what, choice in report.get("tuned", {}).items():
        lines.append(f"{what}: lean-mlir tune's choice on this machine: {choice}")
    for c in report["compile"]:
        lines.append(f"{c['model']} {c['function']} ({c.get('system', 'lean-mlir')}): "
                     f"lowered in {c['lower_s']:.2f} s "
                     f"({c['stablehlo_chars']:,} chars of StableHLO), compiled in "
                     f"{c['compile_s']:.1f} s")
    return "\n".join(lines)


def write_json(report: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")

