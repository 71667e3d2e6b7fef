"""Train the LeanMlir book's MNIST CNN with lean-mlir, on the CPU.

The network is data: a list of layers. lean-mlir builds it as a netspec
model, its C++ passes lower it to StableHLO and derive the backward pass into
one fused train step, IREE compiles that, and this loop feeds it batches.

    .venv/bin/python examples/mnist_cnn.py              # 12 epochs, ~98.9% expected
    .venv/bin/python examples/mnist_cnn.py --epochs 1   # a quick run
"""

import argparse
import time

import lean_mlir as lm
import numpy as np
from lean_mlir.data import load_mnist, prepare_mnist
from lean_mlir.training import evaluate

LAYERS = [
    lm.conv2d(1, 32, 3, padding="same", activation="relu"),
    lm.conv2d(32, 32, 3, padding="same", activation="relu"),
    lm.max_pool(2, 2),
    lm.flatten(),
    lm.dense(6272, 512, activation="relu"),
    lm.dense(512, 512, activation="relu"),
    lm.dense(512, 10, activation="identity"),
]
LEARNING_RATE = 0.1   # plain SGD, as the book prints it
BATCH_SIZE = 128
SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()

    spec = lm.NetSpec("MNIST-CNN-noBN", input_shape=(1, 28, 28), layers=LAYERS)
    data = load_mnist(prepare_mnist())
    cfg = lm.TrainConfig(learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE,
                         epochs=args.epochs, seed=SEED)
    params = spec.init_params(seed=SEED)
    state = lm.init_optimizer_state(spec, params, cfg)
    print(f"{spec.name}: {spec.param_count():,} parameters")

    rng = np.random.default_rng(SEED)
    steps = len(data.train_x) // BATCH_SIZE   # the last partial batch is dropped
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(data.train_x))
        for i in range(steps):
            batch = order[i * BATCH_SIZE:(i + 1) * BATCH_SIZE]
            params, state, loss = lm.train_step(spec, params, state, data.train_x[batch],
                                                data.train_y[batch], cfg,
                                                lr=LEARNING_RATE, step=(epoch - 1) * steps + i)
        seconds = time.perf_counter() - start
        _, accuracy = evaluate(spec, params, data.test_x, data.test_y)
        print(f"epoch {epoch:>2}: {seconds:5.1f} s, last batch loss {loss:.4f}, "
              f"test accuracy {100 * accuracy:.2f}%")

    # The book reports 98.98% after 12 epochs; one epoch already passes 97.5%.
    expected = 0.985 if args.epochs >= 12 else 0.975
    assert accuracy >= expected, f"test accuracy {accuracy:.4f} < {expected}"


if __name__ == "__main__":
    main()
