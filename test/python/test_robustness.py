"""Bad input through the in-process API: always a Python exception, never a crash."""

import importlib.util
import random
from pathlib import Path

import lean_mlir as lm
import pytest
from lean_mlir.dialects.netspec import ModelBuilder
from lean_mlir.ir import Context, Location, MLIRError, Module

LIT = Path(__file__).resolve().parents[1] / "lit"


def _corpus_module():
    spec = importlib.util.spec_from_file_location(
        "malformed_corpus", LIT / "Robustness" / "malformed_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_malformed_corpus_raises_mlir_error_in_process():
    corpus = _corpus_module()
    text = (LIT / "Inputs" / "mnist_cnn.mlir").read_text()
    count = 0
    with Context():
        for name, data in corpus.cases(text, random.Random(7)):
            count += 1
            source = data.decode("utf-8", errors="replace")
            with pytest.raises(MLIRError) as info:
                Module.parse(source)
            assert info.value.error_diagnostics, name
            assert info.value.error_diagnostics[0].severity == "error", name
    assert count > 100


def test_builder_rejects_foreign_and_stale_values():
    with Context():
        loc = Location.unknown()
        a, b = ModelBuilder("a", loc), ModelBuilder("b", loc)
        xa = a.input([None, 4], loc)
        with pytest.raises(ValueError, match="another model builder"):
            b.relu(xa, loc)
        module = a.output(a.relu(xa, loc), loc)
        assert "netspec.relu" in str(module)
        with pytest.raises(ValueError, match="already finished"):
            a.relu(xa, loc)
        with pytest.raises(ValueError, match="model was finished"):
            _ = xa.shape


def test_builder_reports_bad_arguments_as_errors():
    with Context():
        loc = Location.file("net.py", 3, 1)
        b = ModelBuilder("m", loc)
        x = b.input([None, 1, 4, 4], loc)
        with pytest.raises(MLIRError, match="unknown init scheme 'xavier'"):
            b.param("w", [2, 1, 3, 3], "xavier", loc)
        with pytest.raises(MLIRError) as info:
            b.param("w", [2, -1, 3, 3], "he_normal", loc)
        assert info.value.error_diagnostics[0].location == "net.py:3:1"
        w = b.param("w", [2, 1, 3, 3], "he_normal", loc)
        bias = b.param("b", [2], "zeros", loc)
        with pytest.raises(ValueError, match="unknown padding 'full'"):
            b.conv2d(x, w, bias, 1, "full", "relu", loc)
        with pytest.raises(MLIRError, match="stride must be positive"):
            b.conv2d(x, w, bias, 0, "same", "relu", loc)
        # A failed layer leaves nothing behind: the model still completes.
        y = b.conv2d(x, w, bias, 1, "same", "relu", loc)
        assert y.shape == [None, 2, 4, 4]
        module = b.output(b.dense(b.flatten(y, loc), b.param("d.w", [32, 3], "he_normal", loc),
                                  b.param("d.b", [3], "zeros", loc), "identity", loc), loc)
        assert module.operation.verify()
        assert str(module).count("netspec.conv2d") == 1


def test_duplicate_param_names_are_caught_when_the_model_is_finished():
    with Context():
        loc = Location.unknown()
        b = ModelBuilder("m", loc)
        x = b.input([None, 2], loc)
        b.param("w", [2, 2], "he_normal", loc)
        b.param("w", [2, 2], "he_normal", loc)
        with pytest.raises(MLIRError, match="parameter name 'w' is already used"):
            b.output(x, loc)


def test_spec_errors_leave_the_caller_state_alone(cnn):
    before = cnn.init_params(seed=0)
    with pytest.raises(lm.SpecError):
        lm.NetSpec("bad", (1, 28, 28), [*cnn.layers[:4], lm.dense(10, 10)])
    assert cnn.param_count() == 3_489_130
    after = cnn.init_params(seed=0)
    assert all((before[k] == after[k]).all() for k in before)
