"""A training loop keeps the same host memory from step to step.

IREE's CPU driver serves a call's transient buffers from a pool of 64 MB slabs
and never returns a slab; a buffer the compiled program frees only by reference
counting (what happens after a mid-step optimization barrier) is not reused, so
a train step in such a form adds a slab every few calls (MNIST-CNN-BN with Adam
grew 16 MB a step, the ResNet 80). The lowering emits forms whose transients are
all freed through the queue: every parameter re-layout at the function's start,
one barrier over all gradients. Between epochs the trainer evaluates the test
set; an evaluation that loaded a new module context every epoch (a Predictor
per epoch) made MNIST-CNN-BN's step grow by 5-10 MB a step after each (a
15-epoch run stopped itself at 20 GB in epoch 9), so the trainer evaluates
with one module for the whole run, and the test evaluates as the trainer
does. Each network and optimizer
here trains for 40 steps at batch 128 after a warm-up, with an evaluation as
the trainer runs one between them; growing by a slab or more fails. This is a
count of slabs, not a timing.
"""

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir._host import rss_mb
from lean_mlir.training import _evaluate
from lean_mlir.zoo import MODELS

SLAB_MB = 64
OPTIMIZERS = {
    "sgd": lm.TrainConfig(learning_rate=0.01),
    "momentum": lm.TrainConfig(learning_rate=0.01, momentum=0.9),
    "adam": lm.TrainConfig(learning_rate=1e-3, use_adam=True),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_training_loop_memory_is_flat(model, optimizer):
    spec, cfg = MODELS[model](), OPTIMIZERS[optimizer]
    params = spec.init_params(0)
    stepper = lm.TrainStepper(spec, params, lm.init_optimizer_state(spec, params, cfg), cfg)
    rng = np.random.default_rng(0)
    x = rng.random((cfg.batch_size, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, cfg.batch_size)
    test_x = rng.random((2000, *spec.input_shape), dtype=np.float32)
    test_y = rng.integers(0, 10, len(test_x))

    def evaluate():     # as the trainer does after an epoch
        _evaluate(spec, stepper.params(), test_x, test_y)

    losses = [stepper.step(x, y, lr=cfg.learning_rate, step=s) for s in range(5)]
    evaluate()
    losses += [stepper.step(x, y, lr=cfg.learning_rate, step=s) for s in range(5, 10)]
    before = rss_mb()
    assert before > 0, "reads the process's memory from /proc"
    evaluate()
    losses += [stepper.step(x, y, lr=cfg.learning_rate, step=s) for s in range(10, 50)]
    grown = rss_mb() - before
    assert grown < SLAB_MB, (f"{spec.name} with {optimizer}: {grown:.0f} MB more after 40 "
                             f"steps ({grown / 40:.1f} MB a step)")
    # The same batch again and again: the loop does learn it.
    assert losses[-1] < losses[0]
