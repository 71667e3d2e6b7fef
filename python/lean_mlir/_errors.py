"""Exceptions raised by lean-mlir: MLIR diagnostics, bad network specs, bad user values."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Diagnostic", "MLIRError", "SpecError", "UsageError"]


class UsageError(ValueError):
    """A value a user gave that cannot be right (a negative count, an unknown backend,
    a directory that does not exist), found before anything is compiled or written;
    the command line says it in one ``error:`` line with exit status 2."""


@dataclass(frozen=True)
class Diagnostic:
    """One MLIR diagnostic: severity, where (``file:line:col``), what, and notes."""

    severity: str
    location: str
    message: str
    notes: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        lines = [f"{where}{self.severity}: {self.message}"]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


class MLIRError(Exception):
    """An MLIR operation (parse, verify, pass pipeline, build) failed.

    ``error_diagnostics`` holds every diagnostic MLIR emitted during the call,
    in order; ``str(e)`` shows them all.
    """

    def __init__(self, message: str, diagnostics: list[Diagnostic]):
        self.message = message
        self.error_diagnostics = list(diagnostics)
        super().__init__(message)

    def __str__(self) -> str:
        if not self.error_diagnostics:
            return self.message
        body = "\n".join(str(d) for d in self.error_diagnostics)
        return f"{self.message}:\n{body}"


class SpecError(ValueError):
    """A network spec is malformed; the message names the layer and the mismatch."""

    def __init__(self, message: str, layer_index: int | None = None,
                 layer_kind: str | None = None):
        self.layer_index = layer_index
        self.layer_kind = layer_kind
        super().__init__(message)
