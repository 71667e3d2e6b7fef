"""Where a compiled function's time goes: IREE's per-dispatch profile of one of our modules.

Lowers a model's function with our passes, compiles it with the flags lean-mlir
uses, runs it under ``iree-benchmark-module`` with host-execution profiling and
prints ``iree-profile statistics`` as a table, largest first: each row is one
dispatch (a fused group of StableHLO ops IREE runs as one kernel), its
milliseconds per call and how many times a call runs it.

    .venv/bin/python benchmarks/profile_step.py                  # CNN train step, cpu forms
    .venv/bin/python benchmarks/profile_step.py --function predict --target generic
    .venv/bin/python benchmarks/profile_step.py --flags=--iree-opt-data-tiling=false
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from lean_mlir.compiler import (
    CompiledModule,
    compile_flags,
    compile_stablehlo,
    externalize_transients,
    lower_to_stablehlo,
    lowering_pipeline,
)
from lean_mlir.zoo import MODELS

UNITS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn", choices=sorted(MODELS))
    parser.add_argument("--function", default="train_step",
                        choices=["predict", "eval", "value_and_grad", "train_step"])
    parser.add_argument("--target", default="cpu", choices=["cpu", "generic"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--flags", action="append", default=[],
                        help="extra iree-compile flags (repeatable)")
    args = parser.parse_args()

    spec = MODELS[args.model]()
    text = lower_to_stablehlo(spec, lowering_pipeline(args.function, args.batch_size,
                                                      {"target": args.target}))
    flags = compile_flags("llvm-cpu", args.target) + args.flags
    # As lean-mlir runs it: the transients from a workspace (the last argument).
    text = externalize_transients(text, args.function)
    work = Path(tempfile.mkdtemp(prefix="lean-mlir-profile-"))
    vmfb = compile_stablehlo(text, "llvm-cpu", flags)
    (work / "module.vmfb").write_bytes(vmfb)

    # Inputs: the function's arguments in signature order (see Passes.td).
    rng = np.random.default_rng(0)
    params = spec.init_params(0)
    inputs = [params[p.name] for p in spec.params]
    x = rng.random((args.batch_size, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, spec.output_shape[0], args.batch_size).astype(np.int32)
    inputs.append(x)
    if args.function != "predict":
        inputs.append(y)
    if args.function == "train_step":
        inputs += [np.float32(0.1), np.int32(0)]
    flags_in = []
    for i, value in enumerate(inputs):
        np.save(work / f"in{i}.npy", value)
        flags_in.append(f"--input=@{work / f'in{i}.npy'}")
    module = CompiledModule(vmfb, "llvm-cpu", text)._module()
    probe = np.zeros(1, np.uint8)
    workspace = int(module[f"{args.function}_transients_size"](*inputs, probe))
    flags_in.append(f"--input={workspace}xi8")

    profile = work / "run.ireeprof"
    bench = subprocess.run(
        [tool("iree-benchmark-module"), f"--module={work / 'module.vmfb'}",
         f"--function={args.function}", "--device=local-task", *flags_in,
         "--benchmark_repetitions=1", f"--benchmark_min_time={args.calls}x",
         "--device_profiling_mode=host-execution", f"--device_profiling_output={profile}"],
        capture_output=True, text=True, check=False)
    if bench.returncode != 0:
        print(bench.stderr, file=sys.stderr)
        return 1
    wall = re.search(r"real_time\s+([\d.]+) (\w+)", bench.stdout)
    stats = subprocess.run([tool("iree-profile"), "statistics", str(profile)],
                           capture_output=True, text=True, check=True).stdout
    rows = []
    for line in stats.splitlines():
        m = re.search(r"host_execute (\S+)\s+count=(\d+) total=([\d.]+) (\w+)", line)
        if m:
            ms = float(m.group(3)) * UNITS[m.group(4)] / args.calls
            rows.append((ms, int(m.group(2)) // args.calls, m.group(1)))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(f"{spec.name} {args.function} (target={args.target}, batch {args.batch_size}): "
          f"{len(rows)} dispatches, {total:.1f} ms of dispatch time per call"
          + (f", {wall.group(1)} {wall.group(2)} wall" if wall else ""))
    print(f"flags: {' '.join(flags)}")
    for ms, count, name in rows[:args.top]:
        print(f"{ms:8.2f} ms {100 * ms / total:5.1f}%  x{count:<3} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
