"""This machine: its CPU's name and features, and the memory this process holds."""

from __future__ import annotations

import functools
import os
import platform
import time

__all__ = ["cpu_name", "cpu_signature", "gemm_peak_gflops", "memory_limit_mb", "rss_mb"]


def _cpuinfo_lines(*keys: str) -> list[str]:
    """The lines of ``/proc/cpuinfo`` that start with one of ``keys`` (none off Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return [line for line in f if line.startswith(keys)]
    except OSError:
        return []


def cpu_name() -> str:
    """The CPU's model name (``AMD EPYC ...``), or what the platform says."""
    for line in _cpuinfo_lines("model name"):
        return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@functools.cache
def cpu_signature() -> str:
    """The CPU's model and feature flags: what code compiled for the host CPU depends on
    (read once a process)."""
    return "".join(_cpuinfo_lines("model name", "flags"))[:4096] or platform.processor()


def rss_mb() -> float:
    """This process's resident memory in MB (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return 0.0


def memory_limit_mb() -> float:
    """``LEAN_MLIR_MEMORY_LIMIT_MB``, or 80% of the machine's memory."""
    value = os.environ.get("LEAN_MLIR_MEMORY_LIMIT_MB")
    if value:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"LEAN_MLIR_MEMORY_LIMIT_MB must be a number of MB, got "
                             f"{value!r}") from None
    return 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6


def gemm_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an ``n x n`` NumPy matmul: the machine's practical peak."""
    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9
