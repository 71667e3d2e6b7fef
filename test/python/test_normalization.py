"""Batch norm, global average pooling and residual blocks: VJPs, running statistics, state.

Gradients are checked against float64 central differences of an independent
NumPy forward pass (reference.py, written from PyTorch's definitions), for
every lowering target; the running statistics against BatchNorm2d's update
rule over several steps (and against PyTorch itself when it is installed).
"""

import lean_mlir as lm
import numpy as np
import pytest
import reference
from lean_mlir.compiler import compile_spec


def perturbed_params(spec, seed):
    """Initial parameters moved off their ones/zeros so every path is exercised."""
    rng = np.random.default_rng(seed)
    params = spec.init_params(seed)
    for p in spec.params:
        if p.init in (lm.Init.ONES, lm.Init.ZEROS):
            noise = rng.normal(0, 0.3, p.shape)
            if not p.trainable:
                noise = np.abs(noise)  # a running variance stays positive
            params[p.name] = (params[p.name] + noise).astype(np.float32)
    return params


def batch(spec, n, seed):
    rng = np.random.default_rng(seed + 100)
    x = rng.standard_normal((n, *spec.input_shape)).astype(np.float32)
    return x, rng.integers(0, spec.output_shape[0], n)


def value_and_grad(spec, params, x, y, target):
    module = compile_spec(spec, "value_and_grad", len(x), "llvm-cpu", {"target": target})
    loss, *grads = module.call("value_and_grad", *[params[p.name] for p in spec.params], x,
                               y.astype(np.int32))
    return float(loss), {p.name: g for p, g in zip(spec.trainable_params, grads, strict=True)}


NETS = {
    # Batch norm after a convolution (NCHW statistics over N, H, W), with relu.
    "conv_bn": ((2, 5, 5), [lm.conv_bn(2, 3, 3), lm.flatten(), lm.dense(75, 3)]),
    # Strided, valid, identity activation; then batch norm of [N, C].
    "conv_bn_strided_dense_bn": ((2, 6, 6), [lm.conv_bn(2, 3, 3, stride=2, padding="valid",
                                                        activation="identity"),
                                             lm.flatten(), lm.dense(12, 4),
                                             lm.batch_norm(4, "relu"), lm.dense(4, 3)]),
    # Global average pooling between a convolution and the head.
    "global_avg_pool": ((2, 4, 5), [lm.conv2d(2, 3, 3, activation="relu"),
                                    lm.global_avg_pool(), lm.dense(3, 3)]),
    # Residual blocks: identity skip, then a strided projection.
    "residual_identity": ((3, 4, 4), [lm.residual_block(3, 3), lm.global_avg_pool(),
                                      lm.dense(3, 2)]),
    "residual_projection_strided": ((2, 5, 5), [lm.conv_bn(2, 3, 3),
                                                lm.residual_block(3, 4, stride=2),
                                                lm.global_avg_pool(), lm.dense(4, 3)]),
    "residual_projection_channels": ((2, 4, 4), [lm.residual_block(2, 3), lm.flatten(),
                                                 lm.dense(48, 2)]),
}


@pytest.mark.parametrize("target", ["cpu", "gpu", "generic"])
@pytest.mark.parametrize("name", list(NETS))
def test_gradients_match_finite_differences(name, target):
    input_shape, layers = NETS[name]
    spec = lm.NetSpec(name, input_shape, layers)
    params = perturbed_params(spec, 1)
    x, y = batch(spec, 4, 1)
    loss, grads = value_and_grad(spec, params, x, y, target)
    assert set(grads) == {p.name for p in spec.trainable_params}
    assert loss == pytest.approx(reference.loss(spec, params, x, y), rel=1e-5)
    want = reference.finite_difference_grads(spec, params, x, y)
    # Relative to the parameter's gradient, or to the largest one where a
    # gradient is zero in exact arithmetic (a shift that a later batch norm
    # removes).
    floor = 1e-4 * max(np.linalg.norm(g) for g in want.values())
    for pname, g in want.items():
        err = np.linalg.norm(grads[pname] - g) / max(np.linalg.norm(g), floor)
        assert err < 1e-3, f"{pname}: relative error {err:.2e}"


def test_statistics_dependence_is_in_the_gradient():
    # With the batch statistics held fixed, the scale's gradient of a batch norm
    # right before the loss would differ; the full VJP matches the differences
    # only because mean and variance are differentiated too. Make that visible:
    # a loss that depends on the input only through normalisation.
    spec = lm.NetSpec("stats", (3,), [lm.dense(3, 4), lm.batch_norm(4), lm.dense(4, 2)])
    params = perturbed_params(spec, 3)
    x, y = batch(spec, 6, 3)
    _, grads = lm.value_and_grad(spec, params, x, y)
    want = reference.finite_difference_grads(spec, params, x, y)
    # Adding a constant to dense_0's output does not change the normalised
    # values, so the true gradient of dense_0.bias is zero; a frozen-statistics
    # VJP would give sum(g * scale / std), which is not.
    assert np.abs(want["dense_0.bias"]).max() < 1e-7
    np.testing.assert_allclose(grads["dense_0.bias"], 0, atol=1e-6)
    np.testing.assert_allclose(grads["dense_0.weight"], want["dense_0.weight"], rtol=1e-3,
                               atol=1e-6)


def bn_net():
    return lm.NetSpec("bn-steps", (2, 4, 4), [lm.conv_bn(2, 3, 3), lm.max_pool(2),
                                              lm.flatten(), lm.dense(12, 5),
                                              lm.batch_norm(5, "relu"), lm.dense(5, 3)])


def test_running_statistics_follow_batchnorm2d_over_steps():
    spec = bn_net()
    params = spec.init_params(0)
    cfg = lm.TrainConfig(learning_rate=0.05, use_adam=True, weight_decay=0.1)
    state = lm.init_optimizer_state(spec, params, cfg)
    # Optimizer state exists for trainable parameters only.
    assert not any("running" in k for k in state)
    for step in range(4):
        x, y = batch(spec, 8, step)
        stats = {}
        reference.forward(spec, params, x, training=True, stats=stats)
        new, state, _ = lm.train_step(spec, params, state, x, y, cfg, lr=0.05, step=step)
        assert set(stats) == {p.name for p in spec.params if not p.trainable}
        for name, want in stats.items():
            # momentum 0.1, unbiased variance; weight decay never touches them.
            np.testing.assert_allclose(new[name], want, rtol=2e-5, atol=1e-6, err_msg=name)
        params = new
    # After four steps the statistics have moved well away from (0, 1).
    assert np.abs(params["batch_norm_0.running_mean"]).max() > 0.05


def test_running_statistics_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    spec = lm.NetSpec("bn-torch", (3, 5, 5), [lm.batch_norm(3), lm.flatten(), lm.dense(75, 2)])
    params = spec.init_params(0)
    bn = torch.nn.BatchNorm2d(3)  # eps 1e-5, momentum 0.1
    cfg = lm.TrainConfig(learning_rate=0.01)
    state = lm.init_optimizer_state(spec, params, cfg)
    for step in range(3):
        x = (rng.standard_normal((6, 3, 5, 5)) * 2 + 1).astype(np.float32)
        y = rng.integers(0, 2, 6)
        bn.train()
        bn(torch.from_numpy(x))
        params, state, _ = lm.train_step(spec, params, state, x, y, cfg, lr=0.01, step=step)
        np.testing.assert_allclose(params["batch_norm_0.running_mean"],
                                   bn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(params["batch_norm_0.running_var"],
                                   bn.running_var.numpy(), rtol=1e-5, atol=1e-6)


def test_predict_uses_running_statistics():
    spec = bn_net()
    params = perturbed_params(spec, 2)
    x, _ = batch(spec, 16, 2)
    logits = lm.predict(spec, params, x)
    np.testing.assert_allclose(logits, reference.forward(spec, params, x, training=False),
                               rtol=1e-4, atol=1e-5)
    # One image alone gives the same logits as inside the batch: nothing is
    # computed across the batch at inference.
    np.testing.assert_allclose(lm.predict(spec, params, x[3:4])[0], logits[3], rtol=1e-5,
                               atol=1e-6)
    # eval too (loss and correct count from the running statistics).
    loss, _ = lm.evaluate_batch(spec, params, x, np.zeros(16, np.int64))
    want = reference.cross_entropy(reference.forward(spec, params, x), np.zeros(16, int))
    assert loss == pytest.approx(want, rel=1e-4)


def test_parameter_names_and_counts():
    spec = lm.NetSpec("names", (1, 8, 8), [
        lm.conv_bn(1, 4, 3), lm.residual_block(4, 4), lm.residual_block(4, 8, stride=2),
        lm.batch_norm(8), lm.global_avg_pool(), lm.dense(8, 2)])
    names = [p.name for p in spec.params]
    assert names[:5] == ["conv_bn_0.conv.weight", "conv_bn_0.bn.weight", "conv_bn_0.bn.bias",
                         "conv_bn_0.bn.running_mean", "conv_bn_0.bn.running_var"]
    for suffix in ("conv1.weight", "bn1.weight", "bn1.running_var", "conv2.weight",
                   "bn2.bias"):
        assert f"residual_block_0.{suffix}" in names
    assert not any(n.startswith("residual_block_0.proj") for n in names)
    assert "residual_block_1.proj.weight" in names
    assert "residual_block_1.proj_bn.running_mean" in names
    assert "batch_norm_0.weight" in names and "batch_norm_0.running_var" in names
    params = spec.init_params(0)
    np.testing.assert_array_equal(params["batch_norm_0.running_mean"], 0)
    np.testing.assert_array_equal(params["batch_norm_0.running_var"], 1)
    np.testing.assert_array_equal(params["batch_norm_0.weight"], 1)
    frozen = [p.name for p in spec.params if not p.trainable]
    assert frozen and all(n.endswith(("running_mean", "running_var")) for n in frozen)
    assert spec.param_count() == sum(p.size for p in spec.trainable_params)
    # The IR says the same.
    text = str(spec.to_mlir())
    assert 'netspec.param "batch_norm_0.running_var" init(ones) non_trainable' in text
    assert 'netspec.param "batch_norm_0.weight" init(ones) :' in text


def test_book_models_parameter_counts():
    assert lm.mnist_cnn_bn().param_count() == 1_676_458  # the upstream MNIST-CNN-BN
    assert lm.mnist_resnet().param_count() == 174_970
    assert lm.NetSpec.from_dict(lm.mnist_resnet().to_dict()).fingerprint() == \
        lm.mnist_resnet().fingerprint()


@pytest.mark.parametrize("layers, message", [
    ([lm.conv2d(1, 4, 3), lm.batch_norm(3)],
     "layer 1 (batch_norm 'batch_norm_0'): scale must be 'tensor<4xf32>'"),
    ([lm.conv_bn(2, 4, 3)], ("layer 0 (conv_bn 'conv_bn_0'): input has 1 channels but the "
                             "weight expects 2")),
    ([lm.flatten(), lm.global_avg_pool()],
     "layer 1 (global_avg_pool 'global_avg_pool_0'): input must be a rank-4 NCHW tensor"),
    ([lm.residual_block(2, 4)], ("layer 0 (residual_block 'residual_block_0'): input has 1 "
                                 "channels but the weight expects 2")),
    ([lm.batch_norm(0)], "channels must be positive, got 0"),
])
def test_shape_errors_name_the_layer(layers, message):
    with pytest.raises(lm.SpecError) as err:
        lm.NetSpec("bad", (1, 6, 6), [*layers, lm.flatten(), lm.dense(1, 2)])
    assert message in str(err.value)


def test_train_step_with_batch_of_one_is_refused_clearly():
    spec = lm.NetSpec("one", (3,), [lm.batch_norm(3), lm.dense(3, 2)])
    params = spec.init_params(0)
    with pytest.raises(Exception, match="batch_norm needs more than one value per channel"):
        lm.value_and_grad(spec, params, np.ones((1, 3), np.float32), np.zeros(1, np.int64))
    # Inference with one sample is fine.
    assert lm.predict(spec, params, np.ones((1, 3), np.float32)).shape == (1, 2)


def test_trained_batch_norm_network_checkpoints_exports_and_predicts(tmp_path):
    # A short real run on MNIST: the running statistics are trained, saved,
    # exported and used by predict.
    from lean_mlir.data import load, prepare
    from lean_mlir.export import export_model
    from safetensors.numpy import load_file

    spec = lm.NetSpec("tiny-resnet", (1, 28, 28), [
        lm.conv_bn(1, 8, 3, stride=2), lm.residual_block(8, 8), lm.residual_block(8, 16, 2),
        lm.global_avg_pool(), lm.dense(16, 10)])
    cfg = lm.recipes.get("s4tf-momentum", epochs=1)
    result = lm.train(spec, cfg, None, run_dir=tmp_path / "run", train_limit=6400, progress=False)
    saved = load_file(result.run_dir / "checkpoint.safetensors")
    for p in spec.params:
        if not p.trainable:
            np.testing.assert_array_equal(saved[p.name], result.params[p.name])
            init = 0.0 if p.name.endswith("running_mean") else 1.0
            assert np.abs(saved[p.name] - init).max() > 1e-3, f"{p.name} never moved"
    assert not any(k.startswith(tuple(p.name + "." for p in spec.params if not p.trainable))
                   for k in saved), "optimizer state for a running statistic"
    data = load("mnist", prepare("mnist", quiet=True))
    x = data.test_x[:128]
    logits = lm.predict(spec, result.params, x)
    # An image alone gets the class it gets inside a batch of 128.
    for i in (0, 7, 100):
        assert lm.predict(spec, result.params, x[i:i + 1]).argmax() == logits[i].argmax()
    # What the trained statistics say, computed independently; and better than chance.
    np.testing.assert_allclose(logits, reference.forward(spec, result.params, x), rtol=1e-3,
                               atol=1e-3)
    assert np.mean(logits.argmax(1) == data.test_y[:128]) > 0.2
    model = lm.load_model(export_model(result.run_dir, tmp_path / "model"))
    probs = model.predict(x)
    assert probs.argmax(1).tolist() == logits.argmax(1).tolist()


@pytest.mark.parametrize("backend", ["rocm", "cuda"])
def test_residual_network_train_step_compiles_for_gpus(backend):
    """The generic forms of every new layer compile for gfx1100 and CUDA, no GPU present."""
    from lean_mlir.compiler import compile_stablehlo, lower_to_stablehlo, lowering_pipeline

    spec = lm.NetSpec("gpu", (1, 8, 8), [lm.conv_bn(1, 4, 3), lm.residual_block(4, 8, 2),
                                         lm.global_avg_pool(), lm.dense(8, 10)])
    text = lower_to_stablehlo(spec, lowering_pipeline("train_step", 16,
                                                      {"target": "generic", "momentum": 0.9}))
    vmfb = compile_stablehlo(text, backend)
    assert len(vmfb) > 10_000 and b"train_step" in vmfb
