"""The ``lean-mlir`` command line.

    lean-mlir summary cnn mlp     # layers, shapes, parameter counts (from the IR)
    lean-mlir show cnn            # the netspec IR of a model
"""

from __future__ import annotations

import argparse
import sys

from lean_mlir._errors import MLIRError, SpecError
from lean_mlir.models import MODELS
from lean_mlir.pipeline import run_pipeline

__all__ = ["main"]


def _summary(names: list[str], show_ir: bool) -> int:
    for name in names:
        spec = MODELS[name]()
        module = spec.to_mlir()
        run_pipeline(module, "builtin.module(netspec-model-summary)", "model summary")
        model = next(op for op in module.operation.walk() if op.name == "netspec.model")
        counted = model.attributes["netspec.param_count"]
        print(spec.summary())
        print(f"  netspec-model-summary: {counted:,} parameters, "
              f"{model.attributes['netspec.flops_per_sample']:,} forward FLOPs per sample")
        if counted != spec.param_count():
            print(f"error: the pass counted {counted} parameters, the spec "
                  f"{spec.param_count()}", file=sys.stderr)
            return 1
        if show_ir:
            print(module)
        print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lean-mlir", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_sum = sub.add_parser("summary", help="print layers, shapes and parameter counts")
    p_sum.add_argument("models", nargs="+", choices=sorted(MODELS))
    p_sum.add_argument("--ir", action="store_true", help="also print the annotated IR")
    p_show = sub.add_parser("show", help="print a model's netspec IR")
    p_show.add_argument("model", choices=sorted(MODELS))
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            return _summary(args.models, args.ir)
        print(MODELS[args.model]().to_mlir())
        return 0
    except (MLIRError, SpecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
