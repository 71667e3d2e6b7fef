"""Choosing forms and flags by measurement: ``lean-mlir tune`` times each candidate here.

    lean-mlir tune resnet                 # train step and predict, batch 128
    rows = lm.tune(lm.mnist_resnet(), functions=("train_step",))

No one choice is known to win everywhere: data tiling (GEMM operands packed
for the kernels) made MNIST-CNN-BN's step 10% faster on a 2-core AMD EPYC and
the MLP's 18% faster on an Intel Xeon, while the MLP's was within noise on the
AMD; a convolution's weight gradient as one product per kernel tap or as one
product of each sample's im2col rows depends on the channel counts and the
machine (on that AMD the ResNet's step took 166 ms with taps, 225 with
im2col). For every candidate (the target's forms, and for a function with
convolutions' weight gradients the im2col form; each with and without data
tiling) ``tune`` compiles the function, checks that it computes what the
target's forms compute, times the candidates interleaved in rounds on this
machine, and keeps the fastest (the target's own unless another is more than
:data:`MARGIN` faster: noise must not flip a choice) beside the compile cache
(:func:`lean_mlir.compiler.tuned_choice`). Every later compile of that
function, network, batch and options on this CPU, the trainer's included, uses
it; ``lean-mlir tune MODEL --forget`` drops the model's choices.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lean_mlir.compiler import (
    TARGETS,
    compile_flags,
    compile_spec,
    save_tuned_choice,
)
from lean_mlir.recipes import get as get_recipe
from lean_mlir.spec import NetSpec

__all__ = ["CANDIDATES", "MARGIN", "Candidate", "tune"]

#: How much faster (median) than the target's own forms a candidate must be.
MARGIN = 0.03


@dataclass(frozen=True)
class Candidate:
    """Netspec-to-stablehlo options and whether GEMM operands are data-tiled."""

    name: str
    options: dict
    data_tiling: bool
    #: Only for functions that take convolutions' weight gradients (the options
    #: change nothing else).
    weight_gradients_only: bool = False


#: What tune tries, the target's own first.
CANDIDATES = (
    Candidate("target forms", {}, True),
    Candidate("target forms, no data tiling", {}, False),
    Candidate("im2col weight gradient", {"conv_weight_gradient": "batched-im2col"}, True,
              weight_gradients_only=True),
    Candidate("im2col weight gradient, no data tiling",
              {"conv_weight_gradient": "batched-im2col"}, False, weight_gradients_only=True),
)


def _has_convolutions(spec: NetSpec) -> bool:
    return any(op.name == "netspec.conv2d" for op in spec.to_mlir().operation.walk())


def _arguments(spec: NetSpec, function: str, batch: int, cfg) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    params = spec.init_params(0)
    args = [params[p.name] for p in spec.params]
    if function == "train_step":
        args += [np.zeros(shape, np.float32) for shape in cfg.state_shapes(spec).values()]
    args.append(rng.random((batch, *spec.input_shape), dtype=np.float32))
    if function != "predict":
        args.append(rng.integers(0, spec.output_shape[0], batch).astype(np.int32))
    if function == "train_step":
        args += [np.float32(cfg.learning_rate), np.int32(0)]
    return args


def _runner(spec, function, batch, options, candidate, args) -> tuple[Callable, np.ndarray]:
    """The candidate's compiled function as a no-argument call (inputs resident on the
    device, as the trainer keeps them), and its first output."""
    module = compile_spec(spec, function, batch, "llvm-cpu",
                          {**options, **candidate.options},
                          flags=compile_flags("llvm-cpu", options["target"],
                                              candidate.data_tiling))
    fn = module.function(function)
    resident = module.to_device(args)
    out = fn(*resident)
    first = out[-1] if function == "train_step" else (out[0] if isinstance(out, (list, tuple))
                                                      else out)
    return (lambda: fn(*resident)), np.array(first.to_host())


def _time(calls: list[Callable], rounds: int, min_seconds: float) -> list[list[float]]:
    """Milliseconds per call of each callable, one figure a round, interleaved."""
    counts = []
    for call in calls:
        start = time.perf_counter()
        call()
        counts.append(max(3, int(min_seconds / max(time.perf_counter() - start, 1e-6))))
    ms = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            for _ in range(counts[i]):
                call()
            ms[i].append(1000 * (time.perf_counter() - start) / counts[i])
    return ms


def tune(spec: NetSpec, functions=("train_step", "predict"), batch_size: int = 128,
         recipe: str = "s4tf-baseline", rounds: int = 5, min_seconds: float = 0.25,
         log: Callable[[str], None] = print) -> list[dict]:
    """Times every candidate of each function on this CPU and keeps the fastest; returns
    one row per function: the candidates' median ms, the choice and where it is kept."""
    cfg = get_recipe(recipe, batch_size=batch_size)
    convolutions = _has_convolutions(spec)
    rows = []
    for function in functions:
        gradients = convolutions and function in ("train_step", "value_and_grad")
        candidates = [c for c in CANDIDATES if gradients or not c.weight_gradients_only]
        options = {"target": TARGETS["llvm-cpu"]}
        if function == "train_step":
            options |= cfg.lowering_options()
        args = _arguments(spec, function, batch_size, cfg)
        log(f"{spec.name} {function}: compiling {len(candidates)} candidates...")
        runners, reference = [], None
        for candidate in candidates:
            call, first = _runner(spec, function, batch_size, options, candidate, args)
            if reference is None:
                reference = first
            elif not np.allclose(first, reference, rtol=1e-4, atol=1e-5):
                raise RuntimeError(f"{spec.name} {function}: {candidate.name} computes "
                                   "another function than the target's forms")
            runners.append(call)
        log(f"{spec.name} {function}: timing, {rounds} interleaved rounds...")
        medians = [statistics.median(ms) for ms in _time(runners, rounds, min_seconds)]
        best = min(range(len(candidates)), key=medians.__getitem__)
        if medians[best] > medians[0] * (1 - MARGIN):
            best = 0
        chosen = candidates[best]
        measured = [{"candidate": c.name, "options": c.options, "data_tiling": c.data_tiling,
                     "median_ms": m} for c, m in zip(candidates, medians, strict=True)]
        path = save_tuned_choice(spec, function, batch_size, "llvm-cpu", options,
                                 {"options": chosen.options, "data_tiling": chosen.data_tiling,
                                  "candidate": chosen.name, "measured": measured})
        rows.append({"function": function, "measured": measured, "choice": chosen.name,
                     "speedup": medians[0] / medians[best], "path": str(path)})
    return rows
