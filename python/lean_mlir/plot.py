"""Plots of runs: the training loss (each logged step, each epoch) and test accuracy.

    lean-mlir plot runs/A runs/B -o curves.png
    lean-mlir plot sweeps/mlp -o curves.png      # every run of a sweep

Each run directory's ``metrics.jsonl`` gives its step and epoch events; each run
is one colour in each panel, labelled by its model and recipe (``config.json``),
and by how many training images it used when the runs compared differ in that.
"""

from __future__ import annotations

import json
from pathlib import Path

from lean_mlir.rundir import CONFIG, METRICS, read_metrics

__all__ = ["expand_runs", "plot_runs", "run_label"]


def run_label(run_dir: Path, show_limit: bool = False) -> str:
    """``<model> (<recipe>)`` from the run's config.json, else the directory name; the
    data set is named when it is not MNIST, and with ``show_limit`` the number of
    training images when the run used fewer than all."""
    try:
        config = json.loads((Path(run_dir) / CONFIG).read_text())
        label = config["network"]["name"]
        if config.get("dataset") not in (None, "mnist"):
            label = f"{label} on {config['dataset']}"
        if config.get("sweep_seed") is not None:
            label = f"{config['arm']} seed {config['sweep_seed']}"
        elif config.get("arm"):
            label = f"{config['arm']}: {label}"
        elif config.get("recipe"):
            label = f"{label} ({config['recipe']})"
        if show_limit and config.get("train_limit"):
            label = f"{label}, first {config['train_limit']:,} images"
        return label
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return Path(run_dir).name


def _steps_per_epoch(run_dir: Path) -> int | None:
    try:
        return int(json.loads((Path(run_dir) / CONFIG).read_text())["steps_per_epoch"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def expand_runs(paths: list[Path | str]) -> list[Path]:
    """Run directories, with a sweep's directory standing for all its runs."""
    out = []
    for path in map(Path, paths):
        if (path / METRICS).exists() or not path.is_dir():
            out.append(path)
            continue
        found = sorted(p.parent for p in path.glob(f"*/*/{METRICS}")) or sorted(
            p.parent for p in path.glob(f"*/{METRICS}"))
        out.extend(found or [path])
    return out


def _config_value(run_dir: Path, key: str):
    try:
        return json.loads((Path(run_dir) / CONFIG).read_text()).get(key)
    except (OSError, json.JSONDecodeError):
        return None


def plot_runs(run_dirs: list[Path | str], out: Path | str, title: str | None = None):
    """Draws every run's epoch curves into ``out`` (PNG, 1200 x 480 pixels); returns the
    matplotlib Figure. Raises ValueError naming a run with no epoch yet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = []
    for run_dir in expand_runs(run_dirs):
        if not (run_dir / METRICS).exists():
            raise ValueError(f"{run_dir}: not a run directory (no metrics.jsonl)")
        events = read_metrics(run_dir)
        epochs = [e for e in events if e.get("event") == "epoch"]
        if not epochs:
            raise ValueError(f"{run_dir / METRICS}: no finished epoch to plot yet")
        runs.append((run_dir, epochs, [e for e in events if e.get("event") == "step"]))
    # Runs that differ in how much data they trained on say so.
    limits = {json.dumps(_config_value(r, "train_limit")) for r, _, _ in runs}

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    last = max(e["epoch"] for _, epochs, _ in runs for e in epochs)
    for run_dir, epochs, steps in runs:
        label = run_label(run_dir, show_limit=len(limits) > 1)
        x = [e["epoch"] for e in epochs]
        (curve,) = loss_ax.plot(x, [e["train_loss"] for e in epochs], marker="o", ms=4,
                                label=label)
        per_epoch = _steps_per_epoch(run_dir)
        if steps and per_epoch:   # every logged step, a dot at its place in its epoch
            loss_ax.scatter([s["step"] / per_epoch for s in steps], [s["loss"] for s in steps],
                            s=5, alpha=0.5, color=curve.get_color(), linewidths=0)
        acc_ax.plot(x, [100 * e["test_accuracy"] for e in epochs], marker="o", ms=4,
                    label=f"{label}: {100 * epochs[-1]['test_accuracy']:.2f}%")
    loss_ax.set_yscale("log")
    loss_ax.set(title="Training loss (dots: each logged step; line: each epoch's mean)",
                xlabel="epoch", ylabel="cross-entropy (log scale)")
    acc_ax.set(title="Test accuracy (every test image)", xlabel="epoch", ylabel="accuracy (%)")
    low, high = acc_ax.get_ylim()
    acc_ax.set_ylim(max(low, 0), min(high, 100))
    for ax in (loss_ax, acc_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlim(0, last + 0.1)
        ax.set_xticks(range(0, last + 1, max(1, (last + 9) // 10)))
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return fig
