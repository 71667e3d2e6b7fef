"""The one compile pipeline: from a NetSpec to a loaded module, by IREE or by XLA.

    lowered = lower(spec, "train_step", 128, backend="llvm-cpu",
                    options={"optimizer": "sgd", "momentum": 0.9})
    lowered.as_text()                 # the StableHLO
    module = lowered.compile()        # cached in this process and on disk
    sig = module.signature            # every argument's and result's netspec.role
    out = sig.name_results(module.call("train_step", *sig.arguments(...)))

The stages (:meth:`Lowered.stages` writes each one's module):

1. ``spec.to_mlir()`` gives the netspec module;
2. :func:`lean_mlir.run_pipeline` runs ``netspec-to-stablehlo`` (the lowering
   and the derived backward pass, in C++) with a repro on failure, and
   StableHLO's own verifier (``iree.compiler.ir``) checks the result;
3. the lowerer's input, made in one parse (:meth:`Lowered.backend_input`):
   for IREE, parameters bound as globals where asked
   (:func:`bind_parameters`) and, on the CPU, every function's transient
   memory taken from a workspace buffer the module owns
   (:func:`externalize_transients`), so a call allocates nothing; for XLA,
   the function named ``main`` with its donated buffers aliased
   (:func:`lean_mlir.xla.xla_input`);
4. ``iree-compile`` builds a ``.vmfb`` (:func:`compile_stablehlo`, the one
   place IREE's compiler is called), or XLA compiles through PJRT; the module
   is loaded.

:func:`lower` decides the forms and flags once (the backend's, or what
``lean-mlir tune`` chose here), so everything that compiles a function
compiles the same one, under one cache key (:meth:`Lowered.key`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lean_mlir._errors import Diagnostic, MLIRError
from lean_mlir._files import atomic_write
from lean_mlir._host import cpu_signature
from lean_mlir._mlir import Context, Module
from lean_mlir._version import __version__
from lean_mlir.layers import sub_layers
from lean_mlir.pipeline import run_pipeline
from lean_mlir.recipes import TrainConfig
from lean_mlir.signature import ROLE_ATTR, Role, Signature, read_parameters, read_signatures
from lean_mlir.spec import NetSpec
from lean_mlir.xla import PLATFORMS, XlaModule, XlaUnavailable, client, compile_xla, xla_input

__all__ = [
    "BACKENDS",
    "LOWERERS",
    "PARAMETER_SCOPE",
    "TARGETS",
    "CompiledModule",
    "DeviceUnavailable",
    "Lowered",
    "bind_parameters",
    "bound_parameters",
    "check_device",
    "compile_cache_dir",
    "compile_flags",
    "compile_spec",
    "compile_stablehlo",
    "example_arguments",
    "externalize_transients",
    "forget_tuned",
    "lower",
    "lower_module",
    "lower_stablehlo",
    "lower_to_stablehlo",
    "lowerer_of",
    "lowering_pipeline",
    "read_parameters",
    "save_tuned_choice",
    "to_numpy",
    "tuned_choice",
    "tuned_dir",
    "verify_stablehlo",
]

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
    # sm_80 and newer (A100, H100: IREE 3.13 knows no sm_90 target, and the
    # driver compiles this PTX for the card); also compiles with no GPU present.
    "cuda": ["--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80"],
}

#: Flags for the ``cpu`` forms on top of BACKENDS. Data tiling (GEMM operands
#: packed into the tiles the kernels read) speeds up the train steps with
#: convolutions (batch 128, cpu forms; with the workspace MNIST-CNN-BN 123 -> 110
#: ms, the ResNet 138 -> 129 ms; the CNN's 7-14 ms, measured before the
#: workspace); the MLP's is within noise here (2.42
#: -> 2.52 ms) and 18% faster on an Intel Xeon of this project's kind. It was
#: measured on these forms only, and fails to compile the generic forms' train
#: step with momentum.
CPU_FORMS_FLAGS: dict[str, list[str]] = {
    "llvm-cpu": ["--iree-opt-data-tiling=true"],
}

#: What IREE 3.13's data tiling cannot compile on the CPU: a GEMM with a
#: transcendental activation fused into its epilogue (a bound ``predict`` folds
#: batch norm into the convolution, so the small EfficientNet's 1x1 convBn with
#: silu and the small ConvNeXt's 1x1 convolution with gelu each needed 132 KB of
#: stack for the packed tile at batch 128) and layer scale's two-result epilogue
#: (its VJP keeps the GEMM's output: 33 KB in the small ConvNeXt's train step),
#: where IREE allows 32 KB. Networks with them compile without data tiling (the
#: small ConvNeXt's train step then took 133.7 ms; with data tiling and the two
#: checks raised, 143.8).
UNTILED_LAYERS = ("convnext_block", "layer_scale", "mbconv", "squeeze_excite")
#: hardswish's min/max epilogue too: the small MobileNetV3's bound ``predict`` at batch
#: 128 failed so (its 1x1 convBn 48 -> 192 with hardswish).
UNTILED_ACTIVATIONS = ("silu", "gelu", "gelu_tanh", "sigmoid", "tanh", "hardswish",
                       "hardsigmoid")


def data_tiling_compiles(spec: NetSpec) -> bool:
    """Whether ``spec``'s cpu forms compile with data tiling (UNTILED_LAYERS and
    UNTILED_ACTIVATIONS, in any layer or inside one: a residual's, a block's parts)."""
    layers = [x for layer in spec.layers for x in (layer, *sub_layers(layer))]
    return not any(layer.kind in UNTILED_LAYERS
                   or getattr(layer, "activation", None) in UNTILED_ACTIVATIONS
                   for layer in layers)


#: Which StableHLO forms the lowering emits per backend (netspec-to-stablehlo's
#: ``target``): the forms measured fast on IREE's CPU backend; for CUDA the same
#: with long reductions split (the book CNN's train step on an H100: generic
#: forms 17.5 ms, cpu forms 135 ms, gpu forms 5.2-5.9 ms; ``predict`` 7.0, 3.6
#: and 1.3 ms; docs/gpu.md); the textbook forms for ROCm, where
#: nothing has been measured.
TARGETS: dict[str, str] = {"llvm-cpu": "cpu", "rocm": "generic", "cuda": "gpu",
                           # XLA picks its own layouts and kernels (cuDNN, Eigen): it
                           # gets the textbook forms (its CPU train steps ran 1.4x
                           # IREE's time in them, 2.6x in the cpu forms).
                           "xla": "generic", "xla-cuda": "generic", "xla-rocm": "generic"}

#: The backends each lowerer compiles for: IREE's (BACKENDS) and XLA's through PJRT
#: (:mod:`lean_mlir.xla`).
LOWERERS: dict[str, tuple[str, ...]] = {"iree": ("llvm-cpu", "rocm", "cuda"),
                                        "xla": ("xla", "xla-cuda", "xla-rocm")}


def lowerer_of(backend: str) -> str:
    """``iree`` or ``xla``: who compiles for ``backend``."""
    _check_backend(backend)
    return "xla" if backend in LOWERERS["xla"] else "iree"

#: IREE runtime driver per backend.
DRIVERS = {"llvm-cpu": "local-task", "rocm": "hip", "cuda": "cuda"}
#: What a machine needs for each IREE GPU driver.
DRIVER_NEEDS = {"hip": "an AMD GPU with ROCm's HIP runtime (libamdhip64.so)",
                "cuda": "an NVIDIA GPU with its driver (libcuda.so)"}


class DeviceUnavailable(ValueError):
    """A backend whose device or runtime is not on this machine; says what was looked
    for and what to install."""


def check_device(backend: str) -> None:
    """Raises DeviceUnavailable unless ``backend`` can run here: IREE's driver finds a
    device, or XLA's PJRT client for it loads. What to call before compiling anything
    for a run (compiling for a GPU works anywhere; running does not)."""
    if lowerer_of(backend) == "xla":
        try:
            client(backend)
        except XlaUnavailable as e:
            raise DeviceUnavailable(str(e)) from e
        return
    import iree.runtime as rt

    driver = DRIVERS[backend]
    try:
        found = rt.get_driver(driver).query_available_devices()
    except RuntimeError:
        found = []
    if not found:
        raise DeviceUnavailable(f"backend {backend!r}: IREE's {driver} driver finds no device "
                                f"here; it needs {DRIVER_NEEDS.get(driver, 'its device')}")

FUNCTIONS = ("predict", "eval", "value_and_grad", "train_step")
#: Functions whose parameters can be bound at load (:func:`bind_parameters`): the
#: ones that only read them.
BINDABLE = ("predict", "eval")
#: The IREE parameter scope that bound parameters are read from.
PARAMETER_SCOPE = "model"

#: Whether the thread that calls a CPU module runs as SCHED_BATCH for the call
#: (see :class:`_BatchScheduled`); ``LEAN_MLIR_BATCH_WAIT=0`` turns it off, for
#: measuring what it buys.
BATCH_WAIT = os.environ.get("LEAN_MLIR_BATCH_WAIT", "1") != "0"


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
    return str(lower_module(spec, pipeline))


def lower_module(spec: NetSpec, pipeline: str) -> Module:
    """Runs ``pipeline`` on the spec's IR; returns the lowered module, verified by
    StableHLO. Its ops keep the locations the lowering attaches (print it with
    ``get_asm(enable_debug_info=True)`` to see them; ``str()`` leaves them out)."""
    ctx = Context()
    ctx.allow_unregistered_dialects = True
    module = spec.to_mlir(ctx)
    run_pipeline(module, pipeline, f"lowering {spec.name}")
    verify_stablehlo(str(module))
    return module


def verify_stablehlo(text: str) -> None:
    """Parses ``text`` with StableHLO registered and runs its verifiers; raises MLIRError."""
    from iree.compiler import ir

    with ir.Context() as ctx:
        ctx.allow_unregistered_dialects = False
        _parse_verified(text)


def _function(module, name: str):
    """The ``func.func @name`` of an ``iree.compiler.ir`` module; ValueError if none."""
    from iree.compiler import ir

    for op in module.body.operations:
        if (op.operation.name == "func.func"
                and ir.StringAttr(op.attributes["sym_name"]).value == name):
            return op
    raise ValueError(f"no function @{name} in the lowered module")


def _set_signature(func, inputs: list, arg_attrs: list | None) -> None:
    """Gives ``func`` the argument types ``inputs`` (results unchanged) and, where it has
    argument attributes, ``arg_attrs``."""
    from iree.compiler import ir

    results = ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value).results
    func.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, results))
    if arg_attrs is not None:
        func.attributes["arg_attrs"] = ir.ArrayAttr.get(arg_attrs)


def _arg_roles(func) -> list[Role | None]:
    """Each argument's ``netspec.role`` (None where it has none) in an ``iree.compiler.ir``
    function."""
    from iree.compiler import ir

    if "arg_attrs" not in func.attributes:
        return [None] * len(func.regions[0].blocks[0].arguments)
    out = []
    for attrs in ir.ArrayAttr(func.attributes["arg_attrs"]):
        attrs = ir.DictAttr(attrs)
        out.append(Role.parse(ir.StringAttr(attrs[ROLE_ATTR]).value)
                   if ROLE_ATTR in attrs else None)
    return out


def _bind(module, function: str) -> None:
    """:func:`bind_parameters` on a parsed module, in place."""
    from iree.compiler import ir

    if function not in BINDABLE:
        raise ValueError(f"{function}: only {', '.join(BINDABLE)} can bind their parameters "
                         "(the other functions change them)")
    func = _function(module, function)
    block = func.regions[0].blocks[0]
    roles = _arg_roles(func)
    attrs = (list(ir.ArrayAttr(func.attributes["arg_attrs"])) if "arg_attrs" in func.attributes
             else [ir.DictAttr.get({})] * len(block.arguments))
    scope = ir.StringAttr.get(PARAMETER_SCOPE)
    kept = []
    for i, (arg, role) in enumerate(zip(list(block.arguments), roles, strict=True)):
        if role is None or role.kind != "param":
            kept.append((arg.type, attrs[i]))
            continue
        with ir.InsertionPoint(func):
            ir.Operation.create("util.global", attributes={
                "sym_name": ir.StringAttr.get(f"param{i}"),
                "sym_visibility": ir.StringAttr.get("private"),
                "type": ir.TypeAttr.get(arg.type),
                "initial_value": ir.Attribute.parse(
                    f"#flow.parameter.named<{scope}::{ir.StringAttr.get(role.param)}> : "
                    f"{arg.type}"),
                "netspec.param": ir.StringAttr.get(role.param)})
        with ir.InsertionPoint.at_block_begin(block):
            load = ir.Operation.create(
                "util.global.load", results=[arg.type],
                attributes={"global": ir.FlatSymbolRefAttr.get(f"param{i}")})
        arg.replace_all_uses_with(load.result)
    for i in reversed(range(len(block.arguments))):
        if roles[i] is not None and roles[i].kind == "param":
            block.erase_argument(i)
    _set_signature(func, [t for t, _ in kept],
                   [a for _, a in kept] if "arg_attrs" in func.attributes else None)


def _bound(module) -> dict[str, tuple[int, ...]]:
    """:func:`bound_parameters` of a parsed module."""
    from iree.compiler import ir

    return {ir.StringAttr(op.attributes["netspec.param"]).value:
            tuple(ir.RankedTensorType(ir.TypeAttr(op.attributes["type"]).value).shape)
            for op in module.body.operations
            if op.operation.name == "util.global" and "netspec.param" in op.attributes}


def _externalize(module, function: str) -> None:
    """:func:`externalize_transients` on a parsed module, in place."""
    from iree.compiler import ir

    func = _function(module, function)
    block = func.regions[0].blocks[0]
    workspace_type = ir.Type.parse("!hal.buffer_view")
    workspace = block.add_argument(workspace_type, ir.Location.unknown())
    inputs = ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value).inputs
    _set_signature(func, [*inputs, workspace_type],
                   [*ir.ArrayAttr(func.attributes["arg_attrs"]),
                    ir.DictAttr.get({ROLE_ATTR: ir.StringAttr.get("workspace")})]
                   if "arg_attrs" in func.attributes else None)
    ret = block.operations[len(block.operations) - 1]
    with ir.InsertionPoint(ret):
        for i, value in enumerate(list(ret.operands)):
            annotated = ir.Operation.create("hal.tensor.transients", results=[value.type],
                                            operands=[value, workspace])
            ret.operands[i] = annotated.result


def _parse_verified(text: str):
    """``text`` parsed in IREE's MLIR (StableHLO registered) and verified; MLIRError
    with StableHLO's diagnostics. Call inside an ``ir.Context``."""
    from iree.compiler import ir

    try:
        module = ir.Module.parse(text)
        module.operation.verify()
    except ir.MLIRError as e:
        diags = [Diagnostic("error", str(d.location), d.message) for d in e.error_diagnostics]
        raise MLIRError("StableHLO verification failed", diags) from e
    return module


def bind_parameters(text: str, function: str) -> str:
    """Makes ``function`` of lowered StableHLO ``text`` read its parameters at load.

    Every argument whose ``netspec.role`` is ``param:<name>`` becomes an
    immutable global initialised from IREE parameter ``model::<name>``
    (``#flow.parameter.named``, the global marked ``netspec.param = "<name>"``),
    loaded at the function's start in its place; ``function`` keeps only its
    other arguments (the batch). What this buys: IREE evaluates everything that
    depends on the parameters alone (the packing of the dense weights for its
    GEMMs, the filters' re-layouts) once, when the module is loaded, instead of
    at every call; the CNN's ``predict`` at batch 128 loses the 2-3 ms of
    repacking its 6272x512 weight. The parameters themselves come from a
    safetensors file or from arrays (:meth:`CompiledModule.with_parameters`).
    """
    from iree.compiler import ir

    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        _bind(module, function)
        module.operation.verify()
        return str(module)


#: Backends whose functions take their transient memory from a workspace
#: (:func:`externalize_transients`). Measured on the CPU only.
WORKSPACE_BACKENDS = ("llvm-cpu",)
#: The suffix of the function IREE generates to say how large a workspace is.
_WORKSPACE_SIZE_SUFFIX = "_transients_size"


def externalize_transients(text: str, function: str, debug_info: bool = False) -> str:
    """Makes ``function`` of StableHLO ``text`` take its transient memory from a buffer
    the caller passes as a last argument (``!hal.buffer_view``, role ``workspace``).

    Why: IREE 3.13's CPU driver serves a call's transient buffers from a pool of
    64 MB slabs. A train step's working set at batch 128 is one transient of
    90-180 MB (all its activations and gradients), larger than a slab, so every
    call maps it afresh and unmaps it at the end: 22,000 page faults a call for
    the book's CNN (its step 90 ms instead of 63), 46,000 for the ResNet. And
    where a step is split by barriers, buffers freed by reference counting are
    not reused and the pool grows by a slab every few calls. With the results
    annotated ``hal.tensor.transients ... from %workspace``, IREE suballocates
    every transient from the caller's buffer and generates
    ``<function>_transients_size``, which says how large it must be; the
    module's function wrapper (:meth:`CompiledModule.function`) owns one such
    buffer per function and passes it to every call: no allocation, no page
    fault, no growth, by construction.
    """
    from iree.compiler import ir

    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        _externalize(module, function)
        # With debug_info the ops keep their locations (lean-mlir explain reads
        # them); without, the text is the compile cache's key, which a layer
        # moving in its source file must not change.
        return module.operation.get_asm(enable_debug_info=debug_info)


def _check_backend(backend: str) -> None:
    if backend not in TARGETS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {list(TARGETS)}")


def compile_flags(backend: str, target: str | None = None,
                  data_tiling: bool | None = None, spec: NetSpec | None = None) -> list[str]:
    """The ``iree-compile`` flags for ``backend``, for a module in ``target``'s forms
    (default: the backend's, TARGETS). ``data_tiling`` overrides whether GEMM
    operands are packed for the kernels (default: on for the cpu forms, unless
    ``spec`` has layers it cannot compile: :func:`data_tiling_compiles`)."""
    if lowerer_of(backend) != "iree":
        return []    # XLA takes no compiler flags from us
    if target is not None and target not in ("generic", "cpu", "gpu"):
        raise ValueError(f"unknown target {target!r}; expected generic, cpu or gpu")
    flags = list(BACKENDS[backend])
    if (target or TARGETS[backend]) == "cpu":
        flags += CPU_FORMS_FLAGS.get(backend, [])
        if data_tiling is None and spec is not None and not data_tiling_compiles(spec):
            data_tiling = False
    if data_tiling is not None:
        flags = [f for f in flags if not f.startswith("--iree-opt-data-tiling")]
        flags.append(f"--iree-opt-data-tiling={'true' if data_tiling else 'false'}")
    return flags


#: The netspec-to-stablehlo options ``lean-mlir tune`` chooses (with data tiling),
#: and the values each may take.
TUNED_OPTIONS = {"conv_weight_gradient": ("taps", "batched-im2col")}


def tuned_dir() -> Path | None:
    """Where ``lean-mlir tune`` keeps its choices: ``tuned/`` in the compile cache
    (:func:`compile_cache_dir`); None when the cache is off, or when
    ``LEAN_MLIR_TUNED=off`` (compile as untuned, as the tests do)."""
    cache = compile_cache_dir()
    if cache is None or os.environ.get("LEAN_MLIR_TUNED", "").lower() in ("off", "0", "no"):
        return None
    return cache / "tuned"


def _tuning_path(spec: NetSpec, function: str, batch_size: int, backend: str,
                 options: dict, bind_params: bool) -> Path | None:
    """The file of the choice for this network, function, batch, backend, options
    (those tune does not choose) and binding, on this CPU with this IREE and this
    lean-mlir (a new lowering is tuned anew)."""
    directory = tuned_dir()
    if directory is None:
        return None
    fixed = {k: v for k, v in sorted(options.items()) if k not in TUNED_OPTIONS}
    what = json.dumps([spec.fingerprint(), function, batch_size, backend, fixed, bind_params,
                       cpu_signature(), _iree_version(), __version__])
    return directory / f"{hashlib.sha256(what.encode()).hexdigest()}.json"


@functools.cache
def _iree_version() -> str:
    """The installed IREE compiler's version (read once a process)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("iree-base-compiler")
    except PackageNotFoundError:
        return "unknown"


def _valid_choice(choice) -> dict | None:
    """``choice`` with only what tune may choose, or None if it holds anything else."""
    if not isinstance(choice, dict) or not isinstance(choice.get("options"), dict):
        return None
    options = choice["options"]
    if any(TUNED_OPTIONS.get(k) is None or v not in TUNED_OPTIONS[k]
           for k, v in options.items()):
        return None
    if choice.get("data_tiling") not in (True, False, None):
        return None
    return {**choice, "options": dict(options), "data_tiling": choice.get("data_tiling")}


def tuned_choice(spec: NetSpec, function: str, batch_size: int, backend: str,
                 options: dict, bind_params: bool = False) -> dict | None:
    """What ``lean-mlir tune`` chose for this compile (``options``: the fixed
    netspec-to-stablehlo options, target included), or None: ``{"options": {...},
    "data_tiling": True | False | None (the target's), ...}``. A file that is
    unreadable or holds anything tune does not choose counts as no choice."""
    path = _tuning_path(spec, function, batch_size, backend, options, bind_params)
    if path is None or not path.exists():
        return None
    try:
        return _valid_choice(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def save_tuned_choice(spec: NetSpec, function: str, batch_size: int, backend: str,
                      options: dict, choice: dict, bind_params: bool = False) -> Path:
    """Keeps ``choice`` (``options``, ``data_tiling`` and what was measured) for this
    compile; :func:`compile_spec` uses it from then on."""
    if _valid_choice(choice) is None:
        raise ValueError(f"not a choice tune makes: {choice}")
    path = _tuning_path(spec, function, batch_size, backend, options, bind_params)
    if path is None:
        raise ValueError("tuned choices are kept in the compile cache, which is off "
                         "(LEAN_MLIR_COMPILE_CACHE or LEAN_MLIR_TUNED)")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps({"network": spec.name, "fingerprint": spec.fingerprint(),
                                    "function": function, "batch_size": batch_size,
                                    "backend": backend, "bind_params": bind_params, **choice},
                                   indent=1) + "\n").encode())
    return path


def forget_tuned(spec: NetSpec) -> int:
    """Removes every choice ``lean-mlir tune`` kept for ``spec``; returns how many."""
    directory = tuned_dir()
    removed = 0
    for path in sorted(directory.glob("*.json")) if directory and directory.exists() else []:
        try:
            kept = json.loads(path.read_text())
            if isinstance(kept, dict) and kept.get("fingerprint") == spec.fingerprint():
                path.unlink()
                removed += 1
        except (OSError, ValueError):
            continue
    return removed


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
    iree = _iree_version()
    cpu = cpu_signature() if any(f.endswith("target-cpu=host") for f in flags) else ""
    h = hashlib.sha256()
    for part in (text, "\0".join(flags), iree, cpu):
        h.update(part.encode())
        h.update(b"\1")
    return h.hexdigest()


def compile_stablehlo(text: str, backend: str = "llvm-cpu",
                      flags: list[str] | None = None, cache: bool = True,
                      extra_flags: tuple[str, ...] = ()) -> bytes:
    """Compiles StableHLO text to an IREE ``.vmfb`` for ``backend``
    (with ``flags``, default :func:`compile_flags` of the backend). The one place
    that calls IREE's compiler.

    Modules are kept on disk (:func:`compile_cache_dir`), keyed by the StableHLO,
    the flags, the IREE version and the host CPU, so processes on one machine
    (a sweep's runs, a resumed run, the tests) compile each module once;
    ``cache=False`` always compiles (and refreshes the cache). ``extra_flags``
    (what to dump, for ``lean-mlir explain``) change nothing in the module: a
    compile with them is never cached.
    """
    from iree.compiler import tools

    if lowerer_of(backend) != "iree":
        raise ValueError(f"{backend}: compile_stablehlo compiles for IREE's backends "
                         f"{list(BACKENDS)}")
    flags = compile_flags(backend) if flags is None else flags
    directory = compile_cache_dir()
    path = directory / f"{_cache_key(text, flags)}.vmfb" if directory else None
    if extra_flags:
        return tools.compile_str(text, input_type="stablehlo",
                                 extra_args=[*flags, *extra_flags])
    if cache and path is not None and path.exists():
        data = path.read_bytes()
        if data.startswith(b"PK\x03\x04"):   # a whole module (writes are atomic)
            return data
    vmfb = tools.compile_str(text, input_type="stablehlo", extra_args=flags)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, vmfb)
        except OSError:   # a read-only or full cache only costs the next compile
            pass
    return vmfb


@dataclass
class CompiledModule:
    """A compiled ``.vmfb`` loaded in IREE's runtime; ``call`` runs a function.

    ``bound`` names the parameters (and their shapes) that the module reads at
    load instead of taking them as arguments (:func:`bind_parameters`); such a
    module runs once :meth:`with_parameters` has said where they come from.
    """

    vmfb: bytes
    backend: str
    stablehlo: str
    bound: dict[str, tuple[int, ...]] = field(default_factory=dict)
    parameters: object = field(default=None, repr=False)
    #: The iree-compile flags it was compiled with (empty where not known).
    flags: list[str] = field(default_factory=list)
    #: The lowered function's roles (None for a module loaded from a file).
    signature: Signature | None = None
    _context: object = field(default=None, repr=False)
    _functions: dict = field(default_factory=dict, repr=False)

    lowerer = "iree"

    @property
    def binary(self) -> bytes:
        return self.vmfb

    def _module(self):
        if self._context is None:
            import iree.runtime as rt

            if self.bound and self.parameters is None:
                raise ValueError("this module reads its parameters at load: give them with "
                                 "with_parameters(...) first")
            config = _runtime_config(self.backend)
            self._context = rt.SystemContext(config=config)
            if self.bound:
                self._context.add_vm_module(rt.create_io_parameters_module(
                    config.vm_instance, _parameter_index(self.parameters).create_provider(
                        scope=PARAMETER_SCOPE)))
            self._context.add_vm_module(rt.VmModule.copy_buffer(self._context.instance,
                                                                self.vmfb))
        return self._context.modules.module

    def with_parameters(self, source) -> CompiledModule:
        """This module reading its bound parameters from ``source``: a safetensors
        file (mapped, not read into memory) or a dict of float32 arrays by name.

        Raises ValueError naming the file and the first parameter it lacks or has
        in another shape or type. Everything IREE derives from the parameters
        alone is computed once, when the returned module is first called.
        """
        if not self.bound:
            raise ValueError("this module takes its parameters as arguments")
        source = read_parameters(source, self.bound)
        return CompiledModule(self.vmfb, self.backend, self.stablehlo, dict(self.bound), source,
                              flags=list(self.flags), signature=self.signature)

    def function(self, name: str):
        """The runtime function ``name``: called with NumPy arrays or device arrays, it
        returns device arrays (``iree.runtime.DeviceArray``). A function that takes a
        workspace (:func:`externalize_transients`) gets it from the returned callable,
        which owns one and lets one call at a time use it; the module keeps that
        callable, so every call of ``name`` reuses one workspace."""
        if name not in self._functions:
            module = self._module()
            function = module[name]
            if name + _WORKSPACE_SIZE_SUFFIX in module.vm_module.function_names:
                function = _WithWorkspace(function, module[name + _WORKSPACE_SIZE_SUFFIX],
                                          self._context.config.device)
            self._functions[name] = function
        function = self._functions[name]
        if BATCH_WAIT and DRIVERS[self.backend] == "local-task" and _SCHED_BATCH is not None:
            return _BatchScheduled(function)
        return function

    def to_device(self, arrays: list[np.ndarray]) -> list:
        """Copies ``arrays`` into device buffers of this module's device."""
        import iree.runtime as rt

        self._module()
        return [rt.asdevicearray(self._context.config.device, a) for a in arrays]

    def call(self, function: str, *args: np.ndarray) -> list[np.ndarray]:
        """Calls ``function`` with NumPy arrays; returns its results as NumPy arrays."""
        out = self.function(function)(*args)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in out]


def to_numpy(value) -> np.ndarray:
    """A compiled function's result (an IREE or an XLA device array) as a NumPy array."""
    return np.asarray(value.to_host() if hasattr(value, "to_host") else value)


_SCHED_BATCH = getattr(os, "SCHED_BATCH", None)
_CONFIGS: dict[str, object] = {}


def _runtime_config(backend: str):
    """The process's one IREE runtime config (instance and device) for ``backend``.

    Every module loads into a context of its own, but all of them share one device:
    a device is a task executor with a worker thread per core and its own memory
    pools, and the train step, the evaluation and a predictor in one process
    need one set of workers and pools, not one each.
    """
    if backend not in _CONFIGS:
        import iree.runtime as rt

        _CONFIGS[backend] = rt.Config(DRIVERS[backend])
    return _CONFIGS[backend]


class _WithWorkspace:
    """A runtime function called with the workspace its transients come from
    (:func:`externalize_transients`) as its last argument.

    The workspace is allocated at the first call, as large as the module's size
    query says for that call's arguments, and kept: every later call reuses it.
    Calls are synchronous, so the workspace is free again when a call returns; a
    lock keeps two threads from using it at once.
    """

    def __init__(self, function, size_query, device):
        self._function, self._size_query, self._device = function, size_query, device
        self._workspace = None
        self._lock = threading.Lock()

    def __call__(self, *args):
        with self._lock:
            if self._workspace is None:
                import iree.runtime as rt

                probe = rt.asdevicearray(self._device, np.zeros(1, np.uint8))
                size = int(self._size_query(*args, probe))
                self._workspace = rt.asdevicearray(self._device, np.zeros(size, np.uint8))
            return self._function(*args, self._workspace)

    def __getattr__(self, name):
        return getattr(self._function, name)


class _BatchScheduled:
    """A runtime function whose calling thread runs as SCHED_BATCH while it waits.

    A call of a CPU module hands its dispatches to IREE's worker threads (one
    per core) and blocks until the last one signals. In IREE 3.13 the woken
    caller then spins until the worker that woke it has finished its callback
    (``iree_async_semaphore_multi_wait``, ``runtime/src/iree/async/semaphore.c``).
    The kernel lets a thread that has slept preempt the running one, so the
    caller often lands on that very worker's core and spins until the scheduler
    takes the core back: measured on 2 cores, the caller burnt 0.96 ms of CPU a
    call of the MLP train step (3.2 ms) and 4 ms of the CNN's. A SCHED_BATCH
    thread does not preempt on wake-up; with it the caller burns 0.07 and
    0.3 ms, the MLP step takes 2.25 ms and the CNN step's slow tail (90th
    percentile 111 -> 74 ms) goes away. The policy is set for the call only, and
    only over SCHED_OTHER (a real-time or idle caller keeps its own).
    """

    __slots__ = ("_function",)

    def __init__(self, function):
        self._function = function

    def __call__(self, *args):
        try:
            batch = os.sched_getscheduler(0) == os.SCHED_OTHER
            if batch:
                os.sched_setscheduler(0, _SCHED_BATCH, os.sched_param(0))
        except OSError:     # not allowed here (a sandbox): call as we are
            batch = False
        try:
            return self._function(*args)
        finally:
            if batch:
                try:
                    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
                except OSError:
                    pass

    def __getattr__(self, name):
        return getattr(self._function, name)


def _parameter_index(source):
    """An IREE parameter index over a safetensors file (mapped) or arrays by name."""
    import iree.runtime as rt

    index = rt.ParameterIndex()
    if isinstance(source, (str, Path)):
        index.load(str(source))
    else:
        for name, array in source.items():
            index.add_buffer(name, array)
    return index


def bound_parameters(text: str) -> dict[str, tuple[int, ...]]:
    """The parameters a module from :func:`bind_parameters` reads at load, with shapes."""
    from iree.compiler import ir

    with ir.Context():
        return _bound(ir.Module.parse(text))


def example_arguments(spec: NetSpec, function: str, batch_size: int,
                      cfg: TrainConfig, signature: Signature | None = None) -> list[np.ndarray]:
    """Arguments for ``function`` in its signature's order (``signature``, default the
    one ``cfg`` lowers to): the initial parameters (seed 0), zero optimizer state for
    ``cfg``, a random batch (seed 0), and for a train step ``cfg``'s learning rate
    and step 0. What tools that time or profile a function call it with."""
    if signature is None:
        options = cfg.lowering_options() if function in ("train_step", "value_and_grad") \
            else {}
        signature = lower(spec, function, batch_size, cfg.backend, options).signature
    rng = np.random.default_rng(0)
    state = {name: np.zeros(shape, np.float32) for name, shape in cfg.state_shapes(spec).items()}
    return signature.arguments(
        params=spec.init_params(0), state=state,
        images=rng.random((batch_size, *spec.input_shape), dtype=np.float32),
        **({"labels": rng.integers(0, spec.output_shape[0], batch_size).astype(np.int32)}
           if signature.takes("labels") else {}),
        **({"learning_rate": np.float32(cfg.learning_rate), "step": np.int32(0)}
           if signature.takes("step") else {}))


# -- the stages ---------------------------------------------------------------------------

@dataclass
class Lowered:
    """One function of a network, lowered for a backend: the first stage of the
    pipeline, and what :meth:`compile` turns into a callable module.

        lowered = lm.lower(spec, "train_step", 128, backend="llvm-cpu",
                           options={"momentum": 0.9})
        print(lowered.as_text())          # the StableHLO, verified by StableHLO
        lowered.signature.args[0].role    # Role(kind='param', param='conv2d_0.weight')
        module = lowered.compile()        # cached: in this process and on disk
        lowered.stages()                  # {"0-netspec.mlir": ..., "1-stablehlo.mlir": ...}

    Building one is cheap: ``options`` (netspec-to-stablehlo's, the target's forms
    and what ``lean-mlir tune`` chose here applied), ``pipeline`` and ``flags`` are
    decided at once; the IR is lowered when first asked for (``module``, ``text``,
    ``signature``), and not at all when the compiled module is already in this
    process.
    """

    #: The network (None for StableHLO from elsewhere: :func:`lower_stablehlo`).
    spec: NetSpec | None
    function: str
    batch_size: int
    backend: str
    #: netspec-to-stablehlo's options, ``target`` included.
    options: dict
    #: The lowering pipeline (``lean-mlir-opt --pass-pipeline=...`` reruns it).
    pipeline: str
    #: The compiler's flags (IREE's; empty for XLA).
    flags: list[str]
    #: The function reads its parameters at load (:func:`bind_parameters`).
    bind_params: bool = False
    #: What ``lean-mlir tune`` chose for this compile, if it was applied.
    tuned: dict | None = None

    @property
    def lowerer(self) -> str:
        return lowerer_of(self.backend)

    @functools.cached_property
    def module(self) -> Module:
        """The lowered module (native; its ops keep their locations), verified by
        StableHLO's own verifier."""
        return lower_module(self.spec, self.pipeline)

    @functools.cached_property
    def text(self) -> str:
        """The StableHLO, printed without locations (what the later stages read)."""
        return str(self.module)

    @functools.cached_property
    def signature(self) -> Signature:
        """What each argument and result is (``netspec.role``), read from the IR."""
        return read_signatures(self.module)[self.function]

    def as_text(self, debug_info: bool = False) -> str:
        """The lowered StableHLO; with ``debug_info``, every op's location (the layer
        and part of the derivation it comes from)."""
        return self.module.operation.get_asm(enable_debug_info=debug_info) if debug_info \
            else self.text

    def backend_input(self, debug_info: bool = False) -> tuple[str, dict]:
        """The second stage: the module the lowerer compiles and the parameters it
        binds. IREE: parameters bound as globals (``bind_params``) and, on the CPU,
        the transients taken from a workspace, in one parse; XLA: ``main`` with its
        donated arguments aliased (:func:`lean_mlir.xla.xla_input`)."""
        if self.lowerer == "xla":
            # XLA keeps bound parameters as device buffers (XlaModule.with_parameters).
            bound = ({a.role.param: a.shape for a in self.signature.args
                      if a.role.kind == "param"} if self.bind_params else {})
            return xla_input(self.as_text(debug_info), self.function, self.signature), bound
        from iree.compiler import ir

        with ir.Context(), ir.Location.unknown():
            module = ir.Module.parse(self.as_text(debug_info))
            if self.bind_params:
                _bind(module, self.function)
            bound = _bound(module)
            if self.backend in WORKSPACE_BACKENDS:
                _externalize(module, self.function)
            module.operation.verify()
            # Without debug_info the text is the compile cache's key, which a layer
            # moving in its source file must not change.
            return module.operation.get_asm(enable_debug_info=debug_info), bound

    def key(self) -> tuple:
        """What the compiled module depends on, beyond the machine: this process's
        cache key."""
        source = self.spec.fingerprint() if self.spec is not None else hashlib.sha256(
            self.text.encode()).hexdigest()
        return (source, self.pipeline, self.backend, tuple(self.flags), self.bind_params)

    def compile(self, cache: bool = True):
        """The loaded module (:class:`CompiledModule` for IREE, an
        :class:`~lean_mlir.xla.XlaModule` for XLA), from this process's cache, the
        disk cache, or compiled now. ``cache=False`` compiles anew (and refreshes
        the disk cache)."""
        key = self.key()
        if cache and key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        text, bound = self.backend_input()
        if self.lowerer == "xla":
            executable, binary = compile_xla(text, self.backend, compile_cache_dir(), cache)
            module = XlaModule(executable, self.backend, text, self.function, self.signature,
                               binary, bound)
        else:
            module = CompiledModule(compile_stablehlo(text, self.backend, self.flags, cache),
                                    self.backend, text, bound, flags=list(self.flags),
                                    signature=self.signature)
        _CACHE[key] = module
        while len(_CACHE) > CACHE_MODULES:
            _CACHE.popitem(last=False)
        return module

    def is_cached(self) -> bool:
        """Whether :meth:`compile` would find the module already compiled (in this
        process, or on disk for IREE)."""
        if self.key() in _CACHE:
            return True
        directory = compile_cache_dir()
        if directory is None or self.lowerer != "iree":
            return False
        return (directory / f"{_cache_key(self.backend_input()[0], self.flags)}.vmfb").exists()

    def stages(self) -> dict[str, str]:
        """Every stage's module, by file name, and ``commands.sh``: how each stage is
        made again from the command line (``lean-mlir compile --dump-stages``)."""
        second = f"2-{self.lowerer}-input.mlir"
        files = {"1-stablehlo.mlir": self.as_text(debug_info=True),
                 second: self.backend_input()[0]}
        if self.spec is not None:
            files["0-netspec.mlir"] = self.spec.to_mlir().operation.get_asm(
                enable_debug_info=True)
        rewrites = ("bind the parameters as globals; " if self.bind_params else "") + (
            "take the transients from a workspace argument"
            if self.backend in WORKSPACE_BACKENDS else "no rewrite")
        if self.lowerer == "xla":
            rewrites = "rename the function main; alias donated arguments (tf.aliasing_output)"
        lines = ["#!/bin/sh",
                 (f"# {self.spec.name if self.spec else 'StableHLO'}: {self.function}, "
                  f"batch {self.batch_size}, backend {self.backend}")]
        if self.spec is not None:
            lines += ["# 0 -> 1: the lowering and the derived backward pass (C++ passes)",
                      ("lean-mlir-opt --allow-unregistered-dialect "
                       f"--pass-pipeline='{self.pipeline}' 0-netspec.mlir -o 1-stablehlo.mlir")]
        lines.append(f"# 1 -> 2: {rewrites} (lean_mlir.compiler.Lowered.backend_input)")
        if self.lowerer == "iree":
            lines += ["# 2 -> module: IREE",
                      "iree-compile --iree-input-type=stablehlo "
                      + " ".join(f"'{f}'" for f in self.flags)
                      + f" {second} -o {self.function}.vmfb"]
        else:
            lines.append("# 2 -> module: XLA through PJRT (jax.extend.backend.get_backend("
                         f"'{PLATFORMS[self.backend]}').compile_and_load)")
        files["commands.sh"] = "\n".join(lines) + "\n"
        return files


def lower(spec: NetSpec, function: str, batch_size: int, backend: str = "llvm-cpu",
          options: dict | None = None, *, bind_params: bool = False,
          flags: list[str] | None = None) -> Lowered:
    """``function`` of ``spec`` lowered for ``backend``: the pipeline's first stage
    (see :class:`Lowered`). ``options`` are netspec-to-stablehlo's (``optimizer``,
    ``momentum``, ...); ``target`` defaults to the backend's (TARGETS). ``flags``
    replace :func:`compile_flags`; without them, what ``lean-mlir tune`` chose for
    this compile on this machine (:func:`tuned_choice`) applies. ``bind_params``
    (``predict``, ``eval``): the compiled module reads the parameters at load
    (``.with_parameters(params)``), and its function takes the batch alone."""
    _check_backend(backend)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if bind_params and function not in BINDABLE:
        raise ValueError(f"{function}: only {', '.join(BINDABLE)} can bind their parameters "
                         "(the other functions change them)")
    options = {"target": TARGETS[backend], **(options or {})}
    choice = None
    if flags is None:
        if lowerer_of(backend) == "iree" and not set(TUNED_OPTIONS) & set(options):
            choice = tuned_choice(spec, function, batch_size, backend, options, bind_params)
        if choice is not None:
            options = {**options, **choice["options"]}
            flags = compile_flags(backend, options["target"], choice["data_tiling"])
        else:
            flags = compile_flags(backend, options["target"], spec=spec)
    return Lowered(spec, function, batch_size, backend, options,
                   lowering_pipeline(function, batch_size, options), list(flags),
                   bind_params, choice)


def lower_stablehlo(text: str, function: str, backend: str = "llvm-cpu", *,
                    bind_params: bool = False) -> Lowered:
    """StableHLO from elsewhere (an export's portable artifact) as the first stage,
    in place of a lowering: ``function`` must carry ``netspec.role`` on every
    argument and result, as the lowering emits them. Compiled with the backend's
    flags for the textbook forms."""
    _check_backend(backend)
    ctx = Context()
    ctx.allow_unregistered_dialects = True
    module = Module.parse(text, ctx)
    verify_stablehlo(text)
    signature = read_signatures(module)[function]
    batch = signature.args[signature.arg_index("images")].shape[0]
    lowered = Lowered(None, function, batch, backend, {"target": "generic"}, "",
                      compile_flags(backend, "generic"), bind_params)
    # The stages a lowering would compute, given.
    lowered.__dict__.update(module=module, text=str(module), signature=signature)
    return lowered


#: How many loaded modules this process keeps (the most recently used). Each holds
#: its runtime context and, once called, its workspace (up to hundreds of MB for a
#: train step at batch 128): a process that compiles many networks (a test suite,
#: tune, a sweep's worker) would otherwise keep them all. Modules still in use
#: (a TrainStepper's, a Predictor's) live on; a dropped one loads again from the
#: disk cache.
CACHE_MODULES = 16
_CACHE: OrderedDict[tuple, object] = OrderedDict()


def compile_spec(spec: NetSpec, function: str, batch_size: int, backend: str = "llvm-cpu",
                 options: dict | None = None, flags: list[str] | None = None,
                 bind_params: bool = False):
    """``lower(...).compile()``: lowers, verifies and compiles ``function`` of
    ``spec`` (see :func:`lower`); cached per network IR, pipeline, backend, flags
    and binding. Returns a :class:`CompiledModule` (IREE) or an
    :class:`~lean_mlir.xla.XlaModule` (XLA), both called alike."""
    return lower(spec, function, batch_size, backend, options, bind_params=bind_params,
                 flags=flags).compile()
