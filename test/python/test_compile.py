"""The book's CNN train step through the whole pipeline, and failures with repros."""

import os
import subprocess
import threading

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir import compiler
from lean_mlir.cli import main
from lean_mlir.compiler import (
    TARGETS,
    _BatchScheduled,
    compile_flags,
    compile_spec,
    compile_stablehlo,
    lower_to_stablehlo,
    lowering_pipeline,
)
from lean_mlir.ir import Context


def test_book_cnn_train_step_runs_on_cpu(cnn):
    cfg = lm.TrainConfig()   # the book's config as printed: SGD 0.1, batch 128
    params = cnn.init_params(seed=0)
    state = lm.init_optimizer_state(cnn, params, cfg)
    assert state == {}
    rng = np.random.default_rng(0)
    x = rng.random((128, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 128)
    new, _, loss = lm.train_step(cnn, params, state, x, y, cfg, lr=0.1, step=0)
    assert np.isfinite(loss) and loss > 0
    for name in params:
        assert new[name].shape == params[name].shape
        assert not np.array_equal(new[name], params[name]), name
    # A second call reuses the compiled module.
    module = compile_spec(cnn, "train_step", 128, "llvm-cpu", cfg.lowering_options())
    assert compile_spec(cnn, "train_step", 128, "llvm-cpu", cfg.lowering_options()) is module
    # The cpu forms keep two convolutions (conv 32->32 forward and its input
    # gradient); the generic forms have five (both layers' forward and weight
    # gradient, and the second's input gradient).
    assert module.stablehlo.count("stablehlo.convolution") == 2
    generic = lower_to_stablehlo(
        cnn, "builtin.module(netspec-to-stablehlo{batch-size=128 functions=train_step})")
    assert generic.count("stablehlo.convolution") == 5


@pytest.mark.parametrize("backend", ["rocm", "cuda"])
def test_book_cnn_train_step_compiles_for_gpus(cnn, backend):
    """gfx1100 (the book's GPU) and CUDA compile here, with no GPU present, each
    with the forms it gets (TARGETS)."""
    text = lower_to_stablehlo(cnn, lowering_pipeline("train_step", 128,
                                                     {"target": TARGETS[backend]}))
    vmfb = compile_stablehlo(text, backend)
    assert len(vmfb) > 10_000 and b"train_step" in vmfb


def test_cli_compile_reports_the_mlir_size(capsys, tmp_path):
    out = tmp_path / "mlp.vmfb"
    assert main(["compile", "mlp", "--batch-size", "32", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Generating train step MLIR..." in text and " chars" in text
    assert out.stat().st_size > 10_000


def test_failed_pipeline_saves_a_repro(tmp_path, monkeypatch, mlp):
    monkeypatch.setenv("LEAN_MLIR_REPRO_DIR", str(tmp_path))
    module = mlp.to_mlir(Context())   # unregistered dialects not allowed: the lowering refuses
    with pytest.raises(lm.PipelineError) as info:
        lm.run_pipeline(module, "builtin.module(netspec-forward{batch-size=4})", "lowering")
    err = info.value
    assert err.repro_path == tmp_path / "repro.mlir" and err.repro_path.exists()
    assert "allow unregistered dialects" in str(err)
    assert "lean-mlir-opt --pass-pipeline='builtin.module(netspec-forward{batch-size=4})'" \
        in err.repro_command
    # The saved command reproduces the failure.
    proc = subprocess.run(err.repro_command, shell=True, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1
    assert "StableHLO is emitted in generic form" in proc.stderr


def test_compiled_modules_are_cached_on_disk(mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAN_MLIR_COMPILE_CACHE", str(tmp_path))
    text = lower_to_stablehlo(mlp, "builtin.module(netspec-forward{batch-size=2 target=cpu})")
    first = compile_stablehlo(text)
    [entry] = list(tmp_path.iterdir())
    assert entry.suffix == ".vmfb" and entry.read_bytes() == first
    entry.write_bytes(b"PK\x03\x04 stands in for a module")   # the cache is what is served
    assert compile_stablehlo(text) == entry.read_bytes()
    assert compile_stablehlo(text, cache=False) == first == entry.read_bytes()   # refreshed
    # Other flags, another entry; a damaged entry is compiled again and replaced.
    compile_stablehlo(text, flags=[*compile_flags("llvm-cpu"), "--iree-opt-data-tiling=false"])
    assert len(list(tmp_path.iterdir())) == 2
    entry.write_bytes(b"garbage")
    assert compile_stablehlo(text) == first and entry.read_bytes() == first
    monkeypatch.setenv("LEAN_MLIR_COMPILE_CACHE", "off")
    entry.unlink()
    compile_stablehlo(text)
    assert not entry.exists()


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_cpu_calls_wait_as_sched_batch_and_give_the_policy_back(mlp, monkeypatch):
    """While a CPU module runs, its calling thread is SCHED_BATCH (woken at the end,
    it must not preempt IREE's workers); afterwards, and after a failed call, it
    has its own policy again; a caller that is not SCHED_OTHER is left alone."""
    seen = []

    def probe(*args):
        seen.append(os.sched_getscheduler(0))
        if args:
            raise RuntimeError("failed call")
        return "result"

    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    call = _BatchScheduled(probe)
    assert call() == "result"
    with pytest.raises(RuntimeError, match="failed call"):
        call(1)
    assert seen == [os.SCHED_BATCH, os.SCHED_BATCH]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER

    def idle_caller():   # a thread of its own: leaving SCHED_IDLE may need privileges
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        call()
        seen.append(os.sched_getscheduler(0))

    seen.clear()
    thread = threading.Thread(target=idle_caller)
    thread.start()
    thread.join()
    assert seen == [os.SCHED_IDLE, os.SCHED_IDLE]

    # The real step: wrapped on the CPU, with the same results as unwrapped.
    cfg = lm.TrainConfig(batch_size=16)
    module = compile_spec(mlp, "train_step", 16, "llvm-cpu", cfg.lowering_options())
    params = mlp.init_params(seed=0)
    rng = np.random.default_rng(0)
    args = [params[p.name] for p in mlp.params] + [
        rng.random((16, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 16).astype(np.int32),
        np.float32(0.1), np.int32(0)]
    assert isinstance(module.function("train_step"), _BatchScheduled)
    wrapped = module.call("train_step", *args)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    monkeypatch.setattr(compiler, "BATCH_WAIT", False)
    assert not isinstance(module.function("train_step"), _BatchScheduled)
    plain = module.call("train_step", *args)
    for a, b in zip(wrapped, plain, strict=True):
        np.testing.assert_array_equal(a, b)
