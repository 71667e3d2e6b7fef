"""The data-first network API: a network is a name, an input shape and a list of layers.

    import lean_mlir as lm
    cnn = lm.NetSpec("MNIST-CNN-noBN", input_shape=(1, 28, 28), layers=[
        lm.conv2d(1, 32, 3, padding="same", activation="relu"),
        lm.conv2d(32, 32, 3, padding="same", activation="relu"),
        lm.max_pool(2, 2),
        lm.flatten(),
        lm.dense(6272, 512, activation="relu"),
        lm.dense(512, 512, activation="relu"),
        lm.dense(512, 10, activation="identity"),
    ])
    cnn.param_count()        # 3489130
    module = cnn.to_mlir()   # a netspec module
    params = cnn.init_params(seed=0)

Construction builds the network as netspec IR, so the dialect's verifiers
check every shape; a mismatch raises :class:`SpecError` naming the layer
(index and kind) and what does not fit.

Layouts (the same in IR, in ``init_params`` and in checkpoints):

* activations are NCHW; the input shape excludes the batch;
* ``conv2d`` weight ``[out_channels, in_channels, kh, kw]`` (OIHW, as in
  PyTorch), bias ``[out_channels]``;
* ``dense`` weight ``[in_features, out_features]`` (``y = x @ W + b``),
  bias ``[out_features]``;
* ``flatten`` is row-major over (C, H, W), as ``torch.flatten``;
* ``batch_norm`` has ``weight`` (scale) and ``bias`` (shift), and the
  non-trainable ``running_mean`` and ``running_var``, all ``[channels]``,
  named as in a PyTorch ``state_dict``. The running statistics are entries of
  the parameters dictionary like the others; they get no gradient and no
  optimizer update, a train step returns them updated, and
  :meth:`NetSpec.param_count` leaves them out (as PyTorch's ``parameters()``).
"""

from __future__ import annotations

import enum
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from lean_mlir._errors import MLIRError, SpecError
from lean_mlir._mlir import Context, Location, Module
from lean_mlir.dialects.netspec import ModelBuilder

__all__ = [
    "Activation", "BatchNorm", "Conv2d", "ConvBN", "Dense", "Flatten", "GlobalAvgPool", "Init",
    "Layer", "MaxPool", "NetSpec", "Padding", "ParamSpec", "ReLU", "ResidualBlock", "SpecError",
    "batch_norm", "conv2d", "conv_bn", "dense", "flatten", "global_avg_pool", "max_pool", "relu",
    "residual_block",
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


class Activation(_StrEnum):
    IDENTITY = "identity"
    RELU = "relu"


class Init(_StrEnum):
    HE_NORMAL = "he_normal"
    HE_UNIFORM = "he_uniform"
    GLOROT_UNIFORM = "glorot_uniform"
    ZEROS = "zeros"
    ONES = "ones"


def _caller_location() -> tuple[str, int]:
    """File and line of the user code that created a layer (skips this module)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    if frame is None:
        return ("<unknown>", 0)
    return (frame.f_code.co_filename, frame.f_lineno)


def _positive_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {value!r}")  # noqa: TRY004
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its stable name, shape, init scheme and fans.

    ``trainable`` is False for state a layer updates itself (a batch norm's
    running statistics): no gradient, no optimizer update.
    """

    name: str
    shape: tuple[int, ...]
    init: Init
    layer_index: int
    trainable: bool = True

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def fans(self) -> tuple[int, int]:
        """(fan_in, fan_out): OIHW -> (I*kh*kw, O*kh*kw); [in, out] -> (in, out)."""
        s = self.shape
        if len(s) == 4:
            return (s[1] * s[2] * s[3], s[0] * s[2] * s[3])
        if len(s) == 2:
            return (s[0], s[1])
        return (self.size, self.size)


@dataclass(frozen=True)
class Layer:
    """Base of all layers. ``name`` prefixes parameter names (default: kind_N)."""

    kind: ClassVar[str] = "layer"
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


@dataclass(frozen=True)
class Conv2d(Layer):
    kind: ClassVar[str] = "conv2d"
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: Padding = Padding.SAME
    activation: Activation = Activation.IDENTITY

    def check(self) -> None:
        for what in ("in_channels", "out_channels", "kernel_size", "stride"):
            _positive_int(getattr(self, what), what)

    def param_shapes(self):
        k = self.kernel_size
        return [("weight", (self.out_channels, self.in_channels, k, k), Init.HE_NORMAL),
                ("bias", (self.out_channels,), Init.ZEROS)]

    def build(self, b, x, params, loc):
        return b.conv2d(x, params[0], params[1], self.stride, self.padding.value,
                        self.activation.value, loc)


@dataclass(frozen=True)
class BatchNorm(Layer):
    kind: ClassVar[str] = "batch_norm"
    channels: int
    activation: Activation = Activation.IDENTITY

    def check(self) -> None:
        _positive_int(self.channels, "channels")

    def param_shapes(self):
        return _bn_params("", self.channels)

    def build(self, b, x, params, loc):
        return b.batch_norm(x, *params, BN_EPSILON, BN_MOMENTUM, self.activation.value, loc)


def _conv_bn(b, x, weight, bn, stride, padding, activation, loc):
    y = b.conv2d(x, weight, None, stride, padding, "identity", loc)
    return b.batch_norm(y, *bn, BN_EPSILON, BN_MOMENTUM, activation, loc)


@dataclass(frozen=True)
class ConvBN(Layer):
    """A convolution without bias, batch norm, then the activation (the book's ``convBn``)."""

    kind: ClassVar[str] = "conv_bn"
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: Padding = Padding.SAME
    activation: Activation = Activation.RELU

    def check(self) -> None:
        for what in ("in_channels", "out_channels", "kernel_size", "stride"):
            _positive_int(getattr(self, what), what)

    def param_shapes(self):
        k = self.kernel_size
        return [("conv.weight", (self.out_channels, self.in_channels, k, k), Init.HE_NORMAL),
                *_bn_params("bn.", self.out_channels)]

    def build(self, b, x, params, loc):
        return _conv_bn(b, x, params[0], params[1:], self.stride, self.padding.value,
                        self.activation.value, loc)


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    kind: ClassVar[str] = "global_avg_pool"

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
    in_channels: int
    out_channels: int
    stride: int = 1

    def check(self) -> None:
        for what in ("in_channels", "out_channels", "stride"):
            _positive_int(getattr(self, what), what)

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
        y = _conv_bn(b, x, params[0], params[1:5], self.stride, "same", "relu", loc)
        y = _conv_bn(b, y, params[5], params[6:10], 1, "same", "identity", loc)
        skip = x
        if self.projects:
            skip = _conv_bn(b, x, params[10], params[11:15], self.stride, "same", "identity",
                            loc)
        return b.relu(b.add(y, skip, loc), loc)


@dataclass(frozen=True)
class MaxPool(Layer):
    kind: ClassVar[str] = "max_pool2d"
    window: int
    stride: int

    def check(self) -> None:
        _positive_int(self.window, "window")
        _positive_int(self.stride, "stride")

    def build(self, b, x, params, loc):
        return b.max_pool2d(x, self.window, self.stride, loc)


@dataclass(frozen=True)
class Flatten(Layer):
    kind: ClassVar[str] = "flatten"

    def build(self, b, x, params, loc):
        return b.flatten(x, loc)


@dataclass(frozen=True)
class Dense(Layer):
    kind: ClassVar[str] = "dense"
    in_features: int
    out_features: int
    activation: Activation = Activation.IDENTITY

    def check(self) -> None:
        _positive_int(self.in_features, "in_features")
        _positive_int(self.out_features, "out_features")

    def param_shapes(self):
        return [("weight", (self.in_features, self.out_features), Init.HE_NORMAL),
                ("bias", (self.out_features,), Init.ZEROS)]

    def build(self, b, x, params, loc):
        return b.dense(x, params[0], params[1], self.activation.value, loc)


@dataclass(frozen=True)
class ReLU(Layer):
    kind: ClassVar[str] = "relu"

    def build(self, b, x, params, loc):
        return b.relu(x, loc)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
           padding: str | Padding = "same", activation: str | Activation = "identity",
           *, name: str | None = None) -> Conv2d:
    """2-D convolution + bias + activation; weight OIHW, He-normal init, zero bias."""
    return Conv2d(in_channels, out_channels, kernel_size, stride,
                  Padding.parse(padding, "padding"), Activation.parse(activation, "activation"),
                  name=name, source=_caller_location())


def max_pool(window: int, stride: int | None = None, *, name: str | None = None) -> MaxPool:
    """Max pooling over ``window x window`` patches; ``stride`` defaults to ``window``."""
    return MaxPool(window, window if stride is None else stride, name=name,
                   source=_caller_location())


def flatten(*, name: str | None = None) -> Flatten:
    """Flatten (C, H, W) to one feature axis, row-major."""
    return Flatten(name=name, source=_caller_location())


def dense(in_features: int, out_features: int, activation: str | Activation = "identity",
          *, name: str | None = None) -> Dense:
    """Fully connected layer ``act(x @ W + b)``; W is ``[in, out]``, He-normal init."""
    return Dense(in_features, out_features, Activation.parse(activation, "activation"),
                 name=name, source=_caller_location())


def relu(*, name: str | None = None) -> ReLU:
    """A standalone ReLU."""
    return ReLU(name=name, source=_caller_location())


def batch_norm(channels: int, activation: str | Activation = "identity", *,
               name: str | None = None) -> BatchNorm:
    """Batch norm over N, H, W (or N), eps 1e-5, momentum 0.1, as ``torch.nn.BatchNorm2d``."""
    return BatchNorm(channels, Activation.parse(activation, "activation"), name=name,
                     source=_caller_location())


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
            padding: str | Padding = "same", activation: str | Activation = "relu", *,
            name: str | None = None) -> ConvBN:
    """A convolution without bias, then batch norm, then the activation (``convBn``)."""
    return ConvBN(in_channels, out_channels, kernel_size, stride,
                  Padding.parse(padding, "padding"), Activation.parse(activation, "activation"),
                  name=name, source=_caller_location())


def global_avg_pool(*, name: str | None = None) -> GlobalAvgPool:
    """``[N, C, H, W] -> [N, C]``: each channel's spatial mean."""
    return GlobalAvgPool(name=name, source=_caller_location())


def residual_block(in_channels: int, out_channels: int, stride: int = 1, *,
                   name: str | None = None) -> ResidualBlock:
    """ResNet's basic block (two 3x3 convBn, identity or projected skip, relu)."""
    return ResidualBlock(in_channels, out_channels, stride, name=name,
                         source=_caller_location())


_LAYER_KINDS = (Conv2d, MaxPool, Flatten, Dense, ReLU, BatchNorm, ConvBN, GlobalAvgPool,
                ResidualBlock)


def _strip_op_prefix(message: str) -> str:
    # Dialect messages start with "'netspec.conv2d' op "; the layer is named already.
    if message.startswith("'netspec.") and "' op " in message:
        return message.split("' op ", 1)[1]
    return message


class NetSpec:
    """A network: ``name``, per-sample ``input_shape`` and a list of ``layers``."""

    def __init__(self, name: str, input_shape: Sequence[int], layers: Sequence[Layer]):
        if not isinstance(name, str) or not name:
            raise SpecError(f"network name must be a non-empty string, got {name!r}")
        shape = tuple(input_shape)
        try:
            for i, d in enumerate(shape):
                _positive_int(d, f"input_shape[{i}]")
        except ValueError as e:
            raise SpecError(f"{name}: {e}") from None
        if not shape:
            raise SpecError(f"{name}: input_shape must have at least one dimension")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise SpecError(f"{name}: layer {i} is {layer!r}, not a lean_mlir layer "
                                f"(use lm.conv2d, lm.max_pool, lm.flatten, lm.dense, lm.relu, "
                                f"lm.batch_norm, lm.conv_bn, lm.global_avg_pool, "
                                f"lm.residual_block)", i, None)
        if not layers:
            raise SpecError(f"{name}: a network needs at least one layer")
        self.name = name
        self.input_shape = tuple(int(d) for d in shape)
        self.layers = tuple(layers)
        self.params: list[ParamSpec] = []
        self.layer_names: list[str] = []
        self.layer_output_shapes: list[tuple[int, ...]] = []
        self._fingerprint: str | None = None
        # Building the IR once here runs every verifier now, at construction.
        self._build(Context(), record=True)

    # -- public API ---------------------------------------------------------

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Per-sample shape of the logits."""
        return self.layer_output_shapes[-1]

    def param_count(self) -> int:
        """Number of trainable scalar parameters (running statistics are not counted)."""
        return sum(p.size for p in self.params if p.trainable)

    @property
    def trainable_params(self) -> list[ParamSpec]:
        """The parameters the optimizer updates, in declaration order."""
        return [p for p in self.params if p.trainable]

    def to_mlir(self, context: Context | None = None) -> Module:
        """The network as a netspec module (a new one per call)."""
        if context is None:
            context = Context.current or Context()
        return self._build(context, record=False)

    def to_dict(self) -> dict:
        """The network as plain data (JSON-ready): name, input shape, layers."""
        layers = []
        for layer in self.layers:
            entry = {"kind": layer.kind}
            for f in fields(layer):
                if f.name == "source" or (f.name == "name" and layer.name is None):
                    continue
                value = getattr(layer, f.name)
                entry[f.name] = value.value if isinstance(value, enum.Enum) else value
            layers.append(entry)
        return {"name": self.name, "input_shape": list(self.input_shape), "layers": layers}

    @classmethod
    def from_dict(cls, data: dict) -> NetSpec:
        """The inverse of :meth:`to_dict`; raises SpecError on malformed data."""
        kinds = {c.kind: c for c in _LAYER_KINDS}
        try:
            layers = []
            for i, entry in enumerate(data["layers"]):
                entry = dict(entry)
                kind = entry.pop("kind")
                if kind not in kinds:
                    raise SpecError(f"layer {i}: unknown kind {kind!r}; expected one of "
                                    f"{sorted(kinds)}")
                layer_cls = kinds[kind]
                for f in fields(layer_cls):
                    if f.name in entry and isinstance(f.type, str) and f.type in (
                            "Padding", "Activation"):
                        entry[f.name] = {"Padding": Padding,
                                         "Activation": Activation}[f.type](entry[f.name])
                layers.append(layer_cls(**entry))
            return cls(data["name"], data["input_shape"], layers)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, SpecError):
                raise
            raise SpecError(f"not a network description: {e}") from e

    def train(self, cfg, data_dir=None, *, dataset: str = "mnist", backend: str | None = None,
              run_dir=None, resume: bool = False, train_limit: int | None = None,
              progress: bool = True):
        """Trains this network (see :func:`lean_mlir.trainer.train`); returns a TrainResult.

        ``data_dir=None`` is the data set's default cache, filled first if empty.
        """
        from lean_mlir.trainer import train

        return train(self, cfg, data_dir, dataset=dataset, backend=backend, run_dir=run_dir,
                     resume=resume, train_limit=train_limit, progress=progress)

    def fingerprint(self) -> str:
        """SHA-256 of the network's netspec IR: equal networks, equal fingerprints."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha256(str(self.to_mlir()).encode()).hexdigest()
        return self._fingerprint

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh float32 parameters by name, in declaration order.

        He-normal: N(0, 2 / fan_in); He-uniform: U(+-sqrt(6 / fan_in));
        Glorot-uniform: U(+-sqrt(6 / (fan_in + fan_out))); biases zero. The same
        seed gives the same parameters.
        """
        rng = np.random.default_rng(seed)
        out: dict[str, np.ndarray] = {}
        for p in self.params:
            fan_in, fan_out = p.fans
            if p.init is Init.HE_NORMAL:
                value = rng.normal(0.0, np.sqrt(2.0 / fan_in), p.shape)
            elif p.init is Init.HE_UNIFORM:
                bound = np.sqrt(6.0 / fan_in)
                value = rng.uniform(-bound, bound, p.shape)
            elif p.init is Init.GLOROT_UNIFORM:
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                value = rng.uniform(-bound, bound, p.shape)
            elif p.init is Init.ZEROS:
                value = np.zeros(p.shape)
            else:
                value = np.ones(p.shape)
            out[p.name] = np.ascontiguousarray(value, dtype=np.float32)
        return out

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        rows = [f"{self.name}: input {'x'.join(map(str, self.input_shape))}"]
        for i, layer in enumerate(self.layers):
            n = sum(p.size for p in self.params if p.layer_index == i and p.trainable)
            shape = "x".join(map(str, self.layer_output_shapes[i]))
            rows.append(f"  {i:>2} {self.layer_names[i]:<18} {shape:<12} {n:>10,} params")
        rows.append(f"  total {self.param_count():,} parameters")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return (f"NetSpec({self.name!r}, input_shape={self.input_shape}, "
                f"layers={len(self.layers)}, params={self.param_count()})")

    # -- building -----------------------------------------------------------

    def _build(self, context: Context, record: bool) -> Module:
        b = ModelBuilder(self.name, Location.name(self.name, context=context))
        x = b.input([None, *self.input_shape],
                    Location.name(f"{self.name}.input", context=context))
        counters: dict[str, int] = {}
        used: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            lname = layer.name or f"{layer.kind}_{counters.get(layer.kind, 0)}"
            counters[layer.kind] = counters.get(layer.kind, 0) + 1
            where = f"{self.name}: layer {i} ({layer.kind} '{lname}')"
            if lname in used:
                raise SpecError(f"{where}: name '{lname}' is already used by layer "
                                f"{used[lname]}; parameter names must be unique",
                                i, layer.kind)
            used[lname] = i
            try:
                layer.check()
            except ValueError as e:
                raise SpecError(f"{where}: {e}", i, layer.kind) from None
            file, line = layer.source
            loc = Location.name(lname, Location.file(file, line, 0, context=context),
                                context=context)
            try:
                params = []
                for suffix, shape, init, *rest in layer.param_shapes():
                    pname = f"{lname}.{suffix}"
                    trainable = rest[0] if rest else True
                    params.append(b.param(pname, list(shape), init.value, loc, trainable))
                    if record:
                        self.params.append(ParamSpec(pname, tuple(shape), init, i, trainable))
                x = layer.build(b, x, params, loc)
            except MLIRError as e:
                msgs = "; ".join(_strip_op_prefix(d.message) for d in e.error_diagnostics)
                raise SpecError(f"{where}: {msgs or e.message}", i, layer.kind) from e
            if record:
                self.layer_names.append(lname)
                self.layer_output_shapes.append(tuple(x.shape[1:]))
        try:
            return b.output(x, Location.name(f"{self.name}.output", context=context))
        except MLIRError as e:
            msgs = "; ".join(_strip_op_prefix(d.message) for d in e.error_diagnostics)
            raise SpecError(f"{where}: the network output {msgs}", len(self.layers) - 1,
                            self.layers[-1].kind) from e
