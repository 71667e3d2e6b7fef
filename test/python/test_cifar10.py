"""CIFAR-10's binary version, read from files the test writes (nothing downloads it).

The reader takes the five training batches and the test batch as the archive
has them (in the directory, or its ``cifar-10-batches-bin``), names a missing
or malformed file in one error, and the trainer trains a 3x32x32 network on
what it read; a network of another input shape is refused before any step.
"""

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir import data, recipes
from lean_mlir.data import CIFAR10_TEST, CIFAR10_TRAIN, DataError, read_cifar10, write_cifar10


def write_set(directory, per_batch=64, seed=0):
    """A tiny CIFAR-10: images whose class decides the brightness of one plane."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name in (*CIFAR10_TRAIN, CIFAR10_TEST):
        labels = rng.integers(0, 10, per_batch).astype(np.uint8)
        images = rng.integers(0, 64, (per_batch, 3, 32, 32)).astype(np.uint8)
        images[np.arange(per_batch), labels % 3] += (labels * 19).astype(np.uint8)[:, None, None]
        write_cifar10(directory / name, images, labels)
    return directory


def test_round_trip_in_the_archives_layout(tmp_path):
    write_set(tmp_path / "cifar-10-batches-bin")
    images, labels = read_cifar10(tmp_path / "cifar-10-batches-bin" / CIFAR10_TEST)
    assert images.shape == (64, 3, 32, 32) and images.dtype == np.uint8
    loaded = data.load("cifar10", tmp_path)
    assert loaded.train_x.shape == (5 * 64, 3, 32, 32) and loaded.train_x.dtype == np.float32
    assert loaded.test_y.tolist() == labels.astype(np.int32).tolist()
    np.testing.assert_array_equal(loaded.test_x, images / np.float32(256))
    # The record layout: label byte, then the red, green and blue planes row-major.
    raw = (tmp_path / "cifar-10-batches-bin" / CIFAR10_TEST).read_bytes()
    assert raw[0] == labels[0] and raw[1 + 1024 + 33] == images[0, 1, 1, 1]


def test_a_missing_file_is_named(tmp_path):
    write_set(tmp_path)
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(DataError, match=r"missing data_batch_3\.bin"):
        data.load("cifar10", tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-5], r"data_batch_2\.bin: .* not a whole number of 3,073-byte"),
    (lambda raw: b"\x0c" + raw[1:], r"data_batch_2\.bin: record 0 has label 12"),
    (lambda raw: b"", r"data_batch_2\.bin: 0 bytes"),
])
def test_a_malformed_file_is_named(tmp_path, damage, message):
    write_set(tmp_path)
    path = tmp_path / "data_batch_2.bin"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message):
        data.load("cifar10", tmp_path)


def small_net():
    return lm.NetSpec("cifar-small", (3, 32, 32), [
        lm.conv_bn(3, 8, 3, stride=2), lm.conv_bn(8, 8, 3, stride=2, groups=8),
        lm.global_avg_pool(), lm.dense(8, 10)])


def test_trains_on_what_it_read_and_refuses_a_network_of_another_shape(tmp_path):
    write_set(tmp_path, per_batch=128)
    cfg = recipes.get("s4tf-momentum", epochs=3, batch_size=64, learning_rate=0.05)
    result = lm.train(small_net(), cfg, tmp_path, dataset="cifar10", run_dir=tmp_path / "run",
                      progress=False)
    losses = [e["train_loss"] for e in result.history]
    assert losses[-1] < losses[0], losses
    # Exported, it names CIFAR-10's classes and reads colour PNGs and JPEGs as its data.
    from lean_mlir.export import export_model, read_images
    from PIL import Image

    model = lm.load_model(export_model(tmp_path / "run", tmp_path / "model"))
    assert model.class_names[:3] == ["airplane", "automobile", "bird"]
    test_x, _ = read_cifar10(tmp_path / CIFAR10_TEST)
    png, jpeg = tmp_path / "plane.png", tmp_path / "big.jpg"
    Image.fromarray(test_x[0].transpose(1, 2, 0)).save(png)
    Image.fromarray(test_x[1].transpose(1, 2, 0)).resize((64, 64)).save(jpeg)
    _, x, notes = read_images([png, jpeg], model.input_shape, model.dataset)
    np.testing.assert_array_equal(x[0], test_x[0] / np.float32(256))
    assert notes == [f"{jpeg}: resized from 64x64 to 32x32"]
    assert model.predict(x).shape == (2, 10)
    with pytest.raises(ValueError, match=r"takes 1x28x28 inputs; the data's images are 3x32x32"):
        lm.train(lm.mnist_mlp(), cfg, tmp_path, dataset="cifar10", run_dir=tmp_path / "mlp",
                 progress=False)


def test_the_chapters_arm_trains_on_cifar10_by_default(tmp_path):
    """``lean-mlir ablation cifar8-bn-nesterov`` reads CIFAR-10 (the arm's data set)
    from --data-dir and reports top-1 and top-5; without the data it names what is
    missing."""
    from test_runs import cli, one_error_line

    write_set(tmp_path / "cifar", per_batch=128)
    out = cli("ablation", "cifar8-bn-nesterov", "--data-dir", tmp_path / "cifar", "--epochs",
              "1", "--run-dir", tmp_path / "run", "--no-progress-bar", timeout=600).stdout
    assert "spec: CIFAR-CNN8-BN (model cifar-cnn8-bn); recipe: cifar-nesterov" in out
    assert "SGD, Nesterov momentum 0.9" in out
    assert "cifar10: 640 training images, 5 batches of 128 per epoch" in out
    assert any(line.startswith("val accuracy:") and "top-5" in line
               for line in out.splitlines()), out
    missing = one_error_line(cli("ablation", "cifar8-sgd", "--data-dir", tmp_path / "none",
                                 check=False))
    assert "CIFAR-10 is not there" in missing and "data_batch_1.bin" in missing
