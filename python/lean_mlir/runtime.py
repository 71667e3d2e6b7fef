"""Compiled functions of a network: predictions, gradients, train steps.

Every number here comes from the StableHLO that lean-mlir's C++ passes derive
(forward, loss, backward, optimizer update), compiled by IREE (``backend``
``llvm-cpu``, the default, ``cuda``, ``rocm``) or XLA (``xla``, ``xla-cuda``,
``xla-rocm``); nothing is differentiated in Python. Arguments are placed and
results read by their ``netspec.role`` (:mod:`lean_mlir.signature`), never by
position.

    params = spec.init_params(seed=0)
    logits = lm.predict(spec, params, x)
    loss, grads = lm.value_and_grad(spec, params, x, y)
    cfg = lm.TrainConfig(learning_rate=0.1, momentum=0.9)
    state = lm.init_optimizer_state(spec, params, cfg)
    params, state, loss = lm.train_step(spec, params, state, x, y, cfg, lr=0.1, step=0)
"""

from __future__ import annotations

import numpy as np

from lean_mlir.compiler import lower, to_numpy
from lean_mlir.recipes import TrainConfig
from lean_mlir.spec import NetSpec

__all__ = ["Predictor", "TrainStepper", "evaluate_batch", "init_optimizer_state",
           "predict", "train_step", "value_and_grad"]


def init_optimizer_state(spec: NetSpec, params: dict[str, np.ndarray],
                         cfg: TrainConfig) -> dict[str, np.ndarray]:
    """Zeroed optimizer state by name (``<param>.velocity`` or ``<param>.m``/``.v``).

    Only trainable parameters have optimizer state.
    """
    _check_params(spec, params)
    return {name: np.zeros(shape, np.float32) for name, shape in cfg.state_shapes(spec).items()}


def _check_state(spec: NetSpec, opt_state: dict[str, np.ndarray], cfg: TrainConfig
                 ) -> tuple[list[str], list[np.ndarray]]:
    """The optimizer state's names and arrays in the train step's order; ValueError if
    ``opt_state`` does not hold exactly the tensors ``cfg`` needs."""
    names = list(cfg.state_shapes(spec))
    if sorted(opt_state) != sorted(names):
        raise ValueError(f"{spec.name}: optimizer state does not match the config "
                         f"(expected {names[:2]}...; use lm.init_optimizer_state)")
    return names, [np.ascontiguousarray(opt_state[n], dtype=np.float32) for n in names]


def _check_params(spec: NetSpec, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    missing = [p.name for p in spec.params if p.name not in params]
    extra = sorted(set(params) - {p.name for p in spec.params})
    if missing or extra:
        raise ValueError(f"{spec.name}: parameters do not match the network "
                         f"(missing {missing}, unexpected {extra})")
    out = []
    for p in spec.params:
        value = np.ascontiguousarray(params[p.name], dtype=np.float32)
        if value.shape != p.shape:
            raise ValueError(f"{spec.name}: parameter {p.name!r} has shape {value.shape}, "
                             f"expected {p.shape}")
        out.append(value)
    return out


def _check_batch(spec: NetSpec, x, y=None) -> tuple[np.ndarray, np.ndarray | None]:
    if getattr(x, "dtype", None) == np.uint8:
        raise ValueError(f"{spec.name}: x is uint8 pixels; convert them as the data set does "
                         "first (lean_mlir.data.MNIST.to_float)")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 1 + len(spec.input_shape) or x.shape[1:] != spec.input_shape or not len(x):
        raise ValueError(f"{spec.name}: x must have shape (N, {', '.join(map(str, spec.input_shape))})"
                         f" with N > 0, got {x.shape}")
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{spec.name}: y must be integer labels of shape ({x.shape[0]},), "
                         f"got {y.dtype} {y.shape}")
    classes = spec.output_shape[0]
    if y.min() < 0 or y.max() >= classes:
        raise ValueError(f"{spec.name}: labels must be in [0, {classes}), "
                         f"got [{y.min()}, {y.max()}]")
    return x, y.astype(np.int32)


def predict(spec: NetSpec, params: dict[str, np.ndarray], x: np.ndarray,
            backend: str = "llvm-cpu") -> np.ndarray:
    """Logits ``(N, classes)`` of ``x`` ``(N, *input_shape)``.

    Every call passes every parameter to the runtime (the MLP's 2.7 MB: about
    1 ms a call on the CPU). For more than a call or two with the same
    parameters, use :class:`Predictor`, which binds them once.
    """
    _check_params(spec, params)
    x, _ = _check_batch(spec, x)
    module = lower(spec, "predict", x.shape[0], backend).compile()
    return module.call("predict", *module.signature.arguments(params=params, images=x))[0]


class Predictor:
    """A network's ``predict`` and ``eval`` with its parameters bound once.

    The modules read the parameters when they are loaded (IREE parameters,
    :func:`~lean_mlir.compiler.bind_parameters`), so a call sends only the batch,
    and what depends on the parameters alone (filter re-layouts) is computed
    once. The parameters are copied: later changes to ``params`` do not reach
    the predictor. Any number of samples: full batches of ``batch_size``, the
    rest in one smaller batch.

        predictor = lm.Predictor(spec, params, batch_size=128)
        logits = predictor.predict(x)
        loss, correct = predictor.evaluate(x, y)
    """

    def __init__(self, spec: NetSpec, params: dict[str, np.ndarray], batch_size: int = 128,
                 backend: str = "llvm-cpu"):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        values = _check_params(spec, params)
        self.spec, self.batch_size, self.backend = spec, batch_size, backend
        # A snapshot now: the modules bind the parameters at their first call.
        self._params = {p.name: v.copy() for p, v in zip(spec.params, values, strict=True)}
        self._functions: dict[tuple[str, int], object] = {}

    def _function(self, name: str, batch: int):
        key = (name, batch)
        if key not in self._functions:
            module = lower(self.spec, name, batch, self.backend, bind_params=True).compile()
            self._functions[key] = module.with_parameters(self._params).function(name)
            if name == "eval":
                self._signature = module.signature
        return self._functions[key]

    def _batches(self, n: int):
        for start in range(0, n, self.batch_size):
            yield start, min(start + self.batch_size, n)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, classes)`` of ``x`` ``(N, *input_shape)``."""
        x, _ = _check_batch(self.spec, x)
        return np.concatenate([to_numpy(self._function("predict", stop - start)(
            x[start:stop])) for start, stop in self._batches(len(x))])

    def evaluate(self, x: np.ndarray, y: np.ndarray, top5: bool = False
                 ) -> tuple[float, int] | tuple[float, int, int]:
        """Mean cross-entropy over every sample of ``x`` and how many are predicted
        right; with ``top5``, also how many have the true class in the top five."""
        x, y = _check_batch(self.spec, x, y)
        total, correct, correct5 = 0.0, 0, 0
        for start, stop in self._batches(len(x)):
            function, signature = self._function("eval", stop - start), self._signature
            out = signature.name_results(function(x[start:stop], y[start:stop]))
            total += float(to_numpy(out["loss"])) * (stop - start)
            correct += int(to_numpy(out["correct"]))
            correct5 += int(to_numpy(out["top5_correct"]))
        return (total / len(x), correct, correct5) if top5 else (total / len(x), correct)


def evaluate_batch(spec: NetSpec, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                   backend: str = "llvm-cpu", top5: bool = False
                   ) -> tuple[float, int] | tuple[float, int, int]:
    """Mean cross-entropy and number of correct predictions on one batch; with
    ``top5``, also how many have the true class among the five highest logits."""
    _check_params(spec, params)
    x, y = _check_batch(spec, x, y)
    module = lower(spec, "eval", x.shape[0], backend).compile()
    out = module.signature.name_results(module.call(
        "eval", *module.signature.arguments(params=params, images=x, labels=y)))
    loss, correct = float(out["loss"]), int(out["correct"])
    return (loss, correct, int(out["top5_correct"])) if top5 else (loss, correct)


def value_and_grad(spec: NetSpec, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                   label_smoothing: float = 0.0, backend: str = "llvm-cpu"
                   ) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy at ``params`` and its gradient for every trainable parameter.

    Layers with batch statistics (batch norm) use the batch's, as in training.
    """
    _check_params(spec, params)
    x, y = _check_batch(spec, x, y)
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    module = lower(spec, "value_and_grad", x.shape[0], backend,
                   {"label_smoothing": float(label_smoothing)}).compile()
    sig = module.signature
    out = module.call("value_and_grad", *sig.arguments(params=params, images=x, labels=y))
    named = sig.name_results(out)
    return float(named["loss"]), {name: named[f"grad:{name}"] for name in sig.grads}


def train_step(spec: NetSpec, params: dict[str, np.ndarray], opt_state: dict[str, np.ndarray],
               x: np.ndarray, y: np.ndarray, cfg: TrainConfig, lr: float, step: int
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """One fused step (forward, loss, backward, update); returns new params, state, loss.

    ``loss`` is the training loss (with ``cfg.label_smoothing``) at the parameters given.
    Non-trainable parameters come back as the layers updated them (batch norm's
    running statistics).
    """
    values = _check_params(spec, params)
    x, y = _check_batch(spec, x, y)
    names, state = _check_state(spec, opt_state, cfg)
    module = lower(spec, "train_step", x.shape[0], cfg.backend, cfg.lowering_options()).compile()
    sig = module.signature
    args = sig.arguments(params={p.name: v for p, v in zip(spec.params, values, strict=True)},
                         state=dict(zip(names, state, strict=True)), images=x, labels=y,
                         learning_rate=np.float32(lr), step=np.int32(step))
    out = sig.name_results(module.call("train_step", *args))
    return ({name: out[f"param:{name}"] for name in sig.params},
            {r.state_name: out[str(r)] for r in sig.result_roles("state")},
            float(out["loss"]))


class TrainStepper:
    """The compiled train step with parameters and optimizer state kept on the device.

    :func:`train_step` takes and returns NumPy arrays; a training loop calls this
    instead, so the parameters and optimizer state stay IREE device buffers from
    one step to the next (each step's outputs are the next step's inputs) and
    only the batch goes in and the loss comes out. The numbers are the same, bit
    for bit. On the CPU this saves little (uploading the CNN's 14 MB takes under
    a millisecond); on a GPU the round trip is most of a small network's step.

        stepper = TrainStepper(spec, params, state, cfg)
        loss = stepper.step(x, y, lr=0.1, step=0)
        params, state = stepper.params(), stepper.opt_state()
    """

    def __init__(self, spec: NetSpec, params: dict[str, np.ndarray],
                 opt_state: dict[str, np.ndarray], cfg: TrainConfig):
        values = _check_params(spec, params)
        names, state = _check_state(spec, opt_state, cfg)
        self.spec, self.cfg = spec, cfg
        module = lower(spec, "train_step", cfg.batch_size, cfg.backend,
                       cfg.lowering_options()).compile()
        self._signature = sig = module.signature
        self._function = module.function("train_step")
        # The arguments a step replaces, by role, kept as device buffers: each step's
        # results of those roles are the next step's arguments.
        by_name = {**dict(zip([p.name for p in spec.params], values, strict=True)),
                   **dict(zip(names, state, strict=True))}
        roles = [*sig.arg_roles("param"), *sig.arg_roles("state")]
        self._carried = [str(r) for r in roles]
        arrays = [by_name[r.param if r.kind == "param" else r.state_name] for r in roles]
        self._device = dict(zip(self._carried, module.to_device(arrays), strict=True))

    def step(self, x: np.ndarray, y: np.ndarray, lr: float, step: int) -> float:
        """One fused step on a batch of ``cfg.batch_size``; returns the loss before it."""
        x, y = _check_batch(self.spec, x, y)
        if len(x) != self.cfg.batch_size:
            raise ValueError(f"{self.spec.name}: the batch has {len(x)} samples, the compiled "
                             f"step takes {self.cfg.batch_size}")
        sig = self._signature
        batch = {"images": x, "labels": y, "learning_rate": np.float32(lr),
                 "step": np.int32(step)}
        args = [self._device[str(a.role)] if a.role.kind in ("param", "state")
                else batch[a.role.kind] for a in sig.args]
        out = sig.name_results(self._function(*args))
        self._device = {role: out[role] for role in self._carried}
        return float(to_numpy(out["loss"]))

    def params(self) -> dict[str, np.ndarray]:
        """The current parameters, copied to NumPy."""
        return {r.param: np.array(to_numpy(self._device[str(r)]))
                for r in self._signature.arg_roles("param")}

    def opt_state(self) -> dict[str, np.ndarray]:
        """The current optimizer state by name, copied to NumPy."""
        return {r.state_name: np.array(to_numpy(self._device[str(r)]))
                for r in self._signature.arg_roles("state")}
