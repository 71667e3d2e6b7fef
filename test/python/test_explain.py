"""lean-mlir explain: the page, its report, a user's network by file, and bad models.

A small network is explained for real (lowered, compiled with IREE, profiled by
IREE's own profiler); the report must hold every layer, the VJP ops of every
trainable layer, parameters summing to param_count() and at least 90% of the
measured time attributed to layers. The page is opened in headless Chromium
(Debian's chromium-headless-shell): its rendered DOM must draw every layer's
node and its screenshot must not be blank.
"""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import lean_mlir as lm
import numpy as np
import pytest

LEAN_MLIR = str(Path(sys.executable).with_name("lean-mlir"))
CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
BACKWARD_PARTS = {"backward", "input gradient", "weight gradient", "bias gradient"}

NETWORK = """
import lean_mlir as lm

small = lm.NetSpec("small", input_shape=(1, 12, 12), layers=[
    lm.conv_bn(1, 4, 3),
    lm.max_pool(2, 2),
    lm.residual_block(4, 8, stride=2),
    lm.global_avg_pool(),
    lm.dense(8, 10),
])


def make():
    return small


not_a_network = 42
"""


@pytest.fixture(scope="module")
def network_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "mynet.py"
    path.write_text(textwrap.dedent(NETWORK))
    return path


@pytest.fixture(scope="module")
def explained(network_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "small"
    proc = subprocess.run([LEAN_MLIR, "explain", f"{network_file}:small", "-o", str(out),
                           "--batch-size", "16", "--recipe", "s4tf-momentum", "--calls", "5"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_report_holds_every_layer_and_the_time(explained, network_file):
    report = json.loads((explained / "report.json").read_text())
    spec = lm.zoo.resolve(f"{network_file}:small")
    assert [layer["name"] for layer in report["layers"]] == spec.layer_names
    assert sum(layer["params"] for layer in report["layers"]) == spec.param_count()
    for layer in report["layers"]:
        if layer["params"]:
            assert BACKWARD_PARTS & set(layer["ops"]), f"{layer['name']} has no VJP ops"
            assert "optimizer" in layer["ops"], f"{layer['name']} has no optimizer update"
            assert layer["vjp"]
    assert report["attributed_fraction"] >= 0.9
    assert report["attributed_ms"] <= report["dispatch_ms"] + 1e-9
    charged = sum(layer["ms"] for layer in report["layers"])
    assert abs(charged - report["layer_ms"]) < 1e-6
    assert report["layer_ms"] >= 0.5 * report["dispatch_ms"]   # the loss is not most of it
    # Each layer's FLOPs are its own: they add up to the network's forward count.
    total = sum(layer["forward_flops"] for layer in report["layers"])
    assert total == report["batch_size"] * _forward_flops(spec)
    assert report["layers"][2]["forward_flops"] > report["layers"][1]["forward_flops"]
    assert all(d["ms"] >= 0 for d in report["dispatches"])
    names = [d["ms"] for d in report["dispatches"]]
    assert names == sorted(names, reverse=True)
    for name in ("index.html", "network.svg", "derived.svg", "network.dot", "derived.dot",
                 "netspec.mlir", "stablehlo.mlir", "dispatches.mlir"):
        assert (explained / name).stat().st_size > 0, name
    # The IR at each stage carries the locations the report was made from.
    assert 'loc("weight gradient"' in (explained / "stablehlo.mlir").read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium-headless-shell (scripts/setup.sh)")
def test_page_draws_every_layer_in_a_browser(explained, network_file, tmp_path):
    from PIL import Image

    page = (explained / "index.html").as_uri()
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--window-size=1280,1600"]
    dom = subprocess.run([*browser, "--dump-dom", page], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    spec = lm.zoo.resolve(f"{network_file}:small")
    network = dom[dom.index('id="network"'):dom.index('id="derived"')]
    for name in spec.layer_names:
        assert f">{name}</text>" in network, f"{name} is not drawn in the network graph"
    shot = tmp_path / "page.png"
    subprocess.run([*browser, f"--screenshot={shot}", page], capture_output=True,
                   timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (1600, 1280)
    assert pixels.std() > 10, "the page renders blank"
    assert (pixels < 128).mean() > 0.005, "almost nothing dark on the page"


def _forward_flops(spec) -> int:
    module = spec.to_mlir()
    lm.run_pipeline(module, "builtin.module(netspec-model-summary)")
    model = next(op for op in module.operation.walk() if op.name == "netspec.model")
    return model.attributes["netspec.flops_per_sample"]


def test_without_profile_writes_ir_and_graphs(tmp_path):
    report = lm.explain(lm.mnist_mlp(), tmp_path / "mlp", function="predict", batch_size=8,
                        profile=False, log=lambda line: None)
    assert "dispatches" not in report
    assert [layer["name"] for layer in report["layers"]] == lm.mnist_mlp().layer_names
    assert all(layer["backward_flops"] == 0 for layer in report["layers"])
    assert not (tmp_path / "mlp" / "dispatches.mlir").exists()
    assert "<svg" in (tmp_path / "mlp" / "index.html").read_text()


@pytest.mark.parametrize("ref,message", [
    ("nope", "unknown model 'nope'"),
    ("{dir}/missing.py:small", "no such file"),
    ("{file}:absent", "defines no 'absent'"),
    ("{file}:not_a_network", "is a int, not a lean_mlir NetSpec"),
])
def test_bad_model_is_one_error_line_and_writes_nothing(ref, message, network_file, tmp_path):
    out = tmp_path / "out"
    ref = ref.format(dir=network_file.parent, file=network_file)
    proc = subprocess.run([LEAN_MLIR, "explain", ref, "-o", str(out), "--no-profile"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], \
        proc.stderr
    assert not out.exists()


def test_user_file_works_for_the_other_commands(network_file):
    for fn in ("small", "make"):
        proc = subprocess.run([LEAN_MLIR, "summary", f"{network_file}:{fn}"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "small: input 1x12x12" in proc.stdout
    proc = subprocess.run([LEAN_MLIR, "show", f"{network_file}:small"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "netspec.model @small" in proc.stdout


def test_netspec_draws_itself_in_notebooks():
    svg = lm.mnist_cnn()._repr_svg_()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    for name in lm.mnist_cnn().layer_names:
        assert f">{name}</text>" in svg


def test_other_backends_explain_without_a_run(tmp_path):
    out = tmp_path / "gpu"
    report = lm.explain(lm.mnist_cnn_bn(), out, backend="cuda", batch_size=4, profile=False,
                        log=lambda line: None)
    assert "target=gpu" in report["pipeline"]
    assert {"input gradient", "weight gradient", "optimizer"} <= set(report["layers"][1]["ops"])
    with pytest.raises(ValueError, match="use --no-profile"):
        lm.explain(lm.mnist_mlp(), tmp_path / "x", backend="cuda", log=lambda line: None)
    assert not (tmp_path / "x").exists()


def test_missing_graphviz_is_one_error_line_naming_the_package(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(Path.home())}
    proc = subprocess.run([LEAN_MLIR, "explain", "mlp", "-o", str(tmp_path / "out"),
                           "--no-profile"], capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        ("error: Graphviz's dot is not installed: apt-get install graphviz "
        "(scripts/setup.sh installs it)")]
    assert not (tmp_path / "out").exists()
