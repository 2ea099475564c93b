"""The ablations stage: train and evaluate every variant of ``ablations/`` (the paper's Table 2).

Each variant (talkclip/config/ablation.py) is the full model's configuration with its overrides. A
variant that differs from the full model only on the text side starts its stage 2 from the full
model's stage-1 checkpoint (trainer.init_from_stage1: the same weights its own stage 1 would give);
any other variant trains both stages. Then it is evaluated like the full model's text-driven row
(selfdriven.run_selfdriven with ``text_only``: the MEAD-format test split, style and OOD accuracy).

Variants run side by side, one process per usable core with one torch thread each: on 2 cores two
single-thread trainings do about twice the work of one two-thread training (benchmarks/RESULTS.md).
A variant whose checkpoint and evaluation already match its configuration, its inputs and the library
code it runs (code_digest) is not redone, so adding an ablation file trains only the new variant.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from talkclip import tracking
from talkclip.atomic import write_text
from talkclip.config.ablation import Ablation, load_ablations
from talkclip.config.loader import to_dict
from talkclip.config.model import ModelConfig
from talkclip.config.train import TrainConfig


@dataclass(frozen=True)
class VariantJob:
    ablation: Ablation
    model_cfg: ModelConfig  # the variant's
    train_cfg: TrainConfig
    init_from: str | None  # the shared stage-1 checkpoint, or None: the variant trains both stages
    processed: str
    annotated: str
    sync: str | None
    syncnet: str | None
    out: str  # the variant's folder: checkpoints/, eval/
    image_size: int
    ood_lists: tuple[str, ...]
    parent_run_id: str | None
    inputs_digest: str  # of the data and networks the variant depends on (see inputs_digest)
    # processes that draw and score its videos: 1 while variants run side by side (they fill the
    # cores already), None (one per core) when they run one after another
    eval_workers: int | None = None


def config_digest(model_cfg: ModelConfig, train_cfg: TrainConfig) -> str:
    payload = json.dumps({"model": to_dict(model_cfg), "train": to_dict(train_cfg)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def inputs_digest(*paths: str | Path | None) -> str:
    """sha256 over the bytes of the given files and of every file below the given folders (in path order):
    a variant trained and evaluated on other inputs is never reused."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


# The library code a variant's results depend on: the ablations stage's code deps in dvc.yaml. DVC reruns
# the stage when any of it changes; this makes the stage retrain the variants too, not reuse them.
CODE_PATHS = ("ablations.py", "cli.py", "config", "model", "training", "metrics", "inference.py", "selfdriven.py",
              "data")


def code_digest(package: str | Path | None = None) -> str:
    """sha256 over the source files (.py and the data tables) of CODE_PATHS in ``package`` (default: this
    talkclip package)."""
    package = Path(package) if package is not None else Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in CODE_PATHS:
        path = package / name
        files = sorted(p for p in path.rglob("*") if p.suffix in {".py", ".tsv", ".txt", ".json"}) \
            if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(package)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def plan_variants(
    folder: str | Path, model_cfg: ModelConfig, train_cfg: TrainConfig, stage1_checkpoint: str | Path | None,
) -> list[tuple[Ablation, ModelConfig, TrainConfig, str | None]]:
    """(ablation, its model config, its train config, the stage-1 checkpoint it starts from or None)."""
    from talkclip.training.trainer import shares_stage1

    planned = []
    for ablation in load_ablations(folder, model_cfg, train_cfg):
        variant_model, variant_train = ablation.apply(model_cfg, train_cfg)
        shared = stage1_checkpoint is not None and shares_stage1(model_cfg, train_cfg, variant_model, variant_train)
        planned.append((ablation, variant_model, variant_train, str(stage1_checkpoint) if shared else None))
    return planned


def run_variant(job: VariantJob) -> dict:
    """Train (or resume) and evaluate one variant; its flat metrics (written beside its results)."""
    from talkclip.device import set_threads
    from talkclip.model.text_backbone import load_text_backbone
    from talkclip.selfdriven import run_selfdriven, selfdriven_metrics
    from talkclip.training.stage import run_training

    set_threads(1)
    # Learning curves are the full model's (train stage); a variant's run is scored once, at its end.
    job = dataclasses.replace(job, train_cfg=dataclasses.replace(job.train_cfg, eval_every=0))
    if job.parent_run_id:
        os.environ[tracking.ENV_PARENT_RUN_ID] = job.parent_run_id
    out = Path(job.out)
    name = job.ablation.name
    digest = config_digest(job.model_cfg, job.train_cfg)
    done = out / "variant.json"
    if done.is_file():
        previous = json.loads(done.read_text())
        if previous.get("config_digest") == digest and previous.get("inputs_digest") == job.inputs_digest:
            print(f"ablations: {name}: trained and evaluated with this configuration and these inputs", file=sys.stderr)
            return previous
    if out.exists():  # another configuration or other inputs: start afresh
        shutil.rmtree(out)
    nested = {"nested": True} if job.parent_run_id else {}
    with tracking.tracked_run(f"train_{name}", params={"model": job.model_cfg, "train": job.train_cfg,
                                                        "ablation": {"label": job.ablation.label,
                                                                     "overrides": job.ablation.overrides}},
                              **nested) as run:
        result, train_metrics = run_training(
            job.model_cfg, job.train_cfg, job.processed, job.annotated, job.sync, out, run,
            load_text_backbone(job.model_cfg), init_from=job.init_from,
        )
    with tracking.tracked_run(f"evaluate_{name}", params={"checkpoint": str(result.checkpoint)}, **nested) as run:
        run.log_dataset(Path(job.processed) / "manifest.csv", "processed", "evaluation")
        results = run_selfdriven(result.checkpoint, job.processed, job.annotated, out / "eval", syncnet=job.syncnet,
                                 image_size=job.image_size, text_only=True, ood_lists=job.ood_lists,
                                 workers=job.eval_workers)
        eval_metrics = selfdriven_metrics(results)
        run.log_metrics(0, eval_metrics)
        run.log_artifact(out / "eval" / "results.json")
    metrics = {"label": job.ablation.label, "order": job.ablation.order, "tests": job.ablation.tests,
               "shared_stage1": job.init_from is not None, "config_digest": digest, "inputs_digest": job.inputs_digest,
               "train": train_metrics, "eval": eval_metrics}
    write_text(done, json.dumps(metrics, indent=2, default=float) + "\n")
    return metrics


def run_ablations(
    folder: str | Path, model_cfg: ModelConfig, train_cfg: TrainConfig, processed: str | Path, annotated: str | Path,
    sync: str | Path | None, stage1_checkpoint: str | Path | None, syncnet: str | Path | None, out: str | Path,
    jobs: int = 0, image_size: int = 128, ood_lists: list[str] | tuple[str, ...] = (),
) -> dict[str, dict]:
    """Every variant of ``folder`` trained and evaluated into ``out/{name}``; returns {name: metrics}.

    ``jobs``: variants run at once (0 = one per usable core). Writes ``out/index.json`` (Table 2's
    rows in order, with labels) and removes folders of variants whose file is gone.
    """
    from talkclip.device import usable_cpus

    out = Path(out).resolve()
    planned = plan_variants(folder, model_cfg, train_cfg, stage1_checkpoint)
    parent = None
    if tracking.tracking_enabled():
        digest = config_digest(model_cfg, train_cfg)[:8]
        parent = tracking.parent_run_id(f"ablations-{digest}", params={"model": model_cfg, "train": train_cfg})
    inputs = inputs_digest(Path(processed) / "manifest.csv", Path(processed) / "clips", Path(annotated), sync,
                           stage1_checkpoint, syncnet, *ood_lists) + code_digest()
    job_list = [
        VariantJob(ablation=a, model_cfg=m, train_cfg=t, init_from=init, processed=_absolute(processed),
                   annotated=_absolute(annotated), sync=_absolute(sync), syncnet=_absolute(syncnet),
                   out=str(out / a.name), image_size=image_size, ood_lists=tuple(_absolute(p) for p in ood_lists),
                   parent_run_id=parent, inputs_digest=inputs)
        for a, m, t, init in planned
    ]
    workers = min(len(job_list), jobs or usable_cpus()) or 1
    if workers > 1:
        job_list = [dataclasses.replace(job, eval_workers=1) for job in job_list]
    print(f"ablations: {len(job_list)} variant(s) ({', '.join(j.ablation.name for j in job_list)}), "
          f"{workers} at a time", file=sys.stderr)
    results: dict[str, dict] = {}
    if workers == 1:
        for job in job_list:
            results[job.ablation.name] = run_variant(job)
    else:
        # spawn: no inherited torch/OpenMP state, each worker sets its own single thread.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {job.ablation.name: pool.submit(run_variant, job) for job in job_list}
            for name, future in futures.items():
                results[name] = future.result()
    index = [{"name": j.ablation.name, "label": j.ablation.label, "order": j.ablation.order} for j in job_list]
    write_text(out / "index.json", json.dumps(index, indent=2) + "\n")
    known = {j.ablation.name for j in job_list}
    for stale in sorted(p for p in out.iterdir() if p.is_dir() and p.name not in known):
        shutil.rmtree(stale)  # the variant's file was removed
    return results


def _absolute(path: str | Path | None) -> str | None:
    return str(Path(path).resolve()) if path is not None else None
