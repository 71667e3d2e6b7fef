#!/usr/bin/env bash
# Sets everything up, then runs the main job: the book's MNIST CNN and MLP
# built as netspec IR and annotated by netspec-model-summary, then the CNN's
# fused train step lowered to StableHLO by the C++ passes and compiled by
# IREE for the CPU and for gfx1100.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/lean-mlir summary cnn mlp
.venv/bin/lean-mlir compile cnn --backend llvm-cpu,rocm
