"""MNIST data preparation and the training loop, end to end on real MNIST."""

import io
import itertools
import pickle
from dataclasses import replace

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.data import _ArraysOnly, load_mnist, prepare_mnist, read_idx, write_idx
from lean_mlir.recipes import RECIPES, recipe
from lean_mlir.training import evaluate, fit, learning_rate


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(prepare_mnist(quiet=True))


def test_mnist_is_the_real_data_set(mnist):
    assert mnist.train_x.shape == (60000, 1, 28, 28) and mnist.test_x.shape == (10000, 1, 28, 28)
    assert mnist.train_x.dtype == np.float32 and 0 <= mnist.train_x.min()
    assert mnist.train_x.max() < 1
    # The well-known class counts and first labels of MNIST.
    assert np.bincount(mnist.train_y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                   6265, 5851, 5949]
    assert np.bincount(mnist.test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                  974, 1009]
    assert mnist.train_y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert mnist.test_y[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]


def test_idx_round_trip_and_errors(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), a)
    (tmp_path / "short").write_bytes((tmp_path / "a").read_bytes()[:-1])
    with pytest.raises(ValueError, match="short: truncated or corrupt: the header says"):
        read_idx(tmp_path / "short")
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04junk")
    with pytest.raises(ValueError, match="junk: not an IDX file"):
        read_idx(tmp_path / "junk")
    with pytest.raises(ValueError, match="mnist is not there"):
        load_mnist(tmp_path)


def test_the_unpickler_loads_arrays_and_nothing_else():
    arrays = pickle.dumps((np.arange(3, dtype=np.float32), np.zeros(2)), protocol=3)
    a, b = _ArraysOnly(io.BytesIO(arrays), encoding="latin1").load()
    assert a.tolist() == [0, 1, 2] and b.shape == (2,)

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo owned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        _ArraysOnly(io.BytesIO(pickle.dumps(Evil(), protocol=2))).load()


def test_learning_rate_schedules():
    cfg = lm.TrainConfig(learning_rate=0.1, epochs=4, cosine_decay=True, warmup_epochs=1)
    lrs = [learning_rate(cfg, s, 10) for s in range(40)]
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.1)
    assert lrs[10] == pytest.approx(0.1) and lrs[25] == pytest.approx(0.05, abs=0.01)
    assert lrs[-1] < 0.001 and all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert learning_rate(lm.TrainConfig(), 1000, 10) == 0.1
    assert set(RECIPES) >= {"s4tf-baseline", "sgd-low-lr", "adam-only", "adam-cosine",
                            "adam-cosine-aug", "full-recipe"}
    assert recipe("full-recipe").label_smoothing == 0.1 and recipe("s4tf-baseline").momentum == 0


def test_evaluate_covers_every_sample(mnist):
    spec = lm.mnist_mlp()
    params = spec.init_params(3)
    loss_a, acc_a = evaluate(spec, params, mnist.test_x[:2500], mnist.test_y[:2500], 1000)
    loss_b, acc_b = evaluate(spec, params, mnist.test_x[:2500], mnist.test_y[:2500], 2500)
    assert acc_a == acc_b and loss_a == pytest.approx(loss_b, rel=1e-5)
    logits = lm.predict(spec, params, mnist.test_x[:2500])
    assert acc_a == np.mean(logits.argmax(1) == mnist.test_y[:2500])


def test_mlp_learns_mnist_in_one_epoch(mnist):
    """The book's MLP, SGD with momentum 0.9 (as upstream ran it), one epoch."""
    _, history = fit(lm.mnist_mlp(), recipe("s4tf-momentum", epochs=1), mnist)
    assert history[0].test_accuracy >= 0.96, history[0]
    assert history[0].train_loss < 0.4


def test_adam_with_augmentation_and_label_smoothing_learns(mnist):
    cfg = recipe("full-recipe", epochs=1, warmup_epochs=0)
    _, history = fit(lm.mnist_mlp(), cfg, mnist, train_limit=12800)
    assert history[0].test_accuracy >= 0.88, history[0]


@pytest.mark.slow
def test_book_cnn_learns_mnist_in_one_epoch(mnist):
    """The book's CNN with its printed config (plain SGD 0.1, He init), one epoch."""
    _, history = fit(lm.mnist_cnn(), recipe("s4tf-baseline", epochs=1), mnist)
    assert history[0].test_accuracy >= 0.975, history[0]


@pytest.mark.slow
def test_the_example_trains_and_asserts_its_accuracy():
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "mnist_cnn.py"
    proc = subprocess.run([sys.executable, str(example), "--epochs", "1"], capture_output=True,
                          text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "epoch  1:" in proc.stdout and "test accuracy" in proc.stdout


def test_a_run_from_before_top5_resumes(tmp_path, mnist):
    """metrics.jsonl of runs written before the epoch line had top-5: resuming reads
    their epochs (test_top5 NaN) and goes on."""
    import json

    spec = lm.mnist_mlp()
    cfg = lm.recipes.get("s4tf-baseline", epochs=2, batch_size=100)
    run = tmp_path / "run"
    lm.training.run_training(spec, replace(cfg, epochs=1), mnist, run_dir=run, train_limit=1000)
    metrics = run / "metrics.jsonl"
    events = [json.loads(line) for line in metrics.read_text().splitlines()]
    for e in events:
        e.pop("test_top5", None)
    metrics.write_text("".join(json.dumps(e) + "\n" for e in events))
    config = json.loads((run / "config.json").read_text())
    config["train_config"]["epochs"] = 2
    (run / "config.json").write_text(json.dumps(config))
    result = lm.training.run_training(spec, cfg, mnist, run_dir=run, resume=True,
                                      train_limit=1000)
    assert [e["epoch"] for e in result.history] == [1, 2]
    assert np.isnan(result.history[0]["test_top5"]) and result.history[1]["test_top5"] > 0.9
