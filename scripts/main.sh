#!/usr/bin/env bash
# Sets everything up, then runs the main job: the book's MNIST CNN and MLP
# built as netspec IR, annotated by the netspec-model-summary pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/lean-mlir summary cnn mlp "$@"
