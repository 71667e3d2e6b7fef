"""The book's CNN train step on an NVIDIA GPU: IREE's CUDA build and XLA's against PyTorch.

Two halves, because the GPU machine need not have lean-mlir:

    .venv/bin/python benchmarks/gpu_step.py prepare DIR [--cuda-target sm_80]
        (with lean-mlir) lowers the CNN's train step and ``predict`` with each
        of the lowering's forms (FORMS), compiles them for CUDA (IREE 3.13 knows
        no Hopper target, sm_90: its PTX for sm_80 is compiled by the driver for
        the card it runs on), and writes to DIR the ``.vmfb`` files, XLA's input
        for each function (``*.xla.mlir``: the pipeline's second stage for the
        ``xla`` backends), the initial parameters and a batch (``inputs.npz``),
        the functions' argument roles (``meta.json``), and the loss and
        parameters after one step computed by our CPU build (``reference.npz``).

    python3 gpu_step.py run DIR [--steps N]
        (on the GPU machine, with numpy, ``iree-base-runtime`` and optionally
        PyTorch; no lean-mlir) checks the CUDA step against the CPU reference,
        then times IREE's step and ``predict`` (parameters kept on the GPU, each
        step's outputs the next one's inputs), the same through XLA when jax and
        ``jax-cuda12-pjrt`` are installed (donated buffers), and PyTorch's eager
        step and forward
        on the same network, weights and batch (plain SGD, lr 0.1), TF32 off for a
        float32 comparison and then at PyTorch's defaults. Prints the card's name.

Only the ``run`` half imports nothing of lean-mlir, so this file is copied to
the GPU machine as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

BATCH = 128
LR = 0.1
#: The lowering's forms compiled for the GPU: the textbook ones, the ones
#: measured fast on the CPU, and those with their long reductions split.
FORMS = ("generic", "cpu", "gpu")
#: Where ``run`` runs: IREE's runtime driver and PyTorch's device.
DRIVER, TORCH_DEVICE = "cuda", "cuda"


def prepare(out: Path, cuda_target: str) -> None:
    import lean_mlir as lm
    from lean_mlir.compiler import compile_flags, lower

    spec = lm.mnist_cnn()
    cfg = lm.TrainConfig(batch_size=BATCH, learning_rate=LR)
    out.mkdir(parents=True, exist_ok=True)
    flags = [f"--iree-cuda-target={cuda_target}" if f.startswith("--iree-cuda-target=") else f
             for f in compile_flags("cuda", "generic")]
    forms, roles = [], {}
    for target in FORMS:
        try:
            for function, options in (("train_step", cfg.lowering_options()), ("predict", {})):
                lowered = lower(spec, function, BATCH, "cuda", {**options, "target": target},
                                flags=flags)
                start = time.perf_counter()
                (out / f"{function}.{target}.vmfb").write_bytes(lowered.compile().vmfb)
                print(f"{function}, {target} forms: compiled for CUDA {cuda_target} in "
                      f"{time.perf_counter() - start:.1f} s")
            forms.append(target)
        except Exception as e:   # noqa: BLE001 (reported, and the other forms still run)
            print(f"{target} forms: do not compile for CUDA: {str(e).splitlines()[0]}")
    for function, options in (("train_step", cfg.lowering_options()), ("predict", {})):
        lowered = lower(spec, function, BATCH, "xla-cuda", options)
        (out / f"{function}.xla.mlir").write_text(lowered.backend_input()[0])
        roles[function] = [str(a.role) for a in lowered.signature.args]
    params = spec.init_params(seed=0)
    names = [p.name for p in spec.params]
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, *spec.input_shape), dtype=np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int32)
    np.savez(out / "inputs.npz", x=x, y=y, **params)
    cpu = lower(spec, "train_step", BATCH, "llvm-cpu", cfg.lowering_options()).compile()
    sig = cpu.signature
    after = sig.name_results(cpu.call("train_step", *sig.arguments(
        params=params, images=x, labels=y, learning_rate=np.float32(LR), step=np.int32(0))))
    loss = after["loss"]
    np.savez(out / "reference.npz", loss=loss, **{n: after[f"param:{n}"] for n in names})
    (out / "meta.json").write_text(json.dumps({"names": names, "cuda_target": cuda_target,
                                               "forms": forms, "roles": roles}))
    print(f"wrote {out}: CPU reference loss {float(loss):.6f}")


def _ms(fn, steps: int, sync=lambda: None) -> float:
    for _ in range(3):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - start) / steps * 1e3


def _worst_rel_diff(values: dict[str, np.ndarray], reference) -> float:
    """The largest difference from ``reference`` of any parameter, as a fraction of
    that parameter's largest value."""
    return max(float(np.max(np.abs(v - reference[n]))) /
               (float(np.max(np.abs(reference[n]))) or 1.0) for n, v in values.items())


def _iree(out: Path, form: str, names: list[str], inputs, reference, steps: int) -> dict:
    import iree.runtime as rt

    config = rt.Config(DRIVER)
    modules = {}
    for function in ("train_step", "predict"):
        context = rt.SystemContext(config=config)
        context.add_vm_module(rt.VmModule.copy_buffer(
            context.instance, (out / f"{function}.{form}.vmfb").read_bytes()))
        modules[function] = (context, context.modules.module[function])
    step, predict = modules["train_step"][1], modules["predict"][1]
    x = rt.asdevicearray(config.device, inputs["x"])
    y = rt.asdevicearray(config.device, inputs["y"])
    lr, zero = np.float32(LR), np.int32(0)
    params = [rt.asdevicearray(config.device, inputs[n]) for n in names]

    # One step from the initial parameters, against the CPU build's.
    *after, loss = step(*params, x, y, lr, zero)
    worst = _worst_rel_diff({n: a.to_host() for n, a in zip(names, after, strict=True)},
                            reference)
    result = {"loss": float(np.asarray(loss.to_host())),
              "cpu_loss": float(reference["loss"]), "worst_param_rel_diff": worst}

    state = {"params": params}

    def train():
        *state["params"], _ = step(*state["params"], x, y, lr, zero)

    result["train_step_ms"] = _ms(train, steps)
    result["predict_ms"] = _ms(lambda: predict(*params, x), steps)
    return result


def _xla(out: Path, meta: dict, inputs, reference, steps: int) -> dict:
    """The same step and ``predict`` compiled by XLA for CUDA (PJRT), parameters donated
    and kept on the GPU; arguments placed by their roles (meta.json)."""
    import jax
    from jax._src.lib import xla_client
    from jax.extend import backend as jax_backend

    client = jax_backend.get_backend("cuda")
    device = client.local_devices()[0]
    devices = xla_client.DeviceList((device,))
    options = jax_backend.get_compile_options(num_replicas=1, num_partitions=1)
    exe = {f: client.compile_and_load((out / f"{f}.xla.mlir").read_text(), devices, options)
           for f in ("train_step", "predict")}
    data = {"images": jax.device_put(inputs["x"], device),
            "labels": jax.device_put(inputs["y"], device),
            "learning_rate": jax.device_put(np.float32(LR), device),
            "step": jax.device_put(np.int32(0), device)}
    names = meta["names"]

    def params():
        return {n: jax.device_put(inputs[n].copy(), device) for n in names}

    def call(function, values):
        args = [values[r.split(":", 1)[1]] if r.startswith("param:") else data[r]
                for r in meta["roles"][function]]
        results = exe[function].execute_sharded(args)
        return [r[0] for r in results.disassemble_into_single_device_arrays()]

    *after, loss = call("train_step", params())
    worst = _worst_rel_diff({n: np.asarray(a) for n, a in zip(names, after, strict=True)},
                            reference)
    result = {"loss": float(np.asarray(loss)), "cpu_loss": float(reference["loss"]),
              "worst_param_rel_diff": worst, "jax": jax.__version__}
    state = {"params": params()}

    def train():
        state["params"] = dict(zip(names, call("train_step", state["params"])[:-1],
                                   strict=True))

    def sync():
        next(iter(state["params"].values())).block_until_ready()

    result["train_step_ms"] = _ms(train, steps, sync)
    fixed = params()
    result["predict_ms"] = _ms(lambda: call("predict", fixed)[0].block_until_ready(), steps)
    return result


def _torch(names: list[str], inputs, reference, steps: int) -> dict:
    import torch
    from torch import nn

    device = torch.device(TORCH_DEVICE)
    # The book's CNN (lean_mlir.zoo.mnist_cnn), with our parameter names.
    net = nn.ModuleDict({
        "conv2d_0": nn.Conv2d(1, 32, 3, padding=1), "conv2d_1": nn.Conv2d(32, 32, 3, padding=1),
        "dense_0": nn.Linear(6272, 512), "dense_1": nn.Linear(512, 512),
        "dense_2": nn.Linear(512, 10)}).to(device)

    def forward(x):
        h = torch.relu(net["conv2d_1"](torch.relu(net["conv2d_0"](x))))
        h = torch.flatten(nn.functional.max_pool2d(h, 2), 1)
        h = torch.relu(net["dense_1"](torch.relu(net["dense_0"](h))))
        return net["dense_2"](h)

    with torch.no_grad():
        for name in names:
            value = inputs[name]
            module, kind = name.rsplit(".", 1)
            if module.startswith("dense") and kind == "weight":
                value = value.T   # ours are [in, out]
            getattr(net[module], kind).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    x = torch.from_numpy(inputs["x"]).to(device)
    y = torch.from_numpy(inputs["y"]).long().to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)

    def train():
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(forward(x), y).backward()
        optimizer.step()

    def predict():
        with torch.inference_mode():
            forward(x)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    result = {"torch": torch.__version__}
    # One step from the same parameters, against the CPU build's (TF32 off).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    train()
    after = {}
    for name in names:
        module, kind = name.rsplit(".", 1)
        value = getattr(net[module], kind).detach().cpu().numpy()
        after[name] = value.T if module.startswith("dense") and kind == "weight" else value
    worst = _worst_rel_diff(after, reference)
    result["worst_param_rel_diff"] = worst
    net.load_state_dict(saved)
    # Matmuls in float32 either way (PyTorch's default); cuDNN's convolutions
    # in float32, then with TF32 as PyTorch's defaults allow.
    torch.backends.cuda.matmul.allow_tf32 = False
    for label, conv_tf32 in (("fp32", False), ("defaults", True)):
        torch.backends.cudnn.allow_tf32 = conv_tf32
        result[f"train_step_ms_{label}"] = _ms(train, steps, sync)
        result[f"predict_ms_{label}"] = _ms(predict, steps, sync)
    result["card"] = torch.cuda.get_device_name() if device.type == "cuda" else device.type
    return result


def run(out: Path, steps: int) -> int:
    meta = json.loads((out / "meta.json").read_text())
    names = meta["names"]
    inputs = dict(np.load(out / "inputs.npz"))
    reference = dict(np.load(out / "reference.npz"))
    report = {"cuda_target": meta["cuda_target"], "batch": BATCH,
              "iree": {form: _iree(out, form, names, inputs, reference, steps)
                       for form in meta["forms"]}}
    try:
        report["xla"] = _xla(out, meta, inputs, reference, steps)
    except (ImportError, RuntimeError) as e:   # no jax, or no CUDA PJRT plugin
        report["xla"] = f"skipped: {str(e).splitlines()[0]}"
    try:
        report["pytorch"] = _torch(names, inputs, reference, steps)
    except ImportError as e:
        report["pytorch"] = f"skipped: {e}"
    print(json.dumps(report, indent=1))
    torch_, ok = report["pytorch"], True
    if isinstance(torch_, dict):
        print(f"{torch_['card']}, batch {BATCH}, float32:")
    lowerers = {f"IREE with the {form} forms": r for form, r in report["iree"].items()}
    if isinstance(report["xla"], dict):
        lowerers["XLA (PJRT CUDA)"] = report["xla"]
    for form, iree in lowerers.items():
        for what in ("train_step", "predict"):
            ours = iree[f"{what}_ms"]
            line = f"  {what}, {form}: {ours:.3f} ms"
            if isinstance(torch_, dict):
                line += "; PyTorch " + ", ".join(
                    f"{torch_[f'{what}_ms_{label}']:.3f} ms ({label}, ours "
                    f"{torch_[f'{what}_ms_{label}'] / ours:.2f}x its speed)"
                    for label in ("fp32", "defaults"))
            print(line)
        same = iree["worst_param_rel_diff"] < 1e-3 and abs(iree["loss"] - iree["cpu_loss"]) < 1e-4
        ok = ok and same
        print(f"  CUDA step ({form}) vs CPU step: loss {iree['loss']:.6f} vs "
              f"{iree['cpu_loss']:.6f}, worst parameter difference "
              f"{iree['worst_param_rel_diff']:.2e} of its largest value: "
              f"{'same' if same else 'DIFFERENT'}")
    if isinstance(torch_, dict):
        print(f"  PyTorch step vs CPU step: worst parameter difference "
              f"{torch_['worst_param_rel_diff']:.2e} of its largest value")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir", type=Path)
    p.add_argument("--cuda-target", default="sm_80")
    r = sub.add_parser("run")
    r.add_argument("dir", type=Path)
    r.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.dir, args.cuda_target)
        return 0
    return run(args.dir, args.steps)


if __name__ == "__main__":
    sys.exit(main())
