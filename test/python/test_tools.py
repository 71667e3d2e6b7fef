"""The native tools from Python's side: lean-mlir-opt, the mlir-opt plugin, the CLI."""

import shutil
import subprocess

import lean_mlir as lm
import pytest
from lean_mlir.cli import main

MLIR_OPT = shutil.which("mlir-opt-22") or "/usr/lib/llvm-22/bin/mlir-opt"


def run(args, text):
    return subprocess.run(args, check=False, input=text, capture_output=True, text=True, timeout=60)


def test_lean_mlir_opt_round_trips_python_ir(cnn):
    text = str(cnn.to_mlir())
    proc = run([str(lm.lean_mlir_opt_path()), "-"], text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == text.strip()


def test_lean_mlir_opt_reports_bad_ir_with_location():
    proc = run([str(lm.lean_mlir_opt_path()), "-"],
               "netspec.model @m {\n  %x = netspec.input : tensor<?xf32>\n"
               "  netspec.output %x : tensor<?xf32>\n}\n")
    assert proc.returncode == 1
    assert "<stdin>:2:8: error: 'netspec.input' op result must be a tensor of rank >= 2" \
        in proc.stderr


def test_mlir_opt_plugin_counts_parameters(mlp):
    plugin = str(lm.plugin_path())
    proc = run([MLIR_OPT, f"--load-dialect-plugin={plugin}", f"--load-pass-plugin={plugin}",
                "--pass-pipeline=builtin.module(netspec-model-summary)", "-"], str(mlp.to_mlir()))
    assert proc.returncode == 0, proc.stderr
    assert "netspec.param_count = 669706 : i64" in proc.stdout


def test_run_pipeline_annotates(cnn):
    module = lm.run_pipeline(cnn.to_mlir(), "builtin.module(netspec-model-summary)")
    assert "netspec.param_count = 3489130 : i64" in str(module)


def test_run_pipeline_rejects_a_bad_pipeline(cnn):
    with pytest.raises(ValueError, match="invalid pass pipeline"):
        lm.run_pipeline(cnn.to_mlir(), "builtin.module(no-such-pass)")


def test_cli_summary(capsys):
    assert main(["summary", "cnn", "mlp"]) == 0
    out = capsys.readouterr().out
    assert "netspec-model-summary: 3,489,130 parameters" in out
    assert "netspec-model-summary: 669,706 parameters" in out
    assert "dense_0            512           3,211,776 params" in out
    assert main(["summary", "cnn-bn", "resnet"]) == 0
    out = capsys.readouterr().out
    assert "netspec-model-summary: 1,676,458 parameters" in out
    assert "netspec-model-summary: 174,970 parameters" in out
    assert "residual_block_5   64x7x7           73,984 params" in out


def test_cli_show(capsys):
    assert main(["show", "mlp"]) == 0
    assert 'netspec.model @"MNIST-MLP"' in capsys.readouterr().out


def test_sweep_without_ray_says_how_to_install_it(tmp_path):
    """Ray is an optional extra: without it, `lean-mlir sweep` ends in one error line
    naming the install command, not a traceback."""
    import sys

    script = ("import sys; sys.modules['ray'] = None\n"   # `import ray` now fails
              "from lean_mlir.cli import main\n"
              f"sys.exit(main(['sweep', 'mlp-sgd', '--out', {str(tmp_path / 'out')!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: lean-mlir sweep needs Ray"), lines[0]
    assert "pip install 'ray==2.60.0'" in lines[0]
    assert not (tmp_path / "out").exists()   # nothing started, nothing written
