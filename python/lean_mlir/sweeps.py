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
  ``max_calls=1``). A run stopped by the trainer's memory limit (a guard that
  nothing in the built-in networks trips: see
  :class:`lean_mlir.training.MemoryLimitReached`) is sent again at once and
  resumes from the checkpoint it saved, in a process that starts small; one
  that stops again without a step of progress is reported failed.
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
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from lean_mlir._files import atomic_write
from lean_mlir.data import load, prepare
from lean_mlir.recipes import get, get_arm
from lean_mlir.rundir import CHECKPOINT, CONFIG, LOG_EVERY, METRICS
from lean_mlir.training import MemoryLimitReached, TrainingInterrupted, run_training
from lean_mlir.zoo import resolve

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
    run_dir = Path(run_dir)
    result_path = run_dir / RESULT
    if result_path.exists():
        previous = json.loads(result_path.read_text())
        if previous.get("status") in ("finished", "failed"):
            return previous
    _limit_threads(threads)
    arm = get_arm(arm_name)
    base = {"arm": arm_name, "seed": seed, "model": arm.model, "recipe": arm.recipe,
            "run_dir": str(run_dir), "nodes": _record_attempt(run_dir)}
    resumed = (run_dir / CHECKPOINT).exists()
    if not resumed:
        # An attempt that died before its first checkpoint left only a record of
        # steps nobody can resume from: start the run over.
        for name in (METRICS, CONFIG):
            (run_dir / name).unlink(missing_ok=True)
    try:
        overrides = {"seed": get(arm.recipe).seed + seed}
        if epochs is not None:
            overrides["epochs"] = epochs
        cfg = get(arm.recipe, **overrides)
        data = load(dataset, prepare(dataset, Path(data_dir) if data_dir else None, quiet=True))
        out = run_training(resolve(arm.model), cfg, data, run_dir=run_dir, resume=resumed,
                           train_limit=train_limit, checkpoint_every=checkpoint_every,
                           log_every=LOG_EVERY, should_stop=should_stop,
                           run_info={"model": arm.model, "recipe": arm.recipe, "arm": arm_name,
                                     "dataset": dataset, "data_dir": data_dir,
                                     "log_every": LOG_EVERY,
                                     "checkpoint_every": checkpoint_every, "sweep_seed": seed})
    except MemoryLimitReached as e:
        return {**base, "status": "memory-limit", "step": e.step, "resumed": resumed,
                "error": str(e)}
    except TrainingInterrupted as e:
        return {**base, "status": "interrupted", "step": e.step, "resumed": resumed}
    except (FloatingPointError, ValueError, OSError) as e:
        result = {**base, "status": "failed", "error": f"{type(e).__name__}: {e}",
                  "resumed": resumed}
    else:
        result = {**base, "status": "finished", "resumed": resumed, **_accuracies(out)}
    atomic_write(result_path, (json.dumps(result, indent=1) + "\n").encode())
    return result


def _record_attempt(run_dir: Path) -> list[str]:
    """Appends this attempt (node, process, time) to ``nodes.jsonl``; returns every
    attempt's node so far."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "nodes.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps({"node": _node(), "pid": os.getpid(), "time": time.time()}) + "\n")
    return [json.loads(line)["node"] for line in path.read_text().splitlines()]


def _accuracies(out) -> dict:
    """A finished run's final and best test accuracy, seconds per epoch and epochs."""
    history, final = out.history, out.test_correct / out.test_count
    return {"final_accuracy": final,
            "best_accuracy": max((h["test_accuracy"] for h in history), default=final),
            "seconds_per_epoch": statistics.mean(h["seconds"] for h in history)
            if history else None,
            "epochs": len(history)}


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


@dataclass(frozen=True)
class _Plan:
    """What a sweep runs: arms x seeds, how long, on which data, into which directory."""

    arms: tuple[str, ...]
    seeds: int
    epochs: int | None
    train_limit: int | None
    out: Path
    cpus_per_run: int
    dataset: str
    data_dir: str | None
    max_retries: int
    checkpoint_every: int

    def runs(self):
        """(arm, seed, run directory) of every run."""
        for arm in self.arms:
            for seed in range(self.seeds):
                yield arm, seed, self.out / arm / f"seed{seed}"

    def check_directory(self) -> None:
        """Writes ``sweep.json``; ValueError if ``out`` holds another sweep."""
        plan = {"arms": list(self.arms), "seeds": self.seeds, "epochs": self.epochs,
                "train_limit": self.train_limit, "dataset": self.dataset}
        path = self.out / "sweep.json"
        if path.exists() and json.loads(path.read_text()).get("arms") is not None:
            previous = json.loads(path.read_text())
            if {k: previous.get(k) for k in plan} != plan:
                raise ValueError(f"{path}: this directory holds another sweep ({previous}); "
                                 "use another --out")
        atomic_write(path, (json.dumps(plan, indent=1) + "\n").encode())


def sweep(arms: list[str], seeds: int = 1, *, epochs: int | None = None,
          train_limit: int | None = None, address: str | None = None,
          out: Path | str | None = None, cpus_per_run: int = 1, dataset: str | None = None,
          data_dir: Path | str | None = None, max_retries: int = 3, checkpoint_every: int = 50,
          log: Callable[[str], None] = print) -> list[dict]:
    """Runs every (arm, seed) as a Ray task; returns one result dict per run.

    ``dataset=None`` is the arms' own (ValueError when they differ). ``address=None`` starts a local Ray here and stops it at the end; otherwise
    ``"auto"`` or ``"HOST:PORT"`` of an existing cluster. Without Ray installed,
    raises ModuleNotFoundError saying how to install it.
    """
    ray = _import_ray()
    own = {name: get_arm(name).dataset for name in arms}   # unknown arms fail here
    if dataset is None:
        if len(set(own.values())) > 1:
            raise ValueError("the arms train on different data sets ("
                             + ", ".join(f"{a}: {d}" for a, d in own.items())
                             + "); sweep them apart, or name one with --dataset")
        dataset = next(iter(own.values()), "mnist")
    if seeds < 1 or cpus_per_run < 1:
        raise ValueError("--seeds and --cpus-per-run must be >= 1")
    out = Path(out or Path("sweeps") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    plan = _Plan(tuple(arms), seeds, epochs, train_limit, out, cpus_per_run, dataset,
                 None, max_retries, checkpoint_every)
    plan.check_directory()
    # Here, the data once before any task needs it; on a cluster each node fills its
    # own cache (or reads data_dir, which every node must see).
    if address is None:
        data_dir = prepare(dataset, Path(data_dir) if data_dir else None, quiet=True)
    plan = replace(plan, data_dir=str(data_dir) if data_dir else None)
    started_here = address is None
    if started_here:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        return _drive(ray, plan, log)
    finally:
        if started_here:
            ray.shutdown()


def _import_ray():
    """Ray, or ModuleNotFoundError naming the command that installs the ``sweep`` extra."""
    try:
        import ray
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            f"lean-mlir sweep needs Ray, which is not installed; install the sweep extra: "
            f"pip install '{_ray_requirement()}'", name="ray") from e
    return ray


def _ray_requirement() -> str:
    """The Ray requirement of the ``sweep`` extra, as the package metadata gives it."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        for requirement in requires("lean-mlir") or []:
            spec, _, marker = requirement.partition(";")
            if spec.strip().startswith("ray") and "sweep" in marker:
                return spec.strip().replace(" ", "")
    except PackageNotFoundError:
        pass
    return "ray"


def _stop_flag(ray):
    """An actor on the driver's node that running tasks ask whether to stop (a stop
    flag must not die with a worker node)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0)
    class Control:
        def __init__(self):
            self.stopping = False

        def stop(self):
            self.stopping = True

        def stopped(self):
            return self.stopping

    here = ray.get_runtime_context().get_node_id()
    return Control.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)).remote()


def _remote_run(ray, plan: _Plan, control):
    """:func:`run_one` as a Ray task that polls ``control`` for a stop request."""

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

        return run_one(arm, seed, run_dir, plan.epochs, plan.train_limit, plan.dataset,
                       plan.data_dir, plan.checkpoint_every, plan.cpus_per_run, should_stop)

    # max_calls=1: each attempt in a fresh worker process, so nothing one run's
    # modules left in the runtime follows the next.
    return ray.remote(num_cpus=plan.cpus_per_run, max_retries=plan.max_retries,
                      max_calls=1)(task)


def _drive(ray, plan: _Plan, log: Callable[[str], None]) -> list[dict]:
    """Sends every run, collects results as they come, writes the tables; on Ctrl-C asks
    the runs to checkpoint and stop."""
    control = _stop_flag(ray)
    remote = _remote_run(ray, plan, control)
    pending = {remote.remote(arm, seed, str(run_dir)): (arm, seed, run_dir)
               for arm, seed, run_dir in plan.runs()}
    nodes = len(ray.nodes())
    log(f"sweep: {len(pending)} runs ({', '.join(plan.arms)} x {plan.seeds} seeds) on Ray "
        f"({ray.cluster_resources().get('CPU', 0):.0f} CPUs, "
        f"{nodes} node{'s' if nodes != 1 else ''}), into {plan.out}")
    results, memory_stops = [], {}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            arm, seed, run_dir = pending.pop(done[0])
            result = _result_of(ray, done[0], arm, seed, run_dir)
            if result.get("status") == "memory-limit":
                if memory_stops.get((arm, seed), -1) < result["step"]:
                    memory_stops[(arm, seed)] = result["step"]
                    log(f"  {arm} seed {seed}: memory limit after step {result['step']}; "
                        "resuming in a fresh process")
                    pending[remote.remote(arm, seed, str(run_dir))] = (arm, seed, run_dir)
                    continue
                result = {**result, "status": "failed",
                          "error": f"stopped by the memory limit after step {result['step']} "
                                   f"twice, with no step in between: {result['error']}"}
            results.append(result)
            log(_describe(result))
            _write_results(plan.out, results)
    except KeyboardInterrupt:
        log("sweep: interrupted; asking the running runs to checkpoint and stop...")
        ray.get(control.stop.remote())
        ray.wait(list(pending), num_returns=len(pending), timeout=120)
        log(f"sweep: stopped; run the same command again to resume ({plan.out})")
        raise
    log(format_table(_write_results(plan.out, results)))
    log(f"wrote {plan.out / 'results.csv'} and {plan.out / 'results.json'}; "
        f"plot: lean-mlir plot {plan.out} -o {plan.out / 'curves.png'}")
    return results


def _result_of(ray, ref, arm: str, seed: int, run_dir: Path) -> dict:
    """The task's result, or a failed result when the task died more often than Ray
    retries it."""
    try:
        return ray.get(ref)
    except (ray.exceptions.RayError, OSError) as e:
        return {"arm": arm, "seed": seed, "model": get_arm(arm).model,
                "recipe": get_arm(arm).recipe, "run_dir": str(run_dir), "status": "failed",
                "error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}


def _describe(r: dict) -> str:
    where = f" on {', '.join(dict.fromkeys(r.get('nodes', [])))}" if r.get("nodes") else ""
    if r["status"] == "finished":
        resumed = ", resumed from its checkpoint" if r.get("resumed") else ""
        return (f"  {r['arm']} seed {r['seed']}: {100 * r['final_accuracy']:.2f}% "
                f"(best {100 * r['best_accuracy']:.2f}%){where}{resumed}")
    return f"  {r['arm']} seed {r['seed']}: {r['status']}: {r.get('error', '')}{where}"

