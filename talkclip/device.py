"""Where and how wide training runs: the ``device`` and ``threads`` settings of the train, sync and syncnet sections."""
from __future__ import annotations

import os

import torch


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch finds no CUDA GPU; use device: auto or cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: expected 'auto', 'cpu' or 'cuda'")
    return torch.device(name)


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_threads(requested: int) -> int:
    """Set torch's intra-op thread count on purpose and return it.

    ``requested`` > 0 is used as given; 0 means: ``$OMP_NUM_THREADS`` when set (OpenMP's own
    convention), else every usable core. Measured on 2 cores (benchmarks/RESULTS.md): two OpenMP
    threads of one training process are 1.3-1.5x faster than one on a quiet machine, but many times
    slower than one while any other process competes for the cores (the threads spin against each
    other), so a pipeline that runs processes side by side gives each one thread.
    """
    if requested < 0:
        raise ValueError(f"threads: expected 0 (automatic) or a positive count, got {requested}")
    threads = requested
    if threads == 0:
        from_env = os.environ.get("OMP_NUM_THREADS", "").strip()
        threads = int(from_env) if from_env.isdigit() and int(from_env) > 0 else usable_cpus()
    torch.set_num_threads(threads)
    return threads
