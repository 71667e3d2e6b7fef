"""How much host memory each call of a compiled train step leaves behind.

Before the train steps took their transients from a workspace, IREE 3.13's
CPU runtime kept memory from every call of the batch-norm networks' steps at
batch 128 (16 MB a step for MNIST-CNN-BN with Adam, 80 for the ResNet); now
0.0 (see the README, "Training runs", and test/python/test_memory.py). This
prints the growth of the process's resident memory per step of any model and
recipe.

    .venv/bin/python benchmarks/memory_per_step.py                 # cnn-bn, adam-only
    .venv/bin/python benchmarks/memory_per_step.py --model resnet --recipe resnet-sgd
"""

from __future__ import annotations

import argparse

import lean_mlir as lm
import numpy as np
from lean_mlir._host import rss_mb
from lean_mlir.zoo import MODELS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn-bn", choices=sorted(MODELS))
    parser.add_argument("--recipe", default="adam-only", choices=lm.recipes.names())
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    spec = MODELS[args.model]()
    cfg = lm.recipes.get(args.recipe, batch_size=args.batch_size)
    params = spec.init_params(0)
    stepper = lm.TrainStepper(spec, params, lm.init_optimizer_state(spec, params, cfg), cfg)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((cfg.batch_size, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.output_shape[0], cfg.batch_size)
    for step in range(3):
        stepper.step(x, y, lr=cfg.learning_rate, step=step)
    before = rss_mb()
    for step in range(3, 3 + args.steps):
        stepper.step(x, y, lr=cfg.learning_rate, step=step)
    grown = rss_mb() - before
    print(f"{spec.name} train_step ({args.recipe}, batch {cfg.batch_size}): "
          f"{grown / args.steps:.1f} MB a step kept over {args.steps} steps "
          f"({grown:.0f} MB in all)")


if __name__ == "__main__":
    main()
