#!/usr/bin/env bash
# Sets everything up, installs the benchmark's peer (PyTorch, CPU build) into
# .venv when it is missing, then runs `lean-mlir bench`: the book's CNN and
# MLP train step and predict, lean-mlir against PyTorch, interleaved rounds.
# Extra arguments go to `lean-mlir bench` (for example: --rounds 9
# --json logs/bench.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "bench: installing the benchmark peers (requirements-bench.txt)"
  .venv/bin/python -m pip install -q -r requirements-bench.txt
fi
exec .venv/bin/lean-mlir bench "$@"
