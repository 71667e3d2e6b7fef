"""Exported models: a trained network written to a directory, loaded and queried without its run.

    lean-mlir export runs/MNIST-CNN-noBN-s4tf-baseline-... -o model/
    lean-mlir predict model/ digit.png more.idx

    m = lm.load_model("model/")
    probs = m.predict(x)          # x: float32 (N, 1, 28, 28) in [0, 1); probabilities (N, 10)

A model directory holds:

* ``model.mlir``: the network as netspec IR, its definition (parameter names,
  shapes and the input shape are read from it, and it is verified on load);
* ``params.safetensors``: the parameters by name;
* ``predict.vmfb``: ``predict`` compiled by IREE for this machine's CPU at a
  fixed batch (``model.json``), reading its parameters from
  ``params.safetensors`` when it is loaded (IREE parameters; what depends on
  the parameters alone, such as the packing of the dense weights, runs then
  and not at every call); if it does not load (another CPU, another IREE), it
  is compiled again from ``model.mlir`` by our passes;
* ``predict.stablehlo``: the same ``predict`` (parameters as arguments, the
  textbook forms) as portable StableHLO (versioned VHLO bytecode, readable by
  any StableHLO consumer of that version or newer): what ``lean-mlir predict
  --backend xla`` compiles with XLA (written where jaxlib, which serialises
  it, is installed);
* ``model.json``: the batch size, the class names, the network (as
  ``NetSpec.to_dict``) and how the module was built.

``load_model(directory, backend=...)`` runs the shipped ``.vmfb`` on IREE's
CPU backend; where it does not load, it compiles the network again through
the same pipeline (:func:`lean_mlir.compiler.lower`); ``backend="xla"`` runs
``predict.stablehlo`` through XLA.

Images for :func:`read_images`: PNG and JPEG files, converted to the model's
channels (grayscale or RGB) and resized to its input with a note when they are
not, and, for 1x28x28 models, IDX image files (``N x 28 x 28`` or ``28 x 28``
unsigned bytes); scaled like the data the model was trained on (``model.json``'s
``dataset``): pixel / 256, or for Imagenette ImageNet's normalisation after a
bilinear resize, as its validation images were prepared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lean_mlir._errors import MLIRError
from lean_mlir._files import atomic_write
from lean_mlir.checkpoint import load_checkpoint
from lean_mlir.compiler import (
    TARGETS,
    CompiledModule,
    bind_parameters,
    compile_stablehlo,
    lower,
    lower_stablehlo,
    lowerer_of,
    to_numpy,
    verify_stablehlo,
)
from lean_mlir.data import IMAGENET_MEAN, IMAGENET_STD, DataError, read_idx
from lean_mlir.ir import Context, Module
from lean_mlir.pipeline import run_pipeline
from lean_mlir.rundir import CHECKPOINT, RunError, checkpoint_tensors, read_run_config
from lean_mlir.spec import NetSpec

__all__ = ["EXPORT_BATCH", "Model", "ModelError", "export_model", "load_model", "read_images"]

#: The static batch of an exported ``predict``; inputs are cut and padded to it.
EXPORT_BATCH = 32
FORMAT = "lean-mlir-model-1"
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
}
#: Imagenette's class folders (WordNet ids) and what they hold.
IMAGENETTE_NAMES = {"n01440764": "tench", "n02102040": "English springer",
                    "n02979186": "cassette player", "n03000684": "chain saw",
                    "n03028079": "church", "n03394916": "French horn",
                    "n03417042": "garbage truck", "n03425413": "gas pump",
                    "n03445777": "golf ball", "n03888257": "parachute"}


def _class_names(dataset: str, run_info: dict) -> list[str] | None:
    """The names of a run's classes: its data's folders where it recorded them
    (Imagenette's WordNet ids read as names), else the data set's own."""
    if run_info.get("classes"):
        return [IMAGENETTE_NAMES.get(c, c) for c in run_info["classes"]]
    return CLASS_NAMES.get(dataset)


class ModelError(ValueError):
    """A model directory or an input image is missing, corrupt or does not fit; names the file."""


def export_model(run_dir: Path | str, out_dir: Path | str) -> Path:
    """Writes the model of the run in ``run_dir`` (its last checkpoint) to ``out_dir``."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    try:
        run = read_run_config(run_dir)
    except RunError as e:
        raise ModelError(str(e)) from e
    spec, config = run.spec, run.info
    tensors, position, _ = load_checkpoint(run_dir / CHECKPOINT, spec.fingerprint(),
                                           checkpoint_tensors(spec, run.cfg))
    params = {p.name: tensors[p.name] for p in spec.params}

    from safetensors.numpy import save

    out_dir.mkdir(parents=True, exist_ok=True)
    module = lower(spec, "predict", EXPORT_BATCH, "llvm-cpu", bind_params=True).compile()
    portable = portable_stablehlo(lower(spec, "predict", EXPORT_BATCH, "xla").text)
    dataset = config.get("dataset") or "mnist"
    manifest = {"format": FORMAT, "name": spec.name, "batch_size": EXPORT_BATCH,
                "input_shape": list(spec.input_shape), "classes": spec.output_shape[0],
                "class_names": _class_names(dataset, config), "dataset": dataset,
                "backend": "llvm-cpu", "compile_flags": module.flags,
                "parameters": "bound", "network": spec.to_dict(),
                "portable_stablehlo": PORTABLE if portable is not None else None,
                "trained_epochs": position.epoch - 1, "steps": position.step,
                "source_run": str(run_dir), "versions": config.get("versions", {})}
    atomic_write(out_dir / "model.mlir", (str(spec.to_mlir()) + "\n").encode())
    atomic_write(out_dir / "params.safetensors",
                 save(params, metadata={"format": FORMAT, "network": spec.fingerprint()}))
    atomic_write(out_dir / "predict.vmfb", module.vmfb)
    if portable is not None:
        atomic_write(out_dir / PORTABLE, portable)
    else:
        (out_dir / PORTABLE).unlink(missing_ok=True)
    atomic_write(out_dir / "model.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return out_dir


#: The exported predict as portable StableHLO.
PORTABLE = "predict.stablehlo"


def portable_stablehlo(text: str) -> bytes | None:
    """``text`` (StableHLO) as a portable artifact: VHLO bytecode at the oldest
    StableHLO version jaxlib writes, so older consumers read it too; None where
    jaxlib is not installed. The ``netspec.role`` attributes travel with it."""
    try:
        from jaxlib.mlir import ir
        from jaxlib.mlir.dialects import stablehlo
    except ImportError:
        return None
    with ir.Context() as ctx:
        ctx.allow_unregistered_dialects = True
        stablehlo.register_dialect(ctx)
        return stablehlo.serialize_portable_artifact_str(text, stablehlo.get_minimum_version())


def read_portable_stablehlo(path: Path) -> str:
    """The StableHLO text of a portable artifact (:func:`portable_stablehlo`)."""
    from iree.compiler import ir

    try:
        from jaxlib.mlir import ir as jax_ir
        from jaxlib.mlir.dialects import stablehlo
    except ImportError as e:
        raise ModelError(f"{path}: reading portable StableHLO needs jaxlib "
                         "(pip install 'lean-mlir[xla]')") from e
    try:
        data = path.read_bytes()
        with jax_ir.Context() as ctx:
            stablehlo.register_dialect(ctx)
            bytecode = stablehlo.deserialize_portable_artifact_str(data)
        with ir.Context():
            return ir.Module.parse(bytecode).operation.get_asm(print_generic_op_form=True)
    except (OSError, ValueError, RuntimeError, ir.MLIRError) as e:
        raise ModelError(f"{path}: not a readable portable StableHLO artifact ({e})") from e


@dataclass
class Model:
    """A loaded model: ``predict(x)`` gives class probabilities."""

    directory: Path
    name: str
    input_shape: tuple[int, ...]
    param_names: list[str]
    params: list[np.ndarray]
    batch_size: int
    class_names: list[str] | None
    notes: list[str] = field(default_factory=list)
    #: The data set it was trained on, which says how to scale its inputs.
    dataset: str = "mnist"
    #: Whether ``predict.vmfb`` reads the parameters at load (exports since they
    #: could) or takes them with every call.
    bound: bool = True
    _function: object = field(default=None, repr=False)
    _context: object = field(default=None, repr=False)

    def __repr__(self) -> str:
        classes = len(self.class_names) if self.class_names else "?"
        count = sum(int(p.size) for p in self.params)
        return (f"Model({self.name!r}, {'x'.join(map(str, self.input_shape))} -> {classes} "
                f"classes, {count:,} parameter values, trained on {self.dataset}, "
                f"from {self.directory})")

    def logits(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ModelError(f"{self.directory}: inputs must be (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {x.shape}")
        out = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start:start + self.batch_size]
            padded = np.zeros((self.batch_size, *self.input_shape), np.float32)
            padded[:len(chunk)] = chunk
            # A copy: the host view of a result does not outlive the next call.
            args = (padded,) if self.bound else (*self.params, padded)
            out.append(np.array(to_numpy(self._function(*args)))[:len(chunk)])
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax of the logits), shape (N, classes)."""
        z = self.logits(x)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def load_model(directory: Path | str, backend: str = "llvm-cpu") -> Model:
    """Loads a model directory written by :func:`export_model` to run on ``backend``
    (IREE's ``llvm-cpu``, or an XLA backend, which runs ``predict.stablehlo``);
    raises ModelError."""
    directory = Path(directory)
    manifest_path = directory / "model.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        batch = int(manifest["batch_size"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{manifest_path}: missing or not a model manifest ({e})") from e

    ir_path = directory / "model.mlir"
    try:
        text = ir_path.read_text()
    except OSError as e:
        raise ModelError(f"{ir_path}: cannot read the model IR ({e.strerror})") from e
    ctx = Context()
    try:
        module = Module.parse(text, ctx)
        module.operation.verify()
    except MLIRError as e:
        first = e.error_diagnostics[0] if e.error_diagnostics else None
        detail = f"{first.location}: {first.message}" if first else str(e)
        raise ModelError(f"{ir_path}: the netspec IR does not verify ({detail})") from e
    names, shapes, input_shape = [], [], None
    for op in module.operation.walk():
        if op.name == "netspec.param":
            names.append(op.attributes["param_name"])
            shapes.append(_shape(op.result_types[0]))
        elif op.name == "netspec.input":
            input_shape = _shape(op.result_types[0])[1:]
    if input_shape is None:
        raise ModelError(f"{ir_path}: no netspec.model with an input")

    params = _read_params(directory / "params.safetensors", names, shapes)

    class_names = manifest.get("class_names")
    if class_names is not None and len(class_names) != manifest.get("classes"):
        class_names = None
    model = Model(directory, manifest.get("name", directory.name), input_shape, names, params,
                  batch, class_names, bound=manifest.get("parameters") == "bound",
                  dataset=manifest.get("dataset") or "mnist")
    by_name = dict(zip(names, params, strict=True))
    if lowerer_of(backend) == "xla":
        model.bound = True
        model._context, model._function = _xla_predict(directory, manifest, backend, batch,
                                                       by_name)
        return model
    if backend != "llvm-cpu":
        raise ModelError(f"{directory}: an exported model runs on llvm-cpu or through XLA "
                         f"(xla, xla-cuda, xla-rocm), not {backend}")
    bound = dict(zip(names, shapes, strict=True)) if model.bound else {}
    model._context, model._function = _predict_function(
        directory, module, batch, model.notes, bound, by_name, manifest.get("network"))
    return model


def _read_params(path: Path, names: list[str], shapes: list[tuple[int, ...]]
                 ) -> list[np.ndarray]:
    """The parameters ``names`` from an export's safetensors file, each checked against
    its shape in the IR; ModelError naming the file and the first that does not fit."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(path.read_bytes())
    except (OSError, SafetensorError, ValueError) as e:
        raise ModelError(f"{path}: missing, truncated or corrupt ({e})") from e
    params = []
    for name, shape in zip(names, shapes, strict=True):
        if name not in tensors or tuple(tensors[name].shape) != shape:
            got = tensors[name].shape if name in tensors else "nothing"
            raise ModelError(f"{path}: {name} should be {shape}, found {got}")
        params.append(np.ascontiguousarray(tensors[name], dtype=np.float32))
    return params


def _xla_predict(directory: Path, manifest: dict, backend: str, batch: int,
                 params: dict[str, np.ndarray]):
    """``predict`` through XLA: the export's portable StableHLO, or (exports without it)
    the network lowered again; its parameters uploaded once."""
    path = directory / PORTABLE
    if manifest.get("portable_stablehlo") and path.exists():
        lowered = lower_stablehlo(read_portable_stablehlo(path), "predict", backend,
                                  bind_params=True)
    elif manifest.get("network"):
        lowered = lower(NetSpec.from_dict(manifest["network"]), "predict", batch, backend,
                        bind_params=True)
    else:
        raise ModelError(f"{directory}: this export has neither {PORTABLE} nor its network in "
                         "model.json; export the run again to run it through XLA")
    module = lowered.compile().with_parameters(params)
    return module, module.function("predict")


def _shape(type_text: str) -> tuple[int, ...]:
    dims = type_text[len("tensor<"):-1].split("x")[:-1]
    return tuple(-1 if d == "?" else int(d) for d in dims)


def _predict_function(directory: Path, module, batch: int, notes: list[str],
                      bound: dict[str, tuple[int, ...]], params: dict[str, np.ndarray],
                      network: dict | None = None):
    """The compiled ``predict`` as (module, function): the shipped .vmfb, or one compiled
    again (through :func:`~lean_mlir.compiler.lower` from ``network``, the manifest's
    description; exports without it from the netspec IR); with ``bound`` parameters,
    reading ``params`` at load. The module is kept with the function: it holds the
    runtime context."""
    def load_vmfb(vmfb: bytes):
        loaded = CompiledModule(vmfb, "llvm-cpu", "", dict(bound))
        if bound:
            loaded = loaded.with_parameters(params)
        return loaded, loaded.function("predict")

    path = directory / "predict.vmfb"
    try:
        return load_vmfb(path.read_bytes())
    except (OSError, RuntimeError, ValueError) as e:
        notes.append(f"{path}: not usable here ({str(e).splitlines()[0][:120]}); "
                     "compiled predict again from model.mlir")
    if network is not None:
        compiled = lower(NetSpec.from_dict(network), "predict", batch, "llvm-cpu",
                         bind_params=bool(bound)).compile()
        if bound:
            compiled = compiled.with_parameters(params)
        return compiled, compiled.function("predict")
    # Exports from before model.json carried the network.
    module.context.allow_unregistered_dialects = True
    run_pipeline(module, f"builtin.module(netspec-forward{{batch-size={batch} "
                 f"target={TARGETS['llvm-cpu']}}})", "lowering the exported model")
    text = str(module)
    verify_stablehlo(text)
    if bound:
        text = bind_parameters(text, "predict")
    return load_vmfb(compile_stablehlo(text, "llvm-cpu"))


def read_images(paths: list[Path | str], input_shape: tuple[int, ...] = (1, 28, 28),
                dataset: str = "mnist") -> tuple[list[str], np.ndarray, list[str]]:
    """Reads PNG, JPEG and IDX image files for a model of ``input_shape`` trained
    on ``dataset``; returns (labels, images (N, *input_shape), notes).

    An IDX file of N images gives labels ``FILE[i]``. Raises ModelError naming the
    first file that is not a readable image, or an IDX file for a model that does
    not take 1x28x28 images.
    """
    channels, height, width = input_shape
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise ModelError(f"a model of {channels}-channel inputs takes no image files")
    labels, images, notes = [], [], []
    for path in map(Path, paths):
        try:
            head = path.read_bytes()[:8]
        except OSError as e:
            raise ModelError(f"{path}: cannot read ({e.strerror})") from e
        if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
            images.append(_read_picture(path, mode, (width, height), dataset, notes)[None])
            labels.append(str(path))
        elif head[:3] == b"\x00\x00\x08" or path.suffix == ".gz":
            if tuple(input_shape) != (1, 28, 28):
                raise ModelError(f"{path}: an IDX file holds 28x28 grayscale images; this "
                                 f"model takes {'x'.join(map(str, input_shape))}")
            try:
                array = read_idx(path)
            except DataError as e:
                raise ModelError(str(e)) from e
            if array.ndim == 2:
                array = array[None]
            if array.ndim != 3 or array.shape[1:] != (28, 28):
                raise ModelError(f"{path}: an IDX image file holds N x 28 x 28 or 28 x 28 "
                                 f"bytes, this one {array.shape}")
            labels += [f"{path}[{i}]" for i in range(len(array))] if len(array) > 1 \
                else [str(path)]
            images.append(array[:, None])
        else:
            raise ModelError(f"{path}: not a PNG, JPEG or IDX image file")
    if not images:
        return labels, np.zeros((0, *input_shape), np.float32), notes
    pixels = np.concatenate(images)
    if dataset == "imagenette":
        mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(IMAGENET_STD, np.float32).reshape(1, -1, 1, 1)
        return labels, (pixels.astype(np.float32) / 255 - mean) / std, notes
    return labels, pixels.astype(np.float32) / 256.0, notes


def _read_picture(path: Path, mode: str, size: tuple[int, int], dataset: str,
                  notes: list[str]) -> np.ndarray:
    """One PNG or JPEG as uint8 ``(C, H, W)`` in ``mode`` at ``size`` (width, height)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode != mode:
                notes.append(f"{path}: converted from {img.mode} to "
                             f"{'grayscale' if mode == 'L' else 'RGB'}")
                img = img.convert(mode)
            if img.size != size:
                notes.append(f"{path}: resized from {img.size[0]}x{img.size[1]} to "
                             f"{size[0]}x{size[1]}")
                # Imagenette's images were resized bilinearly for training.
                img = img.resize(size, Image.Resampling.BILINEAR if dataset == "imagenette"
                                 else Image.Resampling.LANCZOS)
            pixels = np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ModelError(f"{path}: not a readable image ({e})") from e
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
