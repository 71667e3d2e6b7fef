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

from dataclasses import dataclass, field

import numpy as np

from lean_mlir._errors import Diagnostic, MLIRError
from lean_mlir._mlir import Context
from lean_mlir.pipeline import run_pipeline
from lean_mlir.spec import NetSpec

__all__ = ["BACKENDS", "CompiledModule", "compile_spec", "compile_stablehlo",
           "lower_to_stablehlo", "lowering_pipeline", "verify_stablehlo"]

#: iree-compile flags per backend. The CPU flags follow the measurements in
#: the project's design notes: im2col for the convolutions and no transpose
#: propagation were worth about 7x on a train step of the book's CNN.
BACKENDS: dict[str, list[str]] = {
    "llvm-cpu": [
        "--iree-hal-target-device=local",
        "--iree-hal-local-target-device-backends=llvm-cpu",
        "--iree-llvmcpu-target-cpu=host",
        ("--iree-preprocessing-pass-pipeline="
         "builtin.module(util.func(iree-global-opt-convert-conv2d-to-img2col))"),
        "--iree-global-opt-propagate-transposes=false",
    ],
    # AMD RDNA3 (the book's 7900 XTX); compiles on a machine with no GPU.
    "rocm": ["--iree-hal-target-device=hip", "--iree-rocm-target=gfx1100"],
    # sm_80 and newer (A100, H100); also compiles with no GPU present.
    "cuda": ["--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80"],
}

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


def compile_stablehlo(text: str, backend: str = "llvm-cpu") -> bytes:
    """Compiles StableHLO text to an IREE ``.vmfb`` for ``backend``."""
    from iree.compiler import tools

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {sorted(BACKENDS)}")
    return tools.compile_str(text, input_type="stablehlo", extra_args=BACKENDS[backend])


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

    def call(self, function: str, *args: np.ndarray) -> list[np.ndarray]:
        """Calls ``function`` with NumPy arrays; returns its results as NumPy arrays."""
        out = self._module()[function](*args)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in out]


_CACHE: dict[tuple[str, str, str], CompiledModule] = {}


def compile_spec(spec: NetSpec, function: str, batch_size: int, backend: str = "llvm-cpu",
                 options: dict | None = None) -> CompiledModule:
    """Lowers, verifies and compiles ``function`` of ``spec``; cached per network IR,
    pipeline and backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {sorted(BACKENDS)}")
    pipeline = lowering_pipeline(function, batch_size, options)
    key = (spec.fingerprint(), pipeline, backend)
    if key not in _CACHE:
        text = lower_to_stablehlo(spec, pipeline)
        _CACHE[key] = CompiledModule(compile_stablehlo(text, backend), backend, text)
    return _CACHE[key]
