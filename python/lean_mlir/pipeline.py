"""Run a pass pipeline on a module; on failure, save the IR and say how to reproduce it.

Every pipeline lean-mlir runs goes through :func:`run_pipeline`, so any failure
comes with a file and a ``lean-mlir-opt`` command line that shows it again.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lean_mlir._errors import MLIRError
from lean_mlir._mlir import Module, PassManager
from lean_mlir._native import lean_mlir_opt_path

__all__ = ["PipelineError", "run_pipeline"]


class PipelineError(MLIRError):
    """A pass pipeline failed; ``repro_path`` holds the input IR, ``repro_command`` reruns it."""

    def __init__(self, err: MLIRError, description: str, repro_path: Path, command: str):
        self.repro_path = repro_path
        self.repro_command = command
        super().__init__(f"{description} failed; the input IR is saved at {repro_path}; "
                         f"reproduce with:\n  {command}\n{err.message}", err.error_diagnostics)


def run_pipeline(module: Module, pipeline: str, description: str = "pass pipeline") -> Module:
    """Run ``pipeline`` (e.g. ``"builtin.module(netspec-model-summary)"``) on ``module`` in place.

    The module's IR before the run is kept; if the run fails it is written to a
    file (``LEAN_MLIR_REPRO_DIR`` or a temporary directory) and a
    :class:`PipelineError` is raised whose message includes the command that
    reproduces the failure.
    """
    before = module.operation.get_asm(enable_debug_info=True)
    try:
        PassManager.parse(pipeline, context=module.context).run(module.operation)
    except MLIRError as err:
        out_dir = Path(os.environ.get("LEAN_MLIR_REPRO_DIR") or tempfile.mkdtemp(
            prefix="lean-mlir-repro-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "repro.mlir"
        path.write_text(before)
        try:
            tool = str(lean_mlir_opt_path())
        except FileNotFoundError:
            tool = "lean-mlir-opt"
        command = f"{tool} --pass-pipeline='{pipeline}' {path}"
        raise PipelineError(err, description, path, command) from err
    return module
