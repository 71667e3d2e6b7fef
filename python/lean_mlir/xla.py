"""The second lowerer: the same StableHLO compiled and run by XLA through PJRT.

``backend="xla"`` runs on the CPU through jaxlib's PJRT client; ``xla-cuda`` and
``xla-rocm`` through the PJRT plugins (``jax-cuda12-pjrt``, ``jax-rocm7-pjrt``)
when they are installed. What XLA is given is the lowering's StableHLO with two
changes, made by :func:`xla_input` (written out by ``lean-mlir compile
--dump-stages``): the function is named ``main``, as PJRT wants, and every
argument that a result of the same ``netspec.role`` replaces (a train step's
parameters and optimizer state) carries ``tf.aliasing_output``, so XLA writes
the new values into the old buffers and they stay on the device between
steps, as IREE's path keeps them.

jax and jaxlib are an optional extra (``pip install 'lean-mlir[xla]'``); only
this module imports them, and only when an XLA backend is asked for.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np

from lean_mlir._files import atomic_write
from lean_mlir._host import cpu_signature
from lean_mlir.signature import Signature, read_parameters

__all__ = ["PLATFORMS", "XlaModule", "XlaUnavailable", "compile_xla", "xla_input"]

#: PJRT platform per XLA backend.
PLATFORMS = {"xla": "cpu", "xla-cuda": "cuda", "xla-rocm": "rocm"}
#: What to install for each (the CPU client comes with jaxlib).
PACKAGES = {"xla": "jax==0.10.2 jaxlib==0.10.2 (pip install 'lean-mlir[xla]')",
            "xla-cuda": "jax-cuda12-pjrt==0.10.2 (pip install jax-cuda12-pjrt==0.10.2)",
            "xla-rocm": "jax-rocm7-pjrt==0.10.2 (pip install jax-rocm7-pjrt==0.10.2)"}


class XlaUnavailable(RuntimeError):
    """An XLA backend whose Python package or PJRT plugin is not installed, or whose
    device is absent; the message names what to install."""


@functools.cache
def client(backend: str):
    """The process's PJRT client for ``backend`` (one per process, as IREE's device)."""
    try:
        from jax.extend import backend as jax_backend
    except ImportError as e:
        raise XlaUnavailable(f"backend {backend!r} needs jax and jaxlib: install "
                             f"{PACKAGES['xla']}") from e
    try:
        return jax_backend.get_backend(PLATFORMS[backend])
    except RuntimeError as e:
        raise XlaUnavailable(f"backend {backend!r}: no PJRT {PLATFORMS[backend]} device "
                             f"({str(e).splitlines()[0]}); install {PACKAGES[backend]} "
                             "on a machine with the GPU") from e


@functools.cache
def jaxlib_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jaxlib")
    except PackageNotFoundError:
        return "unknown"


def xla_input(text: str, function: str, signature: Signature) -> str:
    """The module XLA compiles: ``function`` of the lowered ``text`` renamed ``main``,
    its donated arguments (:meth:`Signature.donated`) marked ``tf.aliasing_output``."""
    from iree.compiler import ir

    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        funcs = [op for op in module.body.operations if op.operation.name == "func.func"]
        names = [ir.StringAttr(f.attributes["sym_name"]).value for f in funcs]
        if names != [function]:
            raise ValueError(f"XLA runs one function a module; the lowered module has {names}")
        func = funcs[0]
        func.attributes["sym_name"] = ir.StringAttr.get("main")
        aliases = dict(signature.donated())
        if aliases:
            i32 = ir.IntegerType.get_signless(32)
            attrs = []
            for i, entry in enumerate(ir.ArrayAttr(func.attributes["arg_attrs"])):
                entry = {a.name: a.attr for a in ir.DictAttr(entry)}
                if i in aliases:
                    entry["tf.aliasing_output"] = ir.IntegerAttr.get(i32, aliases[i])
                attrs.append(ir.DictAttr.get(entry))
            func.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs)
        module.operation.verify()
        return str(module)


def _cache_key(text: str, backend: str) -> str:
    h = hashlib.sha256()
    for part in (text, backend, jaxlib_version(), cpu_signature()):
        h.update(part.encode())
        h.update(b"\1")
    return h.hexdigest()


def compile_xla(text: str, backend: str, cache_dir=None, cache: bool = True):
    """Compiles ``text`` (from :func:`xla_input`) for ``backend``; returns the loaded
    executable and its serialised form. Kept in ``cache_dir`` (serialised
    executables, keyed by the text, the backend, jaxlib's version and this CPU)."""
    from jax._src.lib import xla_client
    from jax.extend import backend as jax_backend

    pjrt = client(backend)
    devices = xla_client.DeviceList(tuple(pjrt.local_devices()[:1]))
    options = jax_backend.get_compile_options(num_replicas=1, num_partitions=1)
    path = cache_dir / f"{_cache_key(text, backend)}.xla" if cache_dir else None
    if cache and path is not None and path.exists():
        data = path.read_bytes()
        try:
            return pjrt.deserialize_executable(data, devices, options), data
        except (RuntimeError, ValueError):   # a damaged or foreign entry costs one compile
            path.unlink(missing_ok=True)
    executable = pjrt.compile_and_load(text, devices, options)
    data = executable.serialize()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
        except OSError:
            pass
    return executable, data


class _Function:
    """A compiled XLA function called like IREE's: with NumPy or device arrays, it
    returns device arrays (one, or a tuple). With ``bound`` parameters (device arrays
    by name) it takes the other arguments alone, as IREE's bound modules do."""

    def __init__(self, executable, device, signature: Signature, bound: dict):
        self._executable, self._device = executable, device
        self._signature, self._bound = signature, bound
        self._donated = {i for i, _ in signature.donated()}

    def __call__(self, *args):
        import jax

        if self._bound:
            given = iter(args)
            args = [self._bound[a.role.param] if a.role.kind == "param" else next(given)
                    for a in self._signature.args]
        buffers = []
        for i, a in enumerate(args):
            if not isinstance(a, jax.Array):
                # A donated buffer is written in place: never one over the caller's memory.
                a = jax.device_put(np.array(a, copy=True) if i in self._donated else a,
                                   self._device)
            buffers.append(a)
        out = self._executable.execute_sharded(buffers)
        results = [r[0] for r in out.disassemble_into_single_device_arrays()]
        return results[0] if len(results) == 1 else tuple(results)


@dataclass
class XlaModule:
    """A function compiled by XLA, with :class:`~lean_mlir.compiler.CompiledModule`'s
    interface (``function``, ``call``, ``to_device``, ``with_parameters``)."""

    executable: object = field(repr=False)
    backend: str
    stablehlo: str
    function_name: str
    signature: Signature
    #: The serialised executable (what the compile cache keeps).
    binary: bytes = field(repr=False, default=b"")
    bound: dict[str, tuple[int, ...]] = field(default_factory=dict)
    parameters: object = field(default=None, repr=False)
    flags: list[str] = field(default_factory=list)
    _functions: dict = field(default_factory=dict, repr=False)

    lowerer = "xla"

    @property
    def device(self):
        return client(self.backend).local_devices()[0]

    def with_parameters(self, source) -> XlaModule:
        """This module with its parameters uploaded once: its function then takes the
        batch alone (as an IREE module with bound parameters)."""
        if not self.bound:
            raise ValueError("this module takes its parameters as arguments")
        arrays = read_parameters(source, self.bound, load=True)
        return XlaModule(self.executable, self.backend, self.stablehlo, self.function_name,
                         self.signature, self.binary, dict(self.bound), arrays, list(self.flags))

    def function(self, name: str):
        if name != self.function_name:
            raise ValueError(f"this module holds @{self.function_name}, not @{name}")
        if name not in self._functions:
            bound = {}
            if self.bound:
                if self.parameters is None:
                    raise ValueError("this module reads its parameters at load: give them "
                                     "with with_parameters(...) first")
                names = self.signature.params
                bound = dict(zip(names, self.to_device([self.parameters[n] for n in names]),
                                 strict=True))
            self._functions[name] = _Function(self.executable, self.device, self.signature,
                                              bound)
        return self._functions[name]

    def to_device(self, arrays: list[np.ndarray]) -> list:
        import jax

        return [jax.device_put(np.array(a, copy=True), self.device) for a in arrays]

    def call(self, function: str, *args) -> list[np.ndarray]:
        out = self.function(function)(*args)
        if not isinstance(out, tuple):
            out = (out,)
        return [np.asarray(r) for r in out]
