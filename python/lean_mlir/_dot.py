"""Graphviz DOT text: quoted labels of several lines, and SVG rendered by ``dot``."""

from __future__ import annotations

import subprocess

from lean_mlir._native import dot_path

__all__ = ["FONT", "label", "quote", "render_svg"]

#: The font every graph uses (a DOT attribute).
FONT = 'fontname="Helvetica"'


def quote(text: str) -> str:
    """``text`` as a DOT string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def label(*lines: str) -> str:
    """A DOT string literal of ``lines``, centred one under the other."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"')
                            for line in lines) + '"'


def render_svg(text: str) -> str:
    """The graph ``text`` drawn by Graphviz's ``dot`` as SVG; FileNotFoundError naming
    the package when ``dot`` is missing, RuntimeError with dot's message when the
    text is not a graph."""
    proc = subprocess.run([str(dot_path()), "-Tsvg"], input=text, text=True,
                          capture_output=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.strip()[:300]}")
    return proc.stdout
