"""Core IR objects, shaped like the upstream MLIR Python bindings.

    from lean_mlir.ir import Context, Module
    with Context():
        module = Module.parse(text)
        module.operation.verify()
        print(module)

Failures raise :class:`MLIRError` carrying MLIR's diagnostics with locations.
"""

from lean_mlir._errors import Diagnostic, MLIRError
from lean_mlir._mlir import Context, Location, Module, Operation, Value

__all__ = ["Context", "Diagnostic", "Location", "MLIRError", "Module", "Operation", "Value"]
