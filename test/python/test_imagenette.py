"""Imagenette as folders of JPEGs the test writes (nothing downloads it), and what
the pipeline does to a batch: the book's resizes, crops, flips and ImageNet
normalisation; top-5 accuracy in evaluation and in a run's epochs.

The reader numbers the classes in the sorted order of their folders, resizes
training images to 256x256 and validation images to 224x224 (bilinear, as
Pillow does it), caches what it decoded, and names a missing folder or an
unreadable image in one error. A training step crops 224 out of 256: the centre
without augmentation, a random window and a random mirror with it.
"""

import json

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir import data, recipes
from lean_mlir.data import DataError, read_imagenette
from lean_mlir.training import train_images

Image = pytest.importorskip("PIL.Image")

CLASSES = ["n01440764", "n02102040", "n03000684"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Decoded images go to this test's own ~/.cache, never the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write_set(root, per_class=(4, 2), size=(80, 60), seed=0):
    """``root/imagenette2-320/{train,val}/<wnid>/*.JPEG``: a class's images are
    brighter in one channel."""
    rng = np.random.default_rng(seed)
    base = root / "imagenette2-320"
    for split, count in zip(("train", "val"), per_class, strict=True):
        for label, wnid in enumerate(CLASSES):
            folder = base / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 80, (size[1], size[0], 3)).astype(np.uint8)
                pixels[..., label] += 150
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.JPEG", quality=95)
    return root


def test_reads_resizes_and_numbers_the_classes_as_the_book(tmp_path):
    write_set(tmp_path)
    for split in ("train", "val"):   # an editor's folder is not a class
        (tmp_path / "imagenette2-320" / split / ".ipynb_checkpoints").mkdir()
    images, labels, classes = read_imagenette(tmp_path, "train", 256)
    assert classes == CLASSES
    assert images.shape == (12, 3, 256, 256) and images.dtype == np.uint8
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # Pillow's bilinear resize of the same file, channels first.
    first = min((tmp_path / "imagenette2-320/train" / CLASSES[0]).iterdir())
    want = np.asarray(Image.open(first).convert("RGB").resize((256, 256), Image.BILINEAR))
    np.testing.assert_array_equal(images[0], want.transpose(2, 0, 1))
    # Each class is brightest in its own channel.
    for label in range(3):
        assert images[labels == label].mean(axis=(0, 2, 3)).argmax() == label

    loaded = data.load("imagenette", tmp_path)
    assert loaded.train_x.shape == (12, 3, 256, 256)
    assert loaded.test_x.shape == (6, 3, 224, 224) and loaded.input_shape == (3, 224, 224)
    assert loaded.augmentation == "crop-flip" and loaded.classes == tuple(CLASSES)
    with pytest.raises(ValueError, match="x is uint8 pixels; convert them as the data set"):
        spec = lm.NetSpec("n", (3, 224, 224), [lm.global_avg_pool(), lm.dense(3, 3)])
        lm.predict(spec, spec.init_params(0), loaded.test_x[:2])
    batch = loaded.to_float(loaded.test_x[:2])
    mean, std = np.array(data.IMAGENET_MEAN), np.array(data.IMAGENET_STD)
    want = (loaded.test_x[:2] / 255.0 - mean[None, :, None, None]) / std[None, :, None, None]
    np.testing.assert_allclose(batch, want, rtol=1e-5, atol=1e-5)
    assert batch.dtype == np.float32


def test_the_second_load_reads_the_cache_and_a_changed_file_is_decoded_again(tmp_path,
                                                                          monkeypatch):
    write_set(tmp_path / "d")
    first = data.load("imagenette", tmp_path / "d")
    cached = sorted((tmp_path / "home/.cache/lean-mlir/imagenette").glob("*.npy"))
    assert len(cached) == 4      # images and labels of both splits

    def no_decoding(*args):
        raise AssertionError("decoded again")
    monkeypatch.setattr(data, "read_imagenette", no_decoding)
    again = data.load("imagenette", tmp_path / "d")
    np.testing.assert_array_equal(again.train_x, first.train_x)

    monkeypatch.undo()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # A damaged cache file is named, not read as pixels.
    damaged = cached[0] if "images" in cached[0].name else cached[1]
    kept = damaged.read_bytes()
    damaged.write_bytes(kept[:100])
    with pytest.raises(DataError, match="a damaged cache of decoded images"):
        data.load("imagenette", tmp_path / "d")
    damaged.write_bytes(kept)
    changed = min((tmp_path / "d/imagenette2-320/val" / CLASSES[1]).iterdir())
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(changed)
    assert (data.load("imagenette", tmp_path / "d").test_x[2] == 0).all()


def test_a_missing_folder_or_a_bad_image_is_named(tmp_path):
    with pytest.raises(DataError, match="no train/ folder"):
        data.prepare("imagenette", tmp_path)
    write_set(tmp_path)
    bad = tmp_path / "imagenette2-320/val" / CLASSES[2] / "broken.JPEG"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken\.JPEG: not an image Pillow can read"):
        read_imagenette(tmp_path, "val", 224)
    bad.unlink()
    for f in (tmp_path / "imagenette2-320/val" / CLASSES[2]).iterdir():
        f.unlink()
    (tmp_path / "imagenette2-320/val" / CLASSES[2]).rmdir()
    with pytest.raises(DataError, match=f"different class folders \\({CLASSES[2]} in one"):
        data.load("imagenette", tmp_path)
    (tmp_path / "other/train/n0").mkdir(parents=True)
    with pytest.raises(DataError, match="no JPEG or PNG images"):
        data.prepare("imagenette", tmp_path / "other")


def test_training_batches_are_cropped_flipped_and_normalised(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (6, 3, 256, 256)).astype(np.uint8)
    test = np.zeros((2, 3, 224, 224), np.uint8)
    d = data.MNIST(train, np.zeros(6, np.int32), test, np.zeros(2, np.int32),
                   augmentation="crop-flip", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    centre = train_images(d, train, None)
    np.testing.assert_allclose(centre, (train[:, :, 16:240, 16:240] / 255 - 0.5) / 0.25,
                               rtol=1e-5, atol=1e-5)
    out = train_images(d, train, np.random.default_rng(3))
    assert out.shape == (6, 3, 224, 224)
    # Every image is one 224 window of its own, mirrored or not, and they differ.
    places = []
    for i in range(6):
        image = np.rint((out[i] * 0.25 + 0.5) * 255).astype(np.uint8)
        for flipped, source in ((False, train[i]), (True, train[i, :, :, ::-1])):
            hits = [(t, l) for t in range(33) for l in range(33)
                    if (source[:, t:t + 224, l:l + 224] == image).all()]
            if hits:
                places.append((flipped, hits[0]))
                break
    assert len(places) == 6 and len(set(places)) > 1, places
    assert {f for f, _ in places} == {False, True}

    # CIFAR-10's: flips only; MNIST's: shifts.
    images = rng.random((64, 3, 8, 8), dtype=np.float32)
    flips = data.MNIST(images, np.zeros(64, np.int32), images, np.zeros(64, np.int32),
                       augmentation="flip")
    out = train_images(flips, images, np.random.default_rng(1))
    mirrored = [(out[i] == images[i, :, :, ::-1]).all() for i in range(64)]
    assert all(m or (out[i] == images[i]).all() for i, m in enumerate(mirrored))
    assert 16 < sum(mirrored) < 48
    assert train_images(flips, images, None) is images


def test_top5_counts_the_true_class_among_the_five_highest_logits():
    spec = lm.NetSpec("top5", (1, 2, 2), [lm.flatten(), lm.dense(4, 8)])
    rng = np.random.default_rng(0)
    params = spec.init_params(0)
    x = rng.standard_normal((64, 1, 2, 2)).astype(np.float32)
    logits = lm.predict(spec, params, x)
    # Labels at every rank.
    order = np.argsort(-logits, axis=1)
    y = order[np.arange(64), np.arange(64) % 8].astype(np.int32)
    _, correct, correct5 = lm.evaluate_batch(spec, params, x, y, top5=True)
    rank = (logits > logits[np.arange(64), y][:, None]).sum(axis=1)
    assert correct == int((rank == 0).sum()) == 8
    assert correct5 == int((rank < 5).sum()) == 40
    predictor = lm.Predictor(spec, params, batch_size=24)
    assert predictor.evaluate(x, y, top5=True)[1:] == (8, 40)
    assert predictor.evaluate(x, y)[1] == 8
    # A tie for the fifth place counts, as a tie for the first does.
    params["dense_0.weight"][:] = 0
    params["dense_0.bias"][:] = [5, 4, 3, 2, 1, 1, 0, 0]
    tied = lm.evaluate_batch(spec, params, x, np.full(64, 5, np.int32), top5=True)
    assert tied[1:] == (0, 64)
    assert lm.evaluate_batch(spec, params, x, np.full(64, 6, np.int32), top5=True)[2] == 0


def small_net():
    return lm.NetSpec("tiny-imagenette", (3, 224, 224), [
        lm.conv2d(3, 4, 8, stride=8, activation="relu"), lm.max_pool(4, 4),
        lm.global_avg_pool(), lm.dense(4, 3)])


def test_trains_from_the_folders_with_the_books_recipe_and_reports_top5(tmp_path):
    write_set(tmp_path, per_class=(12, 4))
    cfg = recipes.get("imagenette", epochs=2, batch_size=12, warmup_epochs=1)
    result = lm.train(small_net(), cfg, tmp_path, dataset="imagenette",
                      run_dir=tmp_path / "run", progress=False)
    assert [e["epoch"] for e in result.history] == [1, 2]
    assert all(np.isfinite(e["train_loss"]) for e in result.history)
    # Three classes: the true one is always among the five highest.
    assert all(e["test_top5"] == 1.0 for e in result.history)
    assert result.test_top5_correct == result.test_count == 12
    events = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").open()]
    assert [e["test_top5"] for e in events if e["event"] == "epoch"] == [1.0, 1.0]
    # Exported, the model reads the validation JPEGs as the trainer did.
    model = lm.load_model(lm.export.export_model(tmp_path / "run", tmp_path / "model"))
    # The class names are the run's folders', read as Imagenette's WordNet ids.
    assert model.dataset == "imagenette"
    assert model.class_names == ["tench", "English springer", "chain saw"]
    files = sorted((tmp_path / "imagenette2-320/val").glob("*/*.JPEG"))
    names, x, notes = lm.export.read_images(files[:3], model.input_shape, model.dataset)
    assert names == [str(f) for f in files[:3]]
    assert len(notes) == 3 and "resized from 80x60 to 224x224" in notes[0]
    loaded = data.load("imagenette", tmp_path)
    np.testing.assert_allclose(x, loaded.to_float(loaded.test_x[:3]), rtol=1e-6, atol=1e-6)
    with pytest.raises(lm.ModelError, match="an IDX file holds 28x28 grayscale images; this "
                                            "model takes 3x224x224"):
        idx = tmp_path / "digits-idx3-ubyte"
        data.write_idx(idx, np.zeros((2, 28, 28), np.uint8))
        lm.export.read_images([idx], model.input_shape, model.dataset)
    with pytest.raises(ValueError, match=r"takes 1x28x28 inputs; the data's images are "
                                         r"3x224x224"):
        lm.train(lm.mnist_mlp(), cfg, tmp_path, dataset="imagenette", run_dir=tmp_path / "m",
                 progress=False)
