"""Compiled functions of a network: predictions, gradients, train steps, all run by IREE.

Every number here comes from the StableHLO that lean-mlir's C++ passes derive
(forward, loss, backward, optimizer update), compiled by IREE; nothing is
differentiated in Python.

    params = spec.init_params(seed=0)
    logits = lm.predict(spec, params, x)
    loss, grads = lm.value_and_grad(spec, params, x, y)
    cfg = lm.TrainConfig(learning_rate=0.1, momentum=0.9)
    state = lm.init_optimizer_state(spec, params, cfg)
    params, state, loss = lm.train_step(spec, params, state, x, y, cfg, lr=0.1, step=0)
"""

from __future__ import annotations

import numpy as np

from lean_mlir.compiler import compile_spec
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
    values = _check_params(spec, params)
    x, _ = _check_batch(spec, x)
    module = compile_spec(spec, "predict", x.shape[0], backend)
    return module.call("predict", *values, x)[0]


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
            module = compile_spec(self.spec, name, batch, self.backend, bind_params=True)
            self._functions[key] = module.with_parameters(self._params).function(name)
        return self._functions[key]

    def _batches(self, n: int):
        for start in range(0, n, self.batch_size):
            yield start, min(start + self.batch_size, n)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, classes)`` of ``x`` ``(N, *input_shape)``."""
        x, _ = _check_batch(self.spec, x)
        return np.concatenate([np.asarray(self._function("predict", stop - start)(
            x[start:stop]).to_host()) for start, stop in self._batches(len(x))])

    def evaluate(self, x: np.ndarray, y: np.ndarray, top5: bool = False
                 ) -> tuple[float, int] | tuple[float, int, int]:
        """Mean cross-entropy over every sample of ``x`` and how many are predicted
        right; with ``top5``, also how many have the true class in the top five."""
        x, y = _check_batch(self.spec, x, y)
        total, correct, correct5 = 0.0, 0, 0
        for start, stop in self._batches(len(x)):
            loss, hits, hits5 = self._function("eval", stop - start)(x[start:stop],
                                                                     y[start:stop])
            total += float(np.asarray(loss.to_host())) * (stop - start)
            correct += int(np.asarray(hits.to_host()))
            correct5 += int(np.asarray(hits5.to_host()))
        return (total / len(x), correct, correct5) if top5 else (total / len(x), correct)


def evaluate_batch(spec: NetSpec, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                   backend: str = "llvm-cpu", top5: bool = False
                   ) -> tuple[float, int] | tuple[float, int, int]:
    """Mean cross-entropy and number of correct predictions on one batch; with
    ``top5``, also how many have the true class among the five highest logits."""
    values = _check_params(spec, params)
    x, y = _check_batch(spec, x, y)
    loss, correct, correct5 = compile_spec(spec, "eval", x.shape[0], backend).call(
        "eval", *values, x, y)
    return (float(loss), int(correct), int(correct5)) if top5 else (float(loss), int(correct))


def value_and_grad(spec: NetSpec, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                   label_smoothing: float = 0.0, backend: str = "llvm-cpu"
                   ) -> tuple[float, dict[str, np.ndarray]]:
    """Mean softmax cross-entropy at ``params`` and its gradient for every trainable parameter.

    Layers with batch statistics (batch norm) use the batch's, as in training.
    """
    values = _check_params(spec, params)
    x, y = _check_batch(spec, x, y)
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    module = compile_spec(spec, "value_and_grad", x.shape[0], backend,
                          {"label_smoothing": float(label_smoothing)})
    loss, *grads = module.call("value_and_grad", *values, x, y)
    return float(loss), {p.name: g for p, g in zip(spec.trainable_params, grads, strict=True)}


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
    module = compile_spec(spec, "train_step", x.shape[0], cfg.backend, cfg.lowering_options())
    out = module.call("train_step", *values, *state, x, y, np.float32(lr), np.int32(step))
    n = len(values)
    new_params = {p.name: v for p, v in zip(spec.params, out[:n], strict=True)}
    new_state = dict(zip(names, out[n:-1], strict=True))
    return new_params, new_state, float(out[-1])


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
        self._names, state = _check_state(spec, opt_state, cfg)
        self.spec, self.cfg = spec, cfg
        module = compile_spec(spec, "train_step", cfg.batch_size, cfg.backend,
                              cfg.lowering_options())
        self._function = module.function("train_step")
        self._device = module.to_device(values + state)

    def step(self, x: np.ndarray, y: np.ndarray, lr: float, step: int) -> float:
        """One fused step on a batch of ``cfg.batch_size``; returns the loss before it."""
        x, y = _check_batch(self.spec, x, y)
        if len(x) != self.cfg.batch_size:
            raise ValueError(f"{self.spec.name}: the batch has {len(x)} samples, the compiled "
                             f"step takes {self.cfg.batch_size}")
        *self._device, loss = self._function(*self._device, x, y, np.float32(lr),
                                             np.int32(step))
        return float(np.asarray(loss.to_host()))

    def params(self) -> dict[str, np.ndarray]:
        """The current parameters, copied to NumPy."""
        n = len(self.spec.params)
        return {p.name: np.array(v.to_host()) for p, v in zip(self.spec.params,
                                                              self._device[:n], strict=True)}

    def opt_state(self) -> dict[str, np.ndarray]:
        """The current optimizer state by name, copied to NumPy."""
        n = len(self.spec.params)
        return {name: np.array(v.to_host())
                for name, v in zip(self._names, self._device[n:], strict=True)}
