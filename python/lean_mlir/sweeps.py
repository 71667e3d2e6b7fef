"""Ablation sweeps on Ray: every (arm, seed) one task, on this machine or a cluster.

    lean-mlir sweep mlp-sgd mlp-adam --seeds 3                  # a local Ray, started and stopped here
    lean-mlir sweep cnn-nobn-sgd --seeds 8 --address auto       # an existing cluster
    results = lm.sweep(["mlp-sgd", "mlp-adam"], seeds=3, out="sweeps/mlp")

Each run trains into its own run directory, ``OUT/<arm>/seed<k>/`` (config,
metrics, checkpoint: it can be plotted, resumed and exported on its own) and
ends with ``result.json``. A run's seed is the recipe's seed plus ``k``.

* Nothing compiled twice: compiled modules are cached on each node's disk
  (:func:`lean_mlir.compiler.compile_stablehlo`), so the runs of one arm on a
  node compile its train step once.
* Faults: a task whose worker or node dies is retried by Ray
  (``max_retries``) and resumes from the run's last checkpoint (runs
  checkpoint every ``checkpoint_every`` steps and at each epoch's end); on a
  cluster of several machines ``OUT`` must be a directory every node sees
  (a shared file system). A run that fails for its own reasons (a diverging
  loss, a bad configuration) is reported as failed with its error and the
  sweep goes on.
* Every attempt of a run trains in a fresh worker process (Ray's
  ``max_calls=1``). A run stopped by the trainer's memory limit (IREE 3.13's
  CPU runtime keeps memory from every call of the batch-norm train steps,
  see :class:`lean_mlir.trainer.MemoryLimitReached`) is sent again at once
  and resumes from the checkpoint it saved, in a process that starts small;
  one that stops again without a step of progress is reported failed.
* Ctrl-C asks the running runs to checkpoint and stop; running the same
  command again skips finished runs and resumes the others (a run recorded
  as failed stays so: delete its ``result.json`` to try it again).

At the end (and as runs finish) it prints one row per arm: final and best
test accuracy as mean and standard deviation over seeds, seconds per epoch,
runs finished / failed; ``results.csv`` and ``results.json`` hold the same.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lean_mlir.checkpoint import atomic_write

__all__ = ["run_one", "summarize", "sweep"]

RESULT = "result.json"


def run_one(arm_name: str, seed: int, run_dir: str, epochs: int | None = None,
            train_limit: int | None = None, dataset: str = "mnist", data_dir: str | None = None,
            checkpoint_every: int = 50, threads: int | None = None,
            should_stop: Callable[[], bool] | None = None) -> dict:
    """Trains (or resumes, or skips when finished) one run of a sweep; returns its result.

    Runs in a Ray task, or anywhere. Failures of the run itself are returned with
    ``status="failed"``; a stop request returns ``status="interrupted"``, the
    memory limit ``status="memory-limit"`` (the run checkpointed: calling again
    resumes it).
    """
    from lean_mlir.ablation import get_arm
    from lean_mlir.data import load, prepare
    from lean_mlir.models import MODELS
    from lean_mlir.recipes import get
    from lean_mlir.trainer import (
        CHECKPOINT,
        CONFIG,
        METRICS,
        MemoryLimitReached,
        TrainingInterrupted,
        run_training,
    )

    run_dir = Path(run_dir)
    result_path = run_dir / RESULT
    if result_path.exists():
        previous = json.loads(result_path.read_text())
        if previous.get("status") in ("finished", "failed"):
            return previous
    _limit_threads(threads)
    node = _node()
    run_dir.mkdir(parents=True, exist_ok=True)
    nodes_path = run_dir / "nodes.jsonl"   # every attempt, where it ran
    with open(nodes_path, "a") as f:
        f.write(json.dumps({"node": node, "pid": os.getpid(), "time": time.time()}) + "\n")
    nodes = [json.loads(line)["node"] for line in nodes_path.read_text().splitlines()]
    arm = get_arm(arm_name)
    base = {"arm": arm_name, "seed": seed, "model": arm.model, "recipe": arm.recipe,
            "run_dir": str(run_dir), "nodes": nodes}
    resumed = (run_dir / CHECKPOINT).exists()
    if not resumed:
        # An attempt that died before its first checkpoint left only a record of
        # steps nobody can resume from: start the run over.
        for name in (METRICS, CONFIG):
            (run_dir / name).unlink(missing_ok=True)
    try:
        spec = MODELS[arm.model]()
        overrides = {"seed": get(arm.recipe).seed + seed}
        if epochs is not None:
            overrides["epochs"] = epochs
        cfg = get(arm.recipe, **overrides)
        data = load(dataset, prepare(dataset, Path(data_dir) if data_dir else None, quiet=True))
        out = run_training(spec, cfg, data, run_dir=run_dir, resume=resumed,
                           train_limit=train_limit, checkpoint_every=checkpoint_every,
                           log_every=50, should_stop=should_stop,
                           run_info={"model": arm.model, "recipe": arm.recipe, "arm": arm_name,
                                     "dataset": dataset, "data_dir": data_dir,
                                     "log_every": 50, "checkpoint_every": checkpoint_every,
                                     "sweep_seed": seed})
    except MemoryLimitReached as e:
        return {**base, "status": "memory-limit", "step": e.step, "resumed": resumed,
                "error": str(e)}
    except TrainingInterrupted as e:
        return {**base, "status": "interrupted", "step": e.step, "resumed": resumed}
    except (FloatingPointError, ValueError, OSError) as e:
        result = {**base, "status": "failed", "error": f"{type(e).__name__}: {e}",
                  "resumed": resumed}
        atomic_write(result_path, (json.dumps(result, indent=1) + "\n").encode())
        return result
    history = out.history
    result = {**base, "status": "finished", "resumed": resumed,
              "final_accuracy": out.test_correct / out.test_count,
              "best_accuracy": max((h["test_accuracy"] for h in history),
                                   default=out.test_correct / out.test_count),
              "seconds_per_epoch": statistics.mean(h["seconds"] for h in history)
              if history else None,
              "epochs": len(history)}
    atomic_write(result_path, (json.dumps(result, indent=1) + "\n").encode())
    return result


_THREADS_SET = False


def _limit_threads(threads: int | None) -> None:
    """IREE's CPU workers for this process: one per CPU the task was given."""
    global _THREADS_SET
    if threads and not _THREADS_SET:
        import iree.runtime as rt

        rt.flags.parse_flags(f"--task_topology_group_count={threads}")
        _THREADS_SET = True


def _node() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.util.get_node_ip_address()
    except ImportError:
        pass
    return socket.gethostname()


def summarize(results: list[dict]) -> list[dict]:
    """One row per arm: accuracy mean and standard deviation over seeds, runs finished/failed."""
    rows = []
    for arm in dict.fromkeys(r["arm"] for r in results):
        runs = [r for r in results if r["arm"] == arm]
        done = [r for r in runs if r["status"] == "finished"]

        def stats(key, done=done):
            values = [100 * r[key] for r in done]
            if not values:
                return None, None
            return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0

        final, final_sd = stats("final_accuracy")
        best, best_sd = stats("best_accuracy")
        epoch_s = [r["seconds_per_epoch"] for r in done if r.get("seconds_per_epoch")]
        rows.append({"arm": arm, "model": runs[0]["model"], "recipe": runs[0]["recipe"],
                     "final_accuracy_mean": final, "final_accuracy_std": final_sd,
                     "best_accuracy_mean": best, "best_accuracy_std": best_sd,
                     "seconds_per_epoch": statistics.mean(epoch_s) if epoch_s else None,
                     "finished": len(done),
                     "failed": sum(r["status"] == "failed" for r in runs),
                     "runs": len(runs)})
    return rows


def format_table(rows: list[dict]) -> str:
    def pm(mean, sd):
        return "-" if mean is None else f"{mean:6.2f} +- {sd:4.2f}"

    lines = [(f"{'arm':18} {'final acc %':>15} {'best acc %':>15} {'s/epoch':>8} "
              f"{'finished':>8} {'failed':>6}")]
    for r in rows:
        epoch = "-" if r["seconds_per_epoch"] is None else f"{r['seconds_per_epoch']:8.1f}"
        lines.append(f"{r['arm']:18} {pm(r['final_accuracy_mean'], r['final_accuracy_std']):>15}"
                     f" {pm(r['best_accuracy_mean'], r['best_accuracy_std']):>15} {epoch:>8} "
                     f"{r['finished']:>4}/{r['runs']:<3} {r['failed']:>6}")
    return "\n".join(lines)


def _write_results(out: Path, results: list[dict]) -> list[dict]:
    rows = summarize(results)
    atomic_write(out / "results.json", (json.dumps({"arms": rows, "runs": results},
                                                   indent=1) + "\n").encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["arm"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write(out / "results.csv", buf.getvalue().encode())
    return rows


def sweep(arms: list[str], seeds: int = 1, *, epochs: int | None = None,
          train_limit: int | None = None, address: str | None = None,
          out: Path | str | None = None, cpus_per_run: int = 1, dataset: str = "mnist",
          data_dir: Path | str | None = None, max_retries: int = 3, checkpoint_every: int = 50,
          log: Callable[[str], None] = print) -> list[dict]:
    """Runs every (arm, seed) as a Ray task; returns one result dict per run.

    ``address=None`` starts a local Ray here and stops it at the end; otherwise
    ``"auto"`` or ``"HOST:PORT"`` of an existing cluster.
    """
    import ray

    from lean_mlir.ablation import get_arm
    from lean_mlir.data import prepare

    for name in arms:
        get_arm(name)   # unknown arms fail before anything starts
    if seeds < 1 or cpus_per_run < 1:
        raise ValueError("--seeds and --cpus-per-run must be >= 1")
    out = Path(out or Path("sweeps") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    plan = {"arms": list(arms), "seeds": seeds, "epochs": epochs, "train_limit": train_limit,
            "dataset": dataset}
    plan_path = out / "sweep.json"
    if plan_path.exists() and json.loads(plan_path.read_text()).get("arms") is not None:
        previous = json.loads(plan_path.read_text())
        if {k: previous.get(k) for k in plan} != plan:
            raise ValueError(f"{plan_path}: this directory holds another sweep ({previous}); "
                             "use another --out")
    atomic_write(plan_path, (json.dumps(plan, indent=1) + "\n").encode())
    # Here, the data once before any task needs it; on a cluster each node fills its
    # own cache (or reads data_dir, which every node must see).
    if address is None:
        data_dir = prepare(dataset, Path(data_dir) if data_dir else None, quiet=True)
    data_dir = str(data_dir) if data_dir else None

    started_here = address is None
    if started_here:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        return _drive(ray, arms, seeds, epochs, train_limit, out, cpus_per_run, dataset,
                      data_dir, max_retries, checkpoint_every, log)
    finally:
        if started_here:
            ray.shutdown()


def _drive(ray, arms, seeds, epochs, train_limit, out, cpus_per_run, dataset, data_dir,
           max_retries, checkpoint_every, log) -> list[dict]:
    from lean_mlir.ablation import get_arm

    @ray.remote(num_cpus=0)
    class Control:
        def __init__(self):
            self.stopping = False

        def stop(self):
            self.stopping = True

        def stopped(self):
            return self.stopping

    # On the driver's node: a stop flag must not die with a worker node.
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    control = Control.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)).remote()

    def task(arm, seed, run_dir):
        last = [0.0, False]

        def should_stop():   # asks the driver at most twice a second
            now = time.monotonic()
            if now - last[0] > 0.5:
                last[0] = now
                try:
                    last[1] = ray.get(control.stopped.remote(), timeout=10)
                except ray.exceptions.RayError:
                    pass   # the driver is away: keep training, the checkpoints keep the work
            return last[1]

        return run_one(arm, seed, run_dir, epochs, train_limit, dataset, data_dir,
                       checkpoint_every, cpus_per_run, should_stop)

    # max_calls=1: each attempt in a fresh worker process, so nothing one run's
    # modules left in the runtime (see MemoryLimitReached) follows the next.
    remote = ray.remote(num_cpus=cpus_per_run, max_retries=max_retries, max_calls=1)(task)
    pending, memory_stops = {}, {}
    for arm in arms:
        for seed in range(seeds):
            run_dir = out / arm / f"seed{seed}"
            pending[remote.remote(arm, seed, str(run_dir))] = (arm, seed, run_dir)
    log(f"sweep: {len(pending)} runs ({', '.join(arms)} x {seeds} seeds) on Ray "
        f"({ray.cluster_resources().get('CPU', 0):.0f} CPUs, "
        f"{len(ray.nodes())} node{'s' if len(ray.nodes()) != 1 else ''}), into {out}")
    results = []
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            arm, seed, run_dir = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except (ray.exceptions.RayError, OSError) as e:
                # The task died more often than Ray retries it.
                result = {"arm": arm, "seed": seed, "model": get_arm(arm).model,
                          "recipe": get_arm(arm).recipe, "run_dir": str(run_dir),
                          "status": "failed",
                          "error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
            if result.get("status") == "memory-limit":
                key = (arm, seed)
                if memory_stops.get(key, -1) < result["step"]:
                    memory_stops[key] = result["step"]
                    log(f"  {arm} seed {seed}: memory limit after step {result['step']}; "
                        "resuming in a fresh process")
                    pending[remote.remote(arm, seed, str(run_dir))] = (arm, seed, run_dir)
                    continue
                result = {**result, "status": "failed",
                          "error": f"stopped by the memory limit after step {result['step']} "
                                   f"twice, with no step in between: {result['error']}"}
            results.append(result)
            log(_describe(result))
            _write_results(out, results)
    except KeyboardInterrupt:
        log("sweep: interrupted; asking the running runs to checkpoint and stop...")
        ray.get(control.stop.remote())
        ray.wait(list(pending), num_returns=len(pending), timeout=120)
        log(f"sweep: stopped; run the same command again to resume ({out})")
        raise
    rows = _write_results(out, results)
    log(format_table(rows))
    log(f"wrote {out / 'results.csv'} and {out / 'results.json'}; "
        f"plot: lean-mlir plot {out} -o {out / 'curves.png'}")
    return results


def _describe(r: dict) -> str:
    where = f" on {', '.join(dict.fromkeys(r.get('nodes', [])))}" if r.get("nodes") else ""
    if r["status"] == "finished":
        resumed = ", resumed from its checkpoint" if r.get("resumed") else ""
        return (f"  {r['arm']} seed {r['seed']}: {100 * r['final_accuracy']:.2f}% "
                f"(best {100 * r['best_accuracy']:.2f}%){where}{resumed}")
    return f"  {r['arm']} seed {r['seed']}: {r['status']}: {r.get('error', '')}{where}"

