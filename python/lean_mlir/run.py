"""A training run as a user starts one, from Python or the command line: one code path.

    result = lm.train(spec, lm.recipes.get("s4tf-baseline"))    # or spec.train(cfg)

checks what it can before anything is compiled or written (the data
directory, the network against the data, the backend's device, a resumed
checkpoint), says what it compiles, trains with progress, writes the run
directory and its ``plot.png``, and says where they are. ``lean-mlir train``
and ``lean-mlir ablation`` call the same :func:`train`. ``init_from`` fine-tunes
from PyTorch weights (:func:`lean_mlir.weights.from_torch`), read and checked
before anything is written, and recorded in the run's ``config.json``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lean_mlir._errors import UsageError
from lean_mlir.compiler import DeviceUnavailable
from lean_mlir.data import load, prepare
from lean_mlir.plot import plot_runs
from lean_mlir.recipes import TrainConfig
from lean_mlir.rundir import LOG_EVERY, RunError, default_run_dir
from lean_mlir.spec import NetSpec, set_trainer
from lean_mlir.training import Reporter, TrainResult, check_run, run_functions, run_training
from lean_mlir.weights import WeightsError, from_torch

__all__ = ["train"]


def train(spec: NetSpec, cfg: TrainConfig, data_dir: Path | str | None = None, *,
          dataset: str = "mnist", backend: str | None = None, run_dir: Path | str | None = None,
          resume: bool = False, train_limit: int | None = None, progress: bool = True,
          recipe: str | None = None, log_every: int = LOG_EVERY,
          checkpoint_every: int | None = None, arm: str | None = None, model: str | None = None,
          header: Sequence[str] = (), bar: bool | None = None,
          log: Callable[[str], None] | None = None, init_from=None) -> TrainResult:
    """Trains ``spec`` with ``cfg`` on ``dataset`` into a run directory and plots it.

    ``data_dir=None`` is the data set's default cache (filled first if empty; a
    directory given must exist); ``run_dir=None`` makes
    ``runs/<model>-<recipe>-<YYYYmmdd-HHMMSS>``. With ``progress`` it prints what
    it compiles, a progress bar (``bar=False``: plain lines), a line per epoch,
    and at the end where the run directory and ``plot.png`` are. Errors found
    before compiling raise UsageError (or RunError, DeviceUnavailable) and leave
    nothing behind. ``init_from`` (a PyTorch state_dict: a ``.safetensors``, ``.pt``
    or ``.pth`` file, or a dict) starts a fresh run from those weights.
    """
    from dataclasses import replace

    start = time.perf_counter()
    init_params, origin = _initial_weights(spec, init_from, resume)   # before any data
    if backend is not None:
        cfg = replace(cfg, backend=backend)
    # MNIST and Fashion-MNIST fill an empty directory; the data sets read from the
    # user's disk say themselves what is missing.
    if (data_dir is not None and dataset in ("mnist", "fashion-mnist")
            and not Path(data_dir).is_dir()):
        raise UsageError(f"--data-dir {data_dir}: no such directory (`lean-mlir data {dataset} "
                         f"{data_dir}` fills one with {dataset})")
    data = load(dataset, prepare(dataset, Path(data_dir) if data_dir else None,
                                 quiet=not progress))
    run_dir = Path(run_dir) if run_dir else default_run_dir(spec, arm or recipe)
    try:
        check_run(spec, cfg, data, run_dir=run_dir, resume=resume, train_limit=train_limit)
    except (DeviceUnavailable, RunError):
        raise
    except ValueError as e:   # the network against the data, a damaged checkpoint
        raise UsageError(str(e)) from e
    reporter = Reporter(enabled=progress, every=100, bar=bar)
    say = (log or reporter.print) if progress else (lambda _line: None)
    for line in header:
        say(line)
    if init_params is not None:
        say(f"initial weights: {origin['init_from']} (a PyTorch state_dict)")
    say(f"{spec.name}: {spec.param_count():,} parameters; {cfg}")
    _compile(spec, cfg, say)
    n = len(data.train_x[:train_limit])
    say(f"{dataset}: {n:,} training images, {n // cfg.batch_size} batches of "
        f"{cfg.batch_size} per epoch; {len(data.test_x):,} test images")
    say(f"run directory: {run_dir}")
    info = {"model": model, "recipe": recipe, "arm": arm, "dataset": dataset,
            "data_dir": str(data_dir) if data_dir else None, "log_every": log_every,
            "checkpoint_every": checkpoint_every, **origin}
    result = run_training(spec, cfg, data, run_dir=run_dir, resume=resume,
                          train_limit=train_limit, reporter=reporter, log_every=log_every,
                          checkpoint_every=checkpoint_every, run_info=info,
                          init_params=init_params)
    _report(result, run_dir, resume, time.perf_counter() - start, say)
    return result


def _initial_weights(spec: NetSpec, init_from, resume: bool) -> tuple[dict | None, dict]:
    """The parameters ``init_from`` holds (None: none given) and what config.json
    records of it (the file's absolute path and SHA-256); UsageError saying what
    does not fit."""
    if init_from is None:
        return None, {}
    if resume:
        raise UsageError("--init-from: a resumed run continues from its checkpoint")
    try:
        params = from_torch(spec, init_from)
    except WeightsError as e:
        raise UsageError(f"--init-from: {e}") from e
    if isinstance(init_from, dict):
        return params, {"init_from": "a state_dict given in Python"}
    path = Path(init_from).resolve()
    return params, {"init_from": str(path),
                    "init_from_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _compile(spec: NetSpec, cfg: TrainConfig, say: Callable[[str], None]) -> None:
    """Lowers and compiles what the run uses, saying so (the modules are cached)."""
    functions = run_functions(spec, cfg)
    say(f"Generating train step MLIR... {len(functions[0].text):,} chars")
    say("Compiling modules..." if functions[0].lowerer == "xla" else "Compiling vmfbs...")
    for lowered in functions:
        start = time.perf_counter()
        module = lowered.compile()
        say(f"  {lowered.function} (batch {lowered.batch_size}, {cfg.backend}): "
            f"{len(module.binary):,} bytes in {time.perf_counter() - start:.1f} s")


def _report(result: TrainResult, run_dir: Path, resume: bool, seconds: float,
            say: Callable[[str], None]) -> None:
    """The run's last lines (accuracy, time, where it is) and its ``plot.png``."""
    minutes, seconds = divmod(seconds, 60)
    acc = result.test_correct / result.test_count
    say(f"val accuracy: {result.test_correct}/{result.test_count} = {100 * acc:.2f}%  top-5 "
        f"{result.test_top5_correct}/{result.test_count} = "
        f"{100 * result.test_top5_correct / result.test_count:.2f}%")
    if not result.history:
        return
    best = max(result.history, key=lambda r: r["test_accuracy"])
    say(f"best test accuracy {100 * best['test_accuracy']:.2f}% at epoch {best['epoch']}; "
        f"{int(minutes)} min {seconds:.0f} s "
        + ("in this process (resumed; metrics.jsonl has every epoch's time), "
           if resume else "in all, ") + "loading, compiling and evaluating included")
    plot = run_dir / "plot.png"
    plot_runs([run_dir], plot)
    say(f"run: {run_dir}  (config.json, metrics.jsonl, checkpoint.safetensors)")
    say(f"plot: {plot}  (several runs: lean-mlir plot {run_dir} OTHER_RUN -o FILE.png)")
    say(f"export: lean-mlir export {run_dir} -o {run_dir / 'model'}")


# NetSpec.train (the book's `mnistCnnNoBn.train s4tfBaseline`) calls this module's train.
set_trainer(train)
