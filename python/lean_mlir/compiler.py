"""From a NetSpec to a loaded IREE module: lower, verify, compile, cache.

    module = compile_spec(spec, "train_step", batch_size=128, backend="llvm-cpu",
                          options={"optimizer": "sgd", "momentum": 0.9})
    module.call("train_step", *args)

1. ``spec.to_mlir()`` gives the netspec module;
2. :func:`lean_mlir.run_pipeline` runs ``netspec-to-stablehlo`` (the lowering
   and the derived backward pass, in C++) with a repro on failure;
3. the StableHLO is parsed and verified by StableHLO's own verifier
   (``iree.compiler.ir``) before anything is compiled;
4. ``iree-compile`` builds a ``.vmfb`` for the backend, which is loaded with
   IREE's runtime.

Compiled modules are cached per (network IR, pipeline, backend), so repeated
calls never recompile.
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lean_mlir._errors import Diagnostic, MLIRError
from lean_mlir._mlir import Context
from lean_mlir.pipeline import run_pipeline
from lean_mlir.spec import NetSpec

__all__ = ["BACKENDS", "TARGETS", "CompiledModule", "compile_cache_dir", "compile_flags",
           "compile_spec",
           "compile_stablehlo", "lower_to_stablehlo", "lowering_pipeline", "verify_stablehlo"]

#: iree-compile flags per backend, for every network. On the CPU (figures:
#: the book's CNN train step, batch 128, 2-core AVX-512 machine, IREE 3.13):
#: compiling for the host CPU is what lets LLVM use AVX-512 at all, and with
#: the ``cpu`` forms (see TARGETS) transpose propagation must stay off: it
#: moves the layout transposes back into the convolutions, which then run as
#: generic ops (the step took about a second with it). The im2col rewrite the
#: ``generic`` forms needed (1243 -> 309 ms) is not used: on NHWC
#: convolutions it only adds the cost of materialising its buffers.
BACKENDS: dict[str, list[str]] = {
    "llvm-cpu": [
        "--iree-hal-target-device=local",
        "--iree-hal-local-target-device-backends=llvm-cpu",
        "--iree-llvmcpu-target-cpu=host",
        "--iree-global-opt-propagate-transposes=false",
    ],
    # AMD RDNA3 (the book's 7900 XTX); compiles on a machine with no GPU.
    "rocm": ["--iree-hal-target-device=hip", "--iree-rocm-target=gfx1100"],
    # sm_80 and newer (A100, H100); also compiles with no GPU present.
    "cuda": ["--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80"],
}

#: Flags that pay for some networks only. Data tiling (packed GEMM operands)
#: speeds up the convolutions' GEMMs (the CNN's train step 7-14 ms faster)
#: and costs the MLP, whose small GEMMs do not amortise the packing (0.7 ms
#: slower), so it is on for networks with convolutions only.
CONV_FLAGS: dict[str, list[str]] = {
    "llvm-cpu": ["--iree-opt-data-tiling=true"],
}

#: Layers whose networks get CONV_FLAGS. Only plain convolutions: with data
#: tiling, IREE 3.13's runtime leaks about 25 MB per call of MNIST-CNN-BN's
#: train step (batch 128; host memory that is never freed, so a 12-epoch run
#: would exhaust the machine), although the step runs about 30% faster.
CONV_KINDS = {"conv2d"}

#: Which StableHLO forms the lowering emits per backend (netspec-to-stablehlo's
#: ``target``): the forms measured fast on IREE's CPU backend, and the textbook
#: forms for the GPUs, where those measurements do not apply.
TARGETS: dict[str, str] = {"llvm-cpu": "cpu", "rocm": "generic", "cuda": "generic"}

#: IREE runtime driver per backend.
DRIVERS = {"llvm-cpu": "local-task", "rocm": "hip", "cuda": "cuda"}

FUNCTIONS = ("predict", "eval", "value_and_grad", "train_step")


def _format_option(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def lowering_pipeline(function: str, batch_size: int, options: dict | None = None) -> str:
    """The textual pipeline that lowers a model to ``function`` (see FUNCTIONS)."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; expected one of {FUNCTIONS}")
    opts = {"batch-size": int(batch_size), "functions": function}
    for key, value in (options or {}).items():
        opts[key.replace("_", "-")] = value
    body = " ".join(f"{k}={_format_option(v)}" for k, v in opts.items())
    return f"builtin.module(netspec-to-stablehlo{{{body}}})"


def lower_to_stablehlo(spec: NetSpec, pipeline: str) -> str:
    """Runs ``pipeline`` on the spec's IR and returns the verified StableHLO text."""
    ctx = Context()
    ctx.allow_unregistered_dialects = True
    module = spec.to_mlir(ctx)
    run_pipeline(module, pipeline, f"lowering {spec.name}")
    text = str(module)
    verify_stablehlo(text)
    return text


def verify_stablehlo(text: str) -> None:
    """Parses ``text`` with StableHLO registered and runs its verifiers; raises MLIRError."""
    from iree.compiler import ir

    with ir.Context() as ctx:
        ctx.allow_unregistered_dialects = False
        try:
            module = ir.Module.parse(text)
            module.operation.verify()
        except ir.MLIRError as e:
            diags = [Diagnostic("error", str(d.location), d.message)
                     for d in e.error_diagnostics]
            raise MLIRError("StableHLO verification failed", diags) from e


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {sorted(BACKENDS)}")


def compile_flags(backend: str, spec: NetSpec | None = None,
                  target: str | None = None) -> list[str]:
    """The ``iree-compile`` flags for ``backend``, for ``spec`` lowered to ``target``'s
    forms (default: the backend's, TARGETS) where they depend on them."""
    _check_backend(backend)
    flags = list(BACKENDS[backend])
    target = target or TARGETS[backend]
    # Data tiling was measured on the cpu forms only (and fails to compile the
    # generic forms' train step with momentum).
    if (target == "cpu" and spec is not None
            and any(layer.kind in CONV_KINDS for layer in spec.layers)):
        flags += CONV_FLAGS.get(backend, [])
    return flags


def compile_cache_dir() -> Path | None:
    """Where compiled modules are kept between processes (``$LEAN_MLIR_COMPILE_CACHE``,
    default ``~/.cache/lean-mlir/compiled``; ``off`` keeps nothing)."""
    setting = os.environ.get("LEAN_MLIR_COMPILE_CACHE", "")
    if setting.lower() in ("off", "0", "no"):
        return None
    return Path(setting) if setting else Path.home() / ".cache" / "lean-mlir" / "compiled"


def _cache_key(text: str, flags: list[str]) -> str:
    """SHA-256 of everything the module depends on: the StableHLO, the flags, the IREE
    compiler's version and, for ``target-cpu=host``, this CPU's model and features."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        iree = version("iree-base-compiler")
    except PackageNotFoundError:
        iree = "unknown"
    cpu = ""
    if any(f.endswith("target-cpu=host") for f in flags):
        try:
            with open("/proc/cpuinfo") as f:
                cpu = "".join(line for line in f
                              if line.startswith(("model name", "flags")))[:4096]
        except OSError:
            cpu = platform.processor()
    h = hashlib.sha256()
    for part in (text, "\0".join(flags), iree, cpu):
        h.update(part.encode())
        h.update(b"\1")
    return h.hexdigest()


def compile_stablehlo(text: str, backend: str = "llvm-cpu",
                      flags: list[str] | None = None, cache: bool = True) -> bytes:
    """Compiles StableHLO text to an IREE ``.vmfb`` for ``backend``
    (with ``flags``, default :func:`compile_flags` of the backend).

    Modules are kept on disk (:func:`compile_cache_dir`), keyed by the StableHLO,
    the flags, the IREE version and the host CPU, so processes on one machine
    (a sweep's runs, a resumed run, the tests) compile each module once;
    ``cache=False`` always compiles (and refreshes the cache).
    """
    from iree.compiler import tools

    _check_backend(backend)
    flags = compile_flags(backend) if flags is None else flags
    directory = compile_cache_dir()
    path = directory / f"{_cache_key(text, flags)}.vmfb" if directory else None
    if cache and path is not None and path.exists():
        data = path.read_bytes()
        if data.startswith(b"PK\x03\x04"):   # a whole module (writes are atomic)
            return data
    vmfb = tools.compile_str(text, input_type="stablehlo", extra_args=flags)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(vmfb)
            os.replace(tmp, path)
        except OSError:   # a read-only or full cache only costs the next compile
            pass
    return vmfb


@dataclass
class CompiledModule:
    """A compiled ``.vmfb`` loaded in IREE's runtime; ``call`` runs a function."""

    vmfb: bytes
    backend: str
    stablehlo: str
    _context: object = field(default=None, repr=False)

    def _module(self):
        if self._context is None:
            import iree.runtime as rt

            config = rt.Config(DRIVERS[self.backend])
            self._context = rt.SystemContext(config=config)
            self._context.add_vm_module(rt.VmModule.copy_buffer(self._context.instance,
                                                                self.vmfb))
        return self._context.modules.module

    def function(self, name: str):
        """The runtime function ``name``: called with NumPy arrays or device arrays, it
        returns device arrays (``iree.runtime.DeviceArray``)."""
        return self._module()[name]

    def to_device(self, arrays: list[np.ndarray]) -> list:
        """Copies ``arrays`` into device buffers of this module's device."""
        import iree.runtime as rt

        self._module()
        return [rt.asdevicearray(self._context.config.device, a) for a in arrays]

    def call(self, function: str, *args: np.ndarray) -> list[np.ndarray]:
        """Calls ``function`` with NumPy arrays; returns its results as NumPy arrays."""
        out = self._module()[function](*args)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in out]


_CACHE: dict[tuple, CompiledModule] = {}


def compile_spec(spec: NetSpec, function: str, batch_size: int, backend: str = "llvm-cpu",
                 options: dict | None = None, flags: list[str] | None = None) -> CompiledModule:
    """Lowers, verifies and compiles ``function`` of ``spec``; cached per network IR,
    pipeline, backend and flags.

    ``options`` are netspec-to-stablehlo's (``optimizer``, ``momentum``, ...);
    ``target`` defaults to the backend's (TARGETS). ``flags`` replace
    :func:`compile_flags`.
    """
    _check_backend(backend)
    options = {"target": TARGETS[backend], **(options or {})}
    pipeline = lowering_pipeline(function, batch_size, options)
    if flags is None:
        flags = compile_flags(backend, spec, options["target"])
    flags = list(flags)
    key = (spec.fingerprint(), pipeline, backend, tuple(flags))
    if key not in _CACHE:
        text = lower_to_stablehlo(spec, pipeline)
        _CACHE[key] = CompiledModule(compile_stablehlo(text, backend, flags), backend, text)
    return _CACHE[key]
