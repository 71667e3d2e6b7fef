"""Where the native tools are: ``lean-mlir-opt``, the mlir-opt plugin, IREE's tools, Graphviz."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["dot_path", "iree_tool_path", "lean_mlir_opt_path", "plugin_path"]


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


def iree_tool_path(name: str) -> Path:
    """One of IREE's tools (``iree-benchmark-module``, ``iree-profile``) installed beside
    this Python by the IREE wheels."""
    candidate = Path(sys.executable).parent / name
    found = candidate if candidate.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed; it comes with the IREE wheels "
                                "(run scripts/setup.sh)")
    return Path(found)


def dot_path() -> Path:
    """Graphviz's ``dot``; FileNotFoundError naming the Debian package otherwise."""
    found = shutil.which("dot")
    if not found:
        raise FileNotFoundError("Graphviz's dot is not installed: apt-get install graphviz "
                                "(scripts/setup.sh installs it)")
    return Path(found)
