"""Training as a product: run directories, checkpoints and resume, errors, plot, export, predict.

The command-line runs here are real `lean-mlir` processes on real MNIST (the
book's MLP on the first 12,800 images, 100 steps an epoch), interrupted with
real signals.
"""

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.checkpoint import CheckpointError, Position, load_checkpoint, save_checkpoint
from lean_mlir.data import load, prepare
from lean_mlir.rundir import MetricsLog, RunError, read_metrics
from safetensors.numpy import load_file

LEAN_MLIR = str(Path(sys.executable).with_name("lean-mlir"))
RUN = ["train", "mlp", "--recipe", "s4tf-momentum", "--epochs", "2", "--train-limit", "12800",
       "--log-every", "1", "--checkpoint-every", "20", "--no-progress-bar"]


def cli(*args, check=True, timeout=300):
    proc = subprocess.run([LEAN_MLIR, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def start(*args):
    return subprocess.Popen([LEAN_MLIR, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_step(proc, run_dir: Path, step: int, timeout=120.0) -> None:
    """Returns once metrics.jsonl records `step` (the process still running)."""
    deadline = time.monotonic() + timeout
    metrics = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists():
            steps = [e.get("step", 0) for e in read_metrics(run_dir)]
            if steps and max(steps) >= step:
                return
        time.sleep(0.002)
    proc.kill()
    raise AssertionError(f"step {step} never came")


def assert_same_checkpoint(a: Path, b: Path) -> None:
    ta, tb = load_file(a / "checkpoint.safetensors"), load_file(b / "checkpoint.safetensors")
    assert sorted(ta) == sorted(tb) and any(k.endswith(".velocity") for k in ta)
    for name in ta:
        assert np.array_equal(ta[name], tb[name]), f"{name} differs"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run left alone."""
    run_dir = tmp_path_factory.mktemp("runs") / "reference"
    proc = cli(*RUN, "--run-dir", run_dir)
    assert "step 0/100: loss=" in proc.stdout and "val accuracy: " in proc.stdout
    assert f"run: {run_dir}" in proc.stdout and "export: lean-mlir export" in proc.stdout
    return run_dir


def test_run_directory_records_the_run(reference):
    config = json.loads((reference / "config.json").read_text())
    assert config["network"]["name"] == "MNIST-MLP" and config["train_config"]["momentum"] == 0.9
    assert {"lean-mlir", "numpy", "iree-base-runtime"} <= set(config["versions"])
    assert config["backend"] == "llvm-cpu" and config["cpu"]
    events = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["step"] for e in steps] == list(range(1, 201))
    assert {"step", "epoch", "loss", "lr", "images_per_s"} <= set(steps[0])
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"] and epochs[1]["test_accuracy"] > 0.9
    # A plain safetensors file: parameters, optimizer state and the position.
    tensors = load_file(reference / "checkpoint.safetensors")
    assert set(tensors) == {p.name for p in lm.mnist_mlp().params} | {
        f"{p.name}.velocity" for p in lm.mnist_mlp().params}
    _, position, metadata = load_checkpoint(reference / "checkpoint.safetensors")
    assert (position.epoch, position.batch, position.step) == (3, 0, 200)
    assert metadata["model"] == "MNIST-MLP" and position.rng_state["bit_generator"] == "PCG64"
    assert (reference / "plot.png").exists()


def test_sigkill_mid_epoch_and_resume_is_bit_identical(reference, tmp_path):
    run_dir = tmp_path / "killed"
    proc = start(*RUN, "--run-dir", run_dir)
    wait_for_step(proc, run_dir, 130)   # epoch 2 (steps 101-200), after its step-120 checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    _, position, _ = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert position.epoch == 2 and position.batch > 0, position   # a mid-epoch checkpoint
    resumed = cli("train", "--resume", run_dir, "--no-progress-bar")
    assert f"resuming {run_dir} at epoch 2, batch {position.batch}" in resumed.stdout
    assert_same_checkpoint(run_dir, reference)
    # The record reads as one run: every step once, every epoch once.
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, 201))
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]


def test_ctrl_c_saves_and_the_printed_command_resumes(reference, tmp_path):
    run_dir = tmp_path / "interrupted"
    proc = start(*RUN, "--run-dir", run_dir)
    wait_for_step(proc, run_dir, 50)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    command = next(line for line in err.splitlines() if line.startswith("resume with: "))
    assert command == f"resume with: lean-mlir train --resume {run_dir}"
    args = command.removeprefix("resume with: lean-mlir ").split()
    cli(*args, "--no-progress-bar")
    assert_same_checkpoint(run_dir, reference)


def test_sigterm_saves_too(tmp_path):
    run_dir = tmp_path / "terminated"
    proc = start(*RUN, "--run-dir", run_dir)
    wait_for_step(proc, run_dir, 30)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "resume with:" in err
    _, position, _ = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert position.step >= 30


def one_error_line(proc) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_truncated_checkpoint_is_refused_and_left_alone(reference, tmp_path):
    run_dir = tmp_path / "truncated"
    shutil.copytree(reference, run_dir)
    checkpoint = run_dir / "checkpoint.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    before = checkpoint.read_bytes()
    line = one_error_line(cli("train", "--resume", run_dir, check=False))
    assert str(checkpoint) in line and "truncated or corrupt" in line
    assert checkpoint.read_bytes() == before


def test_checkpoint_of_another_network_is_refused(reference):
    with pytest.raises(CheckpointError, match="saved from another network"):
        load_checkpoint(reference / "checkpoint.safetensors", lm.mnist_cnn().fingerprint())


def test_a_run_directory_is_never_overwritten(reference):
    before = (reference / "checkpoint.safetensors").read_bytes()
    line = one_error_line(cli(*RUN, "--run-dir", reference, check=False))
    assert "already holds a run" in line and "--resume" in line
    assert (reference / "checkpoint.safetensors").read_bytes() == before


def test_corrupt_data_file_gives_one_error_line(tmp_path):
    mnist = prepare("mnist", quiet=True)
    for f in mnist.iterdir():
        if not f.name.startswith("."):
            shutil.copy(f, tmp_path / f.name)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100_000])
    before = images.read_bytes()
    line = one_error_line(cli("train", "mlp", "--data-dir", tmp_path, "--epochs", "1",
                              "--run-dir", tmp_path / "run", check=False))
    assert str(images) in line and "truncated or corrupt" in line
    assert images.read_bytes() == before


def test_unknown_recipe_and_arm_give_one_error_line():
    assert "unknown recipe 'sgd-fast'" in one_error_line(
        cli("train", "mlp", "--recipe", "sgd-fast", check=False))
    assert "unknown ablation arm 'resnet-50'" in one_error_line(
        cli("ablation", "resnet-50", check=False))


def test_ablation_list_names_every_arm():
    out = cli("ablation", "--list").stdout
    for arm in ("mlp-sgd", "mlp-adam", "cnn-nobn-sgd", "cnn-nobn-adam", "cnn-nobn-full"):
        assert arm in out
    assert "s4tf-momentum" in out and "s4tf-baseline" in out


def test_export_and_predict_png_and_idx_files(reference, tmp_path):
    from PIL import Image

    model_dir = tmp_path / "model"
    cli("export", reference, "-o", model_dir)
    assert {p.name for p in model_dir.iterdir()} >= {"model.mlir", "params.safetensors",
                                                      "predict.vmfb", "model.json"}
    data = load("mnist", prepare("mnist", quiet=True))
    files = []
    for i in range(12):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray((data.test_x[i, 0] * 256).astype(np.uint8)).save(path)
        files.append(path)
    out = json.loads(cli("predict", model_dir, *files, "--json").stdout)
    got = [row["class"] for row in out]
    # The same numbers as the library's predict with the run's parameters.
    params = load_file(reference / "checkpoint.safetensors")
    spec = lm.mnist_mlp()
    want = lm.predict(spec, {p.name: params[p.name] for p in spec.params},
                      data.test_x[:12]).argmax(1).tolist()
    assert got == want and np.mean(np.array(got) == data.test_y[:12]) >= 0.75
    text = cli("predict", model_dir, files[0]).stdout.strip()
    assert text.startswith(f"{files[0]}: {got[0]} (") and text.endswith("%)")
    # In Python: probabilities.
    model = lm.load_model(model_dir)
    probs = model.predict(data.test_x[:40])
    assert probs.shape == (40, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert probs[:12].argmax(1).tolist() == want
    # An IDX file of images, and a PNG of another size and mode (with a note).
    idx = tmp_path / "few-idx3-ubyte"
    lm.data.write_idx(idx, (data.test_x[:3, 0] * 256).astype(np.uint8))
    rgb = tmp_path / "big.png"
    Image.fromarray((data.test_x[0, 0] * 256).astype(np.uint8)).convert("RGB").resize(
        (56, 56)).save(rgb)
    proc = cli("predict", model_dir, idx, rgb)
    assert proc.stdout.count(f"{idx}[") == 3 and f"{rgb}: " in proc.stdout
    assert "resized from 56x56" in proc.stderr and "grayscale" in proc.stderr


def test_exported_predict_reads_its_parameters_at_load(reference, tmp_path):
    """The shipped predict.vmfb binds params.safetensors; exports whose predict.vmfb
    takes the parameters as arguments still load, and a vmfb that does not load here
    is compiled again, bound."""
    from lean_mlir.compiler import compile_spec
    from lean_mlir.export import EXPORT_BATCH

    model_dir = tmp_path / "model"
    cli("export", reference, "-o", model_dir)
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["parameters"] == "bound"
    x = load("mnist", prepare("mnist", quiet=True)).test_x[:40]
    model = lm.load_model(model_dir)
    assert model.bound and not model.notes
    want = model.predict(x)

    older = tmp_path / "older"
    shutil.copytree(model_dir, older)
    del manifest["parameters"]
    (older / "model.json").write_text(json.dumps(manifest))
    (older / "predict.vmfb").write_bytes(compile_spec(lm.mnist_mlp(), "predict",
                                                      EXPORT_BATCH).vmfb)
    old = lm.load_model(older)
    assert not old.bound
    np.testing.assert_allclose(old.predict(x), want, rtol=1e-5, atol=1e-7)

    moved = tmp_path / "moved"
    shutil.copytree(model_dir, moved)
    (moved / "predict.vmfb").write_bytes(b"PK\x03\x04 not a module")
    again = lm.load_model(moved)
    assert again.bound and "compiled predict again from model.mlir" in again.notes[0]
    np.testing.assert_allclose(again.predict(x), want, rtol=1e-5, atol=1e-7)


def test_predict_refuses_bad_inputs_with_one_error_line(reference, tmp_path):
    model_dir = tmp_path / "model"
    cli("export", reference, "-o", model_dir)
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    assert f"{text}: not a PNG, JPEG or IDX image file" in one_error_line(
        cli("predict", model_dir, text, check=False))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    assert str(broken) in one_error_line(cli("predict", model_dir, broken, check=False))
    # A model whose IR does not verify, and one with corrupt parameters.
    bad_ir = tmp_path / "bad-ir"
    shutil.copytree(model_dir, bad_ir)
    ir = (bad_ir / "model.mlir").read_text().replace("tensor<784x512xf32>",
                                                     "tensor<700x512xf32>", 1)
    (bad_ir / "model.mlir").write_text(ir)
    assert "does not verify" in one_error_line(cli("predict", bad_ir, text, check=False))
    bad_params = tmp_path / "bad-params"
    shutil.copytree(model_dir, bad_params)
    (bad_params / "params.safetensors").write_bytes(b"\x00" * 10)
    assert "params.safetensors" in one_error_line(cli("predict", bad_params, text, check=False))


def test_plot_draws_one_curve_per_run(reference, tmp_path):
    from lean_mlir.plot import plot_runs
    from PIL import Image

    other = tmp_path / "other"
    shutil.copytree(reference, other)
    out = tmp_path / "curves.png"
    fig = plot_runs([reference, other], out)
    with Image.open(out) as img:
        assert img.size == (1200, 480)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 2 and len(acc_ax.lines) == 2
    assert loss_ax.get_yscale() == "log" and "accuracy" in acc_ax.get_ylabel()
    assert len(loss_ax.lines[0].get_xdata()) == 2
    assert cli("plot", reference, "-o", tmp_path / "one.png").returncode == 0


def test_python_entry_point(tmp_path):
    assert "s4tf-baseline" in lm.recipes.names()
    cfg = lm.recipes.get("s4tf-momentum", epochs=1)
    result = lm.train(lm.mnist_mlp(), cfg, None, dataset="mnist", backend="llvm-cpu",
                      run_dir=tmp_path / "run", train_limit=6400, progress=False)
    assert result.run_dir == tmp_path / "run" and (result.run_dir / "checkpoint.safetensors").exists()
    assert 0.85 < result.test_accuracy <= 1
    assert list(result.history[0]) == ["epoch", "train_loss", "lr", "seconds", "test_loss",
                                       "test_accuracy", "test_top5"]
    assert result.history[0]["test_top5"] >= result.history[0]["test_accuracy"]
    assert set(result.params) == {p.name for p in lm.mnist_mlp().params}
    with pytest.raises(ValueError, match="unknown recipe"):
        lm.recipes.get("nope")


def test_fashion_mnist_from_debian(tmp_path):
    directory = prepare("fashion-mnist", tmp_path / "fashion", quiet=True)
    data = load("fashion-mnist", directory)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert np.bincount(data.train_y).tolist() == [6000] * 10
    assert np.bincount(data.test_y).tolist() == [1000] * 10
    # Gzipped files, read as they are.
    assert any(p.suffix == ".gz" for p in directory.iterdir())
    out = cli("data", "fashion-mnist", tmp_path / "fashion").stdout
    assert "60,000 training and 10,000 test images" in out


def test_checkpoints_are_written_atomically(tmp_path):
    path = tmp_path / "c.safetensors"
    position = Position(1, 0, 0, np.random.default_rng(0).bit_generator.state)
    save_checkpoint(path, {"w": np.ones(3, np.float32)}, position, "abc")
    save_checkpoint(path, {"w": np.zeros(3, np.float32)}, position, "abc")
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]   # no temporary left
    assert load_file(path)["w"].tolist() == [0, 0, 0]


def test_an_event_cut_off_mid_line_is_left_out_and_resuming_drops_it(tmp_path):
    # A reader of a live run can see the event being written, and a run killed
    # while writing one leaves it cut short: neither may stop a plot or a resume.
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"event": "step", "step": 1}\n{"event": "epoch", "epoch": 1}\n'
                       '{"event": "step", "st')
    assert read_metrics(tmp_path) == [{"event": "step", "step": 1},
                                      {"event": "epoch", "epoch": 1}]
    MetricsLog(tmp_path).truncate_to(Position(2, 0, 5, None))
    assert metrics.read_text() == '{"event": "step", "step": 1}\n{"event": "epoch", "epoch": 1}\n'
    # A whole line that is not JSON is still an error, with its line number.
    metrics.write_text('{"event": "step", "step": 1}\nnot json\n')
    with pytest.raises(RunError, match=r"metrics.jsonl:2: not a JSON line"):
        read_metrics(tmp_path)


def test_a_sweep_run_that_died_before_its_first_checkpoint_starts_over(tmp_path):
    from lean_mlir.sweeps import run_one

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    (run_dir / "metrics.jsonl").write_text('{"event": "step", "step": 1}\n')
    result = run_one("mlp-sgd", 0, str(run_dir), epochs=1, train_limit=1280)
    assert result["status"] == "finished" and not result["resumed"], result
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["epoch"]   # the dead attempt's step is gone
    # Finished runs are not trained again.
    assert run_one("mlp-sgd", 0, str(run_dir), epochs=1, train_limit=1280) == result


def test_memory_limit_stops_with_a_checkpoint_and_resume_is_bit_identical(reference, tmp_path):
    # A run whose process outgrows LEAN_MLIR_MEMORY_LIMIT_MB stops after a step,
    # checkpointed, with one error line saying how to resume; a fresh process
    # resumes it to the same parameters as the run left alone.
    run_dir = tmp_path / "limited"
    proc = subprocess.run([LEAN_MLIR, *RUN, "--run-dir", str(run_dir)], capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "LEAN_MLIR_MEMORY_LIMIT_MB": "1"})
    assert proc.returncode == 75, proc.stderr
    assert "error: stopped after step 10: the process holds" in proc.stderr
    assert f"resume with: lean-mlir train --resume {run_dir}" in proc.stderr
    tensors, position, meta = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert position.step == 10 and position.seconds > 0
    # The epoch's time before the stop is carried into the resumed epoch's record
    # (made large here so that it shows): 1000 s for its first 10 of 100 steps.
    save_checkpoint(run_dir / "checkpoint.safetensors", tensors,
                    dataclasses.replace(position, seconds=1000.0), meta["network"],
                    {"model": meta["model"]})
    resumed = cli("train", "--resume", run_dir, "--no-progress-bar")
    assert "in this process (resumed" in resumed.stdout
    assert_same_checkpoint(run_dir, reference)
    first = next(json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                 if json.loads(line)["event"] == "epoch")
    assert first["epoch"] == 1 and 1000 <= first["seconds"] < 1100
    ms = int(re.search(r"\((\d+) ms/step\)", resumed.stdout).group(1))
    assert 10_000 <= ms < 11_000
    bad = subprocess.run([LEAN_MLIR, *RUN, "--run-dir", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "LEAN_MLIR_MEMORY_LIMIT_MB": "lots"})
    assert bad.returncode == 1 and "LEAN_MLIR_MEMORY_LIMIT_MB must be a number" in bad.stderr


def test_plot_labels_name_the_data_set_unless_mnist(tmp_path):
    from lean_mlir.plot import run_label

    for dataset, want in (("mnist", "resnet-sgd: MNIST-ResNet"),
                          ("fashion-mnist", "resnet-sgd: MNIST-ResNet on fashion-mnist")):
        run = tmp_path / dataset
        run.mkdir()
        (run / "config.json").write_text(json.dumps(
            {"network": {"name": "MNIST-ResNet"}, "arm": "resnet-sgd", "dataset": dataset}))
        assert run_label(run) == want
