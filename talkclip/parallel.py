"""Run independent tasks on one worker process per core, each single-threaded, with progress bars.

Why one thread per process, set deliberately: on the project's 2-core machine two OpenMP threads per
process under load made training 12x slower (threads spin against each other); one process per core
with one torch/OpenMP/OpenCV thread each keeps both cores busy without that. The worker's thread
settings are made in its initializer, which lives in this torch-free module so that the environment
variables are set before the worker first imports torch.

`run_tasks(function, tasks, workers)` calls ``function(task, progress)`` for every task and returns the
results in task order. ``progress(stage, done, total)`` may be called by the function to move its
task's bar. The main process shows an overall bar (tasks done) and one bar per worker (the task it is
on and its stage). An exception in a task is re-raised in the caller, so functions that must not stop
the whole run catch their own errors and return them as data.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm import tqdm

ProgressHook = Callable[[str, int, int], None]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_events: Any = None  # the worker's queue of progress events (set by _init_worker)


def default_workers(n_tasks: int) -> int:
    """One worker per core (``os.sched_getaffinity`` where available), never more than the tasks."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n_tasks))


def _single_thread() -> None:
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _init_worker(events: Any) -> None:
    global _events
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    _events = events
    _single_thread()


def _run_in_worker(function: Callable, index: int, task: Any) -> Any:
    pid = os.getpid()

    def progress(stage: str, done: int, total: int) -> None:
        _events.put((pid, index, stage, done, total))

    progress("start", 0, 1)
    return function(task, progress)


class _Bars:
    """Overall bar plus one bar per worker slot (only when ``enabled``)."""

    def __init__(self, enabled: bool, total: int, desc: str, labels: Sequence[str], n_slots: int):
        self.enabled, self.labels = enabled, labels
        self.overall = tqdm(total=total, desc=desc, unit="task", disable=not enabled, position=0)
        self.slots: dict[int, tqdm] = {}
        self.n_slots = n_slots

    def update(self, worker: int, index: int, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.slots.get(worker)
        if bar is None:
            if len(self.slots) >= self.n_slots:
                return
            bar = self.slots[worker] = tqdm(total=total, position=len(self.slots) + 1, leave=False, unit="step")
        bar.set_description(f"  {self.labels[index][:48]}", refresh=False)
        bar.total = total
        bar.n = done
        bar.set_postfix_str(stage)

    def task_done(self) -> None:
        self.overall.update(1)

    def close(self) -> None:
        for bar in self.slots.values():
            bar.close()
        self.overall.close()


def run_tasks(
    function: Callable[[Any, ProgressHook], Any],
    tasks: Sequence[Any],
    workers: int,
    progress: bool = True,
    desc: str = "tasks",
    labels: Sequence[str] | None = None,
) -> list[Any]:
    """``[function(task, progress_hook) for task in tasks]``, on ``workers`` single-threaded processes.

    ``workers <= 1`` runs in this process (its thread settings untouched). ``function`` and the tasks
    must be picklable (a module-level function, plain data) for ``workers > 1``.
    """
    labels = list(labels) if labels is not None else [str(i) for i in range(len(tasks))]
    n_workers = min(workers, len(tasks))
    bars = _Bars(progress, len(tasks), desc, labels, max(1, n_workers))
    try:
        if n_workers <= 1:
            results = []
            for index, task in enumerate(tasks):
                results.append(function(task, lambda stage, done, total, i=index: bars.update(0, i, stage, done, total)))
                bars.task_done()
            return results
        try:
            return _run_pool(function, tasks, n_workers, bars)
        except BrokenProcessPool:
            raise RuntimeError(
                "a worker process died before finishing its task: out of memory, or the calling script runs "
                "this at import time (worker processes are started with 'spawn' and import the main script: "
                "put the call under `if __name__ == \"__main__\":`), or pass workers=1 to run in this process"
            ) from None
    finally:
        bars.close()


def _run_pool(function: Callable, tasks: Sequence[Any], n_workers: int, bars: _Bars) -> list[Any]:
    context = multiprocessing.get_context("spawn")  # fork after torch/OpenMP initialisation is unsafe
    events = context.Queue()
    results: list[Any] = [None] * len(tasks)
    with ProcessPoolExecutor(n_workers, mp_context=context, initializer=_init_worker, initargs=(events,)) as pool:
        pending = {pool.submit(_run_in_worker, function, i, task): i for i, task in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(events, bars)
            for future in done:
                results[pending.pop(future)] = future.result()
                bars.task_done()
    return results


def _drain(events: Any, bars: _Bars) -> None:
    while True:
        try:
            worker, index, stage, done, total = events.get_nowait()
        except queue.Empty:
            return
        bars.update(worker, index, stage, done, total)
