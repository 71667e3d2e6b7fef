"""Parameters bound at load: predict and eval reading IREE parameters instead of arguments.

The bound module must compute what the argument form computes, for networks
whose parameter-only work IREE moves to load time (the dense weights' packing,
the filters' re-layouts, batch norm's per-channel factors), and refuse a
parameter source that does not fit with an error naming what is wrong.
"""

import re

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.compiler import bind_parameters, bound_parameters, compile_spec
from safetensors.numpy import save_file

BATCH = 16


def _params(spec, seed=0):
    """Initial parameters, with running statistics away from (0, 1) so they matter."""
    rng = np.random.default_rng(seed)
    params = spec.init_params(seed)
    for name in params:
        if name.endswith("running_mean"):
            params[name] = rng.normal(0, 0.5, params[name].shape).astype(np.float32)
        elif name.endswith("running_var"):
            params[name] = rng.uniform(0.5, 2.0, params[name].shape).astype(np.float32)
    return params


@pytest.mark.parametrize("make", [lm.mnist_cnn, lm.mnist_mlp, lm.mnist_cnn_bn],
                         ids=["cnn", "mlp", "cnn-bn"])
def test_bound_predict_and_eval_compute_what_the_argument_form_computes(make, tmp_path):
    spec = make()
    params = _params(spec)
    rng = np.random.default_rng(1)
    x = rng.random((BATCH, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int32)
    values = [params[p.name] for p in spec.params]
    file = tmp_path / "params.safetensors"
    save_file(params, file)
    for function, args in (("predict", (x,)), ("eval", (x, y))):
        want = compile_spec(spec, function, BATCH).call(function, *values, *args)
        module = compile_spec(spec, function, BATCH, bind_params=True)
        assert module.bound == {p.name: p.shape for p in spec.params}
        # The function takes the batch alone (and, last, the workspace its
        # transients come from).
        signature = re.search(rf"func.func @{function}\((.*?)\)", module.stablehlo).group(1)
        batch = [f"tensor<{BATCH}x1x28x28xf32>"]
        if function == "eval":
            batch.append(f"tensor<{BATCH}xi32>")
        types = re.sub(r" \{netspec.role = \"\w+\"\}", "", re.sub(r"%\w+: ", "", signature))
        assert types.split(", ") == [*batch, "!hal.buffer_view"]
        assert re.findall(r'netspec.role = "(\w+)"', signature) == [
            "images", *(["labels"] if function == "eval" else []), "workspace"]
        for source in (params, file):
            got = module.with_parameters(source).call(function, *args)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_bound_parameters_are_read_not_baked_in(cnn):
    module = compile_spec(cnn, "predict", BATCH, bind_params=True)
    x = np.random.default_rng(2).random((BATCH, 1, 28, 28), dtype=np.float32)
    a = module.with_parameters(cnn.init_params(0)).call("predict", x)[0]
    b = module.with_parameters(cnn.init_params(1)).call("predict", x)[0]
    args = compile_spec(cnn, "predict", BATCH).call(
        "predict", *[cnn.init_params(1)[p.name] for p in cnn.params], x)[0]
    assert not np.allclose(a, b)
    np.testing.assert_allclose(b, args, rtol=1e-6, atol=1e-6)
    # What with_parameters was given is what the module reads, whatever happens
    # to the caller's arrays afterwards.
    params = cnn.init_params(1)
    bound = module.with_parameters(params)
    for array in params.values():
        array[...] = 0
    np.testing.assert_array_equal(bound.call("predict", x)[0], b)


def test_bound_parameters_refuse_what_does_not_fit(cnn, tmp_path):
    params = cnn.init_params(0)
    module = compile_spec(cnn, "predict", BATCH, bind_params=True)
    with pytest.raises(ValueError, match="give them with with_parameters"):
        module.function("predict")
    missing = {k: v for k, v in params.items() if k != "dense_0.weight"}
    with pytest.raises(ValueError, match="no parameter 'dense_0.weight'"):
        module.with_parameters(missing)
    with pytest.raises(ValueError, match=r"conv2d_0\.weight should be float32 \(32, 1, 3, 3\), "
                                         r"found float64"):
        module.with_parameters({k: v.astype(np.float64) for k, v in params.items()})
    wrong = dict(params, **{"dense_2.bias": np.zeros(11, np.float32)})
    save_file(wrong, tmp_path / "wrong.safetensors")
    with pytest.raises(ValueError, match=r"wrong\.safetensors: dense_2\.bias should be "
                                         r"float32 \(10,\), found float32 \(11,\)"):
        module.with_parameters(tmp_path / "wrong.safetensors")
    with pytest.raises(ValueError, match="absent.safetensors: cannot read parameters"):
        module.with_parameters(tmp_path / "absent.safetensors")
    with pytest.raises(ValueError, match="takes its parameters as arguments"):
        compile_spec(cnn, "predict", BATCH).with_parameters(params)


def test_only_functions_that_read_the_parameters_bind_them(mlp):
    from lean_mlir.compiler import lower_to_stablehlo, lowering_pipeline

    text = lower_to_stablehlo(mlp, lowering_pipeline("train_step", BATCH, {"target": "cpu"}))
    with pytest.raises(ValueError, match="train_step: only predict, eval can bind"):
        bind_parameters(text, "train_step")
    predict = lower_to_stablehlo(mlp, lowering_pipeline("predict", BATCH, {"target": "cpu"}))
    with pytest.raises(ValueError, match="no function @eval"):
        bind_parameters(predict, "eval")
    bound = bind_parameters(predict, "predict")
    assert bound_parameters(bound) == {p.name: p.shape for p in mlp.params}
    assert bound.count('#flow.parameter.named<"model"::') == len(mlp.params)


def test_predictor_binds_once_and_takes_any_number_of_samples(mlp):
    params = mlp.init_params(3)
    rng = np.random.default_rng(4)
    x = rng.random((2 * BATCH + 5, 1, 28, 28), dtype=np.float32)   # two batches and 5 more
    y = rng.integers(0, 10, len(x))
    predictor = lm.Predictor(mlp, params, batch_size=BATCH)
    want = lm.predict(mlp, params, x)
    params["dense_0.weight"][:] = 0          # the predictor holds its own copy
    np.testing.assert_allclose(predictor.predict(x), want, rtol=1e-5, atol=1e-5)
    loss, correct = predictor.evaluate(x, y)
    logits = want.astype(np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert loss == pytest.approx(-logp[np.arange(len(y)), y].mean(), rel=1e-5)
    assert correct == int((want.argmax(1) == y).sum())
    with pytest.raises(ValueError, match="batch_size must be positive"):
        lm.Predictor(mlp, params, batch_size=0)
    with pytest.raises(ValueError, match="x must have shape"):
        predictor.predict(x[:, :, :27])


@pytest.mark.parametrize("model", ["convnext", "efficientnet"])
def test_silu_and_gelu_networks_compile_without_data_tiling_and_predict_bound(model):
    """Data tiling cannot compile GEMM epilogues with silu or gelu (a bound predict
    folds batch norm into the convolution) or layer scale's on IREE 3.13's CPU
    backend: networks with them compile without it (the others keep it), and the
    small ConvNeXt's and EfficientNet's bound predict at batch 128 run and equal
    the argument form."""
    from lean_mlir.compiler import compile_flags, data_tiling_compiles

    convnext, cnn = lm.MODELS[model](), lm.mnist_cnn()
    assert not data_tiling_compiles(convnext) and data_tiling_compiles(cnn)
    assert data_tiling_compiles(lm.mnist_mobilenet())      # relu6 packs
    assert "--iree-opt-data-tiling=false" in compile_flags("llvm-cpu", spec=convnext)
    assert "--iree-opt-data-tiling=true" in compile_flags("llvm-cpu", spec=cnn)
    assert "--iree-opt-data-tiling=true" in compile_flags("llvm-cpu", data_tiling=True,
                                                          spec=convnext)
    params = convnext.init_params(0)
    x = np.random.default_rng(0).random((128, 1, 28, 28), dtype=np.float32)
    bound = lm.Predictor(convnext, params, batch_size=128).predict(x)
    np.testing.assert_allclose(bound, lm.predict(convnext, params, x), rtol=1e-4, atol=1e-5)
