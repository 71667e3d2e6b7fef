"""The ``lean-mlir`` command line.

    lean-mlir summary cnn mlp     # layers, shapes, parameter counts (from the IR)
    lean-mlir show cnn            # the netspec IR of a model
    lean-mlir compile cnn         # lower the train step to StableHLO and compile it
    lean-mlir train cnn           # train on MNIST (recipe s4tf-baseline) and report accuracy
    lean-mlir bench               # train step and predict against PyTorch (and JAX), one run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


def _compile(args) -> int:
    from lean_mlir.compiler import (
        TARGETS,
        compile_flags,
        compile_stablehlo,
        lower_to_stablehlo,
        lowering_pipeline,
    )

    spec = MODELS[args.model]()
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = [b for b in backends if b not in TARGETS]
    if unknown or not backends:
        print(f"error: --backend takes a comma-separated list of {sorted(TARGETS)}, "
              f"got {args.backend!r}", file=sys.stderr)
        return 2
    label = args.function.replace("_", " ")
    lowered: dict[str, tuple[str, str]] = {}
    for backend in backends:
        # Each backend gets the StableHLO forms measured fast on it (TARGETS).
        target = TARGETS[backend]
        if target not in lowered:
            options = {"optimizer": "adam" if args.adam else "sgd",
                       "momentum": args.momentum, "target": target}
            pipeline = lowering_pipeline(args.function, args.batch_size, options)
            print(f"Generating {label} MLIR...", end=" ", flush=True)
            start = time.perf_counter()
            text = lower_to_stablehlo(spec, pipeline)
            print(f"{len(text):,} chars ({target} forms, {time.perf_counter() - start:.2f} s, "
                  f"verified by StableHLO)")
            lowered[target] = (pipeline, text)
            if args.emit_stablehlo:
                path = Path(args.emit_stablehlo)
                if len({TARGETS[b] for b in backends}) > 1:
                    path = path.with_name(f"{path.stem}.{target}{path.suffix}")
                path.write_text(text)
                print(f"  wrote {path}")
        pipeline, text = lowered[target]
        print(f"Compiling for {backend}...", end=" ", flush=True)
        start = time.perf_counter()
        vmfb = compile_stablehlo(text, backend, compile_flags(backend, spec, target))
        print(f"{len(vmfb):,} bytes in {time.perf_counter() - start:.1f} s")
        if args.output:
            out = Path(args.output)
            if len(backends) > 1:
                out = out.with_name(f"{out.stem}.{backend}{out.suffix}")
            out.write_bytes(vmfb)
            print(f"  wrote {out}")
    for pipeline, _ in lowered.values():
        print(f"  reproduce: lean-mlir-opt --allow-unregistered-dialect "
              f"--pass-pipeline='{pipeline}' <(lean-mlir show {args.model})")
    return 0


def _train(args) -> int:
    from lean_mlir.data import load_mnist, prepare_mnist
    from lean_mlir.recipes import recipe
    from lean_mlir.trainer import fit

    spec = MODELS[args.model]()
    overrides = {k: v for k, v in (("epochs", args.epochs), ("backend", args.backend))
                 if v is not None}
    cfg = recipe(args.recipe, **overrides)
    data = load_mnist(prepare_mnist())
    print(f"{spec.name}: {spec.param_count():,} parameters; recipe {args.recipe}: {cfg}")
    limit = args.train_limit
    print(f"training on {len(data.train_x[:limit]):,} images, testing on "
          f"{len(data.test_x):,}", flush=True)
    start = time.perf_counter()
    _, history = fit(spec, cfg, data, on_epoch=lambda r: print(r, flush=True),
                     train_limit=limit)
    minutes, seconds = divmod(time.perf_counter() - start, 60)
    best = max(history, key=lambda r: r.test_accuracy)
    print(f"final test accuracy {100 * history[-1].test_accuracy:.2f}% "
          f"(best {100 * best.test_accuracy:.2f}% at epoch {best.epoch}); "
          f"{int(minutes)} min {seconds:.0f} s in all, compiling and evaluating included")
    if args.expect_accuracy is not None and history[-1].test_accuracy < args.expect_accuracy:
        print(f"error: expected test accuracy >= {100 * args.expect_accuracy:.2f}%",
              file=sys.stderr)
        return 1
    return 0


def _bench(args) -> int:
    from lean_mlir.bench import run_bench, write_json

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        print(f"error: --models takes a comma-separated list of {sorted(MODELS)}, "
              f"got {args.models!r}", file=sys.stderr)
        return 2
    if args.rounds < 1 or args.calls < 1:
        print("error: --rounds and --calls must be >= 1", file=sys.stderr)
        return 2
    report = run_bench(models, rounds=args.rounds, calls=args.calls,
                       log=lambda line: print(line, flush=True))
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lean-mlir", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_sum = sub.add_parser("summary", help="print layers, shapes and parameter counts")
    p_sum.add_argument("models", nargs="+", choices=sorted(MODELS))
    p_sum.add_argument("--ir", action="store_true", help="also print the annotated IR")
    p_show = sub.add_parser("show", help="print a model's netspec IR")
    p_show.add_argument("model", choices=sorted(MODELS))
    p_comp = sub.add_parser("compile", help="lower a model to StableHLO and compile it with IREE")
    p_comp.add_argument("model", choices=sorted(MODELS))
    p_comp.add_argument("--function", default="train_step",
                        choices=["predict", "eval", "value_and_grad", "train_step"])
    p_comp.add_argument("--batch-size", type=int, default=128)
    p_comp.add_argument("--backend", default="llvm-cpu",
                        help="comma-separated: llvm-cpu, rocm (gfx1100), cuda")
    p_comp.add_argument("--momentum", type=float, default=0.0)
    p_comp.add_argument("--adam", action="store_true")
    p_comp.add_argument("-o", "--output", help="write the .vmfb here")
    p_comp.add_argument("--emit-stablehlo", help="write the StableHLO here")
    p_train = sub.add_parser("train", help="train a model on MNIST")
    p_train.add_argument("model", choices=sorted(MODELS))
    p_train.add_argument("--recipe", default="s4tf-baseline")
    p_train.add_argument("--epochs", type=int)
    p_train.add_argument("--backend")
    p_train.add_argument("--train-limit", type=int, help="train on the first N images only")
    p_train.add_argument("--expect-accuracy", type=float,
                         help="exit 1 if the final test accuracy is below this fraction")
    p_bench = sub.add_parser("bench", help="time train step and predict against PyTorch/JAX")
    p_bench.add_argument("--models", default="cnn,mlp", help="comma-separated: cnn, mlp")
    p_bench.add_argument("--rounds", type=int, default=5,
                         help="interleaved rounds (min and median are over rounds)")
    p_bench.add_argument("--calls", type=int, default=5, help="calls timed per round")
    p_bench.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            return _summary(args.models, args.ir)
        if args.command == "compile":
            return _compile(args)
        if args.command == "train":
            return _train(args)
        if args.command == "bench":
            return _bench(args)
        print(MODELS[args.model]().to_mlir())
        return 0
    except (MLIRError, SpecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
