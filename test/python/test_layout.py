"""The package's layout holds: layers import only lower layers, every module says its job.

The order below is the README's ("Layout"). A module may import only modules
in earlier groups (function-level imports included), so there is no import
circle; every module starts with a docstring whose first line says what it
holds; no function runs past 60 lines; and nothing edits printed IR with
regular expressions (the package does not import ``re``).
"""

import ast
from pathlib import Path

import lean_mlir
import pytest

PACKAGE = Path(lean_mlir.__file__).parent

#: Lowest first; a module imports only modules of earlier groups.
LAYERS = [
    ["_mlir"],   # the C++ extension
    ["_errors", "_files", "_host", "_native", "_version"],
    ["_dot", "signature"],
    ["ir", "passmanager", "dialects", "dialects.netspec", "pipeline", "xla"],
    ["layers"],
    ["spec"],
    ["zoo", "recipes", "weights"],
    ["compiler"],
    ["runtime", "tuning"],
    ["data", "checkpoint"],
    ["rundir"],
    ["training"],
    ["export", "plot", "explanation"],
    ["bench", "sweeps", "run"],
    ["cli"],
    [""],   # the package itself, lean_mlir/__init__.py
]
RANK = {name: i for i, group in enumerate(LAYERS) for name in group}
MAX_FUNCTION_LINES = 60


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        yield name.removesuffix("__init__").rstrip("."), path


def imported(tree: ast.Module):
    """The lean_mlir modules a module imports, anywhere in it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lean_mlir."):
                    yield alias.name.removeprefix("lean_mlir.")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lean_mlir":
                yield from (a.name for a in node.names if a.name in RANK)
            elif node.module.startswith("lean_mlir."):
                yield node.module.removeprefix("lean_mlir.")


def test_every_module_has_a_place():
    missing = [name for name, _ in modules() if name not in RANK]
    assert not missing, f"modules not in the layout (add them to LAYERS and the README): {missing}"


@pytest.mark.parametrize("name,path", list(modules()), ids=[n or "__init__" for n, _ in modules()])
def test_module(name, path):
    tree = ast.parse(path.read_text())
    upward = sorted({m for m in imported(tree) if RANK.get(m, -1) >= RANK[name]})
    assert not upward, f"lean_mlir.{name} imports modules of its own or a higher layer: {upward}"
    doc = ast.get_docstring(tree)
    assert doc and doc.splitlines()[0].strip(), f"{path}: no docstring saying the module's job"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path}: functions over {MAX_FUNCTION_LINES} lines: {long}"
    uses_re = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Import)
               and any(a.name == "re" for a in n.names)]
    assert not uses_re, f"{path}:{uses_re[0]}: imports re (edit IR through the IR API)"
