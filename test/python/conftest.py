"""Shared fixtures for lean-mlir's Python tests."""

import os

import lean_mlir as lm
import pytest

# What `lean-mlir tune` chose on this machine must not change what the tests
# compile; test_tune.py turns it on, with a cache of its own.
os.environ["LEAN_MLIR_TUNED"] = "off"


@pytest.fixture(scope="session")
def cnn() -> lm.NetSpec:
    return lm.mnist_cnn()


@pytest.fixture(scope="session")
def mlp() -> lm.NetSpec:
    return lm.mnist_mlp()
