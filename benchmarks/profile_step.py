"""Where a compiled function's time goes: IREE's per-dispatch profile, each dispatch's layers.

A command-line view of :func:`lean_mlir.explanation.profile_dispatches` (what
``lean-mlir explain`` measures) for experiments with forms and flags: each row
is one dispatch (a fused group of StableHLO ops IREE runs as one kernel), its
milliseconds per call, how many times a call runs it, and the layers and parts
whose ops it holds.

    .venv/bin/python benchmarks/profile_step.py                  # CNN train step, cpu forms
    .venv/bin/python benchmarks/profile_step.py --model resnet --function predict
    .venv/bin/python benchmarks/profile_step.py --target generic
    .venv/bin/python benchmarks/profile_step.py --flags=--iree-opt-data-tiling=false
"""

from __future__ import annotations

import argparse
import sys

from lean_mlir.compiler import FUNCTIONS, compile_flags
from lean_mlir.explanation import profile_dispatches
from lean_mlir.zoo import MODELS, resolve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn", help=f"{', '.join(MODELS)} or FILE.py:NAME")
    parser.add_argument("--function", default="train_step", choices=FUNCTIONS)
    parser.add_argument("--target", default="cpu", choices=["cpu", "generic", "gpu"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--flags", action="append", default=[],
                        help="extra iree-compile flags (repeatable)")
    args = parser.parse_args()

    spec = resolve(args.model)
    flags = compile_flags("llvm-cpu", args.target) + args.flags
    dispatches, wall_ms = profile_dispatches(
        spec, args.function, args.batch_size, {"target": args.target}, flags, args.calls,
        log=lambda line: print(line, file=sys.stderr))
    total = sum(d.ms for d in dispatches)
    print(f"{spec.name} {args.function} (target={args.target}, batch {args.batch_size}): "
          f"{len(dispatches)} dispatches, {total:.1f} ms of dispatch time per call, "
          f"{wall_ms:.1f} ms wall")
    print(f"flags: {' '.join(flags)}")
    for d in dispatches[:args.top]:
        owners = ", ".join(f"{owner}: {part}" for owner, part in d.owners) or "unattributed"
        print(f"{d.ms:8.2f} ms {100 * d.ms / total:5.1f}%  x{d.count:<3} {d.name}\n"
              f"{'':22}{owners}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
