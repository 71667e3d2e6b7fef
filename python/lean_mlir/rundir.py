"""Run directories: their file names, the run's configuration, its metrics events, versions.

A run directory (``runs/<model>-<recipe>-<YYYYmmdd-HHMMSS>/``) holds

* ``config.json``: the network as data, the :class:`~lean_mlir.TrainConfig`,
  the package versions, the backend and CPU, and what the command line needs
  to resume (model, recipe, data set, logging);
* ``metrics.jsonl``: one JSON event a line, a ``step`` event every
  ``log_every`` steps and an ``epoch`` event per epoch;
* ``checkpoint.safetensors`` (:mod:`lean_mlir.checkpoint`).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from lean_mlir._files import atomic_write
from lean_mlir._host import cpu_name
from lean_mlir._version import __version__
from lean_mlir.checkpoint import Position
from lean_mlir.recipes import TrainConfig
from lean_mlir.spec import NetSpec

__all__ = ["CHECKPOINT", "CONFIG", "LOG_EVERY", "METRICS", "MetricsLog", "RunConfig", "RunError",
           "checkpoint_tensors", "default_run_dir", "read_metrics", "read_run_config",
           "resume_command", "versions", "write_run_config"]

CHECKPOINT = "checkpoint.safetensors"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
#: Steps between two ``step`` events in metrics.jsonl, unless a run says otherwise.
LOG_EVERY = 50


class RunError(ValueError):
    """A run directory cannot be used as asked (names the directory and why)."""


def versions() -> dict:
    """The versions of lean-mlir, NumPy, Python and IREE that a run records."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"lean-mlir": __version__, "numpy": np.__version__,
             "python": platform.python_version()}
    for package in ("iree-base-compiler", "iree-base-runtime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:   # not installed as a distribution: nothing to record
            pass
    return found


def default_run_dir(spec: NetSpec, recipe: str | None, root: Path = Path("runs")) -> Path:
    """``runs/<network>-<recipe>-<YYYYmmdd-HHMMSS>``, the network's name made file-safe."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = "".join(c if c.isalnum() or c in "-_" else "-" for c in spec.name)
    return root / f"{model}-{recipe or 'custom'}-{stamp}"


def resume_command(run_dir: Path) -> str:
    """The command line that continues the run in ``run_dir``."""
    return f"lean-mlir train --resume {run_dir}"


def checkpoint_tensors(spec: NetSpec, cfg: TrainConfig) -> dict[str, tuple[int, ...]]:
    """What a checkpoint of ``spec`` trained with ``cfg`` holds: every parameter and every
    optimizer state tensor, by name and shape."""
    return {**{p.name: p.shape for p in spec.params}, **cfg.state_shapes(spec)}


def write_run_config(run_dir: Path, spec: NetSpec, cfg: TrainConfig, **info) -> None:
    """Writes ``config.json``: the network, the config, versions, CPU and ``info``."""
    config = {"network": spec.to_dict(), "train_config": asdict(cfg), "backend": cfg.backend,
              "cpu": f"{cpu_name()} x {os.cpu_count()}", "versions": versions(),
              "created": datetime.now().isoformat(timespec="seconds"), **info}
    atomic_write(Path(run_dir) / CONFIG, (json.dumps(config, indent=1) + "\n").encode())


@dataclass(frozen=True)
class RunConfig:
    """A run's ``config.json`` read back: the network, its config and everything else."""

    spec: NetSpec
    cfg: TrainConfig
    info: dict


def read_run_config(run_dir: Path | str) -> RunConfig:
    """Reads ``run_dir/config.json``; RunError naming the file if it is not a run's."""
    path = Path(run_dir) / CONFIG
    try:
        config = json.loads(path.read_text())
        spec = NetSpec.from_dict(config["network"])
        cfg = TrainConfig(**config["train_config"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise RunError(f"{path}: not a lean-mlir run configuration ({e})") from e
    return RunConfig(spec, cfg, config)


def read_metrics(run_dir: Path) -> list[dict]:
    """The run's events. A last line with no newline is left out: it is an event
    being written (the run is live) or one a kill cut short (resuming drops it).
    Raises RunError naming the file and line of any other line that is not JSON."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    events = []
    for n, line in enumerate(path.read_text().split("\n")[:-1], 1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise RunError(f"{path}:{n}: not a JSON line ({e.msg})") from e
    return events


class MetricsLog:
    """Appends events to a run's ``metrics.jsonl`` (nothing without a run directory)."""

    def __init__(self, run_dir: Path | None):
        self.path = Path(run_dir) / METRICS if run_dir else None

    def log(self, event: dict) -> None:
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(event) + "\n")

    def truncate_to(self, position: Position) -> None:
        """Drops events recorded after ``position`` (a run killed after its checkpoint)."""
        if not self.path or not self.path.exists():
            return
        kept = [e for e in read_metrics(self.path.parent)
                if (e.get("event") == "step" and e["step"] <= position.step)
                or (e.get("event") == "epoch" and e["epoch"] < position.epoch)]
        atomic_write(self.path, "".join(json.dumps(e) + "\n" for e in kept).encode())
