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
* ``flatten`` is row-major over (C, H, W), as ``torch.flatten``.
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
    "Activation", "Conv2d", "Dense", "Flatten", "Init", "Layer", "MaxPool", "NetSpec",
    "Padding", "ParamSpec", "ReLU", "SpecError", "conv2d", "dense", "flatten", "max_pool",
    "relu",
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
    """One parameter: its stable name, shape, init scheme and fans."""

    name: str
    shape: tuple[int, ...]
    init: Init
    layer_index: int

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

    def param_shapes(self) -> list[tuple[str, tuple[int, ...], Init]]:
        return []

    def build(self, b: ModelBuilder, x, params: list, loc: Location):
        raise NotImplementedError


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
                                f"(use lm.conv2d, lm.max_pool, lm.flatten, lm.dense, lm.relu)",
                                i, None)
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
        """Number of scalar parameters."""
        return sum(p.size for p in self.params)

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
        kinds = {c.kind: c for c in (Conv2d, MaxPool, Flatten, Dense, ReLU)}
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
            n = sum(p.size for p in self.params if p.layer_index == i)
            shape = "x".join(map(str, self.layer_output_shapes[i]))
            rows.append(f"  {i:>2} {self.layer_names[i]:<14} {shape:<12} {n:>10,} params")
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
                for suffix, shape, init in layer.param_shapes():
                    pname = f"{lname}.{suffix}"
                    params.append(b.param(pname, list(shape), init.value, loc))
                    if record:
                        self.params.append(ParamSpec(pname, tuple(shape), init, i))
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
