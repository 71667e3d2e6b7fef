"""A new user's first hour: each command-line mistake one `error:` line; the book's one line.

Every case runs the real `lean-mlir` in an empty directory and checks that it
says what is wrong (the flag or file and the value), prints no traceback, and
leaves nothing behind: no run directory, no data directory, no half-written
file. Each is refused before anything is compiled.
"""

import os
import subprocess
import sys
from pathlib import Path

import lean_mlir as lm
import pytest

LEAN_MLIR = str(Path(sys.executable).with_name("lean-mlir"))

MISTAKES = {
    "unknown backend": (["train", "mlp", "--backend", "tpu"], "invalid choice: 'tpu'"),
    "absent GPU (IREE)": (["train", "mlp", "--backend", "cuda", "--run-dir", "run"],
                          "IREE's cuda driver finds no device"),
    "absent GPU (XLA)": (["train", "mlp", "--backend", "xla-cuda", "--run-dir", "run"],
                         "jax-cuda12-pjrt"),
    "negative train limit": (["train", "mlp", "--train-limit", "-5"],
                             "--train-limit must be positive, got -5"),
    "negative epochs": (["train", "mlp", "--epochs", "-1"], "--epochs must be >= 0, got -1"),
    "zero log interval": (["train", "mlp", "--log-every", "0"], "--log-every must be positive"),
    "misspelt data directory": (["train", "mlp", "--data-dir", "mnsit"],
                                "--data-dir mnsit: no such directory"),
    "zero batch": (["compile", "cnn", "--batch-size", "0"], "--batch-size must be positive, got 0"),
    "negative batch": (["compile", "cnn", "--batch-size", "-3"], "--batch-size must be positive"),
    "input shape against the data": (["train", "cifar-cnn8", "--run-dir", "run"],
                                     "takes 3x32x32 inputs; the data's images are 1x28x28"),
    "unknown compile backend": (["compile", "mlp", "--backend", "tpu"], "--backend takes"),
    "unknown function": (["compile", "mlp", "--function", "fit"], "invalid choice: 'fit'"),
    "negative learning rate": (["train", "mlp", "--lr", "-1"], "--lr must be positive, got -1.0"),
    "unknown optimizer": (["train", "mlp", "--optimizer", "rmsprop"],
                          "invalid choice: 'rmsprop'"),
    "nesterov without momentum": (["train", "mlp", "--optimizer", "nesterov", "--momentum", "0"],
                                  "nesterov needs SGD with momentum > 0"),
    "unknown recipe": (["train", "mlp", "--recipe", "s4tf"], "unknown recipe 's4tf'"),
    "zero batch to train": (["ablation", "mlp-sgd", "--batch-size", "0"],
                            "--batch-size must be positive, got 0"),
}


def run(args, cwd):
    return subprocess.run([LEAN_MLIR, *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=cwd, env={**os.environ, "NO_COLOR": "1"})


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_each_mistake_is_one_line(case, tmp_path):
    args, said = MISTAKES[case]
    if case.startswith("absent GPU"):
        try:
            lm.compiler.check_device(args[args.index("--backend") + 1])
            pytest.skip("this machine has the GPU")
        except lm.compiler.DeviceUnavailable:
            pass
    proc = run(args, tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not any(tmp_path.iterdir()), sorted(tmp_path.iterdir())   # nothing left behind


def test_a_damaged_checkpoint_is_refused_before_compiling(tmp_path):
    """Resuming from a truncated checkpoint: one line naming it, and the run as it was."""
    run_dir = tmp_path / "run"
    proc = run(["train", "mlp", "--epochs", "1", "--train-limit", "256", "--run-dir",
                str(run_dir), "--no-progress-bar"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    checkpoint = run_dir / "checkpoint.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    proc = run(["train", "--resume", str(run_dir)], tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "checkpoint" in lines[0], proc.stderr
    assert "Generating" not in proc.stdout     # refused before compiling
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("field, value, said", [
    ("batch_size", -1, "batch_size must be positive, got -1"),
    ("epochs", -1, "epochs must be >= 0, got -1"),
    ("learning_rate", 0.0, "learning_rate must be positive, got 0.0"),
    ("momentum", -0.5, "momentum must be >= 0, got -0.5"),
    ("backend", "tpu", "unknown backend 'tpu'")])
def test_train_config_names_the_field_and_the_value(field, value, said):
    with pytest.raises(ValueError, match=said):
        lm.TrainConfig(**{field: value})


def test_every_backend_has_its_forms():
    """The backends a config takes are the ones the compiler knows."""
    assert set(lm.compiler.TARGETS) == set(lm.recipes.BACKENDS)


def test_the_books_one_line_trains_says_where_and_plots(tmp_path, capsys):
    """`mnistCnnNoBn.train s4tfBaseline`: swap the architecture, keep the trainer."""
    run_dir = tmp_path / "run"
    result = lm.mnist_mlp().train(lm.recipes.get("s4tf-baseline", epochs=1),
                                  train_limit=6400, run_dir=run_dir, bar=False)
    out = capsys.readouterr().out
    assert result.run_dir == run_dir and (run_dir / "plot.png").stat().st_size > 0
    assert f"run: {run_dir}" in out and f"plot: {run_dir / 'plot.png'}" in out
    assert "Generating train step MLIR..." in out and "epoch  1:" in out
    assert result.history[0]["test_accuracy"] > 0.85
    # lm.train is the same code path: without progress it says less, and its run
    # still has a plot.
    quiet = lm.train(lm.mnist_mlp(), lm.recipes.get("s4tf-baseline", epochs=1),
                     train_limit=1280, run_dir=tmp_path / "quiet", progress=False)
    assert "Generating" not in capsys.readouterr().out
    assert (quiet.run_dir / "plot.png").exists()


def test_knobs_over_the_recipe_are_what_the_run_records(tmp_path):
    """--lr, --batch-size, --optimizer and friends over the recipe, in config.json."""
    import json

    run_dir = tmp_path / "run"
    proc = run(["train", "mlp", "--recipe", "s4tf-baseline", "--epochs", "1", "--train-limit",
                "640", "--lr", "0.05", "--batch-size", "64", "--optimizer", "adamw",
                "--label-smoothing", "0.1", "--run-dir", str(run_dir), "--no-progress-bar"],
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((run_dir / "config.json").read_text())["train_config"]
    assert (cfg["learning_rate"], cfg["batch_size"], cfg["use_adam"], cfg["weight_decay"],
            cfg["label_smoothing"], cfg["epochs"]) == (0.05, 64, True, 0.01, 0.1, 1)
    assert "10 batches of 64 per epoch" in proc.stdout
    resumed = run(["train", "--resume", str(run_dir), "--lr", "0.2"], tmp_path)
    assert resumed.returncode == 2 and "keeps its own config" in resumed.stderr


def test_help_lists_the_recipes_and_the_backends():
    proc = subprocess.run([LEAN_MLIR, "train", "--help"], capture_output=True, text=True,
                          check=True)
    assert all(name in proc.stdout for name in lm.recipes.RECIPES)
    assert all(name in proc.stdout for name in lm.recipes.BACKENDS)



def test_a_short_runs_plot_is_worth_opening(tmp_path):
    """Each logged step's loss beside the epoch means, whole-number epoch ticks, accuracy
    within 0-100%, and runs of different data limits labelled by them."""
    from lean_mlir.plot import plot_runs

    cfg = lm.recipes.get("s4tf-baseline", epochs=1)
    for limit in (640, 1280):
        lm.train(lm.mnist_mlp(), cfg, train_limit=limit, run_dir=tmp_path / str(limit),
                 log_every=1, progress=False, recipe="s4tf-baseline")
    fig = plot_runs([tmp_path / "640", tmp_path / "1280"], tmp_path / "both.png")
    loss_ax, acc_ax = fig.axes
    steps = [len(c.get_offsets()) for c in loss_ax.collections]
    assert steps == [5, 10]                      # every logged step of each run
    assert list(loss_ax.get_xticks()) == [0, 1] == list(acc_ax.get_xticks())
    assert 0 <= acc_ax.get_ylim()[0] and acc_ax.get_ylim()[1] <= 100
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["MNIST-MLP (s4tf-baseline), first 640 images",
                      "MNIST-MLP (s4tf-baseline), first 1,280 images"]


def test_predict_says_accuracy_flags_inverted_images_and_a_model_reads_short(tmp_path):
    import numpy as np
    from lean_mlir.data import load, prepare
    from PIL import Image

    run_dir, model_dir = tmp_path / "run", tmp_path / "model"
    assert run(["train", "mlp", "--epochs", "1", "--train-limit", "3200", "--run-dir",
                str(run_dir), "--no-progress-bar"], tmp_path).returncode == 0
    assert run(["export", str(run_dir), "-o", str(model_dir)], tmp_path).returncode == 0
    mnist = prepare("mnist", quiet=True)
    proc = run(["predict", str(model_dir), str(mnist / "t10k-images-idx3-ubyte"), "--labels",
                str(mnist / "t10k-labels-idx1-ubyte")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    data = load("mnist", mnist)
    right = int((lm.load_model(model_dir).predict(data.test_x).argmax(axis=1)
                 == data.test_y).sum())
    assert last.startswith(f"accuracy: {right}/10000 = ") and right > 7000
    # A digit drawn dark on light: a note, and --invert gives the light-on-dark answer.
    digit = (data.test_x[0] * 256).astype(np.uint8)[0]
    Image.fromarray(digit).save(tmp_path / "digit.png")
    Image.fromarray(255 - digit).save(tmp_path / "inverted.png")
    plain = run(["predict", str(model_dir), str(tmp_path / "digit.png")], tmp_path)
    inverted = run(["predict", str(model_dir), str(tmp_path / "inverted.png")], tmp_path)
    assert "mostly bright" not in plain.stderr and "mostly bright" in inverted.stderr
    flipped = run(["predict", str(model_dir), str(tmp_path / "inverted.png"), "--invert"],
                  tmp_path)
    answer = plain.stdout.split(": ", 1)[1].split(" (")[0]
    assert flipped.stdout.split(": ", 1)[1].split(" (")[0] == answer
    wrong = run(["predict", str(model_dir), str(tmp_path / "digit.png"), "--labels",
                 str(mnist / "t10k-labels-idx1-ubyte")], tmp_path)
    assert wrong.returncode == 2 and "10000 labels for 1 images" in wrong.stderr
    # A folder of class subfolders: its labels give the accuracy too.
    folder = tmp_path / "digits"
    for i in range(6):
        label = int(data.test_y[i])
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((data.test_x[i] * 256).astype(np.uint8)[0]).save(
            folder / str(label) / f"{i}.png")
    by_folder = run(["predict", str(model_dir), str(folder)], tmp_path)
    probs = lm.load_model(model_dir).predict(data.test_x[:6])
    right = int((probs.argmax(axis=1) == data.test_y[:6]).sum())
    assert by_folder.stdout.strip().splitlines()[-1].startswith(f"accuracy: {right}/6 = ")
    (folder / "seven").mkdir()
    odd = run(["predict", str(model_dir), str(folder)], tmp_path)
    assert odd.returncode == 2 and "seven: not a class of this model" in odd.stderr
    shown = repr(lm.load_model(model_dir))
    assert len(shown) < 200 and "MNIST-MLP" in shown and "10 classes" in shown
