"""Pass pipelines: ``PassManager.parse("builtin.module(...)").run(module.operation)``.

Every lean-mlir pass and MLIR's generic transformation passes (canonicalize,
cse, ...) can be named in a pipeline.
"""

from lean_mlir._mlir import PassManager

__all__ = ["PassManager"]
