# lit configuration for lean-mlir's IR tests.
# -*- Python -*-

import os
import shutil
import subprocess
import sys

import lit.formats

config.name = "lean-mlir"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["lit.cfg.py", "Inputs"]

llvm_bin = "/usr/lib/llvm-22/bin"
venv_bin = os.path.dirname(sys.executable)


def find_tool(name, *dirs):
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    found = shutil.which(name)
    if not found:
        lit_config.fatal(f"cannot find {name}; run scripts/setup.sh")
    return found


lean_mlir_opt = find_tool("lean-mlir-opt", venv_bin)
plugin = subprocess.check_output(
    [sys.executable, "-c", "import lean_mlir; print(lean_mlir.plugin_path())"],
    text=True).strip()
if not os.path.exists(plugin):
    lit_config.fatal(f"the netspec plugin is missing at {plugin}")

config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("%netspec_plugin", plugin))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.environment["PATH"] = os.pathsep.join(
    [os.path.dirname(lean_mlir_opt), llvm_bin, config.environment.get("PATH", "")])
config.environment["FILECHECK_OPTS"] = "-enable-var-scope"
for tool in ("lean-mlir-opt", "mlir-opt-22", "FileCheck", "not"):
    config.available_features.add(tool)
