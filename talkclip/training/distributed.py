"""Data-parallel TalkCLIP training on Ray Train (``train.workers`` > 1): DDP, one slice of every batch per worker.

Ray Train's ``TorchTrainer`` starts the worker processes (on this machine or on a Ray cluster), sets up
``torch.distributed`` (gloo on CPUs, NCCL on GPUs) and tears the group down when one worker fails; the
project's sweeps already run on the same Ray. Each worker builds the trainer of a single-process run
(trainer.py: the same data, initial weights from the seed, the same checkpoint to resume) and wraps the
two forwards the optimisers update, the generator's pass and the D_tem hinge loss, in
DistributedDataParallel.

Why N workers compute the single-process step:

- The global batch of a step is a function of (seed, stage, step) (data.py). Every worker draws the
  whole batch and trains on its contiguous slice of ``train.batch_size / train.workers`` rows (hence
  the batch size must be a multiple of the worker count), with the style padding of the whole batch.
- Every loss term is a mean over equally sized samples (talkclip/model/losses.py: L1, SSIM, hinge,
  softplus and cosine means; no batch statistics: L_rec's track normalisation is computed once from the
  training frames), so DDP's mean of the workers' gradients over equal slices is the full batch's
  gradient, up to float rounding (the all-reduce sums in another order). tests/test_training_ddp.py
  measures it on 2 gloo workers.
- The p coin of a step is a function of (seed, step), the same on every worker: all of them decode
  from the same style code, so the same parameters get gradients (DDP needs that; parameters a step does
  not use, e.g. the text side in stage 1, keep no gradient, as in one process).
- Dropout is the exception: rank 0 reseeds torch from (seed, stage, step) like one process, rank r > 0
  from (seed, stage, step, r), so that no two slices share masks. With ``model.dropout`` > 0 a run on N
  workers differs from the single-process run by its dropout draws (a function of the worker count);
  it is still deterministic and resumes exactly. The default profile trains without dropout.
- The logged losses are the workers' means averaged, i.e. the full batch's.

Only rank 0 writes: checkpoints (the single-process format, holding the unwrapped modules, so a run
resumes with any worker count and its checkpoints load for inference as any other), MLflow metrics
(into the driver's run, through its handle: tracking.RunHandle) and the learning curves. A resumed run
loads ``out_dir/checkpoints/last.pt`` on every worker.

Where it runs: ``train.address`` "" starts a local Ray for the run (``num_cpus`` = workers, no
dashboard; shut down at the end; ``ray stop`` is never called); HOST:PORT joins a running cluster
(README, "Training on several workers / a Ray cluster"). Every node must see the processed data, the
annotations, D_sync and ``out_dir`` at the same absolute paths (shared storage), and run the same Python
environment; Ray Train's own run state goes to ``out_dir/ray_train``.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from talkclip.config.model import ModelConfig
from talkclip.config.train import TrainConfig

from .data import Batch, DescriptionTable
from .trainer import EvalHook, LogHook, TrainResult, resolve_backbone, text_embedding_table, train_in_process

RAY_RUN_NAME = "train"  # Ray Train's run folder: out_dir/ray_train/train


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run: one Ray Train worker."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def writes(self) -> bool:
        """Rank 0 alone writes checkpoints and logs."""
        return self.rank == 0

    def part(self, batch: Batch) -> Batch:
        """This worker's contiguous slice of a step's whole batch (the batch's style padding kept)."""
        size = len(batch) // self.world_size
        rows = slice(self.rank * size, (self.rank + 1) * size)
        return Batch(**{name: getattr(batch, name)[rows] for name in batch.__dataclass_fields__})

    def wrap(self, module: torch.nn.Module, unused_parameters: bool = False) -> torch.nn.Module:
        """``module`` in DistributedDataParallel. ``unused_parameters``: which of its parameters a step
        uses depends on the step (the generator: the text side only in stage 2, the video encoder not when
        s_t drives the decoder and s_v is only the L_cos teacher); unused ones keep no gradient, as in one
        process (DDP's find_unused_parameters)."""
        device_ids = [self.device] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids,
                                                         find_unused_parameters=unused_parameters)

    def mean(self, metrics: dict[str, float]) -> dict[str, float]:
        """The workers' per-slice means averaged: the whole batch's means (every worker gets them)."""
        import torch.distributed as dist

        keys = sorted(metrics)
        values = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(values)
        return {k: float(v) / self.world_size for k, v in zip(keys, values.tolist())}


class RankZeroHooks(Protocol):
    """What rank 0 does besides training, set up in its own process: ``open(backbone)`` returns the
    trainer's (on_log, on_eval); ``close(result)`` runs after the last step."""

    def open(self, backbone) -> tuple[LogHook | None, EvalHook | None]: ...

    def close(self, result: TrainResult) -> None: ...


@dataclass
class FixedHooks:
    """Given hooks, called on rank 0 (pickled there)."""

    on_log: LogHook | None = None
    on_eval: EvalHook | None = None

    def open(self, backbone) -> tuple[LogHook | None, EvalHook | None]:
        return self.on_log, self.on_eval

    def close(self, result: TrainResult) -> None:
        pass


@dataclass
class _ProgressLine:
    """Rank 0's one line per logged interval on stderr (Ray forwards it to the driver's terminal, where a
    worker's progress bar would not render), then the run's own hook."""

    total_steps: int
    on_log: LogHook | None

    def __call__(self, stage: str, step: int, metrics: dict[str, float]) -> None:
        # Written, not printed: Ray Train 2.60 patches print() on its workers to log and echo each line,
        # which the driver then shows twice.
        sys.stderr.write(f"train: {stage}, step {step}/{self.total_steps}: loss_total "
                         f"{metrics.get('loss_total', math.nan):.4f}, {metrics.get('windows_per_s', math.nan):.1f} "
                         "windows/s\n")
        sys.stderr.flush()
        if self.on_log is not None:
            self.on_log(stage, step, metrics)


@dataclass(frozen=True)
class _Job:
    """What every worker needs (shipped by Ray): the configs, absolute paths, how far to train."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    processed_dir: str
    annotated_dir: str
    out_dir: str
    sync_checkpoint: str | None
    cache_dir: str
    resume: bool
    max_steps: int | None
    stop_after_stage: str | None
    init_from: str | None
    hooks: Any  # RankZeroHooks | None
    backbone: Any  # ray.ObjectRef of the text backbone (put once, fetched by each worker)


def _worker_loop(config: dict[str, Any]) -> TrainResult | None:
    """One Ray Train worker: the single-process trainer on this rank's slices; rank 0 returns the result."""
    import ray
    import ray.train
    import ray.train.torch

    from talkclip.device import set_threads
    from talkclip.training.trainer import stage_lengths

    job: _Job = config["job"]
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    set_threads(job.train_cfg.threads)
    device = ray.train.torch.get_device() if job.train_cfg.use_gpu else torch.device("cpu")
    if isinstance(device, list):  # more than one GPU per worker: this project's workers use one
        device = device[0]
    backbone = ray.get(job.backbone)
    on_log = on_eval = None
    if rank == 0:
        if job.hooks is not None:
            on_log, on_eval = job.hooks.open(backbone)
        on_log = _ProgressLine(sum(stage_lengths(job.train_cfg).values()), on_log)
    result = train_in_process(
        job.model_cfg, job.train_cfg, job.processed_dir, job.annotated_dir, job.out_dir, job.sync_checkpoint,
        on_log, job.resume, max_steps=job.max_steps, stop_after_stage=job.stop_after_stage, backbone=backbone,
        cache_dir=job.cache_dir, on_eval=on_eval, init_from=job.init_from,
        data_parallel=DataParallel(rank, world_size, device),
    )
    if rank != 0:
        return None
    if job.hooks is not None:
        job.hooks.close(result)
    return result


def _check_cluster(train_cfg: TrainConfig) -> None:
    """Refuse a cluster that cannot hold the workers at all: Ray Train would wait for them indefinitely."""
    import ray

    resources = ray.cluster_resources()
    need = {"CPU": train_cfg.workers} | ({"GPU": train_cfg.workers} if train_cfg.use_gpu else {})
    short = {k: (n, resources.get(k, 0)) for k, n in need.items() if resources.get(k, 0) < n}
    if short:
        found = ", ".join(f"{have:g} {kind} of the {n} needed" for kind, (n, have) in short.items())
        where = f"the Ray cluster at {train_cfg.address}" if train_cfg.address else "the running Ray"
        raise ValueError(
            f"train.workers {train_cfg.workers}{' with train.use_gpu' if train_cfg.use_gpu else ''}: {where} has "
            f"{found} (one per worker; start the nodes first, or lower train.workers)"
        )


def _worker_error(error: BaseException) -> BaseException:
    """The exception a worker raised (the lowest rank's), rather than Ray's wrapper around all of them:
    a bad input raised in a worker (a checkpoint of another configuration, a missing file) then reads as
    it does in one process."""
    failures = getattr(error, "worker_failures", None) or {}
    for rank in sorted(failures):
        cause = failures[rank]
        cause = getattr(cause, "cause", None) or cause  # a RayTaskError wraps the original
        if isinstance(cause, Exception):
            return cause
    return error


def train_on_ray(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    processed_dir: str | Path,
    annotated_dir: str | Path,
    out_dir: str | Path,
    sync_checkpoint: str | Path | None,
    hooks: RankZeroHooks | None = None,
    *,
    resume: bool = True,
    max_steps: int | None = None,
    stop_after_stage: str | None = None,
    backbone=None,
    cache_dir: str | Path | None = None,
    init_from: str | Path | None = None,
) -> TrainResult:
    """`trainer.train` on ``train.workers`` Ray Train workers (arguments as there; ``hooks`` run on rank 0).

    Uses the Ray this process is connected to, else ``train.address``'s cluster, else a local Ray started
    (and shut down) here. The text backbone's embeddings are computed here, once, into the cache every
    worker then reads, so that all workers hold the same table. Raises the lowest-ranked worker's
    exception when training fails.
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if train_cfg.workers < 2:
        raise ValueError(f"train_on_ray: train.workers is {train_cfg.workers}; 0 or 1 train in this process (train)")
    # Ray workers have working folders of their own: every path they see is absolute.
    out_dir = Path(out_dir).resolve()
    cache = Path(cache_dir).resolve() if cache_dir is not None else out_dir / "embedding_cache"
    backbone = resolve_backbone(model_cfg, backbone)
    _, cache_file, cache_reused, _ = text_embedding_table(
        model_cfg, DescriptionTable.load(annotated_dir, train_cfg.descriptions), backbone, cache
    )

    def absolute(path: str | Path | None) -> str | None:
        return str(Path(path).resolve()) if path is not None else None

    started = False
    if not ray.is_initialized():
        if train_cfg.address:
            ray.init(address=train_cfg.address)
        else:
            ray.init(num_cpus=train_cfg.workers, include_dashboard=False)
        started = True
    try:
        _check_cluster(train_cfg)
        job = _Job(
            model_cfg=model_cfg, train_cfg=train_cfg, processed_dir=absolute(processed_dir),
            annotated_dir=absolute(annotated_dir), out_dir=str(out_dir), sync_checkpoint=absolute(sync_checkpoint),
            cache_dir=str(cache), resume=resume, max_steps=max_steps, stop_after_stage=stop_after_stage,
            init_from=absolute(init_from), hooks=hooks, backbone=ray.put(backbone),
        )
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config={"job": job},
            torch_config=TorchConfig(backend="nccl" if train_cfg.use_gpu else "gloo"),
            scaling_config=ScalingConfig(num_workers=train_cfg.workers, use_gpu=train_cfg.use_gpu),
            run_config=RunConfig(name=RAY_RUN_NAME, storage_path=str(out_dir / "ray_train")),
        )
        try:
            outcome = trainer.fit()
        except ray.train.TrainingFailedError as exc:
            raise _worker_error(exc) from exc
    finally:
        if started:
            ray.shutdown()
    result: TrainResult = outcome.return_value
    # Whether the embedding cache existed before this run (every worker found the file written above).
    return dataclasses.replace(result, embedding_cache=cache_file, embedding_cache_reused=cache_reused)
