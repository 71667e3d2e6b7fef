#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite: lit (IR tests through
# lean-mlir-opt and mlir-opt-22) and pytest (the Python package).
# Extra arguments go to pytest (for example: -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export FILECHECK_OPTS=-enable-var-scope
echo "== lit"
.venv/bin/python /usr/lib/llvm-22/bin/lit -sv test/lit
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
