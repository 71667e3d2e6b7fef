"""Milliseconds per train step of the book's CNN on the CPU: lean-mlir (IREE) vs PyTorch.

Both run the same network (3,489,130 parameters), batch 128, plain SGD, in
one process on the same random batch, with the same thread count; each figure
is the best of ``--repeats`` timings of ``--steps`` steps. PyTorch is the
peer: ``pip install torch==2.13.0`` (skipped when it is not installed).

    .venv/bin/python benchmarks/train_step_cpu.py
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import lean_mlir as lm
from lean_mlir.compiler import compile_spec


def time_steps(step, steps: int, repeats: int) -> float:
    step()   # warm up (compiles, allocates)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - start) / steps)
    return 1000 * best


def bench_lean_mlir(spec, x, y, steps, repeats):
    """The compiled train step alone, and through lm.train_step (with Python overhead)."""
    cfg = lm.TrainConfig()
    params = spec.init_params(0)
    module = compile_spec(spec, "train_step", len(x), "llvm-cpu", cfg.lowering_options())
    values = [params[p.name] for p in spec.params]
    lr, step_no = np.float32(0.1), np.int32(0)
    raw = time_steps(lambda: module.call("train_step", *values, x, y, lr, step_no), steps,
                     repeats)
    state = {}

    def api_step():
        nonlocal params, state
        params, state, _ = lm.train_step(spec, params, state, x, y, cfg, lr=0.1, step=0)

    return raw, time_steps(api_step, steps, repeats)


def bench_torch(x, y, steps, repeats, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(6272, 512), nn.ReLU(),
        nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()

    return time_steps(step, steps, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size).astype(np.int32)
    spec = lm.mnist_cnn()
    raw, api = bench_lean_mlir(spec, x, y, args.steps, args.repeats)
    print(f"CPU threads: {threads}; batch {args.batch_size}; best of {args.repeats} x "
          f"{args.steps} steps")
    print(f"lean-mlir (IREE llvm-cpu), compiled step:   {raw:7.1f} ms/step")
    print(f"lean-mlir, lm.train_step (Python API):       {api:7.1f} ms/step")
    try:
        peer = bench_torch(x, y, args.steps, args.repeats, threads)
    except ImportError:
        print("PyTorch not installed (pip install torch==2.13.0): no peer figure")
        return
    print(f"PyTorch {__import__('torch').__version__} CPU, eager:              {peer:7.1f} ms/step")
    print(f"ratio lean-mlir / PyTorch (compiled step):   {raw / peer:7.2f}x")


if __name__ == "__main__":
    main()
