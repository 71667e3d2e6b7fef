"""lean-mlir tune: candidates timed here, the choice kept, and every later compile using it.

A tuned compile must compute what the target's forms compute; tuning writes
its choice beside the compile cache (a temporary one here), compile_spec then
applies it, and --forget drops it.
"""

import json
from pathlib import Path

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.cli import main
from lean_mlir.compiler import (
    compile_spec,
    forget_tuned,
    lower_to_stablehlo,
    lowering_pipeline,
    save_tuned_choice,
    tuned_choice,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAN_MLIR_COMPILE_CACHE", str(tmp_path / "compiled"))
    monkeypatch.setenv("LEAN_MLIR_TUNED", "on")
    return tmp_path / "compiled"


def small():
    return lm.NetSpec("tune-me", (2, 8, 8), [lm.conv_bn(2, 4, 3), lm.conv2d(4, 4, 3),
                                              lm.max_pool(2), lm.flatten(), lm.dense(64, 3)])


def test_a_kept_choice_applies_to_later_compiles_and_computes_the_same(cache):
    spec = small()
    params = spec.init_params(0)
    cfg = lm.TrainConfig(batch_size=8, learning_rate=0.05, momentum=0.9)
    state = lm.init_optimizer_state(spec, params, cfg)
    rng = np.random.default_rng(0)
    x = rng.random((8, 2, 8, 8), dtype=np.float32)
    y = rng.integers(0, 3, 8).astype(np.int32)
    plain = compile_spec(spec, "train_step", 8, options=cfg.lowering_options())
    want = lm.train_step(spec, params, state, x, y, cfg, lr=0.05, step=0)
    options = {"target": "cpu", **cfg.lowering_options()}
    save_tuned_choice(spec, "train_step", 8, "llvm-cpu", options,
                      {"options": {"conv_weight_gradient": "batched-im2col"},
                       "data_tiling": False, "candidate": "test", "measured": []})
    assert tuned_choice(spec, "train_step", 8, "llvm-cpu", options)["data_tiling"] is False
    tuned = compile_spec(spec, "train_step", 8, options=cfg.lowering_options())
    assert tuned is not plain
    # The im2col rows: the NHWC taps side by side along the channels (dimension 3).
    assert "dim = 3 : (tensor<8x" in tuned.stablehlo
    assert "dim = 3 : (tensor<8x" not in plain.stablehlo
    got = lm.train_step(spec, params, state, x, y, cfg, lr=0.05, step=0)
    for a, b in zip(as_arrays(want), as_arrays(got), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert forget_tuned(spec) == 1
    assert tuned_choice(spec, "train_step", 8, "llvm-cpu", options) is None


def as_arrays(step):
    params, state, loss = step
    return [*params.values(), *state.values(), np.float32(loss)]


def test_tune_times_every_candidate_and_keeps_one(cache, capsys):
    spec = small()
    rows = lm.tune(spec, functions=("train_step", "predict"), batch_size=8, rounds=2,
                   min_seconds=0.02, log=lambda line: None)
    row, predict = rows
    # predict takes no weight gradient: only the data-tiling candidates.
    assert [m["candidate"] for m in predict["measured"]] == [
        "target forms", "target forms, no data tiling"]
    assert [m["candidate"] for m in row["measured"]] == [c.name for c in lm.tuning.CANDIDATES]
    assert all(m["median_ms"] > 0 for m in row["measured"])
    kept = json.loads(Path(row["path"]).read_text())
    assert kept["candidate"] == row["choice"] and kept["network"] == "tune-me"
    chosen = next(m for m in row["measured"] if m["candidate"] == row["choice"])
    target = row["measured"][0]["median_ms"]
    assert chosen["median_ms"] <= target    # never slower than the target's own
    # predict is tuned as Predictor runs it, its parameters bound at load.
    assert tuned_choice(spec, "predict", 8, "llvm-cpu", {"target": "cpu"},
                        bind_params=True) is not None
    assert tuned_choice(spec, "predict", 8, "llvm-cpu", {"target": "cpu"}) is None
    options = {"target": "cpu", **lm.TrainConfig().lowering_options()}
    assert tuned_choice(spec, "train_step", 8, "llvm-cpu", options)["candidate"] == row["choice"]


def test_a_choice_file_tune_did_not_write_is_no_choice(cache):
    spec = small()
    options = {"target": "cpu"}
    path = save_tuned_choice(spec, "predict", 8, "llvm-cpu", options,
                             {"options": {}, "data_tiling": False})
    assert tuned_choice(spec, "predict", 8, "llvm-cpu", options)["data_tiling"] is False
    for text in ("{not json", '{"options": {"target": "generic"}, "data_tiling": false}',
                 '{"options": {"conv_weight_gradient": "rows"}, "data_tiling": true}',
                 '{"options": {}, "data_tiling": "false"}', '["options"]'):
        path.write_text(text)
        assert tuned_choice(spec, "predict", 8, "llvm-cpu", options) is None, text
    with pytest.raises(ValueError, match="not a choice tune makes"):
        save_tuned_choice(spec, "predict", 8, "llvm-cpu", options,
                          {"options": {"optimizer": "adam"}, "data_tiling": True})


def test_tuning_needs_the_compile_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAN_MLIR_COMPILE_CACHE", "off")
    with pytest.raises(lm.tuning.TuneError, match="compile cache, which is off"):
        lm.tune(small(), functions=("predict",), batch_size=8, log=lambda line: None)


def test_an_mlp_has_no_convolution_candidates(cache):
    rows = lm.tune(lm.NetSpec("mlp", (4,), [lm.dense(4, 8, "relu"), lm.dense(8, 2)]),
                   functions=("predict",), batch_size=4, rounds=1, min_seconds=0.01,
                   log=lambda line: None)
    assert [m["candidate"] for m in rows[0]["measured"]] == [
        "target forms", "target forms, no data tiling"]


def test_cli_forget_and_bad_functions(cache, capsys):
    assert main(["tune", "mlp", "--functions", "nope"]) == 2
    assert "--functions" in capsys.readouterr().err
    assert main(["tune", "mlp", "--forget"]) == 0
    assert "dropped 0 tuned choices" in capsys.readouterr().out


def test_lowering_refuses_a_weight_gradient_form_the_target_lacks(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAN_MLIR_REPRO_DIR", str(tmp_path))
    with pytest.raises(lm.PipelineError, match="conv-weight-gradient chooses among"):
        lower_to_stablehlo(small(), lowering_pipeline(
            "train_step", 8, {"target": "generic", "conv_weight_gradient": "taps"}))
    with pytest.raises(lm.PipelineError, match="unknown conv-weight-gradient 'rows'"):
        lower_to_stablehlo(small(), lowering_pipeline(
            "train_step", 8, {"target": "cpu", "conv_weight_gradient": "rows"}))
