"""Sweeps on real Ray, with every byte of its traffic inside network namespaces made here.

* a local Ray in a namespace of its own (`unshare -n`, loopback only);
* a two-node cluster: a head and a worker in two namespaces joined by a veth pair
  (`ip netns add`), the worker killed mid-run.

Each test leaves no Ray process and no namespace behind. They need root (for the
namespaces), as CI has.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from lean_mlir.sweeps import run_one
from safetensors.numpy import load_file

BIN = Path(sys.executable).parent
LEAN_MLIR, RAY = str(BIN / "lean-mlir"), str(BIN / "ray")
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("unshare"),
    reason="network namespaces need root and iproute2 (CI runs as root)")


def ray_processes() -> list[str]:
    out = subprocess.run(["pgrep", "-f", "raylet|gcs_server|ray::"], capture_output=True,
                         text=True, check=False).stdout.split()
    return [p for p in out if p != str(os.getpid())]


def assert_no_ray_left(before: list[str], timeout: float = 60.0) -> None:
    """Every Ray process the test started is gone (they may take some seconds to exit)."""
    deadline = time.monotonic() + timeout
    while (left := sorted(set(ray_processes()) - set(before))) and time.monotonic() < deadline:
        time.sleep(0.5)
    commands = [subprocess.run(["ps", "-o", "args=", "-p", pid], capture_output=True, text=True,
                               check=False).stdout.strip() for pid in left]
    assert not left, f"Ray processes left behind: {list(zip(left, commands))}"


def same_checkpoint(a: Path, b: Path) -> bool:
    ta, tb = load_file(a / "checkpoint.safetensors"), load_file(b / "checkpoint.safetensors")
    return sorted(ta) == sorted(tb) and all(np.array_equal(ta[k], tb[k]) for k in ta)


def test_local_sweep_matches_runs_trained_one_by_one(tmp_path):
    out = tmp_path / "sweep"
    before = ray_processes()
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', LEAN_MLIR, "sweep",
         "mlp-sgd", "mlp-adam", "--seeds", "2", "--epochs", "1", "--train-limit", "2560",
         "--out", str(out)], capture_output=True, text=True, timeout=300, env=ENV, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sweep: 4 runs" in proc.stdout and "127.0.0.1" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert [(r["arm"], r["finished"], r["failed"]) for r in results["arms"]] == [
        ("mlp-sgd", 2, 0), ("mlp-adam", 2, 0)]
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("arm,model,recipe,final_accuracy_mean") and len(csv) == 3
    # The same runs, one by one, without Ray: the same accuracies, the same parameters.
    for run in results["runs"]:
        alone = run_one(run["arm"], run["seed"], str(tmp_path / "alone" / run["arm"] /
                                                     str(run["seed"])),
                        epochs=1, train_limit=2560)
        assert alone["final_accuracy"] == run["final_accuracy"], run
        assert same_checkpoint(Path(alone["run_dir"]), Path(run["run_dir"]))
    # Seeds differ, so runs of one arm differ.
    sgd = [r["final_accuracy"] for r in results["runs"] if r["arm"] == "mlp-sgd"]
    assert sgd[0] != sgd[1]
    # A second time: everything is finished, nothing runs again.
    again = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', LEAN_MLIR, "sweep",
         "mlp-sgd", "mlp-adam", "--seeds", "2", "--epochs", "1", "--train-limit", "2560",
         "--out", str(out)], capture_output=True, text=True, timeout=300, env=ENV, check=False)
    assert again.returncode == 0 and "resumed" not in again.stdout
    for run in results["runs"]:
        lines = (Path(run["run_dir"]) / "nodes.jsonl").read_text().splitlines()
        assert len(lines) == 1   # trained once
    assert_no_ray_left(before)


def test_a_run_stopped_by_the_memory_limit_goes_on_in_fresh_processes(tmp_path):
    """With a limit every process is over, each attempt trains 10 steps (the trainer
    checks every 10), checkpoints and stops; the sweep sends the run again, in a
    new worker process each time, until it finishes: the same run as one left alone."""
    out = tmp_path / "sweep"
    before = ray_processes()
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', LEAN_MLIR, "sweep",
         "mlp-sgd", "--seeds", "1", "--epochs", "1", "--train-limit", "2560", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**ENV, "LEAN_MLIR_MEMORY_LIMIT_MB": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [line.split(": ", 1)[1] for line in proc.stdout.splitlines()
            if "memory limit" in line] == [
        "memory limit after step 10; resuming in a fresh process",
        "memory limit after step 20; resuming in a fresh process"]
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert run["status"] == "finished" and run["resumed"]
    attempts = [json.loads(line) for line in
                (Path(run["run_dir"]) / "nodes.jsonl").read_text().splitlines()]
    assert len(attempts) == 3 and len({a["pid"] for a in attempts}) == 3
    alone = run_one("mlp-sgd", 0, str(tmp_path / "alone"), epochs=1, train_limit=2560)
    assert alone["final_accuracy"] == run["final_accuracy"]
    assert same_checkpoint(Path(alone["run_dir"]), Path(run["run_dir"]))
    assert_no_ray_left(before)


class TwoNodes:
    """A Ray head and a worker, each in a network namespace, joined by a veth pair."""

    def __init__(self, tmp: Path):
        tag = uuid.uuid4().hex[:6]
        self.head_ns, self.worker_ns = f"lmh{tag}", f"lmw{tag}"
        self.head_ip, self.worker_ip = "10.231.7.1", "10.231.7.2"
        self.address = f"{self.head_ip}:6399"
        # Short: Ray's Unix sockets live under it (paths are limited to 107 bytes).
        self.temp = Path(tempfile.mkdtemp(prefix="lmray", dir="/tmp"))

    def sh(self, *args, ns=None, check=True):
        cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV,
                              check=check)

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__()   # a half-made cluster is taken down too
            raise
        return self

    def _start(self):
        h, w = self.head_ns, self.worker_ns
        self.sh("ip", "netns", "add", h)
        self.sh("ip", "netns", "add", w)
        self.sh("ip", "link", "add", f"{h}0", "type", "veth", "peer", "name", f"{w}0")
        self.sh("ip", "link", "set", f"{h}0", "netns", h)
        self.sh("ip", "link", "set", f"{w}0", "netns", w)
        self.sh("ip", "-n", h, "addr", "add", f"{self.head_ip}/24", "dev", f"{h}0")
        self.sh("ip", "-n", w, "addr", "add", f"{self.worker_ip}/24", "dev", f"{w}0")
        for ns in (h, w):
            self.sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.sh("ip", "-n", ns, "link", "set", f"{ns}0", "up")
        self.sh(RAY, "start", "--head", "--node-ip-address", self.head_ip, "--port", "6399",
                "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats",
                "--temp-dir", str(self.temp), ns=h)
        self.sh(RAY, "start", "--address", self.address, "--node-ip-address", self.worker_ip,
                "--num-cpus", "1", "--disable-usage-stats", ns=w)

    def kill(self, ns):
        pids = self.sh("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def __exit__(self, *exc):
        for ns in (self.worker_ns, self.head_ns):
            self.kill(ns)
            time.sleep(0.2)
            self.kill(ns)
            self.sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.temp, ignore_errors=True)


def test_two_node_cluster_survives_losing_a_node(tmp_path):
    out = tmp_path / "sweep"
    before = ray_processes()
    with TwoNodes(tmp_path) as cluster:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", cluster.head_ns, LEAN_MLIR, "sweep", "mlp-sgd", "--seeds", "2",
             "--epochs", "3", "--train-limit", "25600", "--address", cluster.address,
             "--out", str(out), "--checkpoint-every", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
        victim, deadline = None, time.monotonic() + 240
        while victim is None and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            for run in out.glob("mlp-sgd/seed*"):
                nodes, metrics = run / "nodes.jsonl", run / "metrics.jsonl"
                if nodes.exists() and cluster.worker_ip in nodes.read_text() and \
                        metrics.exists():
                    steps = [json.loads(line).get("step", 0)
                             for line in metrics.read_text().splitlines() if line.strip()]
                    if steps and max(steps) >= 250:   # epoch 2 of 3 on the worker node
                        victim = run
            time.sleep(0.01)
        assert victim is not None, "no run reached epoch 2 on the worker node"
        assert cluster.kill(cluster.worker_ns) > 0
        output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    results = {Path(r["run_dir"]).name: r for r in
               json.loads((out / "results.json").read_text())["runs"]}
    killed = results[victim.name]
    assert killed["status"] == "finished" and killed["resumed"], killed
    assert killed["nodes"][0] == cluster.worker_ip and killed["nodes"][-1] == cluster.head_ip
    # Both nodes ran tasks.
    assert {n for r in results.values() for n in r["nodes"]} == {cluster.head_ip,
                                                                 cluster.worker_ip}
    # The resumed run ends where the same run left alone ends, bit for bit.
    alone = run_one("mlp-sgd", killed["seed"], str(tmp_path / "alone"), epochs=3,
                    train_limit=25600, checkpoint_every=20)
    assert alone["final_accuracy"] == killed["final_accuracy"]
    assert same_checkpoint(tmp_path / "alone", victim)
    assert_no_ray_left(before)


def test_ctrl_c_checkpoints_the_sweep_and_the_same_command_resumes(tmp_path):
    out = tmp_path / "sweep"
    before = ray_processes()
    command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', LEAN_MLIR,
               "sweep", "mlp-sgd", "--seeds", "2", "--epochs", "3", "--train-limit", "25600",
               "--out", str(out), "--checkpoint-every", "1000"]
    # As from a terminal: the sweep starts with SIGINT at its default even when this
    # suite runs in the background, where the shell made it ignored (and an ignored
    # SIGINT stays ignored in children). A handler here is reset to the default by exec.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=ENV, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        steps = [json.loads(line).get("step", 0) for m in out.glob("mlp-sgd/seed*/metrics.jsonl")
                 for line in m.read_text().splitlines() if line.strip()]
        if steps and max(steps) >= 250:
            break
        time.sleep(0.01)
    # Ctrl-C at a terminal: SIGINT to the whole foreground process group.
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, output
    assert "run the same command again to resume" in output
    stopped = [p for p in out.glob("mlp-sgd/seed*") if not (p / "result.json").exists()]
    assert stopped, "every run had finished before the interrupt"
    for run in stopped:   # checkpointed mid-run (no periodic checkpoint before epoch 3)
        assert (run / "checkpoint.safetensors").exists()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=ENV,
                           check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed from its checkpoint" in again.stdout
    for run in stopped:
        seed = int(run.name.removeprefix("seed"))
        alone = run_one("mlp-sgd", seed, str(tmp_path / f"alone{seed}"), epochs=3,
                        train_limit=25600)
        assert same_checkpoint(Path(alone["run_dir"]), run)
    assert_no_ray_left(before)


def test_arms_of_different_data_sets_are_refused_before_anything_starts(tmp_path):
    from lean_mlir.sweeps import sweep

    with pytest.raises(ValueError, match="different data sets .*mlp-sgd: mnist, cifar8-sgd: "
                                         "cifar10"):
        sweep(["mlp-sgd", "cifar8-sgd"], out=tmp_path / "s")
    assert not (tmp_path / "s").exists()
