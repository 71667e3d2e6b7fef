"""Plots of runs: the training loss and test accuracy per epoch of one or more runs.

    lean-mlir plot runs/A runs/B -o curves.png
    lean-mlir plot sweeps/mlp -o curves.png      # every run of a sweep

Each run directory's ``metrics.jsonl`` gives its epoch events; each run is one
curve in each panel, labelled by its model and recipe (``config.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

from lean_mlir.rundir import CONFIG, METRICS, read_metrics

__all__ = ["expand_runs", "plot_runs", "run_label"]


def run_label(run_dir: Path) -> str:
    """``<model> (<recipe>)`` from the run's config.json, else the directory name; the
    data set is named when it is not MNIST."""
    try:
        config = json.loads((Path(run_dir) / CONFIG).read_text())
        label = config["network"]["name"]
        if config.get("dataset") not in (None, "mnist"):
            label = f"{label} on {config['dataset']}"
        if config.get("sweep_seed") is not None:
            return f"{config['arm']} seed {config['sweep_seed']}"
        if config.get("arm"):
            return f"{config['arm']}: {label}"
        return f"{label} ({config['recipe']})" if config.get("recipe") else label
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return Path(run_dir).name


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
        epochs = [e for e in read_metrics(run_dir) if e.get("event") == "epoch"]
        if not epochs:
            raise ValueError(f"{run_dir / METRICS}: no finished epoch to plot yet")
        runs.append((run_label(run_dir), epochs))

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    for label, epochs in runs:
        x = [e["epoch"] for e in epochs]
        loss_ax.plot(x, [e["train_loss"] for e in epochs], marker="o", ms=3, label=label)
        acc_ax.plot(x, [100 * e["test_accuracy"] for e in epochs], marker="o", ms=3,
                    label=f"{label}: {100 * epochs[-1]['test_accuracy']:.2f}%")
    loss_ax.set_yscale("log")
    loss_ax.set(title="Training loss", xlabel="epoch",
                ylabel="mean cross-entropy over the epoch (log scale)")
    acc_ax.set(title="Test accuracy (all 10,000 test images)", xlabel="epoch",
               ylabel="accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return fig
