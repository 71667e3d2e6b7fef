"""Shared fixtures for lean-mlir's Python tests."""

import lean_mlir as lm
import pytest


@pytest.fixture(scope="session")
def cnn() -> lm.NetSpec:
    return lm.mnist_cnn()


@pytest.fixture(scope="session")
def mlp() -> lm.NetSpec:
    return lm.mnist_mlp()
