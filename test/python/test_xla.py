"""The second lowerer: XLA through PJRT runs the same derived functions as IREE.

The same StableHLO (the lowering's textbook forms) compiled by XLA must compute
what IREE computes from its own forms, to float32 rounding, on every built-in
network; its gradients must match finite differences; training through it must
resume bit for bit and reach IREE's accuracy; exports run through it.
"""

import json
import signal
import subprocess
import sys
from pathlib import Path

import lean_mlir as lm
import numpy as np
import pytest
import reference
from lean_mlir.xla import XlaUnavailable
from lean_mlir.zoo import BOOK_NETWORKS, MODELS
from netgen import random_net

pytest.importorskip("jax")

LEAN_MLIR = str(Path(sys.executable).with_name("lean-mlir"))


def cli(*args, check=True, env=None, timeout=600):
    proc = subprocess.run([LEAN_MLIR, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def steps_on(backend, spec, cfg, batches, target=None):
    """Parameters, state and losses after a few steps of ``backend``'s train step (in
    ``target``'s forms, default the backend's), called through its signature."""
    options = {**cfg.lowering_options(), **({"target": target} if target else {})}
    module = lm.compiler.lower(spec, "train_step", cfg.batch_size, backend, options).compile()
    sig = module.signature
    params = spec.init_params(0)
    state = lm.init_optimizer_state(spec, params, cfg)
    losses = []
    for i, (x, y) in enumerate(batches):
        out = sig.name_results(module.call("train_step", *sig.arguments(
            params=params, state=state, images=x, labels=y,
            learning_rate=np.float32(cfg.learning_rate), step=np.int32(i))))
        params = {name: out[f"param:{name}"] for name in sig.params}
        state = {r.state_name: out[str(r)] for r in sig.result_roles("state")}
        losses.append(float(out["loss"]))
    return {**params, **state}, losses


def assert_same_steps(spec, cfg, batches):
    """XLA's steps against IREE's. Two float32 programs that sum in different orders
    differ; the bound is how much IREE's own two orderings (its cpu and its textbook
    forms) differ, times 4, and at least 1e-3 of each tensor's change or two float32
    rounding steps of its values (a batch norm scale of 1.0 that moves by 1e-9 holds
    that change only to its last bit)."""
    start = spec.init_params(0)
    iree, iree_losses = steps_on("llvm-cpu", spec, cfg, batches)
    generic, generic_losses = steps_on("llvm-cpu", spec, cfg, batches, target="generic")
    xla, xla_losses = steps_on("xla", spec, cfg, batches)
    for got, want, other in zip(xla_losses, iree_losses, generic_losses, strict=True):
        assert abs(got - want) <= max(4 * abs(other - want), 1e-5 * abs(want)), \
            (xla_losses, iree_losses, generic_losses)
    assert sorted(xla) == sorted(iree)
    for name, want in iree.items():
        change = max(float(np.abs(want - start.get(name, 0)).max()), 1e-6)
        ulps = 2 * float(np.finfo(np.float32).eps) * float(np.abs(want).max())
        bound = max(4 * float(np.abs(generic[name] - want).max()), 1e-3 * change, ulps)
        err = float(np.abs(xla[name] - want).max())
        assert err <= bound, (f"{spec.name} {name}: XLA and IREE differ by {err / change:.1e}"
                              f" of the change, IREE's two forms by "
                              f"{np.abs(generic[name] - want).max() / change:.1e}")


def random_batches(spec, n, count=2, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((n, *spec.input_shape), dtype=np.float32),
             rng.integers(0, spec.output_shape[0], n).astype(np.int32)) for _ in range(count)]


#: A known disagreement, kept failing on purpose (strict: it fails the suite once it
#: passes). The small MobileNetV3's two steps through XLA land 1e-2 of each weight's
#: change away from PyTorch's float64 steps where IREE (both forms) and PyTorch float32
#: land 1e-5 away; one step of it, and each of its layers alone (hardswish, the
#: hardsigmoid gate, convBn with eps 1e-3), agree with IREE to 1e-6. Not yet explained.
XLA_OPEN = {"mobilenet-v3": "XLA's second step drifts 1e-2 of the change from float64 "
                            "(IREE: 1e-5); under investigation"}


@pytest.mark.parametrize("model", [
    pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=XLA_OPEN[m]))
    if m in XLA_OPEN else m for m in [*sorted(MODELS), "cifar-cnn8-bn"]])
def test_train_step_equals_iree_on_every_builtin_network(model):
    spec = lm.zoo.resolve(model)
    cfg = lm.TrainConfig(learning_rate=0.05, momentum=0.9, batch_size=8)
    assert_same_steps(spec, cfg, random_batches(spec, 8))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet34"])
def test_train_step_equals_iree_on_the_book_networks_at_224(model):
    """At the book's Imagenette size (the 28x28 networks above hold the same blocks:
    MobileNet's, EfficientNet's and ConvNeXt's; one network at 224 keeps CI short)."""
    spec = BOOK_NETWORKS[model]()
    cfg = lm.TrainConfig(learning_rate=0.01, momentum=0.9, batch_size=2)
    assert_same_steps(spec, cfg, random_batches(spec, 2, count=1))


@pytest.mark.parametrize("cfg", [lm.TrainConfig(learning_rate=1e-3, use_adam=True,
                                                weight_decay=0.05, label_smoothing=0.1,
                                                batch_size=8),
                                 lm.TrainConfig(learning_rate=0.01, momentum=0.9, nesterov=True,
                                                weight_decay=1e-3, batch_size=8)],
                         ids=["adamw-label-smoothing", "nesterov"])
def test_optimizers_equal_iree(cfg):
    spec = lm.mnist_cnn_bn()
    assert_same_steps(spec, cfg, random_batches(spec, 8, count=3))


@pytest.mark.parametrize("seed", range(4))
def test_random_network_gradients_match_finite_differences(seed):
    import random

    input_shape, layers = random_net(random.Random(seed))
    spec = lm.NetSpec(f"fd{seed}", input_shape, layers)
    params = spec.init_params(seed)
    rng = np.random.default_rng(seed)
    for p in spec.params:
        if p.name.endswith(".bias"):
            params[p.name] = rng.normal(0, 0.1, p.shape).astype(np.float32)
    x = rng.standard_normal((3, *spec.input_shape)).astype(np.float32)
    y = rng.integers(0, spec.output_shape[0], 3)
    loss, grads = lm.value_and_grad(spec, params, x, y, label_smoothing=0.1, backend="xla")
    assert loss == pytest.approx(reference.loss(spec, params, x, y, 0.1), rel=1e-5)
    want = reference.finite_difference_grads(spec, params, x, y, 0.1)
    for name, g in want.items():
        err = np.linalg.norm(grads[name] - g) / max(np.linalg.norm(g), 1e-8)
        assert err < 1e-3, f"{name}: relative error {err:.2e}"


def test_max_pool_ties_route_to_the_first_maximum():
    """Tied windows: XLA runs the lowering's first-max routing, so one winner each."""
    from test_gradients import test_max_pool_ties_route_to_the_first_maximum as ties

    original = lm.value_and_grad
    lm.value_and_grad = lambda *a, **k: original(*a, **k, backend="xla")
    try:
        for window, stride in [(2, 2), (3, 2), (2, 1)]:
            ties(window, stride)
    finally:
        lm.value_and_grad = original


def test_predict_and_evaluate_equal_iree():
    spec = lm.mnist_cnn()
    params = spec.init_params(3)
    (x, y), = random_batches(spec, 20, count=1)
    want = lm.Predictor(spec, params, batch_size=8).predict(x)
    np.testing.assert_allclose(lm.Predictor(spec, params, 8, backend="xla").predict(x), want,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lm.predict(spec, params, x, backend="xla"), want,
                               rtol=1e-4, atol=1e-5)
    loss, correct, top5 = lm.Predictor(spec, params, 8).evaluate(x, y, top5=True)
    xla = lm.Predictor(spec, params, 8, backend="xla").evaluate(x, y, top5=True)
    assert xla[0] == pytest.approx(loss, rel=1e-5) and xla[1:] == (correct, top5)


def test_device_resident_steps_are_bit_identical_to_numpy_steps():
    """TrainStepper keeps parameters and state as XLA buffers, donated step to step; the
    numbers are those of lm.train_step, bit for bit."""
    spec = lm.mnist_cnn_bn()
    cfg = lm.TrainConfig(batch_size=4, use_adam=True, learning_rate=1e-3, backend="xla")
    params = spec.init_params(1)
    state = lm.init_optimizer_state(spec, params, cfg)
    stepper = lm.TrainStepper(spec, params, state, cfg)
    for step, (x, y) in enumerate(random_batches(spec, 4, count=3)):
        params, state, loss = lm.train_step(spec, params, state, x, y, cfg, lr=1e-3, step=step)
        assert stepper.step(x, y, lr=1e-3, step=step) == loss
    for name, value in stepper.params().items():
        assert np.array_equal(value, params[name]), name
    for name, value in stepper.opt_state().items():
        assert np.array_equal(value, state[name]), name


def test_xla_keeps_the_callers_arrays():
    """Donated buffers are written in place: never the caller's NumPy memory."""
    spec = lm.mnist_mlp()
    cfg = lm.TrainConfig(batch_size=4, momentum=0.9, backend="xla")
    params = spec.init_params(0)
    copy = {k: v.copy() for k, v in params.items()}
    state = lm.init_optimizer_state(spec, params, cfg)
    (x, y), = random_batches(spec, 4, count=1)
    new, _, _ = lm.train_step(spec, params, state, x, y, cfg, lr=0.1, step=0)
    assert all(np.array_equal(params[k], copy[k]) for k in params)
    assert not np.array_equal(new["dense_0.weight"], params["dense_0.weight"])


def test_unavailable_xla_backends_say_what_to_install(tmp_path):
    spec = lm.mnist_mlp()
    with pytest.raises(XlaUnavailable, match="jax-cuda12-pjrt"):
        lm.predict(spec, spec.init_params(0), np.zeros((1, 1, 28, 28), np.float32),
                   backend="xla-cuda")
    run_dir = tmp_path / "run"
    proc = cli("train", "mlp", "--backend", "xla-rocm", "--epochs", "1", "--train-limit", "256",
               "--run-dir", run_dir, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "jax-rocm7-pjrt" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not run_dir.exists()


RUN = ["train", "mlp", "--backend", "xla", "--recipe", "s4tf-momentum", "--epochs", "2",
       "--train-limit", "6400", "--log-every", "1", "--checkpoint-every", "20",
       "--no-progress-bar"]


def test_sigkill_and_resume_is_bit_identical_on_xla(tmp_path):
    from test_runs import assert_same_checkpoint, start, wait_for_step

    reference_dir = tmp_path / "reference"
    cli(*RUN, "--run-dir", reference_dir)
    config = json.loads((reference_dir / "config.json").read_text())
    assert config["backend"] == "xla"
    run_dir = tmp_path / "killed"
    proc = start(*RUN, "--run-dir", run_dir)
    wait_for_step(proc, run_dir, 70)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    resumed = cli("train", "--resume", run_dir, "--no-progress-bar")
    assert "resuming" in resumed.stdout
    assert_same_checkpoint(run_dir, reference_dir)


def test_export_runs_through_either_lowerer(tmp_path):
    run_dir = tmp_path / "run"
    cli("train", "cnn", "--epochs", "1", "--train-limit", "512", "--run-dir", run_dir,
        "--no-progress-bar")
    model_dir = tmp_path / "model"
    out = cli("export", run_dir, "-o", model_dir)
    assert "predict.stablehlo" in out.stdout and (model_dir / "predict.stablehlo").exists()
    x = lm.data.load("mnist").test_x[:40]
    want = lm.load_model(model_dir).predict(x)
    got = lm.load_model(model_dir, backend="xla").predict(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # The CLI: the same classes through either lowerer.
    from lean_mlir.data import prepare

    images = prepare("mnist", quiet=True) / "t10k-images-idx3-ubyte"
    iree = json.loads(cli("predict", model_dir, images, "--json").stdout)
    xla = json.loads(cli("predict", model_dir, images, "--json", "--backend", "xla").stdout)
    assert [r["class"] for r in iree] == [r["class"] for r in xla]
    assert len(iree) == 10000


def test_bench_times_both_lowerers_in_one_run():
    from lean_mlir.bench import run_bench

    report = run_bench(["mlp"], rounds=1, calls=1, peers=[], lowerers=["iree", "xla"],
                       log=lambda _: None)
    systems = {(r["function"], r["system"]) for r in report["results"]}
    for function in ("train_step", "predict", "predict-args"):
        assert {(function, "lean-mlir"), (function, "lean-mlir-xla")} <= systems
    assert any(s["system"] == "lean-mlir-xla" and s["peer"] == "lean-mlir"
               for s in report["speedups"])


@pytest.mark.slow
def test_book_cnn_one_epoch_reaches_the_same_accuracy_as_on_iree():
    """The bar test_training sets the IREE run (97.5% after one epoch), through XLA;
    the logged runs of both lowerers read 97.93% and 97.95% (logs/)."""
    cfg = lm.recipes.get("s4tf-baseline", epochs=1, backend="xla")
    _, history = lm.training.fit(lm.mnist_cnn(), cfg, lm.data.load("mnist"))
    assert history[0].test_accuracy >= 0.975, history[0]


def test_training_loop_memory_is_flat_on_xla():
    """As test_memory for IREE: 40 steps of MNIST-CNN-BN with Adam through XLA, donated
    buffers reused, grow the process by less than a slab's worth."""
    from lean_mlir._host import rss_mb

    spec = lm.mnist_cnn_bn()
    cfg = lm.TrainConfig(learning_rate=1e-3, use_adam=True, backend="xla")
    params = spec.init_params(0)
    stepper = lm.TrainStepper(spec, params, lm.init_optimizer_state(spec, params, cfg), cfg)
    (x, y), = random_batches(spec, cfg.batch_size, count=1)
    losses = [stepper.step(x, y, lr=1e-3, step=s) for s in range(10)]
    before = rss_mb()
    losses += [stepper.step(x, y, lr=1e-3, step=s) for s in range(10, 50)]
    grown = rss_mb() - before
    assert grown < 64, f"{grown:.0f} MB more after 40 steps"
    assert losses[-1] < losses[0]
