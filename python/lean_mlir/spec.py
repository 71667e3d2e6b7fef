"""Networks as data: a :class:`NetSpec` is a name, an input shape and a list of layers.

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

The layers themselves, their parameters' layouts and the registry of kinds
are in :mod:`lean_mlir.layers`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lean_mlir import _dot
from lean_mlir._errors import MLIRError, SpecError
from lean_mlir._mlir import Context, Location, Module
from lean_mlir.dialects.netspec import ModelBuilder
from lean_mlir.layers import (
    LAYERS,
    Init,
    Layer,
    SubLayerError,
    layer_from_dict,
    layer_to_dict,
    positive_int,
)

__all__ = ["NetSpec", "ParamSpec", "SpecError", "set_trainer"]

#: What NetSpec.train calls: lean_mlir.run.train, which sits above this module (it
#: compiles and trains) and registers itself when lean_mlir is imported.
_TRAINER = None


def set_trainer(trainer) -> None:
    """Makes ``trainer(spec, cfg, data_dir, **options)`` what :meth:`NetSpec.train` runs."""
    global _TRAINER
    _TRAINER = trainer


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


def _strip_op_prefix(message: str) -> str:
    # Dialect messages start with "'netspec.conv2d' op "; the layer is named already.
    if message.startswith("'netspec.") and "' op " in message:
        return message.split("' op ", 1)[1]
    return message


def _build_message(error: MLIRError | SubLayerError) -> str:
    """What went wrong building a layer, the sub-layer (of a residual) named first."""
    if isinstance(error, SubLayerError):
        return f"{error.where}: {_build_message(error.cause)}"
    msgs = "; ".join(_strip_op_prefix(d.message) for d in error.error_diagnostics)
    return msgs or error.message


class NetSpec:
    """A network: ``name``, per-sample ``input_shape`` and a list of ``layers``."""

    def __init__(self, name: str, input_shape: Sequence[int], layers: Sequence[Layer]):
        if not isinstance(name, str) or not name:
            raise SpecError(f"network name must be a non-empty string, got {name!r}")
        shape = tuple(input_shape)
        try:
            for i, d in enumerate(shape):
                positive_int(d, f"input_shape[{i}]")
        except ValueError as e:
            raise SpecError(f"{name}: {e}") from None
        if not shape:
            raise SpecError(f"{name}: input_shape must have at least one dimension")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                makers = ", ".join(f"lm.{cls.function}" for cls in LAYERS.values())
                raise SpecError(f"{name}: layer {i} is {layer!r}, not a lean_mlir layer "
                                f"(use {makers})", i, None)
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
        layers = [layer_to_dict(layer) for layer in self.layers]
        return {"name": self.name, "input_shape": list(self.input_shape), "layers": layers}

    @classmethod
    def from_dict(cls, data: dict) -> NetSpec:
        """The inverse of :meth:`to_dict`; raises SpecError on malformed data."""
        try:
            layers = []
            for i, entry in enumerate(data["layers"]):
                kind = dict(entry)["kind"]
                if kind not in LAYERS:
                    raise SpecError(f"layer {i}: unknown kind {kind!r}; expected one of "
                                    f"{sorted(LAYERS)}")
                layers.append(layer_from_dict(entry))
            return cls(data["name"], data["input_shape"], layers)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, SpecError):
                raise
            raise SpecError(f"not a network description: {e}") from e

    def train(self, cfg, data_dir=None, **options):
        """Trains this network with ``cfg``, the book's one line
        (``mnistCnnNoBn.train s4tfBaseline``): ``lm.mnist_cnn().train(
        lm.recipes.get("s4tf-baseline"))``. The options are :func:`lean_mlir.train`'s;
        so is the result (a ``TrainResult``, its run directory with ``plot.png``)."""
        if _TRAINER is None:
            raise RuntimeError("NetSpec.train needs lean_mlir imported (import lean_mlir)")
        return _TRAINER(self, cfg, data_dir, **options)

    def fingerprint(self) -> str:
        """SHA-256 of the network's netspec IR: equal networks, equal fingerprints."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha256(str(self.to_mlir()).encode()).hexdigest()
        return self._fingerprint

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Fresh float32 parameters by name, in declaration order.

        He-normal: N(0, 2 / fan_in); He-uniform: U(+-sqrt(6 / fan_in));
        Glorot-uniform: U(+-sqrt(6 / (fan_in + fan_out))); small-normal: N(0, 0.02^2)
        (a vision transformer's, as timm's); biases zero. The same
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
            elif p.init is Init.LAYER_SCALE:
                value = np.full(p.shape, 1e-6)
            elif p.init is Init.SMALL_NORMAL:
                value = rng.normal(0.0, 0.02, p.shape)
            else:
                value = np.ones(p.shape)
            out[p.name] = np.ascontiguousarray(value, dtype=np.float32)
        return out

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        rows = [f"{self.name}: input {'x'.join(map(str, self.input_shape))}"]
        width = max([18, *map(len, self.layer_names)])
        for i, layer in enumerate(self.layers):
            n = sum(p.size for p in self.params if p.layer_index == i and p.trainable)
            shape = "x".join(map(str, self.layer_output_shapes[i]))
            rows.append(f"  {i:>2} {self.layer_names[i]:<{width}} {shape:<12} {n:>10,} params")
        rows.append(f"  total {self.param_count():,} parameters")
        return "\n".join(rows)

    def to_dot(self) -> str:
        """The network as a Graphviz graph: one node per layer (name, kind, output
        shape, parameters), edges labelled with the activation shapes."""
        def dims(shape) -> str:
            return "x".join(map(str, shape))

        title = f"{self.name}: {self.param_count():,} parameters"
        lines = [f"digraph {_dot.quote(self.name)} {{",
                 f"  graph [rankdir=LR, {_dot.FONT}, labelloc=t, label={_dot.quote(title)}];",
                 (f'  node [shape=box, style="rounded,filled", fillcolor="#e8eef9", {_dot.FONT}, '
                 "fontsize=10];"),
                 f"  edge [{_dot.FONT}, fontsize=9];",
                 (f'  input [shape=ellipse, fillcolor="#ffffff", '
                 f'label={_dot.label("input", dims(self.input_shape))}];')]
        previous = "input"
        shapes = [self.input_shape, *self.layer_output_shapes]
        for i, (layer, lname) in enumerate(zip(self.layers, self.layer_names, strict=True)):
            count = sum(p.size for p in self.params if p.layer_index == i and p.trainable)
            node = _dot.label(lname, layer.kind, dims(shapes[i + 1]), f"{count:,} params")
            lines.append(f"  layer{i} [label={node}];")
            lines.append(f"  {previous} -> layer{i} [label={_dot.quote(dims(shapes[i]))}];")
            previous = f"layer{i}"
        lines.append(f'  logits [shape=ellipse, fillcolor="#ffffff", '
                     f'label={_dot.label("logits", dims(self.output_shape))}];')
        lines.append(f"  {previous} -> logits;")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _repr_svg_(self) -> str:
        """The graph of :meth:`to_dot` as SVG, which notebooks display (needs Graphviz)."""
        return _dot.render_svg(self.to_dot())

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
            except (MLIRError, SubLayerError) as e:
                raise SpecError(f"{where}: {_build_message(e)}", i, layer.kind) from e
            if record:
                self.layer_names.append(lname)
                self.layer_output_shapes.append(tuple(x.shape[1:]))
        try:
            return b.output(x, Location.name(f"{self.name}.output", context=context))
        except MLIRError as e:
            msgs = "; ".join(_strip_op_prefix(d.message) for d in e.error_diagnostics)
            raise SpecError(f"{where}: the network output {msgs}", len(self.layers) - 1,
                            self.layers[-1].kind) from e
