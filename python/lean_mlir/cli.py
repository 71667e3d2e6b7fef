"""The ``lean-mlir`` command line.

    lean-mlir summary cnn mlp     # layers, shapes, parameter counts (from the IR)
    lean-mlir show cnn            # the netspec IR of a model
    lean-mlir compile cnn         # lower the train step to StableHLO and compile it
    lean-mlir train cnn           # train on MNIST (recipe s4tf-baseline) into runs/...
    lean-mlir train --resume DIR  # continue an interrupted run, bit for bit
    lean-mlir train resnet34 --init-from W.safetensors   # fine-tune torchvision's weights
    lean-mlir ablation --list     # the book's ablation arms; `ablation NAME` trains one
    lean-mlir plot DIR... -o F    # loss and accuracy curves of runs
    lean-mlir export DIR -o M     # a self-contained model; `predict M FILE...` queries it
    lean-mlir data fashion-mnist  # prepare a data set
    lean-mlir sweep A B --seeds 3 # arms x seeds as Ray tasks, locally or on a cluster
    lean-mlir bench               # train step and predict against PyTorch (and JAX), one run
    lean-mlir explain cnn -o DIR  # a page: the network, its derived VJP, each layer's time
    lean-mlir tune resnet         # time the candidate forms and flags here; keep the fastest
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lean_mlir._errors import MLIRError, SpecError, UsageError
from lean_mlir.compiler import FUNCTIONS, TARGETS, DeviceUnavailable
from lean_mlir.data import DATASETS
from lean_mlir.pipeline import run_pipeline
from lean_mlir.rundir import LOG_EVERY, RunError
from lean_mlir.training import MemoryLimitReached, TrainingInterrupted
from lean_mlir.xla import XlaUnavailable
from lean_mlir.zoo import BOOK_NETWORKS, MODELS, resolve

__all__ = ["main"]


#: What --optimizer sets over a recipe (--momentum and --weight-decay given win).
OPTIMIZERS = {"sgd": {"use_adam": False, "momentum": 0.0, "nesterov": False},
              "momentum": {"use_adam": False, "momentum": 0.9, "nesterov": False},
              "nesterov": {"use_adam": False, "momentum": 0.9, "nesterov": True},
              "adam": {"use_adam": True, "momentum": 0.0, "nesterov": False,
                       "weight_decay": 0.0},
              # torch.optim.AdamW's default decay, where the recipe has none.
              "adamw": {"use_adam": True, "momentum": 0.0, "nesterov": False}}
#: The knobs a run takes over its recipe: flag dest -> TrainConfig field.
KNOBS = {"epochs": "epochs", "lr": "learning_rate", "batch_size": "batch_size",
         "momentum": "momentum", "weight_decay": "weight_decay",
         "label_smoothing": "label_smoothing", "backend": "backend"}


def _config(recipe: str, args):
    """The recipe with the knobs given on the command line over it (TrainConfig's own
    checks name a wrong value); recorded in the run's config.json."""
    from dataclasses import replace

    from lean_mlir.recipes import get

    try:
        cfg = get(recipe)
    except ValueError as e:
        raise UsageError(f"--recipe: {e}") from e
    fields = dict(OPTIMIZERS.get(getattr(args, "optimizer", None) or "", {}))
    if getattr(args, "optimizer", None) == "adamw" and cfg.weight_decay == 0:
        fields["weight_decay"] = 0.01
    fields |= {field: getattr(args, dest) for dest, field in KNOBS.items()
               if getattr(args, dest, None) is not None}
    try:
        return replace(cfg, **fields)
    except ValueError as e:
        message = str(e).removeprefix("TrainConfig: ")
        for dest, field in KNOBS.items():   # say it with the flag's name
            if message.startswith(f"{field} "):
                message = f"--{dest.replace('_', '-')}{message[len(field):]}"
        raise UsageError(message) from e


def _check_counts(args, *names: str, at_least: int = 1) -> None:
    """UsageError naming the first of ``names`` (argparse dests) given below ``at_least``."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < at_least:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be {'positive' if at_least == 1 else f'>= {at_least}'}"
                             f", got {value}")


def _comma_list(text: str, choices, option: str) -> list[str] | None:
    """The items of a comma-separated option; None, after saying why, if one is unknown."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items or any(t not in choices for t in items):
        print(f"error: {option} takes a comma-separated list of {sorted(choices)}, "
              f"got {text!r}", file=sys.stderr)
        return None
    return items


def _summary(names: list[str], show_ir: bool) -> int:
    for name in names:
        spec = resolve(name)
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
    from dataclasses import replace

    from lean_mlir.compiler import lower
    from lean_mlir.recipes import get
    from lean_mlir.training import run_functions

    _check_counts(args, "batch_size")
    spec = resolve(args.model)
    backends = _comma_list(args.backend, TARGETS, "--backend")
    if backends is None:
        return 2
    overrides = {"batch_size": args.batch_size}
    if args.momentum is not None:
        overrides["momentum"] = args.momentum
    if args.adam:
        overrides["use_adam"] = True
    cfg = get(args.recipe, **overrides)
    for backend in backends:
        run_cfg = replace(cfg, backend=backend)
        if args.function == "train_step":
            # What `lean-mlir train` compiles, exactly: it finds them in the cache.
            functions = run_functions(spec, run_cfg)
        else:
            options = run_cfg.lowering_options() if args.function == "value_and_grad" else {}
            functions = [lower(spec, args.function, args.batch_size, backend, options)]
        for lowered in functions:
            _compile_one(args, lowered, several=len(backends) > 1)
    if args.function == "train_step":
        print(f"  cached: `lean-mlir train {args.model} --recipe {args.recipe}"
              + (f" --backend {backends[0]}" if backends != ["llvm-cpu"] else "")
              + "` compiles nothing again")
    return 0


def _compile_one(args, lowered, several: bool) -> None:
    """Lowers and compiles one function, saying what each stage gave; writes what
    ``-o``, ``--emit-stablehlo`` and ``--dump-stages`` ask for (the main function's)."""
    print(f"Generating {lowered.function.replace('_', ' ')} MLIR...", end=" ", flush=True)
    start = time.perf_counter()
    text = lowered.text
    print(f"{len(text):,} chars (batch {lowered.batch_size}, {lowered.options['target']} "
          f"forms, {time.perf_counter() - start:.2f} s, verified by StableHLO)")
    cached = lowered.is_cached()
    print(f"Compiling for {lowered.backend} ({lowered.lowerer})...", end=" ", flush=True)
    start = time.perf_counter()
    module = lowered.compile()
    print(f"{len(module.binary):,} bytes "
          + ("from the compile cache" if cached else
             f"in {time.perf_counter() - start:.1f} s (now in the compile cache)"))
    if lowered.function != args.function:
        return
    suffix = f".{lowered.backend}" if several else ""
    if args.emit_stablehlo:
        path = Path(args.emit_stablehlo)
        path = path.with_name(f"{path.stem}{suffix}{path.suffix}")
        path.write_text(text)
        print(f"  wrote {path}")
    if args.output:
        out = Path(args.output)
        out = out.with_name(f"{out.stem}{suffix}{out.suffix}")
        out.write_bytes(module.binary)
        print(f"  wrote {out}")
    if args.dump_stages:
        directory = Path(args.dump_stages) / f"{lowered.function}.{lowered.backend}"
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in lowered.stages().items():
            (directory / name).write_text(content)
        print(f"  wrote every stage's module to {directory} (commands.sh remakes each)")
    print(f"  reproduce: lean-mlir-opt --allow-unregistered-dialect "
          f"--pass-pipeline='{lowered.pipeline}' <(lean-mlir show {args.model})")


def _run(spec, cfg, args, *, recipe, arm=None, dataset="mnist", data_dir=None, run_dir=None,
         resume=False, train_limit=None, header=(), init_from=None) -> int:
    """A run through :func:`lean_mlir.run.train`, the one code path ``lm.train`` takes."""
    from lean_mlir.run import train

    result = train(spec, cfg, data_dir, dataset=dataset, run_dir=run_dir, resume=resume,
                   train_limit=train_limit, recipe=recipe, arm=arm,
                   model=getattr(args, "model", None), log_every=args.log_every or LOG_EVERY,
                   checkpoint_every=args.checkpoint_every, header=header,
                   bar=False if args.no_progress_bar else None, init_from=init_from)
    acc = result.test_correct / result.test_count
    if args.expect_accuracy is not None and acc < args.expect_accuracy:
        print(f"error: expected test accuracy >= {100 * args.expect_accuracy:.2f}%, "
              f"got {100 * acc:.2f}%", file=sys.stderr)
        return 1
    return 0


def _train(args) -> int:
    from lean_mlir.rundir import read_run_config

    _check_counts(args, "train_limit", "log_every", "checkpoint_every", "batch_size")
    _check_counts(args, "epochs", at_least=0)
    if args.resume:
        given = [dest for dest in (*KNOBS, "optimizer", "init_from")
                 if getattr(args, dest) is not None]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')}: a resumed run keeps its own "
                             "config (config.json)")
        run = read_run_config(args.resume)
        config = run.info
        args.model = config.get("model")
        # The run's own logging and checkpointing, unless given again.
        args.log_every = args.log_every or config.get("log_every")
        args.checkpoint_every = args.checkpoint_every or config.get("checkpoint_every")
        return _run(run.spec, run.cfg, args, recipe=config.get("recipe"), arm=config.get("arm"),
                    dataset=config.get("dataset") or "mnist", data_dir=config.get("data_dir"),
                    run_dir=Path(args.resume), resume=True,
                    train_limit=config.get("train_limit"))
    if args.model is None:
        raise RunError(f"train needs a model ({', '.join(MODELS)}) or --resume RUN_DIR")
    # PyTorch's weights need PyTorch's padding, where the network has the choice.
    spec = resolve(args.model, padding="torch" if args.init_from is not None else None)
    cfg = _config(args.recipe, args)
    return _run(spec, cfg, args, recipe=args.recipe, dataset=args.dataset or "mnist",
                data_dir=args.data_dir, run_dir=args.run_dir, train_limit=args.train_limit,
                init_from=args.init_from)


def _ablation(args) -> int:
    from lean_mlir.recipes import ARMS, get_arm

    if args.list or not args.name:
        for arm in ARMS.values():
            print(f"{arm.name:26} {resolve(arm.model).name:18} {arm.dataset:13} "
                  f"{arm.recipe:15} {arm.note}")
        return 0
    _check_counts(args, "train_limit", "log_every", "checkpoint_every", "batch_size")
    _check_counts(args, "epochs", at_least=0)
    arm = get_arm(args.name)
    spec = resolve(arm.model)
    cfg = _config(arm.recipe, args)
    optimizer = "Adam" if cfg.use_adam else (
        f"SGD, {'Nesterov ' if cfg.nesterov else ''}momentum {cfg.momentum}" if cfg.momentum
        else "SGD")
    header = [f"arm: {arm.name}: {arm.note}",
              f"spec: {spec.name} (model {arm.model}); recipe: {arm.recipe}",
              (f"optimizer: {optimizer}; lr {cfg.learning_rate}, cosine "
               f"{'yes' if cfg.cosine_decay else 'no'} (warmup {cfg.warmup_epochs} epochs), "
               f"weight decay {cfg.weight_decay}, augment {'yes' if cfg.augment else 'no'}, "
               f"label smoothing {cfg.label_smoothing}; batch {cfg.batch_size}, "
               f"{cfg.epochs} epochs")]
    args.model = arm.model
    return _run(spec, cfg, args, recipe=arm.recipe, arm=arm.name,
                dataset=args.dataset or arm.dataset,
                data_dir=args.data_dir, run_dir=args.run_dir, train_limit=args.train_limit,
                header=header)


def _plot(args) -> int:
    from lean_mlir.plot import plot_runs

    plot_runs(args.run_dirs, args.output, title=args.title)
    print(f"wrote {args.output}")
    return 0


def _export(args) -> int:
    from lean_mlir.export import export_model

    out = export_model(args.run_dir, args.output)
    portable = ", predict.stablehlo" if (out / "predict.stablehlo").exists() else ""
    print(f"wrote {out}: model.mlir, params.safetensors, predict.vmfb{portable}, model.json")
    print(f"  use: lean-mlir predict {out} IMAGE.png ..."
          + ("  (--backend xla: the portable StableHLO through XLA)" if portable else ""))
    return 0


def _labels_file(path: str, count: int):
    """The labels of an IDX labels file, as many as the images; UsageError otherwise."""
    from lean_mlir.data import DataError, read_idx

    try:
        truth = read_idx(Path(path))
    except DataError as e:
        raise UsageError(f"--labels: {e}") from e
    if truth.shape != (count,):
        raise UsageError(f"--labels {path}: {truth.shape[0] if truth.ndim else 0} labels for "
                         f"{count} images")
    return truth


def _class_folders(paths: list[str], names: list[str]) -> tuple[list[str], list[int] | None]:
    """The image files to read: a directory stands for the images in its class
    subfolders (named by a class's name or number), whose labels it then gives."""
    files, truth = [], []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(str(path))
            truth.append(None)
            continue
        for folder in sorted(p for p in path.iterdir() if p.is_dir()):
            label = names.index(folder.name) if folder.name in names else None
            if label is None:
                raise UsageError(f"{folder}: not a class of this model (its classes: "
                                 f"{', '.join(names)})")
            for image in sorted(folder.iterdir()):
                if image.suffix.lower() in (".png", ".jpg", ".jpeg"):
                    files.append(str(image))
                    truth.append(label)
    if not files:
        raise UsageError(f"no images in {', '.join(paths)}")
    known = all(t is not None for t in truth)
    return files, truth if known else None


def _predict(args) -> int:
    import json

    from lean_mlir.export import load_model, read_images

    model = load_model(args.model_dir, backend=args.backend)
    names = model.class_names or [str(i) for i in range(10)]
    files, truth = _class_folders(args.files, names)
    labels, x, notes = read_images(files, model.input_shape, model.dataset)
    if args.labels:
        truth = _labels_file(args.labels, len(x))
    if args.invert:
        if model.input_shape[0] != 1 or model.dataset == "imagenette":
            raise UsageError("--invert flips grayscale images in [0, 1) (MNIST, "
                             "Fashion-MNIST); this model takes other inputs")
        x = 255 / 256 - x
    elif model.input_shape[0] == 1:
        # MNIST and Fashion-MNIST are light on dark: a mostly bright image is likely
        # dark on light, and classified as nothing in particular.
        notes += [f"{label}: mostly bright (mean {m:.2f}; the training images' is about "
                  "0.13); if it is dark on light, --invert flips it"
                  for label, m in zip(labels, x.reshape(len(x), -1).mean(axis=1), strict=True)
                  if m > 0.5]
    for note in model.notes + notes:
        print(f"note: {note}", file=sys.stderr)
    probs = model.predict(x)
    accuracy = None
    if truth is not None:
        right = sum(int(p.argmax()) == int(t) for p, t in zip(probs, truth, strict=True))
        accuracy = (f"accuracy: {right}/{len(probs)} = {100 * right / len(probs):.2f}% "
                    f"({args.labels or 'the class folders'})")
    names = model.class_names or [str(i) for i in range(probs.shape[1])]
    rows = [{"file": label, "class": int(p.argmax()), "label": names[int(p.argmax())],
             "probability": float(p.max()), "probabilities": [float(v) for v in p]}
            for label, p in zip(labels, probs, strict=True)]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            shown = r["label"] if r["label"] == str(r["class"]) else f"{r['class']} {r['label']}"
            print(f"{r['file']}: {shown} ({100 * r['probability']:.1f}%)")
    if accuracy:
        print(accuracy, file=sys.stderr if args.json else sys.stdout)
    return 0


def _sweep(args) -> int:
    from lean_mlir.sweeps import sweep

    try:
        results = sweep(args.arms, seeds=args.seeds, epochs=args.epochs,
                        train_limit=args.train_limit, address=args.address, out=args.out,
                        cpus_per_run=args.cpus_per_run, dataset=args.dataset,
                        data_dir=args.data_dir, checkpoint_every=args.checkpoint_every,
                        log=lambda line: print(line, flush=True))
    except ModuleNotFoundError as e:   # Ray, an optional extra, is not installed
        if e.name != "ray":
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:   # the runs have checkpointed; the sweep said how to resume
        return 130
    return 0 if all(r["status"] == "finished" for r in results) else 1


def _explain(args) -> int:
    from lean_mlir.explanation import explain

    spec = resolve(args.model)
    if args.batch_size < 1 or args.calls < 1:
        print("error: --batch-size and --calls must be >= 1", file=sys.stderr)
        return 2
    report = explain(spec, args.output, function=args.function, batch_size=args.batch_size,
                     recipe=args.recipe, backend=args.backend, profile=not args.no_profile,
                     calls=args.calls, log=lambda line: print(line, flush=True))
    if "dispatches" in report:
        print(f"{len(report['dispatches'])} dispatches, {report['dispatch_ms']:.1f} ms a call, "
              f"{100 * report['attributed_fraction']:.1f}% attributed "
              f"({report['layer_ms']:.1f} ms to layers, the rest to the loss and step scalars)")
    print(f"wrote {Path(args.output) / 'index.html'} (and report.json, the graphs, the IR)")
    return 0


def _tune(args) -> int:
    from lean_mlir.compiler import forget_tuned
    from lean_mlir.tuning import tune

    spec = resolve(args.model)
    if args.forget:
        print(f"{spec.name}: dropped {forget_tuned(spec)} tuned choices")
        return 0
    functions = _comma_list(args.functions, FUNCTIONS, "--functions")
    if functions is None:
        return 2
    if args.batch_size < 1 or args.rounds < 1:
        print("error: --batch-size and --rounds must be >= 1", file=sys.stderr)
        return 2
    for row in tune(spec, functions, args.batch_size, args.recipe, args.rounds,
                    log=lambda line: print(line, flush=True)):
        print(f"{spec.name} {row['function']} (batch {args.batch_size}):")
        for m in row["measured"]:
            mark = "  <- chosen" if m["candidate"] == row["choice"] else ""
            print(f"  {m['median_ms']:9.2f} ms  {m['candidate']}{mark}")
        print(f"  {row['speedup']:.2f}x the target's forms; kept in {row['path']}")
    return 0


def _data(args) -> int:
    from lean_mlir.data import load, prepare

    directory = prepare(args.dataset, Path(args.dir) if args.dir else None)
    data = load(args.dataset, directory)
    print(f"{args.dataset}: {len(data.train_x):,} training and {len(data.test_x):,} test "
          f"images in {directory}")
    return 0


def _bench(args) -> int:
    from lean_mlir.bench import run_bench, write_json

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        for model in models:
            resolve(model)    # an unknown model fails here, before anything runs
    except ValueError as e:
        print(f"error: --models: {e}", file=sys.stderr)
        return 2
    if args.rounds < 1 or args.calls < 1:
        print("error: --rounds and --calls must be >= 1", file=sys.stderr)
        return 2
    peers = [p.strip() for p in args.peers.split(",")] if args.peers else None
    lowerers = _comma_list(args.lowerers, ("iree", "xla"), "--lowerers")
    if lowerers is None:
        return 2
    report = run_bench(models, rounds=args.rounds, calls=args.calls,
                       log=lambda line: print(line, flush=True), peers=peers,
                       lowerers=lowerers)
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0


MODEL_HELP = (f"a built-in network ({', '.join(MODELS)}; at their own sizes "
              f"{', '.join(BOOK_NETWORKS)}) or FILE.py:NAME (a NetSpec, or a function "
              "returning one, in that file)")


def _add_model_commands(sub) -> None:
    """summary, show, compile: a built-in network as data, IR and compiled code."""
    p_sum = sub.add_parser("summary", help="print layers, shapes and parameter counts")
    p_sum.add_argument("models", nargs="+", metavar="MODEL", help=MODEL_HELP)
    p_sum.add_argument("--ir", action="store_true", help="also print the annotated IR")
    p_show = sub.add_parser("show", help="print a model's netspec IR")
    p_show.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p_comp = sub.add_parser("compile", help="lower a model to StableHLO and compile it (into "
                                            "the cache train and predict read)")
    p_comp.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p_comp.add_argument("--function", default="train_step", choices=list(FUNCTIONS),
                        help="train_step (default) also compiles the evaluation a run uses")
    p_comp.add_argument("--batch-size", type=int, default=128)
    p_comp.add_argument("--backend", default="llvm-cpu",
                        help="comma-separated: " + ", ".join(TARGETS)
                             + " (IREE: llvm-cpu, rocm for gfx1100, cuda; XLA through PJRT: "
                               "xla, xla-cuda, xla-rocm)")
    p_comp.add_argument("--recipe", default="s4tf-baseline",
                        help="the train step's optimizer, as `lean-mlir train --recipe`")
    p_comp.add_argument("--momentum", type=float, help="override the recipe's SGD momentum")
    p_comp.add_argument("--adam", action="store_true", help="Adam instead of the recipe's SGD")
    p_comp.add_argument("-o", "--output", help="write the compiled module here (.vmfb for IREE)")
    p_comp.add_argument("--emit-stablehlo", help="write the StableHLO here")
    p_comp.add_argument("--dump-stages", metavar="DIR",
                        help="write each stage's module (netspec, StableHLO, the lowerer's "
                             "input) and commands.sh, which remakes each, to DIR/FUNCTION.BACKEND")


def _add_explain_command(sub) -> None:
    p = sub.add_parser("explain", help="a page of the network, its derived backward pass "
                                       "and each layer's kernels and time")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("-o", "--output", required=True, help="the directory to write")
    p.add_argument("--function", default="train_step", choices=list(FUNCTIONS))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--recipe", default="s4tf-baseline", help="the train step's optimizer")
    p.add_argument("--backend", default="llvm-cpu", choices=list(TARGETS),
                   help="profiling runs on llvm-cpu; the others take --no-profile")
    p.add_argument("--calls", type=int, default=10, help="calls profiled")
    p.add_argument("--no-profile", action="store_true", help="IR and graphs only, no run")


def _add_tune_command(sub) -> None:
    p = sub.add_parser("tune", help="time the candidate forms and flags on this machine; "
                                    "every later compile uses the fastest")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--functions", default="train_step,predict",
                   help="comma-separated: train_step, predict, eval, value_and_grad")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--recipe", default="s4tf-baseline", help="the train step's optimizer")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--forget", action="store_true", help="drop the model's choices instead")


def _add_run_options(p, recipe: bool = True) -> None:
    """The options of a training run (train, ablation): the recipe and the knobs over it."""
    from lean_mlir.recipes import RECIPES

    if recipe:
        p.add_argument("--recipe", default="s4tf-baseline", metavar="RECIPE",
                       help="a named recipe (default s4tf-baseline): " + ", ".join(RECIPES))
    knobs = p.add_argument_group("over the recipe (recorded in config.json)")
    knobs.add_argument("--epochs", type=int)
    knobs.add_argument("--lr", type=float, help="learning rate")
    knobs.add_argument("--batch-size", type=int)
    knobs.add_argument("--optimizer", choices=list(OPTIMIZERS),
                       help="sgd (no momentum), momentum (0.9), nesterov (0.9), adam, adamw "
                            "(decoupled decay, 0.01 unless the recipe or --weight-decay "
                            "says)")
    knobs.add_argument("--momentum", type=float, help="SGD momentum")
    knobs.add_argument("--weight-decay", type=float)
    knobs.add_argument("--label-smoothing", type=float)
    knobs.add_argument("--backend", choices=list(TARGETS),
                       help="default llvm-cpu (IREE); rocm, cuda (IREE on a GPU); xla, "
                            "xla-cuda, xla-rocm (XLA through PJRT)")
    p.add_argument("--dataset", choices=DATASETS,
                   help="default: mnist (an ablation arm: its own, as --list shows)")
    p.add_argument("--data-dir", help="where the data set's files are (MNIST's and "
                                      "Fashion-MNIST's are filled if empty)")
    p.add_argument("--train-limit", type=int, help="train on the first N images only")
    p.add_argument("--run-dir", help="default: runs/<model>-<recipe>-<YYYYmmdd-HHMMSS>")
    p.add_argument("--log-every", type=int,
                   help=f"a step event in metrics.jsonl every N steps (default {LOG_EVERY}; "
                        "a resumed run keeps its own)")
    p.add_argument("--checkpoint-every", type=int,
                   help="also checkpoint every N steps (always: each epoch, and on Ctrl-C)")
    p.add_argument("--no-progress-bar", action="store_true",
                   help="plain lines even on a terminal")
    p.add_argument("--expect-accuracy", type=float,
                   help="exit 1 if the final test accuracy is below this fraction")


def _add_run_commands(sub) -> None:
    """train, ablation, sweep, plot, export, predict, data: runs and what they produce."""
    p_train = sub.add_parser("train", help="train a model; writes a run directory")
    p_train.add_argument("model", nargs="?", metavar="MODEL", help=MODEL_HELP)
    p_train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p_train.add_argument("--init-from", metavar="FILE",
                         help="start from PyTorch weights (the state_dict of an Imagenette "
                              "network: torchvision's, timm's for vit-tiny and "
                              "mobilenet-v4-conv-small; .safetensors, .pt or .pth); the model "
                              "is built with PyTorch's padding")
    _add_run_options(p_train)
    p_abl = sub.add_parser("ablation", help="the book's ablation arms (--list)")
    p_abl.add_argument("name", nargs="?")
    p_abl.add_argument("--list", action="store_true")
    _add_run_options(p_abl, recipe=False)
    p_sweep = sub.add_parser("sweep", help="ablation arms x seeds as Ray tasks")
    p_sweep.add_argument("arms", nargs="+")
    p_sweep.add_argument("--seeds", type=int, default=1)
    p_sweep.add_argument("--epochs", type=int)
    p_sweep.add_argument("--train-limit", type=int)
    p_sweep.add_argument("--address", help="an existing Ray cluster: auto or HOST:PORT "
                                           "(default: start a local Ray, stop it at the end)")
    p_sweep.add_argument("--out", help="default: sweeps/<YYYYmmdd-HHMMSS>")
    p_sweep.add_argument("--cpus-per-run", type=int, default=1)
    p_sweep.add_argument("--checkpoint-every", type=int, default=50)
    p_sweep.add_argument("--dataset", choices=DATASETS,
                         help="default: the arms' own (mnist for the MNIST arms)")
    p_sweep.add_argument("--data-dir")
    p_plot = sub.add_parser("plot", help="plot runs' loss and accuracy per epoch")
    p_plot.add_argument("run_dirs", nargs="+")
    p_plot.add_argument("-o", "--output", required=True, help="a .png file")
    p_plot.add_argument("--title")
    p_exp = sub.add_parser("export", help="write a run's model as a self-contained directory")
    p_exp.add_argument("run_dir")
    p_exp.add_argument("-o", "--output", required=True)
    p_pred = sub.add_parser("predict", help="classify PNG, JPEG or IDX images with an exported "
                                                "model")
    p_pred.add_argument("model_dir")
    p_pred.add_argument("files", nargs="+",
                        help="PNG, JPEG or IDX image files, or a directory of class "
                             "subfolders (named by class), whose labels give an accuracy")
    p_pred.add_argument("--json", action="store_true")
    p_pred.add_argument("--labels", metavar="IDX",
                        help="an IDX labels file for the images: also print the accuracy")
    p_pred.add_argument("--invert", action="store_true",
                        help="flip dark-on-light grayscale images to MNIST's light on dark")
    p_pred.add_argument("--backend", default="llvm-cpu", choices=["llvm-cpu", "xla", "xla-cuda",
                                                                  "xla-rocm"],
                        help="llvm-cpu: the shipped .vmfb (IREE); xla*: predict.stablehlo "
                             "through XLA")
    p_data = sub.add_parser("data", help="prepare a data set (MNIST and Fashion-MNIST are "
                                     "fetched; CIFAR-10 and Imagenette read and checked)")
    p_data.add_argument("dataset", choices=DATASETS)
    p_data.add_argument("dir", nargs="?")


def _add_bench_command(sub) -> None:
    p_bench = sub.add_parser("bench", help="time train step and predict against PyTorch/JAX")
    p_bench.add_argument("--models", default=",".join(MODELS),
                         help=f"comma-separated MODELs: {', '.join(MODELS)} or FILE.py:NAME")
    p_bench.add_argument("--rounds", type=int, default=5,
                         help="interleaved rounds (min and median are over rounds)")
    p_bench.add_argument("--calls", type=int, default=5, help="calls timed per round")
    p_bench.add_argument("--json", help="also write the results here")
    p_bench.add_argument("--peers", help="comma-separated: pytorch, jax (default: every "
                                         "installed one)")
    p_bench.add_argument("--lowerers", default="iree",
                         help="comma-separated lean-mlir lowerers to time: iree, xla")


class _Parser(argparse.ArgumentParser):
    """argparse with its mistakes said in one line (``error: lean-mlir train: argument
    --backend: invalid choice: 'tpu' (choose from ...)``) and ``--help`` for the rest."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lean-mlir", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_model_commands(sub)
    _add_run_commands(sub)
    _add_bench_command(sub)
    _add_explain_command(sub)
    _add_tune_command(sub)
    return parser


_COMMANDS = {"summary": lambda args: _summary(args.models, args.ir), "compile": _compile,
             "train": _train, "bench": _bench, "ablation": _ablation, "plot": _plot,
             "export": _export, "predict": _predict, "data": _data, "sweep": _sweep,
             "show": lambda args: print(resolve(args.model).to_mlir()) or 0,
             "explain": _explain, "tune": _tune}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except MemoryLimitReached as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 75
    except TrainingInterrupted as e:
        where = f"; checkpoint saved in {e.run_dir}" if e.run_dir else ""
        print(f"\ninterrupted after step {e.step}{where}", file=sys.stderr)
        if e.command:
            print(f"resume with: {e.command}", file=sys.stderr)
        return 130
    except (UsageError, DeviceUnavailable, XlaUnavailable) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    except (MLIRError, SpecError, ValueError, FileNotFoundError) as e:
        message = str(e).splitlines()[0] if not isinstance(e, MLIRError) else str(e)
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
