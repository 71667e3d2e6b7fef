#!/usr/bin/env bash
# Sets everything up, then runs the main job: the book's MNIST CNN and MLP
# built as netspec IR and annotated by netspec-model-summary; the CNN's fused
# train step lowered to StableHLO by the C++ passes and compiled by IREE for
# the CPU and for gfx1100; then the book's CNN trained on MNIST on the CPU
# with its printed config (12 epochs; pass --epochs N for a shorter run),
# with progress, into a run directory under runs/ whose path, plot and
# export command it prints at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/lean-mlir summary cnn mlp
.venv/bin/lean-mlir compile cnn --backend llvm-cpu,rocm
.venv/bin/lean-mlir train cnn --recipe s4tf-baseline "$@"
