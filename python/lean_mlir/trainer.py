"""The training loop: epochs of fused train steps, a learning-rate schedule, evaluation.

    history = fit(spec, cfg, mnist, on_epoch=print)

Each step calls the compiled ``train_step`` (forward, loss, backward, update,
all derived by the C++ passes); the learning rate and step count are inputs,
so the schedule never recompiles. The last partial training batch of an epoch
is dropped (as in the book's runs); evaluation covers every test image.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lean_mlir.data import MNIST
from lean_mlir.spec import NetSpec
from lean_mlir.train import TrainConfig, TrainStepper, evaluate_batch, init_optimizer_state

__all__ = ["EpochResult", "evaluate", "fit", "learning_rate"]


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    seconds: float
    ms_per_step: float
    test_loss: float
    test_accuracy: float

    def __str__(self) -> str:
        return (f"epoch {self.epoch:>2}: train loss {self.train_loss:.4f}  "
                f"{self.seconds:6.1f} s ({self.ms_per_step:.0f} ms/step)  "
                f"test loss {self.test_loss:.4f}  test accuracy {100 * self.test_accuracy:.2f}%")


def learning_rate(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warmup over ``warmup_epochs``, then constant or cosine decay to 0."""
    warmup = cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        return cfg.learning_rate * (step + 1) / warmup
    if not cfg.cosine_decay:
        return cfg.learning_rate
    total = max(cfg.epochs * steps_per_epoch - warmup, 1)
    return 0.5 * cfg.learning_rate * (1 + math.cos(math.pi * (step - warmup) / total))


def _augment(x: np.ndarray, rng: np.random.Generator, shift: int = 2) -> np.ndarray:
    """Random translations of up to ``shift`` pixels, zero-filled."""
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
    dy, dx = rng.integers(0, 2 * shift + 1, n), rng.integers(0, 2 * shift + 1, n)
    out = np.empty_like(x)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out


def evaluate(spec: NetSpec, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
             batch_size: int = 1000, backend: str = "llvm-cpu") -> tuple[float, float]:
    """Mean loss and accuracy over every sample of ``x`` (the remainder batch included)."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        loss, hits = evaluate_batch(spec, params, xb, yb, backend)
        total_loss += loss * len(xb)
        correct += hits
    return total_loss / len(x), correct / len(x)


def fit(spec: NetSpec, cfg: TrainConfig, data: MNIST,
        on_epoch: Callable[[EpochResult], None] | None = None,
        train_limit: int | None = None) -> tuple[dict[str, np.ndarray], list[EpochResult]]:
    """Trains ``spec`` on ``data`` with ``cfg``; returns the parameters and per-epoch results.

    Parameters and optimizer state stay on the device between steps
    (:class:`TrainStepper`); they come back to NumPy once an epoch, for evaluation.
    """
    rng = np.random.default_rng(cfg.seed)
    params = spec.init_params(cfg.seed)
    stepper = TrainStepper(spec, params, init_optimizer_state(spec, params, cfg), cfg)
    train_x, train_y = data.train_x[:train_limit], data.train_y[:train_limit]
    steps_per_epoch = len(train_x) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_x)} training samples make no batch of {cfg.batch_size}")
    history, step = [], 0
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(train_x))
        start, losses = time.perf_counter(), []
        for i in range(steps_per_epoch):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            xb = train_x[idx]
            if cfg.augment:
                xb = _augment(xb, rng)
            lr = learning_rate(cfg, step, steps_per_epoch)
            loss = stepper.step(xb, train_y[idx], lr=lr, step=step)
            if not math.isfinite(loss):
                raise FloatingPointError(f"{spec.name}: loss became {loss} at epoch {epoch}, "
                                         f"step {step} (lr {lr:g})")
            losses.append(loss)
            step += 1
        seconds = time.perf_counter() - start
        params = stepper.params()
        test_loss, accuracy = evaluate(spec, params, data.test_x, data.test_y,
                                       backend=cfg.backend)
        result = EpochResult(epoch, float(np.mean(losses)), seconds,
                             1000 * seconds / steps_per_epoch, test_loss, accuracy)
        history.append(result)
        if on_epoch:
            on_epoch(result)
    return params, history
