"""Where the installed native tools are: ``lean-mlir-opt`` and the mlir-opt plugin."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["lean_mlir_opt_path", "plugin_path"]


def plugin_path() -> Path:
    """The ``NetSpecPlugin.so`` for ``mlir-opt-22 --load-dialect-plugin/--load-pass-plugin``."""
    from lean_mlir import _mlir

    return Path(_mlir.__file__).resolve().parent / "lib" / "NetSpecPlugin.so"


def lean_mlir_opt_path() -> Path:
    """The ``lean-mlir-opt`` installed beside this Python (or found on PATH)."""
    candidate = Path(sys.executable).parent / "lean-mlir-opt"
    if candidate.exists():
        return candidate
    found = shutil.which("lean-mlir-opt")
    if found:
        return Path(found)
    raise FileNotFoundError("lean-mlir-opt is not installed; run scripts/setup.sh "
                            f"(looked in {candidate.parent} and PATH={os.environ.get('PATH')})")
