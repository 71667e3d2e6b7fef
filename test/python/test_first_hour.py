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
    "unknown recipe": (["train", "mlp", "--recipe", "s4tf"], "invalid choice: 's4tf'"),
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

