"""The layers a network is made of: one frozen dataclass per kind, and the registry of kinds.

    lm.conv2d(1, 32, 3, padding="same", activation="relu")    # a Conv2d
    lm.LAYERS["conv2d"]                                       # its class

Each layer says what it checks in its arguments, which parameters it has
(name suffix, shape, init) and which netspec ops it builds; the dialect's
verifiers check the shapes when a :class:`~lean_mlir.NetSpec` is built.

Layouts (the same in IR, in ``init_params`` and in checkpoints):

* activations are NCHW; a network's input shape excludes the batch;
* ``conv2d`` weight ``[out_channels, in_channels, kh, kw]`` (OIHW, as in
  PyTorch), bias ``[out_channels]``;
* ``dense`` weight ``[in_features, out_features]`` (``y = x @ W + b``),
  bias ``[out_features]``;
* ``flatten`` is row-major over (C, H, W), as ``torch.flatten``;
* a token sequence is ``[N, T, C]`` (``tokens`` makes one of an NCHW
  activation, row-major over H, W); ``dense`` and ``layer_norm`` act on its
  last axis, as ``torch.nn.Linear`` and ``torch.nn.LayerNorm``;
* ``batch_norm`` has ``weight`` (scale) and ``bias`` (shift), and the
  non-trainable ``running_mean`` and ``running_var``, all ``[channels]``,
  named as in a PyTorch ``state_dict``. The running statistics are entries of
  the parameters dictionary like the others; they get no gradient and no
  optimizer update, a train step returns them updated, and
  :meth:`NetSpec.param_count` leaves them out (as PyTorch's ``parameters()``).

:data:`LAYERS` is the one list of kinds. What else knows a kind (the PyTorch
and JAX peers in :mod:`lean_mlir.bench`, the VJP rules ``lean-mlir explain``
titles its clusters with, the tests' float64 reference and random-network
generator) keys its table by ``kind``, and
``test/python/test_layer_registry.py`` names any table that lacks one. Adding
a kind means a class and a function here, its op and rules in C++, and an
entry in each of those tables.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from lean_mlir._errors import MLIRError
from lean_mlir._mlir import Location
from lean_mlir.dialects.netspec import ModelBuilder

__all__ = [
    "LAYERS", "Activation", "Attention", "AvgPool", "BatchNorm", "Bottleneck", "ClassToken",
    "Conv2d", "ConvBN", "ConvNeXtBlock", "Dense", "Flatten", "FusedMBConv", "GlobalAvgPool",
    "Init", "InvertedResidual", "Layer", "LayerNorm", "LayerScale", "MBConv", "MaxPool",
    "MobileNetV3Block", "Padding", "PatchEmbed", "PositionEmbedding", "ReLU", "Residual",
    "ResidualBlock", "SqueezeExcite", "SubLayerError", "TakeToken",
    "UniversalInvertedBottleneck", "ViTBlock", "attention", "avg_pool", "batch_norm",
    "block_pad", "bottleneck", "class_token", "conv2d", "conv_bn", "convnext_block", "dense",
    "flatten",
    "fused_mbconv", "global_avg_pool", "inverted_residual", "layer_from_dict", "layer_norm",
    "layer_scale", "layer_to_dict", "make_divisible", "max_pool", "mbconv",
    "mobilenet_v3_block", "patch_embed", "position_embedding", "relu", "residual",
    "residual_block", "squeeze_excite", "sub_layers", "take_token", "uib", "vit_block",
]


class _StrEnum(str, enum.Enum):
    """An enum whose members are also their string names (``Padding("same")``)."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | _StrEnum, what: str) -> _StrEnum:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in cls)
            raise ValueError(f"unknown {what} {value!r}; expected one of {choices}") from None


class Padding(_StrEnum):
    SAME = "same"
    VALID = "valid"
    EXPLICIT = "explicit"   # a layer keeps the counts instead (parse_padding)


class Activation(_StrEnum):
    """What a layer applies to its result (PyTorch's functions of the same names;
    ``gelu`` is the exact, erf form, PyTorch's default)."""

    IDENTITY = "identity"
    RELU = "relu"
    RELU6 = "relu6"
    SILU = "silu"
    GELU = "gelu"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    GELU_TANH = "gelu_tanh"     # gelu's tanh approximation (approximate="tanh")
    HARDSWISH = "hardswish"     # z relu6(z + 3) / 6 (MobileNetV3's)
    HARDSIGMOID = "hardsigmoid"     # relu6(z + 3) / 6


class Init(_StrEnum):
    HE_NORMAL = "he_normal"
    HE_UNIFORM = "he_uniform"
    GLOROT_UNIFORM = "glorot_uniform"
    ZEROS = "zeros"
    ONES = "ones"
    LAYER_SCALE = "layer_scale"     # every entry 1e-6 (ConvNeXt's layer scale)
    SMALL_NORMAL = "small_normal"   # N(0, 0.02^2): a vision transformer's, as timm's


def _caller_location() -> tuple[str, int]:
    """File and line of the user code that created a layer (skips this module)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    if frame is None:
        return ("<unknown>", 0)
    return (frame.f_code.co_filename, frame.f_lineno)


def positive_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {value!r}")  # noqa: TRY004
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")


@dataclass(frozen=True)
class Layer:
    """Base of all layers. ``name`` prefixes parameter names (default: kind_N)."""

    #: The layer's name in netspec IR and in saved networks (``NetSpec.to_dict``).
    kind: ClassVar[str] = "layer"
    #: The ``lean_mlir`` function that makes one (``lm.conv2d``).
    function: ClassVar[str] = "layer"
    name: str | None = field(default=None, kw_only=True)
    source: tuple[str, int] = field(default=("<unknown>", 0), kw_only=True, compare=False,
                                    repr=False)

    def check(self) -> None:
        """Raises ValueError if an argument is malformed (shapes are checked by the IR)."""

    def param_shapes(self) -> list[tuple]:
        """``(suffix, shape, init)`` or ``(suffix, shape, init, trainable)`` per parameter."""
        return []

    def build(self, b: ModelBuilder, x, params: list, loc: Location):
        raise NotImplementedError


def _bn_params(prefix: str, channels: int) -> list[tuple]:
    return [(f"{prefix}weight", (channels,), Init.ONES),
            (f"{prefix}bias", (channels,), Init.ZEROS),
            (f"{prefix}running_mean", (channels,), Init.ZEROS, False),
            (f"{prefix}running_var", (channels,), Init.ONES, False)]


BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1


def _check_conv(layer) -> None:
    for what in ("in_channels", "out_channels", "kernel_size", "stride", "groups"):
        positive_int(getattr(layer, what), what)
    if layer.in_channels % layer.groups or layer.out_channels % layer.groups:
        raise ValueError(f"groups={layer.groups} must divide in_channels={layer.in_channels} "
                         f"and out_channels={layer.out_channels}")


#: A convolution's padding: 'same', 'valid', or zeros per side (top, bottom, left, right).
ConvPadding = Padding | tuple[int, int, int, int]


def parse_padding(value) -> ConvPadding:
    """A convolution's padding as layers keep it: ``"same"``/``"valid"`` (a Padding),
    or PyTorch's counts: ``1`` (every side), ``(1, 2)`` (height, width) or
    ``(top, bottom, left, right)``, as a 4-tuple; ValueError saying what is wrong."""
    if isinstance(value, (str, Padding)):
        padding = Padding.parse(value, "padding")
        if padding is Padding.EXPLICIT:
            raise ValueError("padding='explicit' needs the counts: give padding=1, (1, 2) or "
                             "(top, bottom, left, right)")
        return padding
    counts = (value,) if isinstance(value, (int, np.integer)) else tuple(value) \
        if isinstance(value, (tuple, list)) else None
    if (counts is None or len(counts) not in (1, 2, 4)
            or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0
                   for c in counts)):
        raise ValueError(f"padding must be 'same', 'valid', or counts of zeros (an integer, "
                         f"(height, width) or (top, bottom, left, right), each >= 0), "
                         f"got {value!r}")
    if len(counts) == 1:
        counts *= 4
    elif len(counts) == 2:
        counts = (counts[0], counts[0], counts[1], counts[1])
    return tuple(int(c) for c in counts)


def padding_args(padding: ConvPadding) -> tuple[str, list[int] | None]:
    """The builder's padding mode and pads for a layer's padding."""
    if isinstance(padding, Padding):
        return padding.value, None
    return Padding.EXPLICIT.value, list(padding)


def _conv_weight(layer) -> tuple[int, ...]:
    """OIHW: ``[out, in / groups, k, k]``."""
    k = layer.kernel_size
    return (layer.out_channels, layer.in_channels // layer.groups, k, k)


@dataclass(frozen=True)
class Conv2d(Layer):
    kind: ClassVar[str] = "conv2d"
    function: ClassVar[str] = "conv2d"
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: ConvPadding = Padding.SAME
    activation: Activation = Activation.IDENTITY
    groups: int = 1
    bias: bool = True

    def __post_init__(self):
        object.__setattr__(self, "padding", parse_padding(self.padding))

    def check(self) -> None:
        _check_conv(self)
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")  # noqa: TRY004

    def param_shapes(self):
        shapes = [("weight", _conv_weight(self), Init.HE_NORMAL)]
        return shapes + ([("bias", (self.out_channels,), Init.ZEROS)] if self.bias else [])

    def build(self, b, x, params, loc):
        mode, pads = padding_args(self.padding)
        return b.conv2d(x, params[0], params[1] if self.bias else None, self.stride,
                        mode, self.activation.value, loc, groups=self.groups, pads=pads)


@dataclass(frozen=True)
class BatchNorm(Layer):
    kind: ClassVar[str] = "batch_norm"
    function: ClassVar[str] = "batch_norm"
    channels: int
    activation: Activation = Activation.IDENTITY
    eps: float = BN_EPSILON
    momentum: float = BN_MOMENTUM

    def check(self) -> None:
        positive_int(self.channels, "channels")
        _check_bn(self)

    def param_shapes(self):
        return _bn_params("", self.channels)

    def build(self, b, x, params, loc):
        return b.batch_norm(x, *params, float(self.eps), float(self.momentum),
                            self.activation.value, loc)


def _check_number(value, what: str, ok, want: str) -> None:
    """ValueError unless ``value`` is a number (not a bool) for which ``ok`` holds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not ok(value):
        raise ValueError(f"{what} must be {want}, got {value!r}")


def _check_bn(layer) -> None:
    """A batch norm's eps (> 0) and momentum (in [0, 1])."""
    _check_number(layer.eps, "eps", lambda v: v > 0, "positive")
    _check_number(layer.momentum, "momentum", lambda v: 0 <= v <= 1, "in [0, 1]")


def sub_layers(layer: Layer) -> list[Layer]:
    """Every layer inside ``layer`` (a residual's body and shortcut, a composite's parts),
    at any depth."""
    inner = (list(layer.body) + list(layer.shortcut or ()) if isinstance(layer, Residual)
             else layer.parts() if isinstance(layer, _Composite) else [])
    return [x for sub in inner for x in (sub, *sub_layers(sub))]


def _conv_bn(b, x, weight, bn, stride, padding, activation, loc, groups=1, eps=BN_EPSILON,
             momentum=BN_MOMENTUM):
    mode, pads = padding_args(Padding(padding) if isinstance(padding, str) else padding)
    y = b.conv2d(x, weight, None, stride, mode, "identity", loc, groups=groups, pads=pads)
    return b.batch_norm(y, *bn, float(eps), float(momentum), activation, loc)


#: How a block pads its convolutions: "same" (the book's: XLA's, the odd pixel after a
#: strided window) or "torch" (PyTorch's ``kernel // 2`` zeros on every side). They
#: differ only where a stride is: the shapes and parameters are the same.
BLOCK_PADDINGS = ("same", "torch")


def _check_block(layer, *counts: str) -> None:
    """A block's positive integer arguments ``counts`` and its padding."""
    for what in counts:
        positive_int(getattr(layer, what), what)
    _check_block_padding(layer.padding)


def _check_block_padding(padding) -> None:
    if padding not in BLOCK_PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(map(repr, BLOCK_PADDINGS))}, "
                         f"got {padding!r}")


def block_pad(padding: str, kernel: int):
    """A block's padding for a ``kernel x kernel`` convolution (see BLOCK_PADDINGS)."""
    return "same" if padding == "same" else (kernel // 2,) * 4


@dataclass(frozen=True)
class ConvBN(Layer):
    """A convolution without bias, batch norm, then the activation (the book's ``convBn``)."""

    kind: ClassVar[str] = "conv_bn"
    function: ClassVar[str] = "conv_bn"
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: ConvPadding = Padding.SAME
    activation: Activation = Activation.RELU
    groups: int = 1
    eps: float = BN_EPSILON
    momentum: float = BN_MOMENTUM

    def __post_init__(self):
        object.__setattr__(self, "padding", parse_padding(self.padding))

    def check(self) -> None:
        _check_conv(self)
        _check_bn(self)

    def param_shapes(self):
        return [("conv.weight", _conv_weight(self), Init.HE_NORMAL),
                *_bn_params("bn.", self.out_channels)]

    def build(self, b, x, params, loc):
        return _conv_bn(b, x, params[0], params[1:], self.stride, self.padding,
                        self.activation.value, loc, self.groups, self.eps, self.momentum)


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    kind: ClassVar[str] = "global_avg_pool"
    function: ClassVar[str] = "global_avg_pool"

    def build(self, b, x, params, loc):
        return b.global_avg_pool(x, loc)


@dataclass(frozen=True)
class ResidualBlock(Layer):
    """ResNet's basic block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + skip(x))``.

    Both convolutions are 3x3 without bias; ``conv1`` has the stride. The skip
    path is ``x`` itself, or a 1x1 strided convolution and batch norm
    (``proj``, ``proj_bn``) when the stride or the channel count changes.
    """

    kind: ClassVar[str] = "residual_block"
    function: ClassVar[str] = "residual_block"
    in_channels: int
    out_channels: int
    stride: int = 1
    padding: str = "same"

    def check(self) -> None:
        _check_block(self, "in_channels", "out_channels", "stride")

    @property
    def projects(self) -> bool:
        return self.stride != 1 or self.in_channels != self.out_channels

    def param_shapes(self):
        i, o = self.in_channels, self.out_channels
        shapes = [("conv1.weight", (o, i, 3, 3), Init.HE_NORMAL), *_bn_params("bn1.", o),
                  ("conv2.weight", (o, o, 3, 3), Init.HE_NORMAL), *_bn_params("bn2.", o)]
        if self.projects:
            shapes += [("proj.weight", (o, i, 1, 1), Init.HE_NORMAL),
                       *_bn_params("proj_bn.", o)]
        return shapes

    def build(self, b, x, params, loc):
        pad = block_pad(self.padding, 3)
        y = _conv_bn(b, x, params[0], params[1:5], self.stride, pad, "relu", loc)
        y = _conv_bn(b, y, params[5], params[6:10], 1, pad, "identity", loc)
        skip = x
        if self.projects:
            skip = _conv_bn(b, x, params[10], params[11:15], self.stride,
                            block_pad(self.padding, 1), "identity", loc)
        return b.relu(b.add(y, skip, loc), loc)


@dataclass(frozen=True)
class LayerNorm(Layer):
    """Layer normalisation over the channels: of each sample's ``[N, C]`` features,
    or of each position of an NCHW activation (ConvNeXt's ``LayerNorm2d``), with
    ``<name>.weight`` and ``<name>.bias`` ``[C]``."""

    kind: ClassVar[str] = "layer_norm"
    function: ClassVar[str] = "layer_norm"
    channels: int
    eps: float = 1e-5

    def check(self) -> None:
        positive_int(self.channels, "channels")
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or \
                not self.eps > 0:
            raise ValueError(f"eps must be a positive number, got {self.eps!r}")

    def param_shapes(self):
        return [("weight", (self.channels,), Init.ONES), ("bias", (self.channels,), Init.ZEROS)]

    def build(self, b, x, params, loc):
        return b.layer_norm(x, params[0], params[1], float(self.eps), loc)


@dataclass(frozen=True)
class LayerScale(Layer):
    """A learned factor per channel of an NCHW activation (ConvNeXt's layer scale):
    ``<name>.gamma`` ``[C, 1, 1]``, every entry 1e-6 at first."""

    kind: ClassVar[str] = "layer_scale"
    function: ClassVar[str] = "layer_scale"
    channels: int

    def check(self) -> None:
        positive_int(self.channels, "channels")

    def param_shapes(self):
        return [("gamma", (self.channels, 1, 1), Init.LAYER_SCALE)]

    def build(self, b, x, params, loc):
        return b.layer_scale(x, params[0], loc)


@dataclass(frozen=True)
class ConvNeXtBlock(Layer):
    """ConvNeXt's block (``torchvision.models.convnext.CNBlock``): a 7x7 depthwise
    convolution with bias (``dwconv``), layer norm over the channels (``norm``, eps
    1e-6), a 1x1 convolution to four times the channels with gelu (``pwconv1``; the
    block's pointwise Linear), a 1x1 convolution back (``pwconv2``), layer scale
    (``layer_scale``), and ``x`` added back (stochastic depth, which holds no
    parameters, is left out)."""

    kind: ClassVar[str] = "convnext_block"
    function: ClassVar[str] = "convnext_block"
    channels: int
    padding: str = "same"

    def check(self) -> None:
        positive_int(self.channels, "channels")
        _check_block_padding(self.padding)

    def param_shapes(self):
        c = self.channels
        return [("dwconv.weight", (c, 1, 7, 7), Init.HE_NORMAL), ("dwconv.bias", (c,), Init.ZEROS),
                ("norm.weight", (c,), Init.ONES), ("norm.bias", (c,), Init.ZEROS),
                ("pwconv1.weight", (4 * c, c, 1, 1), Init.HE_NORMAL),
                ("pwconv1.bias", (4 * c,), Init.ZEROS),
                ("pwconv2.weight", (c, 4 * c, 1, 1), Init.HE_NORMAL),
                ("pwconv2.bias", (c,), Init.ZEROS),
                ("layer_scale", (c, 1, 1), Init.LAYER_SCALE)]

    def build(self, b, x, params, loc):
        mode, pads = padding_args(parse_padding(block_pad(self.padding, 7)))
        y = b.conv2d(x, params[0], params[1], 1, mode, "identity", loc, groups=self.channels,
                     pads=pads)
        y = b.layer_norm(y, params[2], params[3], 1e-6, loc)
        y = b.conv2d(y, params[4], params[5], 1, "same", "gelu", loc)
        y = b.conv2d(y, params[6], params[7], 1, "same", "identity", loc)
        return b.add(b.layer_scale(y, params[8], loc), x, loc)


#: What a squeeze-and-excitation's gate may be.
SE_GATES = ("sigmoid", "hardsigmoid")


@dataclass(frozen=True)
class SqueezeExcite(Layer):
    """Squeeze-and-excitation (``torchvision.ops.SqueezeExcitation``): each channel's
    spatial mean, a 1x1 convolution to ``squeeze_channels`` (``fc1``), the activation,
    a 1x1 convolution back (``fc2``) and the ``gate`` ("sigmoid", or "hardsigmoid" as
    MobileNetV3's) give a factor per sample and channel, multiplied into the input."""

    kind: ClassVar[str] = "squeeze_excite"
    function: ClassVar[str] = "squeeze_excite"
    channels: int
    squeeze_channels: int
    activation: Activation = Activation.SILU
    gate: str = "sigmoid"

    def check(self) -> None:
        positive_int(self.channels, "channels")
        positive_int(self.squeeze_channels, "squeeze_channels")
        if self.gate not in SE_GATES:
            raise ValueError(f"gate must be one of {', '.join(map(repr, SE_GATES))}, "
                             f"got {self.gate!r}")

    def param_shapes(self):
        c, s = self.channels, self.squeeze_channels
        return [("fc1.weight", (s, c, 1, 1), Init.HE_NORMAL), ("fc1.bias", (s,), Init.ZEROS),
                ("fc2.weight", (c, s, 1, 1), Init.HE_NORMAL), ("fc2.bias", (c,), Init.ZEROS)]

    def build(self, b, x, params, loc):
        return b.squeeze_excite(x, *params, self.activation.value, loc,
                                hard_gate=self.gate == "hardsigmoid")


@dataclass(frozen=True)
class InvertedResidual(Layer):
    """MobileNetV2's block (``torchvision.models.mobilenetv2.InvertedResidual``): a 1x1
    convBn expanding to ``in_channels * expand_ratio`` channels (``expand``; none when
    the ratio is 1), a 3x3 depthwise convBn with the stride (``depthwise``), both
    relu6, and a 1x1 convBn without activation to ``out_channels`` (``project``);
    ``x`` is added back when the stride is 1 and the channels are kept.
    """

    kind: ClassVar[str] = "inverted_residual"
    function: ClassVar[str] = "inverted_residual"
    in_channels: int
    out_channels: int
    stride: int = 1
    expand_ratio: int = 6
    padding: str = "same"

    def check(self) -> None:
        _check_block(self, "in_channels", "out_channels", "stride", "expand_ratio")

    @property
    def hidden(self) -> int:
        return self.in_channels * self.expand_ratio

    @property
    def adds_input(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    def param_shapes(self):
        i, h, o = self.in_channels, self.hidden, self.out_channels
        shapes = []
        if self.expand_ratio != 1:
            shapes += [("expand.conv.weight", (h, i, 1, 1), Init.HE_NORMAL),
                       *_bn_params("expand.bn.", h)]
        return shapes + [("depthwise.conv.weight", (h, 1, 3, 3), Init.HE_NORMAL),
                         *_bn_params("depthwise.bn.", h),
                         ("project.conv.weight", (o, h, 1, 1), Init.HE_NORMAL),
                         *_bn_params("project.bn.", o)]

    def build(self, b, x, params, loc):
        y, rest = x, params
        if self.expand_ratio != 1:
            y = _conv_bn(b, y, rest[0], rest[1:5], 1, "same", "relu6", loc)
            rest = rest[5:]
        y = _conv_bn(b, y, rest[0], rest[1:5], self.stride, block_pad(self.padding, 3),
                     "relu6", loc, groups=self.hidden)
        y = _conv_bn(b, y, rest[5], rest[6:10], 1, "same", "identity", loc)
        return b.add(y, x, loc) if self.adds_input else y


@dataclass(frozen=True)
class MBConv(Layer):
    """EfficientNet's block (``torchvision.models.efficientnet.MBConv``): a 1x1 convBn
    expanding to ``in_channels * expand_ratio`` (``expand``; none when the ratio is
    1), a ``kernel_size`` depthwise convBn with the stride (``depthwise``), both silu,
    squeeze-and-excitation through ``max(1, in_channels // 4)`` channels (``se``,
    silu), and a 1x1 convBn without activation (``project``); ``x`` is added back
    when the stride is 1 and the channels are kept (stochastic depth, which holds
    no parameters, is left out)."""

    kind: ClassVar[str] = "mbconv"
    function: ClassVar[str] = "mbconv"
    in_channels: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    expand_ratio: int = 6
    padding: str = "same"
    eps: float = BN_EPSILON

    def check(self) -> None:
        _check_block(self, "in_channels", "out_channels", "kernel_size", "stride", "expand_ratio")
        _check_number(self.eps, "eps", lambda v: v > 0, "positive")

    @property
    def hidden(self) -> int:
        return self.in_channels * self.expand_ratio

    @property
    def squeeze_channels(self) -> int:
        return max(1, self.in_channels // 4)

    @property
    def adds_input(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    def param_shapes(self):
        i, h, o, k, s = (self.in_channels, self.hidden, self.out_channels, self.kernel_size,
                         self.squeeze_channels)
        shapes = []
        if self.expand_ratio != 1:
            shapes += [("expand.conv.weight", (h, i, 1, 1), Init.HE_NORMAL),
                       *_bn_params("expand.bn.", h)]
        return shapes + [("depthwise.conv.weight", (h, 1, k, k), Init.HE_NORMAL),
                         *_bn_params("depthwise.bn.", h),
                         ("se.fc1.weight", (s, h, 1, 1), Init.HE_NORMAL),
                         ("se.fc1.bias", (s,), Init.ZEROS),
                         ("se.fc2.weight", (h, s, 1, 1), Init.HE_NORMAL),
                         ("se.fc2.bias", (h,), Init.ZEROS),
                         ("project.conv.weight", (o, h, 1, 1), Init.HE_NORMAL),
                         *_bn_params("project.bn.", o)]

    def build(self, b, x, params, loc):
        y, rest = x, params
        eps = self.eps
        if self.expand_ratio != 1:
            y = _conv_bn(b, y, rest[0], rest[1:5], 1, "same", "silu", loc, eps=eps)
            rest = rest[5:]
        y = _conv_bn(b, y, rest[0], rest[1:5], self.stride,
                     block_pad(self.padding, self.kernel_size), "silu", loc, groups=self.hidden,
                     eps=eps)
        y = b.squeeze_excite(y, *rest[5:9], "silu", loc)
        y = _conv_bn(b, y, rest[9], rest[10:14], 1, "same", "identity", loc, eps=eps)
        return b.add(y, x, loc) if self.adds_input else y


@dataclass(frozen=True)
class _Pool(Layer):
    """What max and average pooling share: a square window, a stride, a padding."""

    window: int
    stride: int
    padding: int = 0

    def check(self) -> None:
        positive_int(self.window, "window")
        positive_int(self.stride, "stride")
        if (isinstance(self.padding, bool) or not isinstance(self.padding, (int, np.integer))
                or not 0 <= self.padding <= self.window // 2):
            raise ValueError(f"padding must be an integer from 0 to window // 2 = "
                             f"{self.window // 2}, got {self.padding!r}")


@dataclass(frozen=True)
class MaxPool(_Pool):
    """The max over each window, the padding -inf (``torch.nn.MaxPool2d``)."""

    kind: ClassVar[str] = "max_pool2d"
    function: ClassVar[str] = "max_pool"

    def build(self, b, x, params, loc):
        return b.max_pool2d(x, self.window, self.stride, loc, padding=self.padding)


@dataclass(frozen=True)
class AvgPool(_Pool):
    """The mean over each window, zeros of the padding counted (``torch.nn.AvgPool2d``)."""

    kind: ClassVar[str] = "avg_pool2d"
    function: ClassVar[str] = "avg_pool"

    def build(self, b, x, params, loc):
        return b.avg_pool2d(x, self.window, self.stride, loc, padding=self.padding)


@dataclass(frozen=True)
class Flatten(Layer):
    kind: ClassVar[str] = "flatten"
    function: ClassVar[str] = "flatten"

    def build(self, b, x, params, loc):
        return b.flatten(x, loc)


@dataclass(frozen=True)
class Dense(Layer):
    kind: ClassVar[str] = "dense"
    function: ClassVar[str] = "dense"
    in_features: int
    out_features: int
    activation: Activation = Activation.IDENTITY
    bias: bool = True

    def check(self) -> None:
        positive_int(self.in_features, "in_features")
        positive_int(self.out_features, "out_features")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")  # noqa: TRY004

    def param_shapes(self):
        shapes = [("weight", (self.in_features, self.out_features), Init.HE_NORMAL)]
        return shapes + ([("bias", (self.out_features,), Init.ZEROS)] if self.bias else [])

    def build(self, b, x, params, loc):
        return b.dense(x, params[0], params[1] if self.bias else None, self.activation.value,
                       loc)


@dataclass(frozen=True)
class ReLU(Layer):
    kind: ClassVar[str] = "relu"
    function: ClassVar[str] = "relu"

    def build(self, b, x, params, loc):
        return b.relu(x, loc)


class SubLayerError(ValueError):
    """A layer inside a composite one (a residual's body) failed to build: ``where``
    names it, ``cause`` is the dialect's error."""

    def __init__(self, where: str, cause: MLIRError | SubLayerError):
        super().__init__(where)
        self.where, self.cause = where, cause


def _sub_layers(layers, what: str) -> tuple[Layer, ...]:
    """A composite layer's list of layers as a tuple (dicts, as saved, made layers)."""
    if isinstance(layers, (Layer, str, bytes)) or not hasattr(layers, "__iter__"):
        raise ValueError(f"{what} must be a list of layers, got {layers!r}")
    out = tuple(layer_from_dict(x) if isinstance(x, dict) else x for x in layers)
    for i, layer in enumerate(out):
        if not isinstance(layer, Layer):
            raise ValueError(f"{what}[{i}] is {layer!r}, not a lean_mlir layer")  # noqa: TRY004
    return out


@dataclass(frozen=True)
class Residual(Layer):
    """Any skip connection: the ``body`` layers' output added to the input, or to the
    ``shortcut`` layers' output (both read the residual's input). Parameters are
    ``<name>.<sub-layer>.<suffix>``, a sub-layer named by its own ``name`` or
    ``<kind>_<i>`` (counted over the body, then the shortcut, whose names start
    ``shortcut.``)."""

    kind: ClassVar[str] = "residual"
    function: ClassVar[str] = "residual"
    body: tuple[Layer, ...]
    shortcut: tuple[Layer, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "body", _sub_layers(self.body, "body"))
        if self.shortcut is not None:
            object.__setattr__(self, "shortcut", _sub_layers(self.shortcut, "shortcut"))

    def _named(self) -> list[tuple[str, str, Layer]]:
        """(path, name, layer) of every sub-layer: path "body[i]" or "shortcut[i]"."""
        counters: dict[str, int] = {}
        out = []
        for path, layers, prefix in (("body", self.body, ""),
                                     ("shortcut", self.shortcut or (), "shortcut.")):
            for i, layer in enumerate(layers):
                auto = f"{layer.kind}_{counters.get(layer.kind, 0)}"
                counters[layer.kind] = counters.get(layer.kind, 0) + 1
                out.append((f"{path}[{i}]", prefix + (layer.name or auto), layer))
        return out

    def check(self) -> None:
        if not self.body:
            raise ValueError("a residual needs at least one body layer")
        seen: dict[str, str] = {}
        for path, name, layer in self._named():
            if name in seen:
                raise ValueError(f"{path} is named '{name}' like {seen[name]}")
            seen[name] = path
            try:
                layer.check()
            except ValueError as e:
                raise ValueError(f"{path} ({layer.kind} '{name}'): {e}") from None

    def param_shapes(self):
        return [(f"{name}.{suffix}", *rest) for _, name, layer in self._named()
                for suffix, *rest in layer.param_shapes()]

    def build(self, b, x, params, loc):
        outputs, rest = {"body": x, "shortcut": x}, list(params)
        for path, name, layer in self._named():
            branch = path.split("[")[0]
            count = len(layer.param_shapes())
            try:
                outputs[branch] = layer.build(b, outputs[branch], rest[:count], loc)
            except (MLIRError, SubLayerError) as e:
                raise SubLayerError(f"{path} ({layer.kind} '{name}')", e) from e
            rest = rest[count:]
        try:
            return b.add(outputs["body"], outputs["shortcut"], loc)
        except MLIRError as e:
            raise SubLayerError("the sum of body and shortcut", e) from e


@dataclass(frozen=True)
class PatchEmbed(Layer):
    """A vision transformer's patch embedding: a ``patch x patch`` convolution with
    stride ``patch`` to ``dim`` channels (``proj``: weight ``[dim, C, patch, patch]``,
    bias), then each position a token: ``[N, C, H, W] -> [N, H W / patch^2, dim]``."""

    kind: ClassVar[str] = "patch_embed"
    function: ClassVar[str] = "patch_embed"
    in_channels: int
    dim: int
    patch: int

    def check(self) -> None:
        for what in ("in_channels", "dim", "patch"):
            positive_int(getattr(self, what), what)

    def param_shapes(self):
        p = self.patch
        return [("proj.weight", (self.dim, self.in_channels, p, p), Init.HE_NORMAL),
                ("proj.bias", (self.dim,), Init.ZEROS)]

    def build(self, b, x, params, loc):
        y = b.conv2d(x, params[0], params[1], self.patch, "valid", "identity", loc)
        return b.tokens(y, loc)


@dataclass(frozen=True)
class ClassToken(Layer):
    """A learned token (``<name>.token``, ``[1, 1, dim]``) put before every sample's
    sequence: ``[N, T, dim] -> [N, T + 1, dim]``."""

    kind: ClassVar[str] = "class_token"
    function: ClassVar[str] = "class_token"
    dim: int

    def check(self) -> None:
        positive_int(self.dim, "dim")

    def param_shapes(self):
        return [("token", (1, 1, self.dim), Init.SMALL_NORMAL)]

    def build(self, b, x, params, loc):
        return b.class_token(x, params[0], loc)


@dataclass(frozen=True)
class PositionEmbedding(Layer):
    """A learned embedding (``<name>.embedding``, ``[1, tokens, dim]``) added to every
    sample's sequence."""

    kind: ClassVar[str] = "position_embedding"
    function: ClassVar[str] = "position_embedding"
    tokens: int
    dim: int

    def check(self) -> None:
        positive_int(self.tokens, "tokens")
        positive_int(self.dim, "dim")

    def param_shapes(self):
        return [("embedding", (1, self.tokens, self.dim), Init.SMALL_NORMAL)]

    def build(self, b, x, params, loc):
        return b.position_embedding(x, params[0], loc)


@dataclass(frozen=True)
class Attention(Layer):
    """Multi-head self-attention over a token sequence (timm's ``Attention``): a dense
    ``qkv`` projection to q, k and v (weight ``[dim, 3 dim]``), scaled dot-product
    attention per head (``netspec.attention``), a dense ``proj`` back (``[dim, dim]``).
    Weights N(0, 0.02^2), biases zero."""

    kind: ClassVar[str] = "attention"
    function: ClassVar[str] = "attention"
    dim: int
    heads: int

    def check(self) -> None:
        positive_int(self.dim, "dim")
        positive_int(self.heads, "heads")
        if self.dim % self.heads:
            raise ValueError(f"heads={self.heads} must divide dim={self.dim}")

    def param_shapes(self):
        d = self.dim
        return [("qkv.weight", (d, 3 * d), Init.SMALL_NORMAL), ("qkv.bias", (3 * d,), Init.ZEROS),
                ("proj.weight", (d, d), Init.SMALL_NORMAL), ("proj.bias", (d,), Init.ZEROS)]

    def build(self, b, x, params, loc):
        qkv = b.dense(x, params[0], params[1], "identity", loc)
        y = b.attention(qkv, self.heads, loc)
        return b.dense(y, params[2], params[3], "identity", loc)


@dataclass(frozen=True)
class TakeToken(Layer):
    """One token of every sample's sequence, ``[N, T, C] -> [N, C]``: token 0, the
    class token's, is what a vision transformer's head reads."""

    kind: ClassVar[str] = "take_token"
    function: ClassVar[str] = "take_token"
    index: int = 0

    def check(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, (int, np.integer)) \
                or self.index < 0:
            raise ValueError(f"index must be an integer >= 0, got {self.index!r}")

    def build(self, b, x, params, loc):
        return b.take_token(x, int(self.index), loc)


def make_divisible(value: float, divisor: int = 8) -> int:
    """A channel count rounded to a multiple of ``divisor``, never below 90% of
    ``value`` (torchvision's and timm's ``_make_divisible``)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class _Composite(Layer):
    """A block made of other layers (``parts``, in order): a part with a ``name`` holds
    its parameters under it, a residual under its sub-layers' names."""

    def parts(self) -> list[Layer]:
        raise NotImplementedError

    def check(self) -> None:
        for part in self.parts():
            try:
                part.check()
            except ValueError as e:
                raise ValueError(f"{part.name or part.kind}: {e}") from None

    def param_shapes(self):
        return [(f"{part.name}.{suffix}" if part.name else suffix, *rest)
                for part in self.parts() for suffix, *rest in part.param_shapes()]

    def build(self, b, x, params, loc):
        rest = list(params)
        for part in self.parts():
            count = len(part.param_shapes())
            x = part.build(b, x, rest[:count], loc)
            rest = rest[count:]
        return x


def _around(body: list[Layer], adds_input: bool) -> list[Layer]:
    """A block's layers, with its input added back when ``adds_input``."""
    return [Residual(tuple(body))] if adds_input else body


@dataclass(frozen=True)
class ViTBlock(_Composite):
    """A pre-norm transformer block (timm's ``vision_transformer.Block``) as two
    residuals: ``x + attn(norm1(x))``, then ``x + mlp.fc2(act(mlp.fc1(norm2(x))))``
    with ``mlp.fc1`` to ``mlp_dim`` channels. Layer norms eps ``eps``; linear
    weights N(0, 0.02^2). Dropout and stochastic depth hold no parameters and are
    left out. ``activation`` is "gelu" (exact) or "gelu_tanh"; a composite of two
    :class:`Residual` parts."""

    kind: ClassVar[str] = "vit_block"
    function: ClassVar[str] = "vit_block"
    dim: int
    heads: int
    mlp_dim: int
    eps: float = 1e-6
    activation: Activation = Activation.GELU

    def parts(self) -> list[Layer]:
        d = self.dim
        attention = Residual((LayerNorm(d, self.eps, name="norm1"),
                              Attention(d, self.heads, name="attn")))
        mlp = Residual((LayerNorm(d, self.eps, name="norm2"),
                        Dense(d, self.mlp_dim, self.activation, name="mlp.fc1"),
                        Dense(self.mlp_dim, d, name="mlp.fc2")))
        return [attention, mlp]

    def check(self) -> None:
        positive_int(self.mlp_dim, "mlp_dim")
        if self.activation not in (Activation.GELU, Activation.GELU_TANH):
            raise ValueError(f"activation must be 'gelu' or 'gelu_tanh', got "
                             f"{str(self.activation)!r}")
        super().check()

    def param_shapes(self):
        return [(name, shape, Init.SMALL_NORMAL if init is Init.HE_NORMAL else init, *rest)
                for name, shape, init, *rest in super().param_shapes()]


@dataclass(frozen=True)
class Bottleneck(_Composite):
    """ResNet-50's bottleneck block (torchvision's ``Bottleneck``, the stride on the 3x3):
    ``relu(conv3(conv2(conv1(x))) + shortcut(x))``, convBn 1x1 to ``width`` (``conv1``),
    3x3 with the stride (``conv2``), 1x1 to ``4 width`` (``conv3``, no activation); the
    shortcut a 1x1 strided convBn (``shortcut.proj``) when the shape changes."""

    kind: ClassVar[str] = "bottleneck"
    function: ClassVar[str] = "bottleneck"
    in_channels: int
    width: int
    stride: int = 1
    padding: str = "same"

    def check(self) -> None:
        _check_block(self, "in_channels", "width", "stride")
        super().check()

    def parts(self):
        i, w, s, pad = self.in_channels, self.width, self.stride, self.padding
        body = (ConvBN(i, w, 1, name="conv1"),
                ConvBN(w, w, 3, s, block_pad(pad, 3), name="conv2"),
                ConvBN(w, 4 * w, 1, activation=Activation.IDENTITY, name="conv3"))
        shortcut = None if s == 1 and i == 4 * w else (
            ConvBN(i, 4 * w, 1, s, block_pad(pad, 1), Activation.IDENTITY, name="proj"),)
        return [Residual(body, shortcut), ReLU()]


@dataclass(frozen=True)
class MobileNetV3Block(_Composite):
    """MobileNetV3's block (torchvision's ``InvertedResidual`` with its config): a 1x1
    convBn to ``expanded`` channels (``expand``; none when it keeps the channels), a
    ``kernel_size`` depthwise convBn with the stride (``depthwise``), both with the
    ``activation`` (relu or hardswish), squeeze-and-excitation through
    ``make_divisible(expanded / 4)`` channels with relu and a hardsigmoid gate (``se``,
    when ``se``), a 1x1 convBn to ``out_channels`` (``project``); ``x`` added back when
    the stride is 1 and the channels are kept. Batch norms eps 1e-3, momentum 0.01."""

    kind: ClassVar[str] = "mobilenet_v3_block"
    function: ClassVar[str] = "mobilenet_v3_block"
    in_channels: int
    expanded: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    se: bool = False
    activation: Activation = Activation.RELU
    padding: str = "same"

    def check(self) -> None:
        for what in ("in_channels", "expanded", "out_channels", "kernel_size", "stride"):
            positive_int(getattr(self, what), what)
        if not isinstance(self.se, bool):
            raise ValueError(f"se must be True or False, got {self.se!r}")  # noqa: TRY004
        _check_block_padding(self.padding)
        super().check()

    def parts(self):
        i, e, o, k, act = (self.in_channels, self.expanded, self.out_channels,
                           self.kernel_size, self.activation)
        bn = {"eps": 1e-3, "momentum": 0.01}
        body = [ConvBN(i, e, 1, activation=act, **bn, name="expand")] if e != i else []
        body.append(ConvBN(e, e, k, self.stride, block_pad(self.padding, k), act, e, **bn,
                           name="depthwise"))
        if self.se:
            body.append(SqueezeExcite(e, make_divisible(e // 4), Activation.RELU, "hardsigmoid",
                                      name="se"))
        body.append(ConvBN(e, o, 1, activation=Activation.IDENTITY, **bn, name="project"))
        return _around(body, self.stride == 1 and i == o)


@dataclass(frozen=True)
class FusedMBConv(_Composite):
    """EfficientNetV2's fused MBConv (torchvision's ``FusedMBConv``): a ``kernel_size``
    convBn with the stride to ``in_channels * expand_ratio`` (``expand``, silu), then a
    1x1 convBn to ``out_channels`` (``project``); with ratio 1 the one convolution goes
    straight to ``out_channels`` (``expand``, silu). No squeeze-and-excitation; ``x``
    added back when the stride is 1 and the channels are kept. Batch norms eps ``eps``.
    (torchvision asks whether the rounded expansion keeps the channels, which is ratio 1
    wherever the input is a multiple of 8, as in EfficientNetV2-S.)"""

    kind: ClassVar[str] = "fused_mbconv"
    function: ClassVar[str] = "fused_mbconv"
    in_channels: int
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    expand_ratio: int = 4
    padding: str = "same"
    eps: float = BN_EPSILON

    def check(self) -> None:
        _check_block(self, "in_channels", "out_channels", "kernel_size", "stride", "expand_ratio")
        super().check()

    def parts(self):
        i, o, k, eps = self.in_channels, self.out_channels, self.kernel_size, self.eps
        hidden = make_divisible(i * self.expand_ratio)
        pad = block_pad(self.padding, k)
        if self.expand_ratio == 1:
            body = [ConvBN(i, o, k, self.stride, pad, Activation.SILU, eps=eps, name="expand")]
        else:
            body = [ConvBN(i, hidden, k, self.stride, pad, Activation.SILU, eps=eps,
                           name="expand"),
                    ConvBN(hidden, o, 1, activation=Activation.IDENTITY, eps=eps,
                           name="project")]
        return _around(body, self.stride == 1 and i == o)


@dataclass(frozen=True)
class UniversalInvertedBottleneck(_Composite):
    """MobileNetV4's universal inverted bottleneck (timm's
    ``UniversalInvertedResidual``): an optional ``start_kernel`` depthwise convBn without
    activation (``dw_start``), a 1x1 convBn to ``make_divisible(in_channels *
    expand_ratio)`` with relu (``pw_exp``), an optional ``mid_kernel`` depthwise convBn
    with relu (``dw_mid``), a 1x1 convBn to ``out_channels`` (``pw_proj``). The stride is
    the middle depthwise's, else the start's. A kernel of 0 leaves that convolution out:
    both (ExtraDW), the middle only (the inverted bottleneck), the start only
    (ConvNeXt-like), neither (the feed-forward). ``x`` is added back when the stride is 1
    and the channels are kept."""

    kind: ClassVar[str] = "uib"
    function: ClassVar[str] = "uib"
    in_channels: int
    out_channels: int
    start_kernel: int = 3
    mid_kernel: int = 3
    expand_ratio: float = 4
    stride: int = 1
    padding: str = "same"

    def check(self) -> None:
        for what in ("in_channels", "out_channels", "stride"):
            positive_int(getattr(self, what), what)
        for what in ("start_kernel", "mid_kernel"):
            k = getattr(self, what)
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
                raise ValueError(f"{what} must be 0 (none) or a kernel size, got {k!r}")
        _check_number(self.expand_ratio, "expand_ratio", lambda v: v > 0, "positive")
        if self.stride != 1 and not (self.start_kernel or self.mid_kernel):
            raise ValueError("a strided universal inverted bottleneck needs a depthwise "
                             "convolution (start_kernel or mid_kernel)")
        _check_block_padding(self.padding)
        super().check()

    def parts(self):
        i, o, ks, km, s = (self.in_channels, self.out_channels, self.start_kernel,
                           self.mid_kernel, self.stride)
        hidden = make_divisible(i * self.expand_ratio)
        body = []
        if ks:
            body.append(ConvBN(i, i, ks, 1 if km else s, block_pad(self.padding, ks),
                               Activation.IDENTITY, i, name="dw_start"))
        body.append(ConvBN(i, hidden, 1, name="pw_exp"))
        if km:
            body.append(ConvBN(hidden, hidden, km, s, block_pad(self.padding, km),
                               groups=hidden, name="dw_mid"))
        body.append(ConvBN(hidden, o, 1, activation=Activation.IDENTITY, name="pw_proj"))
        return _around(body, s == 1 and i == o)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
           padding: str | Padding | int | tuple = "same",
           activation: str | Activation = "identity",
           *, groups: int = 1, bias: bool = True, name: str | None = None) -> Conv2d:
    """2-D convolution + bias + activation; weight OIHW ``[out, in / groups, k, k]``,
    He-normal init, zero bias. ``padding``: ``"same"`` (XLA's: with a stride, the odd
    pixel after), ``"valid"``, or PyTorch's counts of zeros: ``1``, ``(1, 2)``
    (height, width) or ``(top, bottom, left, right)``. ``groups`` convolves that many
    channel groups apart (``groups == in_channels == out_channels``: depthwise);
    ``bias=False`` has none."""
    return Conv2d(in_channels, out_channels, kernel_size, stride,
                  parse_padding(padding), Activation.parse(activation, "activation"),
                  groups, bias, name=name, source=_caller_location())


def max_pool(window: int, stride: int | None = None, padding: int = 0, *,
             name: str | None = None) -> MaxPool:
    """Max pooling over ``window x window`` patches; ``stride`` defaults to ``window``;
    ``padding`` pads every side with -inf, as ``torch.nn.MaxPool2d``'s."""
    return MaxPool(window, window if stride is None else stride, padding, name=name,
                   source=_caller_location())


def avg_pool(window: int, stride: int | None = None, padding: int = 0, *,
             name: str | None = None) -> AvgPool:
    """Average pooling over ``window x window`` patches; ``stride`` defaults to
    ``window``; ``padding`` pads every side with zeros, which count in the mean, as
    ``torch.nn.AvgPool2d``'s default."""
    return AvgPool(window, window if stride is None else stride, padding, name=name,
                   source=_caller_location())


def flatten(*, name: str | None = None) -> Flatten:
    """Flatten (C, H, W) to one feature axis, row-major."""
    return Flatten(name=name, source=_caller_location())


def dense(in_features: int, out_features: int, activation: str | Activation = "identity",
          *, bias: bool = True, name: str | None = None) -> Dense:
    """Fully connected layer ``act(x @ W + b)``; W is ``[in, out]``, He-normal init;
    ``bias=False`` has none."""
    return Dense(in_features, out_features, Activation.parse(activation, "activation"), bias,
                 name=name, source=_caller_location())


def relu(*, name: str | None = None) -> ReLU:
    """A standalone ReLU."""
    return ReLU(name=name, source=_caller_location())


def batch_norm(channels: int, activation: str | Activation = "identity", *,
               eps: float = BN_EPSILON, momentum: float = BN_MOMENTUM,
               name: str | None = None) -> BatchNorm:
    """Batch norm over N, H, W (or N), eps 1e-5 and momentum 0.1 unless told, as
    ``torch.nn.BatchNorm2d``."""
    return BatchNorm(channels, Activation.parse(activation, "activation"), eps, momentum,
                     name=name, source=_caller_location())


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
            padding: str | Padding | int | tuple = "same",
            activation: str | Activation = "relu", *, groups: int = 1,
            eps: float = BN_EPSILON, momentum: float = BN_MOMENTUM,
            name: str | None = None) -> ConvBN:
    """A convolution without bias (``padding`` and ``groups`` as :func:`conv2d`'s),
    then batch norm (``eps``, ``momentum`` as ``torch.nn.BatchNorm2d``'s), then the
    activation (``convBn``)."""
    return ConvBN(in_channels, out_channels, kernel_size, stride,
                  parse_padding(padding), Activation.parse(activation, "activation"),
                  groups, eps, momentum, name=name, source=_caller_location())


def inverted_residual(in_channels: int, out_channels: int, stride: int = 1,
                      expand_ratio: int = 6, *, padding: str = "same",
                      name: str | None = None) -> InvertedResidual:
    """MobileNetV2's inverted residual block (expand, depthwise, project; see
    :class:`InvertedResidual`); ``padding`` "same" or "torch" (BLOCK_PADDINGS)."""
    return InvertedResidual(in_channels, out_channels, stride, expand_ratio, padding,
                            name=name, source=_caller_location())


def layer_norm(channels: int, eps: float = 1e-5, *, name: str | None = None) -> LayerNorm:
    """Layer normalisation over ``channels`` (see :class:`LayerNorm`), as
    ``torch.nn.LayerNorm(channels, eps)`` over the channel axis."""
    return LayerNorm(channels, eps, name=name, source=_caller_location())


def layer_scale(channels: int, *, name: str | None = None) -> LayerScale:
    """A learned factor per channel, 1e-6 at first (see :class:`LayerScale`)."""
    return LayerScale(channels, name=name, source=_caller_location())


def convnext_block(channels: int, *, padding: str = "same",
                   name: str | None = None) -> ConvNeXtBlock:
    """ConvNeXt's block (see :class:`ConvNeXtBlock`); ``padding`` as BLOCK_PADDINGS (its
    7x7 convolution has stride 1, so both pad 3 on every side)."""
    return ConvNeXtBlock(channels, padding, name=name, source=_caller_location())


def squeeze_excite(channels: int, squeeze_channels: int,
                   activation: str | Activation = "silu", gate: str = "sigmoid", *,
                   name: str | None = None) -> SqueezeExcite:
    """Squeeze-and-excitation over ``channels`` through ``squeeze_channels`` (see
    :class:`SqueezeExcite`); parameters ``<name>.fc1.weight`` ``[S, C, 1, 1]``,
    ``.fc1.bias``, ``.fc2.weight`` ``[C, S, 1, 1]``, ``.fc2.bias``; ``gate``
    "sigmoid" or "hardsigmoid"."""
    return SqueezeExcite(channels, squeeze_channels, Activation.parse(activation, "activation"),
                         gate, name=name, source=_caller_location())


def mbconv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
           expand_ratio: int = 6, *, padding: str = "same", eps: float = BN_EPSILON,
           name: str | None = None) -> MBConv:
    """EfficientNet's MBConv block (expand, depthwise, squeeze-and-excitation,
    project; see :class:`MBConv`); ``padding`` "same" or "torch" (BLOCK_PADDINGS);
    ``eps`` its batch norms' (EfficientNetV2's 1e-3)."""
    return MBConv(in_channels, out_channels, kernel_size, stride, expand_ratio, padding, eps,
                  name=name, source=_caller_location())


def global_avg_pool(*, name: str | None = None) -> GlobalAvgPool:
    """``[N, C, H, W] -> [N, C]``: each channel's spatial mean."""
    return GlobalAvgPool(name=name, source=_caller_location())


def residual_block(in_channels: int, out_channels: int, stride: int = 1, *,
                   padding: str = "same", name: str | None = None) -> ResidualBlock:
    """ResNet's basic block (two 3x3 convBn, identity or projected skip, relu);
    ``padding`` "same" or "torch" (BLOCK_PADDINGS)."""
    return ResidualBlock(in_channels, out_channels, stride, padding, name=name,
                         source=_caller_location())


def residual(body, shortcut=None, *, name: str | None = None) -> Residual:
    """A skip connection: the ``body`` layers' output plus the input (or plus the
    ``shortcut`` layers' output). ``lm.residual([lm.layer_norm(192), lm.attention(192,
    3)])`` is a transformer's attention half; see :class:`Residual`."""
    return Residual(body, None if shortcut is None else shortcut, name=name,
                    source=_caller_location())


def patch_embed(in_channels: int, dim: int, patch: int, *,
                name: str | None = None) -> PatchEmbed:
    """``patch x patch`` patches of the image as ``dim``-channel tokens (see
    :class:`PatchEmbed`)."""
    return PatchEmbed(in_channels, dim, patch, name=name, source=_caller_location())


def class_token(dim: int, *, name: str | None = None) -> ClassToken:
    """A learned token put first in every sequence (see :class:`ClassToken`)."""
    return ClassToken(dim, name=name, source=_caller_location())


def position_embedding(tokens: int, dim: int, *,
                       name: str | None = None) -> PositionEmbedding:
    """A learned ``[1, tokens, dim]`` embedding added to the sequence."""
    return PositionEmbedding(tokens, dim, name=name, source=_caller_location())


def attention(dim: int, heads: int, *, name: str | None = None) -> Attention:
    """Multi-head self-attention with fused ``qkv`` and ``proj`` (see :class:`Attention`)."""
    return Attention(dim, heads, name=name, source=_caller_location())


def take_token(index: int = 0, *, name: str | None = None) -> TakeToken:
    """Token ``index`` of the sequence (0: the class token's output)."""
    return TakeToken(index, name=name, source=_caller_location())


def vit_block(dim: int, heads: int, mlp_dim: int, eps: float = 1e-6,
              activation: str | Activation = "gelu", *,
              name: str | None = None) -> ViTBlock:
    """A pre-norm transformer block: attention and an MLP, each a residual (see
    :class:`ViTBlock`)."""
    return ViTBlock(dim, heads, mlp_dim, eps, Activation.parse(activation, "activation"),
                    name=name, source=_caller_location())


def bottleneck(in_channels: int, width: int, stride: int = 1, *, padding: str = "same",
               name: str | None = None) -> Bottleneck:
    """ResNet-50's bottleneck block to ``4 width`` channels (see :class:`Bottleneck`)."""
    return Bottleneck(in_channels, width, stride, padding, name=name, source=_caller_location())


def mobilenet_v3_block(in_channels: int, expanded: int, out_channels: int,
                       kernel_size: int = 3, stride: int = 1, se: bool = False,
                       activation: str | Activation = "relu", *, padding: str = "same",
                       name: str | None = None) -> MobileNetV3Block:
    """MobileNetV3's block (expand, depthwise, optional hardsigmoid-gated
    squeeze-and-excitation, project; see :class:`MobileNetV3Block`)."""
    return MobileNetV3Block(in_channels, expanded, out_channels, kernel_size, stride, se,
                            Activation.parse(activation, "activation"), padding, name=name,
                            source=_caller_location())


def fused_mbconv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 expand_ratio: int = 4, *, padding: str = "same", eps: float = BN_EPSILON,
                 name: str | None = None) -> FusedMBConv:
    """EfficientNetV2's fused MBConv (a full convolution expands; see :class:`FusedMBConv`)."""
    return FusedMBConv(in_channels, out_channels, kernel_size, stride, expand_ratio, padding,
                       eps, name=name, source=_caller_location())


def uib(in_channels: int, out_channels: int, start_kernel: int = 3, mid_kernel: int = 3,
        expand_ratio: float = 4, stride: int = 1, *, padding: str = "same",
        name: str | None = None) -> UniversalInvertedBottleneck:
    """MobileNetV4's universal inverted bottleneck; a kernel of 0 leaves its depthwise
    convolution out (see :class:`UniversalInvertedBottleneck`)."""
    return UniversalInvertedBottleneck(in_channels, out_channels, start_kernel, mid_kernel,
                                       expand_ratio, stride, padding, name=name,
                                       source=_caller_location())


#: Every layer kind by its ``kind``, in the order the README introduces them.
LAYERS: dict[str, type[Layer]] = {cls.kind: cls for cls in (
    Conv2d, MaxPool, AvgPool, Flatten, Dense, ReLU, BatchNorm, ConvBN, GlobalAvgPool, ResidualBlock,
    InvertedResidual, SqueezeExcite, MBConv, LayerNorm, LayerScale, ConvNeXtBlock, Residual,
    PatchEmbed, ClassToken, PositionEmbedding, Attention, TakeToken, ViTBlock, Bottleneck,
    MobileNetV3Block, FusedMBConv, UniversalInvertedBottleneck)}


def layer_to_dict(layer: Layer) -> dict:
    """A layer as plain data (JSON-ready): its kind and its arguments."""
    entry = {"kind": layer.kind}
    for f in fields(layer):
        if f.name == "source" or (f.name == "name" and layer.name is None):
            continue
        value = getattr(layer, f.name)
        if isinstance(value, tuple) and value and isinstance(value[0], Layer):
            value = [layer_to_dict(sub) for sub in value]     # a residual's layers
        entry[f.name] = (value.value if isinstance(value, enum.Enum)
                         else list(value) if isinstance(value, tuple) else value)
    return entry


_ENUM_FIELDS = {"Padding": Padding, "Activation": Activation}


def layer_from_dict(entry: dict) -> Layer:
    """The inverse of :func:`layer_to_dict`; ValueError on an unknown kind, TypeError on
    arguments the kind does not take."""
    entry = dict(entry)
    kind = entry.pop("kind")
    if kind not in LAYERS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(LAYERS)}")
    layer_cls = LAYERS[kind]
    for f in fields(layer_cls):
        if f.name in entry and isinstance(f.type, str) and f.type in _ENUM_FIELDS:
            entry[f.name] = _ENUM_FIELDS[f.type](entry[f.name])
    return layer_cls(**entry)
