"""Checkpoints: parameters, optimizer state and training position in one safetensors file.

A checkpoint is a plain safetensors file (no pickle anywhere): every parameter
under its own name (``conv2d_0.weight``), the optimizer state under its name
(``conv2d_0.weight.velocity``, ``.m``, ``.v``), and string metadata saying where
training stands (see :class:`Position`) and which network it belongs to (the
fingerprint of its netspec IR). The plain ``safetensors`` package reads it:

    from safetensors.numpy import load_file
    tensors = load_file("runs/.../checkpoint.safetensors")

Writes are atomic (:func:`lean_mlir._files.atomic_write`): a crash or kill at
any instant leaves the previous good checkpoint readable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lean_mlir._files import atomic_write

__all__ = ["CheckpointError", "Position", "load_checkpoint", "save_checkpoint"]

FORMAT = "lean-mlir-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or from another network; names the file."""


@dataclass(frozen=True)
class Position:
    """Where training stands: ``epoch`` (1-based) is the epoch in progress, ``batch``
    the batches of it already done, ``step`` the steps done in all. ``rng_state`` is
    the state of the epoch's data-order generator before it drew the epoch's
    permutation; ``loss_sum`` the sum of the epoch's losses so far and ``seconds``
    the time its steps took so far (0 in checkpoints written before it was kept)."""

    epoch: int
    batch: int
    step: int
    rng_state: dict
    loss_sum: float = 0.0
    seconds: float = 0.0


def save_checkpoint(path: Path, tensors: dict[str, np.ndarray], position: Position,
                    network: str, extra: dict[str, str] | None = None) -> None:
    """Writes ``tensors`` (parameters and optimizer state by name) and ``position``."""
    from safetensors.numpy import save

    metadata = {"format": FORMAT, "network": network,
                "position": json.dumps(asdict(position)), **(extra or {})}
    data = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()},
                metadata=metadata)
    atomic_write(path, data)


def load_checkpoint(path: Path, network: str | None = None,
                    expected: dict[str, tuple[int, ...]] | None = None
                    ) -> tuple[dict[str, np.ndarray], Position, dict[str, str]]:
    """Reads a checkpoint; returns (tensors, position, metadata).

    ``network`` is the fingerprint the checkpoint must carry; ``expected`` the tensor
    names and shapes it must hold exactly. Raises :class:`CheckpointError` naming the
    file and what is wrong.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({e.strerror})") from e
    try:
        tensors = load(data)
        metadata = _metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({e})") from e
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a lean-mlir checkpoint (format "
                              f"{metadata.get('format')!r}, expected {FORMAT!r})")
    if network is not None and metadata.get("network") != network:
        raise CheckpointError(f"{path}: saved from another network (model "
                              f"{metadata.get('model', '?')!r}, IR fingerprint "
                              f"{metadata.get('network', '?')[:12]}...) than this one "
                              f"({network[:12]}...)")
    if expected is not None:
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        if missing or extra:
            raise CheckpointError(f"{path}: tensors do not match the run (missing {missing[:3]}, "
                                  f"unexpected {extra[:3]})")
        for name, shape in expected.items():
            if tuple(tensors[name].shape) != tuple(shape) or tensors[name].dtype != np.float32:
                raise CheckpointError(f"{path}: {name} is {tensors[name].dtype} "
                                      f"{tensors[name].shape}, expected float32 {tuple(shape)}")
    try:
        position = Position(**json.loads(metadata["position"]))
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: the training position in its metadata is "
                              f"unreadable ({e})") from e
    return tensors, position, metadata


def _metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors buffer (its JSON header)."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes is too short for a safetensors header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError("the header runs past the end of the file")
    return json.loads(data[8:8 + size]).get("__metadata__", {}) or {}
