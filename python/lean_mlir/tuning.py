"""Choosing forms and flags by measurement: ``lean-mlir tune`` times each candidate here.

    lean-mlir tune resnet                 # train step and predict, batch 128
    rows = lm.tune(lm.mnist_resnet(), functions=("train_step",))

No one choice is known to win everywhere: data tiling (GEMM operands packed
for the kernels) made MNIST-CNN-BN's step 10% faster on a 2-core AMD EPYC and
the MLP's 18% faster on an Intel Xeon, while the MLP's was within noise on the
AMD; a convolution's weight gradient as one product per kernel tap or as one
product of each sample's im2col rows depends on the channel counts and the
machine (on that AMD the ResNet's step took 135 ms with taps, 186 with
im2col: logs/tune/cpu-run1.txt). For every candidate (the target's forms, and for a function with
convolutions' weight gradients the im2col form; each with and without data
tiling) ``tune`` compiles the function as the trainer and
:class:`~lean_mlir.Predictor` run it (``predict`` and ``eval`` with the
parameters bound at load), checks that it computes what the
target's forms compute (every output: a train step's updated parameters and
state too), times the candidates interleaved in rounds on this
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
    BINDABLE,
    TARGETS,
    compile_flags,
    data_tiling_compiles,
    example_arguments,
    lower,
    save_tuned_choice,
    to_numpy,
    tuned_dir,
)
from lean_mlir.recipes import get as get_recipe
from lean_mlir.spec import NetSpec

__all__ = ["CANDIDATES", "MARGIN", "Candidate", "TuneError", "tune"]

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


def _runner(spec, function, batch, options, candidate, args,
            params) -> tuple[Callable, list[np.ndarray]]:
    """The candidate's compiled function as a no-argument call, as the trainer and
    :class:`~lean_mlir.Predictor` call it (a train step's inputs resident on the device;
    predict and eval with the parameters bound at load), and its outputs."""
    bind = function in BINDABLE
    module = lower(spec, function, batch, "llvm-cpu", {**options, **candidate.options},
                   flags=compile_flags("llvm-cpu", options["target"], candidate.data_tiling),
                   bind_params=bind).compile()
    if bind:
        module = module.with_parameters(params)
        # The function takes what is not bound: its other arguments, by role.
        args = [a for a, slot in zip(args, module.signature.args, strict=True)
                if slot.role.kind != "param"]
    fn = module.function(function)
    resident = module.to_device(args)
    out = fn(*resident)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return (lambda: fn(*resident)), [np.array(to_numpy(o)) for o in outs]


def _same(outs: list[np.ndarray], reference: list[np.ndarray]) -> bool:
    """Every output (a train step's updated parameters and state included) within
    float32 rounding of the target's forms'."""
    return len(outs) == len(reference) and all(
        a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-5)
        for a, b in zip(outs, reference, strict=True))


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


class TuneError(ValueError):
    """Tuning cannot run or keep its choice here; says why."""


def tune(spec: NetSpec, functions=("train_step", "predict"), batch_size: int = 128,
         recipe: str = "s4tf-baseline", rounds: int = 5, min_seconds: float = 0.25,
         log: Callable[[str], None] = print) -> list[dict]:
    """Times every candidate of each function on this CPU and keeps the fastest; returns
    one row per function: the candidates' median ms, the choice and where it is kept."""
    if tuned_dir() is None:
        raise TuneError("tuned choices are kept in the compile cache, which is off "
                        "(LEAN_MLIR_COMPILE_CACHE or LEAN_MLIR_TUNED)")
    cfg = get_recipe(recipe, batch_size=batch_size)
    convolutions = _has_convolutions(spec)
    return [_tune_function(spec, function, cfg, convolutions, rounds, min_seconds, log)
            for function in functions]


def _tune_function(spec, function, cfg, convolutions, rounds, min_seconds, log) -> dict:
    batch = cfg.batch_size
    gradients = convolutions and function in ("train_step", "value_and_grad")
    candidates = [c for c in CANDIDATES if (gradients or not c.weight_gradients_only)
                  and (data_tiling_compiles(spec) or not c.data_tiling)]
    options = {"target": TARGETS["llvm-cpu"], **cfg.function_options(function)}
    params = spec.init_params(0)
    args = example_arguments(spec, function, batch, cfg)
    log(f"{spec.name} {function}: compiling {len(candidates)} candidates...")
    runners, kept, reference = [], [], None
    for candidate in candidates:
        try:
            call, outs = _runner(spec, function, batch, options, candidate, args, params)
        except Exception as e:   # a candidate that does not compile or run is not a choice
            if reference is None:
                raise TuneError(f"{spec.name} {function}: the target's forms failed: "
                                f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from e
            log(f"  {candidate.name}: left out ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:120]})")
            continue
        if reference is None:
            reference = outs
        elif not _same(outs, reference):
            log(f"  {candidate.name}: left out (computes another function than the "
                "target's forms)")
            continue
        runners.append(call)
        kept.append(candidate)
    log(f"{spec.name} {function}: timing, {rounds} interleaved rounds...")
    medians = [statistics.median(ms) for ms in _time(runners, rounds, min_seconds)]
    best = min(range(len(kept)), key=medians.__getitem__)
    if medians[best] > medians[0] * (1 - MARGIN):
        best = 0
    chosen = kept[best]
    measured = [{"candidate": c.name, "options": c.options, "data_tiling": c.data_tiling,
                 "median_ms": m} for c, m in zip(kept, medians, strict=True)]
    # The target's own forms are kept as "no override": later defaults then apply.
    own = best == 0
    path = save_tuned_choice(spec, function, batch, "llvm-cpu", options,
                             {"options": {} if own else chosen.options,
                              "data_tiling": None if own else chosen.data_tiling,
                              "candidate": chosen.name, "measured": measured},
                             bind_params=function in BINDABLE)
    return {"function": function, "measured": measured, "choice": chosen.name,
            "speedup": medians[0] / medians[best], "path": str(path)}
