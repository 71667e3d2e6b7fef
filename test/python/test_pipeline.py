"""One compile pipeline: staged, cached once, reproducible from the command line.

`lean-mlir compile` warms the cache `lean-mlir train` reads; `--dump-stages`
writes every stage's module and the commands that remake it; `explain`
profiles what the trainer compiles, tuned choices included.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import lean_mlir as lm
import pytest
from lean_mlir.compiler import CompiledModule, example_arguments, lower, save_tuned_choice

LEAN_MLIR = str(Path(sys.executable).with_name("lean-mlir"))


def cli(*args, env=None):
    proc = subprocess.run([LEAN_MLIR, *map(str, args)], capture_output=True, text=True,
                          timeout=600, check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def own_cache(tmp_path):
    env = {**os.environ, "LEAN_MLIR_COMPILE_CACHE": str(tmp_path / "cache")}
    return env, tmp_path / "cache"


def test_compile_then_train_compiles_once(own_cache, tmp_path):
    env, cache = own_cache
    out = cli("compile", "mlp", "--recipe", "s4tf-momentum", env=env).stdout
    assert "now in the compile cache" in out and "compiles nothing again" in out
    compiled = sorted(cache.glob("*.vmfb"))
    assert len(compiled) == 2      # the train step and the evaluation
    again = cli("compile", "mlp", "--recipe", "s4tf-momentum", env=env).stdout
    assert again.count("from the compile cache") == 2
    cli("train", "mlp", "--recipe", "s4tf-momentum", "--epochs", "1", "--train-limit", "256",
        "--run-dir", tmp_path / "run", "--no-progress-bar", env=env)
    assert sorted(cache.glob("*.vmfb")) == compiled    # train compiled nothing new


def test_dump_stages_remakes_each_stage_from_the_command_line(tmp_path):
    out = tmp_path / "stages"
    cli("compile", "cnn", "--function", "predict", "--batch-size", "4", "--dump-stages", out)
    stage = out / "predict.llvm-cpu"
    assert sorted(p.name for p in stage.iterdir()) == [
        "0-netspec.mlir", "1-stablehlo.mlir", "2-iree-input.mlir", "commands.sh"]
    lowered = lower(lm.mnist_cnn(), "predict", 4)
    commands = (stage / "commands.sh").read_text().splitlines()
    # Stage 0 -> 1 with lean-mlir-opt gives the lowering the pipeline compiled.
    opt = next(line for line in commands if line.startswith("lean-mlir-opt"))
    argv = shlex.split(opt)
    argv[0] = str(Path(sys.executable).with_name("lean-mlir-opt"))
    made = subprocess.run(argv[:-2], capture_output=True, text=True, cwd=stage, check=True)
    assert made.stdout.strip() == lowered.text.strip()
    # Stage 2 -> module with iree-compile gives the module the pipeline loads.
    iree = next(line for line in commands if line.startswith("iree-compile"))
    assert all(f"'{flag}'" in iree for flag in lowered.flags)
    from lean_mlir._native import iree_tool_path

    argv = shlex.split(iree)
    argv[0] = str(iree_tool_path("iree-compile"))
    subprocess.run(argv, cwd=stage, check=True, capture_output=True)
    module = lowered.compile()
    remade = CompiledModule((stage / "predict.vmfb").read_bytes(), "llvm-cpu", "")
    args = example_arguments(lm.mnist_cnn(), "predict", 4, lm.TrainConfig(), module.signature)
    assert (remade.call("predict", *args)[0] == module.call("predict", *args)[0]).all()
    assert "hal.tensor.transients" in (stage / "2-iree-input.mlir").read_text()


def test_dump_stages_for_xla(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "stages"
    cli("compile", "mlp", "--backend", "xla", "--dump-stages", out)
    text = (out / "train_step.xla" / "2-xla-input.mlir").read_text()
    assert "@main" in text and text.count("tf.aliasing_output") == len(lm.mnist_mlp().params)


def test_explain_profiles_what_the_trainer_compiles(tmp_path, monkeypatch):
    """A tuned choice changes the trainer's flags; explain reports and profiles those."""
    from lean_mlir.explanation import explain

    monkeypatch.setenv("LEAN_MLIR_COMPILE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEAN_MLIR_TUNED", "on")
    spec = lm.mnist_mlp()
    cfg = lm.recipes.get("s4tf-baseline", batch_size=16)
    options = {"target": "cpu", **cfg.lowering_options()}
    save_tuned_choice(spec, "train_step", 16, "llvm-cpu", options,
                      {"options": {}, "data_tiling": False, "candidate": "no tiling (test)"})
    trainer = lower(spec, "train_step", 16, "llvm-cpu", cfg.lowering_options())
    assert "--iree-opt-data-tiling=false" in trainer.flags
    report = explain(spec, tmp_path / "page", batch_size=16, calls=2, log=lambda _: None)
    assert report["compile_flags"] == trainer.flags and report["tuned"] == "no tiling (test)"
    assert report["dispatches"] and json.loads((tmp_path / "page" / "report.json").read_text())
    # The profiled time against the module's own, and the first layer's VJP as computed.
    assert 0 < report["unprofiled_ms"] and 0 < report["wall_ms"]
    assert "without it the same module runs" in (tmp_path / "page" / "index.html").read_text()
    # The optimizer's updates are one node, so the graph stays narrow enough to read.
    assert (tmp_path / "page" / "derived.dot").read_text().count('label="optimizer\\n') == 1
    first, second = report["layers"][0]["vjp"], report["layers"][1]["vjp"]
    assert first.startswith("nothing: it reads the model's input")    # flatten
    assert "dx =" in second and "dw =" in second
    from lean_mlir.explanation import _vjp_rule

    conv = lm.mnist_cnn().layers[0]
    assert "dx =" not in _vjp_rule(conv, first=True) and "dw =" in _vjp_rule(conv, True)
