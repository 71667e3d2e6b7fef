"""The networks of the LeanMlir book's MNIST chapters, as data."""

from __future__ import annotations

from lean_mlir.spec import NetSpec, conv2d, dense, flatten, max_pool

__all__ = ["MODELS", "mnist_cnn", "mnist_mlp"]


def mnist_cnn() -> NetSpec:
    """The book's 2-D CNN without batch norm: 3,489,130 parameters."""
    return NetSpec("MNIST-CNN-noBN", input_shape=(1, 28, 28), layers=[
        conv2d(1, 32, 3, padding="same", activation="relu"),
        conv2d(32, 32, 3, padding="same", activation="relu"),
        max_pool(2, 2),
        flatten(),
        dense(6272, 512, activation="relu"),
        dense(512, 512, activation="relu"),
        dense(512, 10, activation="identity"),
    ])


def mnist_mlp() -> NetSpec:
    """The book's MLP, 784-512-512-10: 669,706 parameters."""
    return NetSpec("MNIST-MLP", input_shape=(1, 28, 28), layers=[
        flatten(),
        dense(784, 512, activation="relu"),
        dense(512, 512, activation="relu"),
        dense(512, 10, activation="identity"),
    ])


#: Models by the names the command line accepts.
MODELS = {"cnn": mnist_cnn, "mlp": mnist_mlp}
