"""The training loop: epochs of fused train steps, run directories, checkpoints, progress.

    result = run_training(spec, cfg, data, run_dir=...)   # lm.train (lean_mlir.run) starts one
    result.test_accuracy, result.history, result.params, result.run_dir

Each step calls the compiled ``train_step`` (forward, loss, backward, update,
all derived by the C++ passes) with parameters and optimizer state kept on the
device; the learning rate and step count are inputs, so the schedule never
recompiles. The last partial training batch of an epoch is dropped (as in the
book's runs); evaluation covers every test image.

A run with a run directory (:mod:`lean_mlir.rundir`) writes its
``config.json`` and ``metrics.jsonl``, and ``checkpoint.safetensors`` (at the end of every
epoch, every ``checkpoint_every`` steps, and on SIGINT/SIGTERM, after the step
in flight). ``resume=True`` continues from the checkpoint; the data order of
epoch ``e`` comes from ``default_rng([seed, e])`` and augmentation of step
``s`` from ``default_rng([seed, e, s])``, so a resumed run, interrupted
anywhere, ends with the same parameters bit for bit as one left alone.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lean_mlir._host import memory_limit_mb, rss_mb
from lean_mlir.checkpoint import Position, load_checkpoint, save_checkpoint
from lean_mlir.compiler import check_device, lower
from lean_mlir.data import MNIST
from lean_mlir.recipes import TrainConfig
from lean_mlir.rundir import (
    CHECKPOINT,
    LOG_EVERY,
    METRICS,
    MetricsLog,
    RunError,
    checkpoint_tensors,
    read_metrics,
    resume_command,
    write_run_config,
)
from lean_mlir.runtime import TrainStepper, evaluate_batch, init_optimizer_state
from lean_mlir.spec import NetSpec

__all__ = ["EpochResult", "MemoryLimitReached", "Reporter", "TrainResult", "TrainingInterrupted",
           "check_run", "eval_batch_size", "evaluate", "fit", "learning_rate", "run_functions",
           "run_training", "train_images"]

#: Steps between two looks at the process's memory (reading it takes microseconds).
MEMORY_CHECK_EVERY = 10


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training after a step; the checkpoint is saved."""

    def __init__(self, run_dir: Path | None, step: int, command: str | None):
        self.run_dir, self.step, self.command = run_dir, step, command
        super().__init__(f"interrupted after step {step}"
                         + (f"; resume with: {command}" if command else ""))


class MemoryLimitReached(TrainingInterrupted):
    """The process outgrew the memory limit; training stopped after a step, checkpointed.

    A guard against what nobody foresaw: the compiled steps allocate nothing
    per call (their transients come from a workspace the module owns, see
    :func:`~lean_mlir.compiler.externalize_transients`), and a test holds every
    built-in network's loop flat. Should a process still grow (another
    runtime, another backend), the run stops before it exhausts the machine,
    resumable bit-identically in a fresh process. The limit is
    ``LEAN_MLIR_MEMORY_LIMIT_MB``, by default 80% of the machine's memory
    (:func:`lean_mlir._host.memory_limit_mb`).
    """

    def __init__(self, run_dir: Path | None, step: int, command: str | None, rss_mb: float,
                 limit_mb: float):
        super().__init__(run_dir, step, command)
        self.rss_mb, self.limit_mb = rss_mb, limit_mb
        self.args = (f"stopped after step {step}: the process holds {rss_mb:,.0f} MB, over the "
                     f"limit of {limit_mb:,.0f} MB (LEAN_MLIR_MEMORY_LIMIT_MB)"
                     + (f"; resume with: {command}" if command else ""),)



@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    seconds: float
    ms_per_step: float
    test_loss: float
    test_accuracy: float
    lr: float = 0.0
    test_top5: float = float("nan")

    def __str__(self) -> str:
        return (f"epoch {self.epoch:>2}: train loss {self.train_loss:.4f}  lr {self.lr:.4g}  "
                f"{self.seconds:6.1f} s ({self.ms_per_step:.0f} ms/step)  "
                f"test loss {self.test_loss:.4f}  test accuracy {100 * self.test_accuracy:.2f}%"
                f"  top-5 {100 * self.test_top5:.2f}%")

    def as_dict(self) -> dict:
        return {"epoch": self.epoch, "train_loss": self.train_loss, "lr": self.lr,
                "seconds": self.seconds, "test_loss": self.test_loss,
                "test_accuracy": self.test_accuracy, "test_top5": self.test_top5}


@dataclass
class TrainResult:
    """What a run produced: final parameters, one dict per epoch, and where it lives."""

    params: dict[str, np.ndarray]
    history: list[dict] = field(default_factory=list)
    run_dir: Path | None = None
    test_correct: int = 0
    test_count: int = 0
    test_top5_correct: int = 0

    @property
    def test_accuracy(self) -> float:
        """Fraction of the test images right after the last epoch."""
        return self.history[-1]["test_accuracy"] if self.history else float("nan")


def learning_rate(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warmup over ``warmup_epochs``, then constant or cosine decay to 0."""
    warmup = cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        return cfg.learning_rate * (step + 1) / warmup
    if not cfg.cosine_decay:
        return cfg.learning_rate
    total = max(cfg.epochs * steps_per_epoch - warmup, 1)
    return 0.5 * cfg.learning_rate * (1 + math.cos(math.pi * (step - warmup) / total))


def _shift(x: np.ndarray, rng: np.random.Generator, shift: int = 2) -> np.ndarray:
    """Random translations of up to ``shift`` pixels, zero-filled."""
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
    dy, dx = rng.integers(0, 2 * shift + 1, n), rng.integers(0, 2 * shift + 1, n)
    out = np.empty_like(x)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out


def _flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image mirrored left to right with probability 1/2."""
    flip = rng.random(len(x)) < 0.5
    out = x.copy()
    out[flip] = x[flip, :, :, ::-1]
    return out


def _crop(x: np.ndarray, size: tuple[int, int], rng: np.random.Generator | None) -> np.ndarray:
    """A ``size`` window of each image: at a random place with ``rng``, else the centre."""
    n, _, h, w = x.shape
    if (h, w) == size:
        return x
    if rng is None:
        top, left = np.full(n, (h - size[0]) // 2), np.full(n, (w - size[1]) // 2)
    else:
        top, left = rng.integers(0, h - size[0] + 1, n), rng.integers(0, w - size[1] + 1, n)
    return np.stack([x[i, :, top[i]:top[i] + size[0], left[i]:left[i] + size[1]]
                     for i in range(n)])


def train_images(data: MNIST, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """A training batch as the network takes it: cropped to the network's input
    (larger training images), augmented as the data set is (``rng``; None: not),
    and as float32 (:meth:`~lean_mlir.data.MNIST.to_float`)."""
    x = _crop(x, data.input_shape[1:], rng if data.augmentation == "crop-flip" else None)
    if rng is not None:
        x = _shift(x, rng) if data.augmentation == "shift" else _flip(x, rng)
    return data.to_float(x)


def eval_batch_size(spec: NetSpec) -> int:
    """The batch evaluation runs at: 1000 images up to CIFAR-10's 3x32x32, 32 above
    (at 3x224x224 a batch of 1000 would hold about 20 GB of activations)."""
    return 1000 if math.prod(spec.input_shape) <= 3 * 32 * 32 else 32


def run_functions(spec: NetSpec, cfg: TrainConfig) -> list:
    """What a training run of ``spec`` under ``cfg`` compiles, lowered
    (:class:`~lean_mlir.compiler.Lowered`): the train step at ``cfg``'s batch and
    the evaluation at :func:`eval_batch_size` (a smaller last batch, where the
    test set has one, is compiled when evaluated). ``lean-mlir compile`` compiles
    these, so a later ``lean-mlir train`` finds them in the cache."""
    return [lower(spec, "train_step", cfg.batch_size, cfg.backend, cfg.lowering_options()),
            lower(spec, "eval", eval_batch_size(spec), cfg.backend)]


def evaluate(spec: NetSpec, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
             batch_size: int | None = None, backend: str = "llvm-cpu") -> tuple[float, float]:
    """Mean loss and accuracy over every sample of ``x`` (the remainder batch included)."""
    loss, correct, _ = _evaluate(spec, params, x, y, batch_size, backend)
    return loss, correct / len(x)


def _evaluate(spec, params, x, y, batch_size=None, backend="llvm-cpu",
              to_float=None) -> tuple[float, int, int]:
    """Mean loss, top-1 and top-5 hits over ``x`` (``to_float`` converts each batch)."""
    batch_size = batch_size or eval_batch_size(spec)
    # The argument form, one compiled module (and workspace) for the whole run.
    # A Predictor per epoch (parameters bound at load) would load a new module
    # context every epoch, and after each the train step's memory grew by 5-10
    # MB a step for dozens of steps (IREE 3.13's CPU pools; measured on
    # MNIST-CNN-BN with Adam). Passing the parameters costs about 1 ms a batch.
    total_loss, correct, top5 = 0.0, 0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        loss, hits, hits5 = evaluate_batch(spec, params, to_float(xb) if to_float else xb, yb,
                                           backend, top5=True)
        total_loss += loss * len(xb)
        correct += hits
        top5 += hits5
    return total_loss / len(x), correct, top5


# -- progress --------------------------------------------------------------------------

class Reporter:
    """Prints a run's progress: a tqdm bar on a terminal, the book's plain lines otherwise
    (``step 0/468: loss=2.436 (75ms)``, then every ``every`` steps, one line per epoch)."""

    def __init__(self, enabled: bool = True, every: int = 100, stream=None,
                 bar: bool | None = None):
        self.enabled, self.every = enabled, max(1, every)
        self.stream = stream or sys.stdout
        self.bar = self.stream.isatty() if bar is None else bar
        self._tqdm = None

    def print(self, line: str) -> None:
        if self._tqdm is not None:
            self._tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def start_epoch(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        if self.enabled and self.bar:
            from tqdm import tqdm

            self._tqdm = tqdm(total=steps, initial=done, desc=f"epoch {epoch}/{epochs}",
                              unit="step", file=self.stream, dynamic_ncols=True, leave=False)

    def step(self, i: int, steps: int, loss: float, ms: float, images_per_s: float) -> None:
        if not self.enabled:
            return
        if self._tqdm is not None:
            self._tqdm.set_postfix(loss=f"{loss:.4f}", img_s=f"{images_per_s:,.0f}",
                                   refresh=False)
            self._tqdm.update(1)
        elif i % self.every == 0 or i == steps - 1:
            self.print(f"step {i}/{steps}: loss={loss:.3f} ({ms:.0f}ms)")

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None

    def end_epoch(self, result: EpochResult) -> None:
        self.close()
        self.print(str(result))


# -- the loop --------------------------------------------------------------------------

class _StopFlag:
    """SIGINT/SIGTERM set a flag that the loop checks after each step (main thread only)."""

    def __init__(self):
        self.signum: int | None = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:   # a second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_training(spec: NetSpec, cfg: TrainConfig, data: MNIST, *, run_dir: Path | None = None,
                 resume: bool = False, train_limit: int | None = None,
                 reporter: Reporter | None = None, log_every: int = LOG_EVERY,
                 checkpoint_every: int | None = None, run_info: dict | None = None,
                 on_epoch: Callable[[EpochResult], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 init_params: dict[str, np.ndarray] | None = None) -> TrainResult:
    """Trains ``spec`` on ``data`` with ``cfg``; see the module docstring.

    ``run_dir=None`` keeps nothing on disk. ``run_info`` is recorded in config.json
    (what the command line needs to resume: model, recipe, data set).
    ``should_stop`` is asked after every step, like SIGINT: when it says yes the
    run checkpoints and raises :class:`TrainingInterrupted`. ``init_params`` (every
    parameter of ``spec``, e.g. :func:`lean_mlir.weights.from_torch`'s) starts a
    fresh run there instead of at ``spec.init_params(cfg.seed)`` (fine-tuning).
    """
    reporter = reporter or Reporter(enabled=False)
    run_dir = Path(run_dir) if run_dir is not None else None
    steps = check_run(spec, cfg, data, run_dir=run_dir, resume=resume, train_limit=train_limit)
    train_x, train_y = data.train_x[:train_limit], data.train_y[:train_limit]
    if resume and init_params is not None:
        raise RunError("a resumed run starts from its checkpoint, not from init_params")
    if resume:
        start = _resume(spec, cfg, run_dir, reporter)
    else:
        start = _fresh(spec, cfg, run_dir, {"train_limit": train_limit, "steps_per_epoch": steps,
                                            **({"classes": list(data.classes)} if data.classes
                                               else {}), **(run_info or {})}, init_params)
    loop = _Loop(spec, cfg, data, train_x, train_y, run_dir, start, reporter,
                 max(1, log_every), checkpoint_every, should_stop)
    with _StopFlag() as stop:
        for epoch in range(start.position.epoch, cfg.epochs + 1):
            result = loop.epoch(epoch, stop)
            if on_epoch:
                on_epoch(result)
    return loop.result()


def check_run(spec: NetSpec, cfg: TrainConfig, data: MNIST, *, run_dir: Path | None = None,
              resume: bool = False, train_limit: int | None = None) -> int:
    """Everything about a run that can be wrong before anything is compiled or written:
    the train limit, the batches it makes, the network's input shape against the
    data's, the backend's device, and on resume the checkpoint (read whole, its
    network and tensors checked); a fresh run's directory must not hold one. Returns
    the steps per epoch; ValueError (RunError, DeviceUnavailable, CheckpointError)
    saying what is wrong."""
    if train_limit is not None and train_limit <= 0:
        raise ValueError(f"train_limit must be positive, got {train_limit}")
    n = len(data.train_x[:train_limit])
    steps = n // cfg.batch_size
    if steps == 0:
        raise ValueError(f"{n} training samples make no batch of {cfg.batch_size}")
    if data.input_shape != tuple(spec.input_shape):
        raise ValueError(f"{spec.name} takes {'x'.join(map(str, spec.input_shape))} inputs; "
                         f"the data's images are {'x'.join(map(str, data.input_shape))}")
    check_device(cfg.backend)
    if resume:
        if run_dir is None:
            raise RunError("resume needs a run directory")
        load_checkpoint(run_dir / CHECKPOINT, spec.fingerprint(), checkpoint_tensors(spec, cfg))
    elif run_dir is not None and ((run_dir / CHECKPOINT).exists()
                                  or (run_dir / METRICS).exists()):
        raise RunError(f"{run_dir}: already holds a run; resume it with "
                       f"'{resume_command(run_dir)}' or choose another --run-dir")
    return steps


@dataclass
class _Start:
    """Where a run starts: its parameters, optimizer state, position and past epochs."""

    params: dict[str, np.ndarray]
    state: dict[str, np.ndarray]
    position: Position
    history: list[dict] = field(default_factory=list)


def _resume(spec: NetSpec, cfg: TrainConfig, run_dir: Path | None, reporter: Reporter) -> _Start:
    """The run in ``run_dir`` as its checkpoint left it; later metrics events are dropped."""
    if run_dir is None:
        raise RunError("resume needs a run directory")
    tensors, position, _ = load_checkpoint(run_dir / CHECKPOINT, spec.fingerprint(),
                                           checkpoint_tensors(spec, cfg))
    params = {p.name: tensors[p.name] for p in spec.params}
    state = {k: tensors[k] for k in cfg.state_shapes(spec)}
    fields_ = EpochResult(0, 0, 0, 0, 0, 0).as_dict()
    # Runs written before top-5 existed have no test_top5: NaN, as an epoch without it.
    history = [{k: e.get(k, float("nan")) for k in fields_} for e in read_metrics(run_dir)
               if e.get("event") == "epoch" and e["epoch"] < position.epoch]
    MetricsLog(run_dir).truncate_to(position)
    reporter.print(f"resuming {run_dir} at epoch {position.epoch}, batch {position.batch} "
                   f"(step {position.step})")
    return _Start(params, state, position, history)


def _fresh(spec: NetSpec, cfg: TrainConfig, run_dir: Path | None, info: dict,
           init_params: dict[str, np.ndarray] | None = None) -> _Start:
    """A new run from ``init_params`` (None: ``spec.init_params(cfg.seed)``); with a run
    directory, its config.json."""
    missing = [p.name for p in spec.params if init_params is not None
               and p.name not in init_params]
    if missing:
        raise RunError(f"init_params lacks {len(missing)} of {spec.name}'s parameters, "
                       f"{missing[0]!r} first")
    params = spec.init_params(cfg.seed) if init_params is None else {
        p.name: np.array(init_params[p.name], np.float32, order="C") for p in spec.params}
    state = init_optimizer_state(spec, params, cfg)
    position = Position(1, 0, 0, np.random.default_rng([cfg.seed, 1]).bit_generator.state)
    if run_dir is not None:
        if (run_dir / CHECKPOINT).exists() or (run_dir / METRICS).exists():
            raise RunError(f"{run_dir}: already holds a run; resume it with "
                           f"'{resume_command(run_dir)}' or choose another --run-dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir, spec, cfg, **info)
    return _Start(params, state, position)


class _Loop:
    """One run's epochs: the train stepper on the device, the metrics, the checkpoints."""

    def __init__(self, spec, cfg, data, train_x, train_y, run_dir, start: _Start, reporter,
                 log_every, checkpoint_every, should_stop):
        self.spec, self.cfg, self.data = spec, cfg, data
        self.train_x, self.train_y = train_x, train_y
        self.steps = len(train_x) // cfg.batch_size
        self.run_dir, self.start, self.reporter = run_dir, start, reporter
        self.log_every, self.checkpoint_every = log_every, checkpoint_every
        self.should_stop = should_stop
        self.metrics = MetricsLog(run_dir)
        self.history = list(start.history)
        self.step, self.test_correct, self.test_top5 = start.position.step, 0, 0
        self.limit_mb = memory_limit_mb()
        self.stepper = TrainStepper(spec, start.params, start.state, cfg)

    def save(self, position: Position) -> None:
        if self.run_dir is not None:
            save_checkpoint(self.run_dir / CHECKPOINT,
                            {**self.stepper.params(), **self.stepper.opt_state()}, position,
                            self.spec.fingerprint(), {"model": self.spec.name})

    def epoch(self, epoch: int, stop: _StopFlag) -> EpochResult:
        """Trains one epoch (from where a resumed run stopped), evaluates, checkpoints."""
        cfg, position = self.cfg, self.start.position
        resumed = epoch == position.epoch
        first = position.batch if resumed else 0
        order_rng = np.random.default_rng([cfg.seed, epoch])
        if resumed:
            order_rng.bit_generator.state = position.rng_state
        rng_state = order_rng.bit_generator.state
        order = order_rng.permutation(len(self.train_x))
        self.reporter.start_epoch(epoch, cfg.epochs, self.steps, first)
        # A resumed epoch counts the time its steps took before the resume;
        # checkpoints from before that time was kept count this process only.
        carried = position.seconds if resumed else 0.0
        timed_steps = self.steps - (first if resumed and not carried else 0)
        started = time.perf_counter() - carried
        loss_sum, lr = (position.loss_sum if resumed else 0.0), cfg.learning_rate
        for i in range(first, self.steps):
            lr, loss = self._train_batch(epoch, i, order)
            loss_sum += loss
            self._check_stop(stop, Position(epoch, i + 1, self.step, rng_state, loss_sum,
                                            time.perf_counter() - started))
        seconds = time.perf_counter() - started
        test_loss, test_correct, test_top5 = self._evaluate(self.stepper.params())
        result = EpochResult(epoch, loss_sum / self.steps, seconds,
                             1000 * seconds / max(timed_steps, 1), test_loss,
                             test_correct / len(self.data.test_x), lr,
                             test_top5 / len(self.data.test_x))
        self.history.append(result.as_dict())
        self.test_correct, self.test_top5 = test_correct, test_top5
        self.metrics.log({"event": "epoch", **result.as_dict()})
        self.save(Position(epoch + 1, 0, self.step,
                           np.random.default_rng([cfg.seed, epoch + 1]).bit_generator.state))
        self.reporter.end_epoch(result)
        return result

    def _train_batch(self, epoch: int, i: int, order: np.ndarray) -> tuple[float, float]:
        """Batch ``i`` of the epoch's ``order``, one fused step; returns (lr, loss)."""
        cfg, step = self.cfg, self.step
        t0 = time.perf_counter()
        idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
        rng = np.random.default_rng([cfg.seed, epoch, step]) if cfg.augment else None
        xb = train_images(self.data, self.train_x[idx], rng)
        lr = learning_rate(cfg, step, self.steps)
        loss = self.stepper.step(xb, self.train_y[idx], lr=lr, step=step)
        if not math.isfinite(loss):
            raise FloatingPointError(f"{self.spec.name}: loss became {loss} at epoch {epoch}, "
                                     f"step {step} (lr {lr:g})")
        self.step += 1
        seconds = time.perf_counter() - t0
        self.reporter.step(i, self.steps, loss, 1000 * seconds, cfg.batch_size / seconds)
        if self.step % self.log_every == 0:
            self.metrics.log({"event": "step", "step": self.step, "epoch": epoch, "loss": loss,
                              "lr": lr, "images_per_s": cfg.batch_size / seconds})
        return lr, loss

    def _check_stop(self, stop: _StopFlag, position: Position) -> None:
        """After a step: checkpoints when due; on a signal, a stop request or the memory
        limit, checkpoints and raises."""
        over = self.step % MEMORY_CHECK_EVERY == 0 and (rss := rss_mb()) > self.limit_mb
        stopping = over or stop.signum is not None or (self.should_stop is not None
                                                       and self.should_stop())
        if stopping or (self.checkpoint_every and self.step % self.checkpoint_every == 0
                        and position.batch < self.steps):
            self.save(position)
        if stopping:
            self.reporter.close()
            command = resume_command(self.run_dir) if self.run_dir else None
            if over:
                raise MemoryLimitReached(self.run_dir, self.step, command, rss, self.limit_mb)
            raise TrainingInterrupted(self.run_dir, self.step, command)

    def result(self) -> TrainResult:
        final = self.stepper.params()
        if not self.history or self.history[-1]["epoch"] != self.cfg.epochs:
            # Resumed after the last epoch finished: evaluate what the checkpoint holds.
            _, self.test_correct, self.test_top5 = self._evaluate(final)
        return TrainResult(final, self.history, self.run_dir, self.test_correct,
                           len(self.data.test_x), self.test_top5)

    def _evaluate(self, params) -> tuple[float, int, int]:
        return _evaluate(self.spec, params, self.data.test_x, self.data.test_y,
                         backend=self.cfg.backend, to_float=self.data.to_float)


def fit(spec: NetSpec, cfg: TrainConfig, data: MNIST,
        on_epoch: Callable[[EpochResult], None] | None = None,
        train_limit: int | None = None) -> tuple[dict[str, np.ndarray], list[EpochResult]]:
    """Trains in memory (no run directory); returns the parameters and per-epoch results."""
    results: list[EpochResult] = []

    def record(r: EpochResult) -> None:
        results.append(r)
        if on_epoch:
            on_epoch(r)

    out = run_training(spec, cfg, data, train_limit=train_limit, on_epoch=record)
    return out.params, results
