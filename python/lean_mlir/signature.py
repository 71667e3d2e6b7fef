"""What each argument and result of a lowered function is, read from the IR; bound parameters.

``netspec-to-stablehlo`` gives every argument and result of every function it
emits a ``netspec.role`` attribute (its grammar is in ``Passes.td``):
``param:<name>``, ``state:<name>:<slot>``, ``images``, ``labels``,
``learning_rate``, ``step``; ``logits``, ``loss``, ``correct``,
``top5_correct``, ``grad:<name>``. A :class:`Signature` is those roles, read
once from the lowered module; everything that calls a compiled function asks
it where an argument goes and what a result is, and nothing counts positions
by itself.

    sig = lowered.signature
    args = sig.arguments(params=params, state=state, images=x, labels=y,
                         learning_rate=np.float32(0.1), step=np.int32(0))
    named = sig.name_results(outputs)      # {"param:fc.weight": ..., "loss": ...}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ROLE_ATTR", "Role", "Signature", "TensorSlot", "read_parameters",
           "read_signatures"]

#: The attribute the lowering puts on every argument and result.
ROLE_ATTR = "netspec.role"

#: Roles that name no parameter.
_PLAIN = ("images", "labels", "learning_rate", "step", "logits", "loss", "correct",
          "top5_correct")
_DTYPES = {"f32": "float32", "i32": "int32", "f64": "float64", "i64": "int64",
           "f16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class Role:
    """One ``netspec.role``: a ``kind`` and, for ``param``, ``state`` and ``grad``,
    the parameter's name (and the state's slot)."""

    kind: str
    param: str | None = None
    slot: str | None = None

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role written ``text``; ValueError naming it if it is not one."""
        kind, _, rest = text.partition(":")
        if kind in _PLAIN and not rest:
            return cls(kind)
        if kind in ("param", "grad") and rest:
            return cls(kind, rest)
        if kind == "state" and ":" in rest:
            param, _, slot = rest.rpartition(":")
            if param and slot:
                return cls(kind, param, slot)
        raise ValueError(f"not a netspec.role: {text!r}")

    def __str__(self) -> str:
        return ":".join(p for p in (self.kind, self.param, self.slot) if p is not None)

    @property
    def state_name(self) -> str:
        """An optimizer state tensor's name as the Python API keys it: ``<param>.<slot>``."""
        if self.kind != "state":
            raise ValueError(f"{self} is not optimizer state")
        return f"{self.param}.{self.slot}"


@dataclass(frozen=True)
class TensorSlot:
    """An argument or a result: its role, shape and element type (NumPy's name)."""

    role: Role
    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def from_ir(cls, function: str, what: str, index: int, entry: dict) -> TensorSlot:
        text = entry["attributes"].get(ROLE_ATTR)
        if text is None:
            raise ValueError(f"@{function}: {what} {index} has no {ROLE_ATTR}")
        shape, dtype = _tensor_type(entry)
        return cls(Role.parse(text), shape, dtype)


def _tensor_type(entry: dict) -> tuple[tuple[int, ...], str]:
    """Shape and NumPy dtype of a static tensor argument or result."""
    dtype = _DTYPES.get(entry.get("element_type"))
    if "shape" not in entry or dtype is None or any(d < 0 for d in entry["shape"]):
        raise ValueError(f"not a static f32/i32 tensor type: {entry['type']}")
    return tuple(entry["shape"]), dtype


@dataclass(frozen=True)
class Signature:
    """A lowered function's arguments and results, each with its role."""

    function: str
    args: tuple[TensorSlot, ...]
    results: tuple[TensorSlot, ...]

    @classmethod
    def from_ir(cls, entry: dict) -> Signature:
        """From one entry of ``Module.functions()`` (the native module's view)."""
        name = entry["name"]
        return cls(name,
                   tuple(TensorSlot.from_ir(name, "argument", i, a)
                         for i, a in enumerate(entry["arguments"])),
                   tuple(TensorSlot.from_ir(name, "result", i, r)
                         for i, r in enumerate(entry["results"])))

    # What the function reads and returns, by kind.

    def arg_roles(self, kind: str) -> list[Role]:
        return [a.role for a in self.args if a.role.kind == kind]

    def result_roles(self, kind: str) -> list[Role]:
        return [r.role for r in self.results if r.role.kind == kind]

    @property
    def params(self) -> list[str]:
        """The parameters it takes, by name, in argument order."""
        return [r.param for r in self.arg_roles("param")]

    @property
    def state(self) -> list[str]:
        """The optimizer state it takes (``<param>.<slot>``), in argument order."""
        return [r.state_name for r in self.arg_roles("state")]

    @property
    def grads(self) -> list[str]:
        """The parameters whose gradients it returns, in result order."""
        return [r.param for r in self.result_roles("grad")]

    def takes(self, kind: str) -> bool:
        return any(a.role.kind == kind for a in self.args)

    def arg_index(self, role: Role | str) -> int:
        """The position of the argument of ``role``; KeyError if there is none."""
        return self._index(self.args, role, "takes")

    def result_index(self, role: Role | str) -> int:
        """The position of the result of ``role``; KeyError if there is none."""
        return self._index(self.results, role, "returns")

    def _index(self, slots, role: Role | str, verb: str) -> int:
        role = Role.parse(role) if isinstance(role, str) else role
        for i, slot in enumerate(slots):
            if slot.role == role:
                return i
        raise KeyError(f"@{self.function} {verb} no {role}")

    def arguments(self, *, params=None, state=None, **data) -> list:
        """The call's arguments in the function's order: ``params`` and ``state``
        by name (``state`` keyed ``<param>.<slot>``), and ``images``, ``labels``,
        ``learning_rate`` and ``step`` as keywords. KeyError naming what the
        function takes that was not given; ValueError for what it does not take."""
        unknown = sorted(set(data) - {"images", "labels", "learning_rate", "step"})
        if unknown:
            raise ValueError(f"@{self.function}: no argument role {unknown[0]!r}")
        extra = [k for k in data if not self.takes(k)]
        if extra:
            raise ValueError(f"@{self.function} takes no {extra[0]}")
        out = []
        for a in self.args:
            role = a.role
            try:
                if role.kind == "param":
                    out.append(params[role.param])
                elif role.kind == "state":
                    out.append(state[role.state_name])
                else:
                    out.append(data[role.kind])
            except (KeyError, TypeError):
                raise KeyError(f"@{self.function} needs {role}, which was not given") from None
        return out

    def name_results(self, values) -> dict[str, object]:
        """``values`` (the function's results, in order) keyed by their role's text."""
        values = list(values)
        if len(values) != len(self.results):
            raise ValueError(f"@{self.function} returns {len(self.results)} results, "
                             f"got {len(values)}")
        return {str(r.role): v for r, v in zip(self.results, values, strict=True)}

    def donated(self) -> list[tuple[int, int]]:
        """(argument, result) pairs where a result replaces an argument of the same
        role (a train step's parameters and optimizer state): the buffers a runtime
        may reuse in place."""
        results = {r.role: i for i, r in enumerate(self.results)
                   if r.role.kind in ("param", "state")}
        return [(i, results[a.role]) for i, a in enumerate(self.args) if a.role in results]


def read_signatures(module) -> dict[str, Signature]:
    """Every function's :class:`Signature` in a lowered module (the native
    ``Module``), by name; ValueError if an argument or result has no role."""
    return {entry["name"]: Signature.from_ir(entry) for entry in module.functions()}


def read_parameters(source, bound: dict[str, tuple[int, ...]], load: bool = False):
    """``source`` checked against the parameters a module binds (``bound``: name ->
    shape): a safetensors file (returned as its path, or with ``load`` as arrays) or
    a dict of float32 arrays by name (returned as a snapshot: later changes to the
    caller's arrays must not reach the module). ValueError naming the file and the
    first parameter it lacks or has in another shape or type."""
    if isinstance(source, (str, Path)):
        from safetensors import SafetensorError, safe_open

        where = str(source)
        try:
            with safe_open(str(source), "numpy") as f:
                found = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
                         for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
        except (OSError, SafetensorError) as e:
            raise ValueError(f"{where}: cannot read parameters ({e})") from e
        found = {k: (shape, "float32" if dtype == "F32" else dtype)
                 for k, (shape, dtype) in found.items()}
    else:
        where = "the parameters given"
        source = {k: np.array(v, order="C", copy=True) for k, v in source.items()}
        found = {k: (tuple(v.shape), str(v.dtype)) for k, v in source.items()}
    for name, shape in bound.items():
        if name not in found:
            raise ValueError(f"{where}: no parameter {name!r}")
        if found[name] != (shape, "float32"):
            raise ValueError(f"{where}: {name} should be float32 {shape}, found "
                             f"{found[name][1]} {found[name][0]}")
    if load and isinstance(source, (str, Path)):
        from safetensors.numpy import load_file

        source = {k: v for k, v in load_file(str(source)).items() if k in bound}
    return source
