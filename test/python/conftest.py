"""Shared fixtures for lean-mlir's Python tests."""

import pytest

import lean_mlir as lm


@pytest.fixture(scope="session")
def cnn() -> lm.NetSpec:
    return lm.mnist_cnn()


@pytest.fixture(scope="session")
def mlp() -> lm.NetSpec:
    return lm.mnist_mlp()
