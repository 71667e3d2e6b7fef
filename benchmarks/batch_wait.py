"""What running the calling thread as SCHED_BATCH buys: a train step called both ways.

While a CPU module runs, the thread that called it waits for IREE's workers;
lean-mlir makes that thread SCHED_BATCH for the call, so that, woken at the
end, it does not preempt the worker that woke it (``compiler._BatchScheduled``
says why that matters). This calls the same compiled step, on the same device
buffers, with and without that, interleaved in rounds, and prints the median,
mean and 90th percentile of the call's time and the CPU the calling thread used.

    .venv/bin/python benchmarks/batch_wait.py                       # mlp and cnn
    .venv/bin/python benchmarks/batch_wait.py --models mlp --calls 200 --rounds 20
"""

from __future__ import annotations

import argparse
import time

import lean_mlir as lm
import numpy as np
from lean_mlir.compiler import compile_spec
from lean_mlir.zoo import MODELS


def step_arguments(spec, module, batch_size: int) -> list:
    """The train step's arguments (initial parameters, a random batch), placed by their
    roles, as device arrays."""
    rng = np.random.default_rng(0)
    values = module.signature.arguments(
        params=spec.init_params(seed=0),
        images=rng.random((batch_size, *spec.input_shape), dtype=np.float32),
        labels=rng.integers(0, spec.output_shape[0], batch_size).astype(np.int32),
        learning_rate=np.float32(0.0),    # learning rate 0: every call does the same work
        step=np.int32(0))
    return module.to_device(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--calls", type=int, default=0,
                        help="calls per round and form (default: about 0.5 s of them)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print("model  calling thread   median ms  mean ms  90th pct ms  its CPU ms/call")
    for model in args.models.split(","):
        spec = MODELS[model]()
        cfg = lm.TrainConfig(batch_size=args.batch_size)
        module = compile_spec(spec, "train_step", args.batch_size,
                              options=cfg.lowering_options())
        forms = {"SCHED_BATCH": module.function("train_step"),
                 "as it was": module._module()["train_step"]}
        device = step_arguments(spec, module, args.batch_size)
        for call in forms.values():
            call(*device)
        start = time.perf_counter()
        forms["SCHED_BATCH"](*device)
        calls = args.calls or max(3, int(0.5 / (time.perf_counter() - start)))
        times = {name: [] for name in forms}
        cpu = dict.fromkeys(forms, 0.0)
        for _ in range(args.rounds):
            for name, call in forms.items():
                thread_start = time.thread_time()
                for _ in range(calls):
                    start = time.perf_counter()
                    call(*device)
                    times[name].append(time.perf_counter() - start)
                cpu[name] += time.thread_time() - thread_start
        for name, values in times.items():
            ms = np.array(values) * 1e3
            print(f"{model:6s} {name:15s} {np.median(ms):10.2f} {ms.mean():8.2f} "
                  f"{np.percentile(ms, 90):12.2f} "
                  f"{cpu[name] / len(values) * 1e3:16.2f}")


if __name__ == "__main__":
    main()
