"""The low-level IR API: contexts, parsing, verification, diagnostics, pass managers."""

import pytest
from lean_mlir.ir import Context, Location, MLIRError, Module
from lean_mlir.passmanager import PassManager

TINY = """
netspec.model @tiny {
  %x = netspec.input : tensor<?x4xf32>
  %w = netspec.param "dense_0.weight" init(he_normal) : tensor<4x2xf32>
  %b = netspec.param "dense_0.bias" init(zeros) : tensor<2xf32>
  %y = netspec.dense %x, %w, %b activation(relu) : tensor<?x4xf32>, tensor<4x2xf32>, tensor<2xf32>
  netspec.output %y : tensor<?x2xf32>
}
"""


def test_parse_print_round_trip():
    with Context():
        module = Module.parse(TINY)
        assert module.operation.verify() is True
        text = str(module)
        assert 'netspec.param "dense_0.weight" init(he_normal) : tensor<4x2xf32>' in text
        assert str(Module.parse(text)) == text


def test_generic_form_round_trips():
    with Context():
        module = Module.parse(TINY)
        generic = module.operation.get_asm(print_generic_op_form=True)
        assert '"netspec.dense"' in generic and "#netspec.activation<relu>" in generic
        assert str(Module.parse(generic)) == str(module)


def test_parse_error_carries_location_and_message():
    bad = TINY.replace("tensor<4x2xf32>, tensor<2xf32>", "tensor<4x3xf32>, tensor<2xf32>")
    with Context(), pytest.raises(MLIRError) as info:
        Module.parse(bad)
    diags = info.value.error_diagnostics
    assert diags, "the error must carry MLIR's diagnostics"
    assert diags[0].severity == "error"
    assert diags[0].location == "<string>:6:26"
    assert "expects different type than prior uses" in diags[0].message
    assert "<string>:6:26: error: use of value '%w'" in str(info.value)


def test_verifier_error_from_parse_names_the_op():
    bad = TINY.replace("tensor<2xf32>", "tensor<3xf32>")
    with Context(), pytest.raises(MLIRError) as info:
        Module.parse(bad)
    messages = [d.message for d in info.value.error_diagnostics]
    assert any("'netspec.dense' op bias must be 'tensor<2xf32>'" in m for m in messages), messages


def test_duplicate_param_error_has_a_note():
    bad = TINY.replace('"dense_0.bias"', '"dense_0.weight"').replace(
        "init(zeros) : tensor<2xf32>", "init(zeros) : tensor<2xf32>")
    with Context(), pytest.raises(MLIRError) as info:
        Module.parse(bad)
    diag = info.value.error_diagnostics[0]
    assert "parameter name 'dense_0.weight' is already used" in diag.message
    assert diag.notes and diag.notes[0].message == "first declared here"
    assert diag.notes[0].location == "<string>:4:8"


def test_context_is_required():
    assert Context.current is None
    with pytest.raises(ValueError, match="no context given"):
        Module.parse(TINY)
    ctx = Context()
    assert str(Module.parse(TINY, context=ctx)).startswith("module")
    with ctx:
        assert Context.current is ctx
    assert Context.current is None


def test_locations():
    with Context():
        loc = Location.name("conv2d_0", Location.file("net.py", 12, 3))
        assert str(loc) == 'loc("conv2d_0"("net.py":12:3))'
        assert str(Location.unknown()) == "loc(unknown)"


def test_pass_manager_runs_the_summary_pass():
    with Context():
        module = Module.parse(TINY)
        pm = PassManager.parse("builtin.module(netspec-model-summary)")
        assert "netspec-model-summary" in str(pm)
        pm.run(module.operation)
    ops = {op.name: op for op in module.operation.walk()}
    assert ops["netspec.model"].attributes["netspec.param_count"] == 10
    dense = ops["netspec.dense"].attributes
    assert dense["netspec.output_shape"] == [2]
    assert dense["netspec.flops_per_sample"] == 16
    assert dense["netspec.param_count"] == 10
    assert ops["netspec.dense"].result_types == ["tensor<?x2xf32>"]


def test_bad_pipeline_is_a_value_error():
    with Context(), pytest.raises(ValueError, match="netspec-no-such-pass"):
        PassManager.parse("builtin.module(netspec-no-such-pass)")


def test_upstream_passes_are_available():
    with Context():
        module = Module.parse(TINY)
        PassManager.parse("builtin.module(canonicalize,cse)").run(module.operation)
        assert "netspec.dense" in str(module)
