"""One training stage as the pipeline runs it: train, then measure what the model learnt.

`run_training` is what `talkclip train` and each variant of the ablations stage do inside their MLflow
run: it trains (resuming, or continuing a stage-1 checkpoint), records the learning curves of the
validation speakers (monitor.py) as they are measured, and ends with the style probes on the test
split (style_probe.py). It returns the flat metrics that go to ``metrics/*.json``. With ``train.workers``
> 1 the training runs on Ray Train (distributed.py) and the tracking and the learning curves happen in
its rank-0 worker (`StageHooks`); the probes and the final metrics stay in this process.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from talkclip.atomic import write_text
from talkclip.config.model import ModelConfig
from talkclip.config.train import TrainConfig
from talkclip.tracking import RunHandle

from .trainer import TrainResult, stage_lengths, train


class StyleCurves:
    """Learning curves (monitor.StyleMonitor) on the validation split: each row goes to the run's
    tracker as it is measured, all of them to ``curves.csv`` in the run folder at the end."""

    def __init__(self, processed: str | Path, annotated: str | Path, train_cfg: TrainConfig, backbone, run) -> None:
        from .monitor import build_style_monitor

        lengths = stage_lengths(train_cfg)
        ends = {"stage1": lengths["stage1"], "stage2": lengths["stage1"] + lengths["stage2"]}
        self.run = run
        self.monitor = None
        if train_cfg.eval_every:
            self.monitor = build_style_monitor(processed, annotated, backbone, train_cfg.eval_every, ends,
                                               min_frames=train_cfg.clip_frames)
            if self.monitor is None:
                print("train: no validation clips (split 'val'): no learning curves", file=sys.stderr)

    def __call__(self, stage: str, step: int, model) -> None:
        row = self.monitor(stage, step, model)
        if row is not None:
            self.run.log_metrics(step, {f"{stage}/val_{k}": v for k, v in row.items() if k not in ("stage", "step")})

    def write(self, path: Path, resumed_from: dict | None) -> None:
        """This process's rows, after the rows an interrupted earlier process of the same run wrote."""
        if self.monitor is None:
            return
        frame = self.monitor.frame()
        if path.is_file() and resumed_from is not None and "from" not in resumed_from:
            earlier = pd.read_csv(path)
            frame = pd.concat([earlier[earlier["step"] <= resumed_from["global_step"]], frame], ignore_index=True)
        write_text(path, frame.to_csv(index=False))


@dataclass
class StageHooks:
    """`run_training`'s hooks on the rank-0 worker of a Ray Train run (distributed.RankZeroHooks): losses
    into the stage's MLflow run through its handle, learning curves measured there and written to
    ``curves.csv`` at the end, as `run_training` does in one process."""

    processed: str
    annotated: str
    train_cfg: TrainConfig
    run: RunHandle
    curves_file: str
    curves: StyleCurves | None = field(default=None, repr=False)

    def open(self, backbone):
        run = self.run.attach()
        self.curves = StyleCurves(self.processed, self.annotated, self.train_cfg, backbone, run)
        return run.on_log, self.curves if self.curves.monitor is not None else None

    def close(self, result: TrainResult) -> None:
        if self.curves is not None:
            self.curves.write(Path(self.curves_file), result.resumed_from)


def style_probes(checkpoint: Path, processed: str | Path, annotated: str | Path, train_cfg: TrainConfig,
                 backbone) -> dict:
    """Text -> video-centroid accuracy and style dependence of a trained model on the test split.

    ``backbone`` is the frozen text backbone the model was trained with (the trainer's, not reloaded).
    """
    from talkclip.inference import load_model

    from .data import ClipStore, DescriptionTable
    from .style_probe import style_dependence, text_centroid_accuracy
    from .trainer import text_embedding_table

    model, model_cfg = load_model(checkpoint)
    train_store = ClipStore.load(processed, "train", train_cfg.clip_frames)
    test_store = ClipStore.load(processed, "test", train_cfg.clip_frames)
    descriptions = DescriptionTable.load(annotated, train_cfg.descriptions)
    # The trainer's cache, so its table is reused, not recomputed.
    table = text_embedding_table(model_cfg, descriptions, backbone, Path(checkpoint).parent.parent / "embedding_cache")[0]
    centroid = text_centroid_accuracy(model, train_store, test_store, descriptions, table)
    dependence = style_dependence(model, test_store)
    return {
        "text_centroid_accuracy": round(centroid.accuracy, 4),
        "text_centroid_accuracy_centred": round(centroid.centred_accuracy, 4),
        "text_centroid_chance": round(centroid.chance, 4),
        "text_centroid_n_texts": centroid.n_texts,
        "style_dependence_r": round(dependence.correlation, 4),
        "style_offset_gain": round(dependence.offset_gain, 4),
    }


def training_metrics(result: TrainResult, train_cfg: TrainConfig) -> dict:
    """The flat metrics of a finished (or stopped) run: progress, throughput, last logged losses."""
    metrics: dict = {
        "completed": result.completed, "global_step": result.global_step, "train_clips": result.n_train_clips,
        "stage1_completed": result.steps["stage1"] >= stage_lengths(train_cfg)["stage1"],
        "windows_per_second": round(result.windows_per_second, 1),
    }
    for stage, values in result.final_metrics.items():
        for key, value in values.items():
            metrics[f"{stage}_{key}"] = round(float(value), 5)
    return metrics


def _has_split(processed: str | Path, split: str) -> bool:
    from talkclip.preprocess.dataset import read_manifest

    return bool((read_manifest(Path(processed) / "manifest.csv")["split"] == split).any())


def run_training(
    model_cfg: ModelConfig, train_cfg: TrainConfig, processed: str | Path, annotated: str | Path,
    sync: str | Path | None, out: str | Path, run, backbone, *, restart: bool = False, stop_after: str | None = None,
    init_from: str | Path | None = None,
) -> tuple[TrainResult, dict]:
    """Train into ``out`` inside the tracked ``run`` (resuming its last checkpoint unless ``restart``);
    returns the result and its flat metrics."""
    out = Path(out)
    run.log_dataset(Path(processed) / "manifest.csv", "processed", "training")
    if train_cfg.workers > 1:
        from .distributed import train_on_ray

        hooks = StageHooks(str(Path(processed).resolve()), str(Path(annotated).resolve()), train_cfg, run.handle(),
                           str((out / "curves.csv").resolve()))
        result = train_on_ray(model_cfg, train_cfg, processed, annotated, out, sync, hooks, resume=not restart,
                              backbone=backbone, stop_after_stage=stop_after, init_from=init_from)
    else:
        curves = StyleCurves(processed, annotated, train_cfg, backbone, run)
        result = train(model_cfg, train_cfg, processed, annotated, out, sync, on_log=run.on_log, resume=not restart,
                       backbone=backbone, stop_after_stage=stop_after, init_from=init_from,
                       on_eval=curves if curves.monitor is not None else None)
        curves.write(out / "curves.csv", result.resumed_from)
    metrics = training_metrics(result, train_cfg)
    if _has_split(processed, "test"):
        metrics.update(style_probes(result.checkpoint, processed, annotated, train_cfg, backbone))
    else:  # a real dataset trained on all its speakers: nothing held out to probe the style on
        metrics["style_probes"] = "skipped: the processed dataset has no test split (preprocess.test_speakers)"
    run.log_metrics(result.global_step, metrics)
    run.log_artifact(result.checkpoint, "checkpoints")
    return result, metrics
