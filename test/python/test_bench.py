"""`lean-mlir bench`: the report's figures are consistent with each other and with the IR."""

import json

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.bench import forward_flops_per_sample
from lean_mlir.cli import main


def test_flops_come_from_the_model_summary_pass(cnn, mlp):
    # A multiply-add counts 2: the MLP is its three GEMMs.
    assert forward_flops_per_sample(mlp) == 2 * (784 * 512 + 512 * 512 + 512 * 10)
    assert forward_flops_per_sample(cnn) == 21_884_416


def test_bench_report(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--models", "mlp", "--rounds", "2", "--calls", "1",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    flops = forward_flops_per_sample(lm.mnist_mlp()) * 128
    ours = {r["function"]: r for r in report["results"] if r["system"] == "lean-mlir"}
    assert set(ours) == {"train_step", "predict", "predict-args"}
    for function, row in ours.items():
        assert len(row["ms"]) == 2 and row["min_ms"] <= row["median_ms"]
        expected = flops * (3 if function == "train_step" else 1) / row["median_ms"] / 1e6
        assert abs(row["gflops"] - expected) <= 0.05 * expected + 0.1
        assert abs(row["peak_fraction"] - row["gflops"] / report["gemm_peak_gflops"]) < 0.01
    assert report["gemm_peak_gflops"] > 0
    compiled = {c["function"] for c in report["compile"]}
    assert compiled == {"train_step", "predict", "predict-args"}
    peers = {r["system"] for r in report["results"]} - {"lean-mlir"}
    # Every peer is either timed (with a speedup row) or reported as skipped.
    assert peers | set(report["skipped"]) == {"PyTorch", "JAX"}
    assert {s["peer"] for s in report["speedups"]} == peers
    for peer in peers:   # both of our predicts are compared with the peer's one
        assert {s["function"] for s in report["speedups"] if s["peer"] == peer} == set(ours)
    printed = capsys.readouterr().out
    assert "mlp    train_step   lean-mlir" in printed and "GFLOP/s" in printed


def test_bench_rejects_unknown_models(capsys):
    assert main(["bench", "--models", "vgg"]) == 2
    assert "--models" in capsys.readouterr().err


def test_pytorch_peer_is_the_same_network():
    # The peer's weights come from ours by state_dict name: in eval mode it
    # computes our predict (batch norm with running statistics included).
    torch = pytest.importorskip("torch")
    from lean_mlir.bench import torch_model

    spec = lm.NetSpec("peer", (2, 6, 6), [lm.conv_bn(2, 4, 3), lm.residual_block(4, 4),
                                          lm.max_pool(2), lm.flatten(), lm.dense(36, 8),
                                          lm.batch_norm(8, "relu"), lm.dense(8, 3)])
    rng = np.random.default_rng(0)
    params = {k: (v + rng.normal(0, 0.2, v.shape) * (1 if "running_var" not in k else 0)
                  ).astype(np.float32) for k, v in spec.init_params(0).items()}
    x = rng.standard_normal((5, 2, 6, 6)).astype(np.float32)
    net = torch_model(spec, params).eval()
    with torch.no_grad():
        theirs = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(lm.predict(spec, params, x), theirs, rtol=1e-4, atol=1e-5)
