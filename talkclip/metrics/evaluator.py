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

A pair that cannot be scored (unreadable or empty file, no matching reference, no face, no audio for
SyncNet, ...) becomes an error row naming the problem; the other pairs continue. Outputs (when
``out_dir`` is given): ``per_video.csv`` and ``summary.json``, each written atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from talkclip.atomic import atomic_path, write_text
from talkclip.formats.media import MediaError, read_audio, read_video
from talkclip.metrics.cpbd import cpbd_video
from talkclip.metrics.landmarks import DlibLandmarks, LandmarkError, NoFaceError, lmd_scores
from talkclip.metrics.ssim import match_lengths, resample_fps, resample_indices, ssim_video
from talkclip.metrics.syncnet import SyncInputError, SyncNet, evaluate_sync, load_syncnet

TARGET_FPS = 25.0
DEFAULT_CROP_SIZE = 256
FACE_BOX_SCALE = 1.6  # dlib boxes cover brows to chin; 1.6x takes in the forehead and jaw like aligned crops
CROP_MODES = ("auto", "none", "face")
LANDMARK_SOURCES = ("auto", "given", "dlib")
METRIC_COLUMNS = ("ssim", "cpbd", "f_lmd", "m_lmd", "sync_conf", "lse_d", "sync_offset")


class EvaluationError(ValueError):
    """A pair of videos cannot be scored; the message names the file and the problem."""


@dataclass(frozen=True)
class CropBox:
    """Square crop ``[top:top+side, left:left+side]`` in pixels of the original frames."""

    top: int
    left: int
    side: int


# ----------------------------------------------------------------------------------------------------
# Cropping


def face_crop_box(reference_frames: np.ndarray, detector: DlibLandmarks, path: Path) -> CropBox:
    """Square box around the reference video's face: median dlib box over frames, scaled, clipped."""
    boxes = [b for b in detector.face_boxes(reference_frames) if b is not None]
    if not boxes:
        raise NoFaceError(f"{path}: no face found by dlib in any of {len(reference_frames)} reference frames")
    # The median of the per-frame boxes is robust to a few bad detections and fixed for the whole clip.
    centre_x = float(np.median([(b.left() + b.right()) / 2 for b in boxes]))
    centre_y = float(np.median([(b.top() + b.bottom()) / 2 for b in boxes]))
    size = float(np.median([max(b.width(), b.height()) for b in boxes])) * FACE_BOX_SCALE
    height, width = reference_frames.shape[1:3]
    side = int(round(min(size, height, width)))
    left = int(round(min(max(centre_x - side / 2, 0), width - side)))
    top = int(round(min(max(centre_y - side / 2, 0), height - side)))
    return CropBox(top=top, left=left, side=side)


def crop_and_resize(frames: np.ndarray, box: CropBox | None, crop_size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, crop_size, crop_size, 3) uint8: cut ``box`` (or keep the frame), resize bilinearly."""
    if box is not None:
        frames = frames[:, box.top : box.top + box.side, box.left : box.left + box.side]
    if frames.shape[1:3] == (crop_size, crop_size):
        return np.ascontiguousarray(frames)
    out = np.empty((len(frames), crop_size, crop_size, 3), dtype=np.uint8)
    for start in range(0, len(frames), 64):  # chunks keep the float copy small for long videos
        chunk = torch.from_numpy(np.ascontiguousarray(frames[start : start + 64])).permute(0, 3, 1, 2).float()
        resized = F.interpolate(chunk, size=(crop_size, crop_size), mode="bilinear", align_corners=False)
        out[start : start + 64] = resized.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return out


def landmarks_to_crop(landmarks: np.ndarray, frame_hw: tuple[int, int], box: CropBox | None, crop_size: int) -> np.ndarray:
    """Landmarks in pixels of the original frames -> pixels of the evaluation crop."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if box is None:
        height, width = frame_hw
        return landmarks * np.array([crop_size / width, crop_size / height])
    return (landmarks - np.array([box.left, box.top])) * (crop_size / box.side)


# ----------------------------------------------------------------------------------------------------
# Inputs


def find_landmark_sidecar(video_path: Path) -> Path | None:
    """``{name}.landmarks.npy`` or ``{name}.npz`` (with a ``landmarks`` key) next to the video, if any."""
    npy = video_path.with_name(f"{video_path.stem}.landmarks.npy")
    if npy.is_file():
        return npy
    npz = video_path.with_suffix(".npz")
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as data:
            if "landmarks" in data.files:
                return npz
    return None


def read_landmark_sidecar(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        values = np.load(path, allow_pickle=False)
    else:
        with np.load(path, allow_pickle=False) as data:
            values = data["landmarks"]
    if values.ndim != 3 or values.shape[1:] != (68, 2):
        raise LandmarkError(f"{path}: landmarks must be (T, 68, 2), got shape {values.shape}")
    return values.astype(np.float64)


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


def _load_25fps(path: Path) -> tuple[np.ndarray, float]:
    frames, fps = read_video(path)  # raises MediaError naming the file (missing, empty, corrupt, no frames)
    return resample_fps(frames, fps, TARGET_FPS), fps


def _given_landmarks_25fps(video_path: Path, sidecar: Path, fps: float, n_frames_native: int) -> np.ndarray:
    landmarks = read_landmark_sidecar(sidecar)
    if abs(len(landmarks) - n_frames_native) > 1:
        raise LandmarkError(
            f"{sidecar}: {len(landmarks)} landmark frames for {video_path.name} with {n_frames_native} frames"
        )
    return resample_fps(landmarks, fps, TARGET_FPS)


# ----------------------------------------------------------------------------------------------------
# One pair


def evaluate_pair(
    name: str,
    generated_path: Path,
    reference_path: Path,
    *,
    crop: str,
    crop_size: int,
    landmark_source: str,
    detector: DlibLandmarks,
    syncnet: SyncNet | None,
    audio_dir: Path | None,
) -> dict[str, Any]:
    """All metrics of one pair (raises on any problem; `evaluate_folders` turns that into an error row)."""
    generated, gen_fps = _load_25fps(generated_path)
    reference, ref_fps = _load_25fps(reference_path)
    n_gen_native = int(math.floor(len(generated) * gen_fps / TARGET_FPS + 0.5))
    n_ref_native = int(math.floor(len(reference) * ref_fps / TARGET_FPS + 0.5))
    row: dict[str, Any] = {
        "generated_fps": gen_fps, "reference_fps": ref_fps,
        "generated_frames": len(generated), "reference_frames": len(reference),
    }

    mode = crop
    if mode == "auto":
        mode = "none" if reference.shape[1] == reference.shape[2] else "face"
    box = face_crop_box(reference, detector, reference_path) if mode == "face" else None
    if box is not None and generated.shape[1:3] != reference.shape[1:3]:
        raise EvaluationError(
            f"{generated_path}: frame size {generated.shape[1:3]} differs from the reference {reference.shape[1:3]}; "
            "a face crop needs both videos at the same resolution"
        )
    gen_crop = crop_and_resize(generated, box, crop_size)
    ref_crop = crop_and_resize(reference, box, crop_size)
    # Both videos cover the same duration after this (the longer is resampled to the shorter).
    n_frames = min(len(gen_crop), len(ref_crop))
    gen_crop, ref_crop = match_lengths(gen_crop, ref_crop)
    row.update(frames=n_frames, crop=mode if box is None else f"face {box.left},{box.top},{box.side}")

    row["ssim"] = ssim_video(gen_crop, ref_crop)
    row["cpbd"] = cpbd_video(gen_crop)

    source = landmark_source
    gen_sidecar, ref_sidecar = find_landmark_sidecar(generated_path), find_landmark_sidecar(reference_path)
    if source == "auto":
        source = "given" if gen_sidecar and ref_sidecar else "dlib"
    if source == "given":
        missing = [str(p.with_name(f"{p.stem}.landmarks.npy")) for p, s in
                   ((generated_path, gen_sidecar), (reference_path, ref_sidecar)) if s is None]
        if missing:
            raise LandmarkError(f"landmark_source='given' but no landmark sidecar for {', '.join(missing)}")
        gen_lm = _given_landmarks_25fps(generated_path, gen_sidecar, gen_fps, n_gen_native)
        ref_lm = _given_landmarks_25fps(reference_path, ref_sidecar, ref_fps, n_ref_native)
        gen_lm = landmarks_to_crop(gen_lm, generated.shape[1:3], box, crop_size)
        ref_lm = landmarks_to_crop(ref_lm, reference.shape[1:3], box, crop_size)
        row["landmark_source"] = "given"
    else:
        # Detected on the same crop of both videos, so the units are crop pixels already.
        try:
            ref_lm = detector.landmarks(ref_crop)
        except NoFaceError as exc:
            raise NoFaceError(f"{reference_path}: {exc}") from None
        try:
            gen_lm = detector.landmarks(gen_crop)
        except NoFaceError as exc:
            raise NoFaceError(f"{generated_path}: {exc}") from None
        row["landmark_source"] = detector.name
    row.update(lmd_scores(gen_lm, ref_lm))

    if syncnet is not None:
        audio_path = audio_dir / f"{name}.wav" if audio_dir is not None else generated_path
        try:
            audio = read_audio(audio_path)
        except MediaError as exc:
            where = "the --audio folder" if audio_dir is not None else "the generated mp4's own audio track"
            raise EvaluationError(f"no usable audio for SyncNet from {where}: {exc}") from None
        # SyncNet scores the generated video at its own length against its audio (no length matching).
        sync_frames = crop_and_resize(generated, box, crop_size)
        result = evaluate_sync(syncnet, sync_frames, audio)
        row.update(sync_conf=result.confidence, lse_d=result.min_distance, sync_offset=result.offset)
    return row


# ----------------------------------------------------------------------------------------------------
# Folders


def _summary(per_video: pd.DataFrame, settings: dict[str, Any]) -> dict[str, Any]:
    ok = per_video[per_video["status"] == "ok"]
    means = {}
    for column in METRIC_COLUMNS:
        if column in ok and ok[column].notna().any():
            means[column] = float(ok[column].astype(float).mean())
    failed = per_video[per_video["status"] != "ok"]
    return {
        "n_videos": int(len(per_video)),
        "n_ok": int(len(ok)),
        "n_failed": int(len(failed)),
        "failed": {str(r["name"]): str(r["error"]) for _, r in failed.iterrows()},
        "metrics": means,
        "frames_evaluated": int(ok["frames"].sum()) if len(ok) else 0,
        "landmark_sources": sorted(set(ok["landmark_source"].dropna())) if len(ok) else [],
        **settings,
    }


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
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every ``{name}.mp4`` of ``generated_dir`` against ``reference_dir/{name}.mp4``.

    Returns (per-video DataFrame, summary dict); writes ``per_video.csv`` and ``summary.json`` to
    ``out_dir`` when given. ``syncnet`` is a weights path (official ``syncnet_v2.model`` or ours) or a
    loaded `SyncNet`; without it the Sync columns are absent. ``allow_failures`` is recorded in the
    summary (``"passed"`` is true when nothing failed or failures are allowed); the function itself
    never raises for a bad video, only for bad arguments or missing folders.
    """
    generated_dir, reference_dir = Path(generated_dir), Path(reference_dir)
    audio_dir = Path(audio_dir) if audio_dir is not None else None
    if audio_dir is not None and not audio_dir.is_dir():
        raise FileNotFoundError(f"audio folder {audio_dir} does not exist or is not a folder")
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    if landmark_source not in LANDMARK_SOURCES:
        raise ValueError(f"landmark_source must be one of {LANDMARK_SOURCES}, got {landmark_source!r}")
    if crop_size < 32:
        raise ValueError(f"crop_size must be >= 32 px, got {crop_size}")
    weights_name = None
    if syncnet is not None and not isinstance(syncnet, SyncNet):
        weights_name = Path(syncnet).name
        syncnet = load_syncnet(syncnet)
    elif isinstance(syncnet, SyncNet):
        weights_name = getattr(syncnet, "weights_name", "in-memory SyncNet")

    pairs = pair_videos(generated_dir, reference_dir)
    detector = DlibLandmarks()
    rows = []
    started = time.perf_counter()
    for name, generated_path, reference_path in tqdm(pairs, desc="evaluate", unit="video", disable=not progress):
        row: dict[str, Any] = {"name": name, "status": "ok", "error": ""}
        try:
            if generated_path is None:
                raise EvaluationError(f"no generated video {generated_dir / (name + '.mp4')} for reference {reference_path}")
            if reference_path is None:
                raise EvaluationError(f"no reference video {reference_dir / (name + '.mp4')} for {generated_path}")
            row.update(evaluate_pair(
                name, generated_path, reference_path, crop=crop, crop_size=crop_size,
                landmark_source=landmark_source, detector=detector, syncnet=syncnet, audio_dir=audio_dir,
            ))
        except (MediaError, LandmarkError, SyncInputError, EvaluationError, ValueError, OSError, RuntimeError) as exc:
            row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        rows.append(row)
    per_video = pd.DataFrame(rows)
    for column in ("frames", "landmark_source", *METRIC_COLUMNS[:4]):
        if column not in per_video:
            per_video[column] = np.nan
    settings = {
        "generated_dir": str(generated_dir), "reference_dir": str(reference_dir),
        "audio_dir": str(audio_dir) if audio_dir else None, "fps": TARGET_FPS, "crop": crop,
        "crop_size": crop_size, "landmark_source": landmark_source, "syncnet_weights": weights_name,
        "allow_failures": allow_failures, "seconds": round(time.perf_counter() - started, 3),
    }
    summary = _summary(per_video, settings)
    summary["passed"] = bool(summary["n_failed"] == 0 or allow_failures)
    if out_dir is not None:
        out_dir = Path(out_dir)
        with atomic_path(out_dir / "per_video.csv") as tmp:
            per_video.to_csv(tmp, index=False)
        write_text(out_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return per_video, summary


# ----------------------------------------------------------------------------------------------------
# Command line (`talkclip evaluate`, hooked up in talkclip/cli.py)


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--generated", required=True, type=Path, help="folder of generated {name}.mp4 videos")
    parser.add_argument("--reference", required=True, type=Path, help="folder of ground-truth {name}.mp4 videos")
    parser.add_argument("--audio", type=Path, default=None,
                        help="folder of {name}.wav for SyncNet (default: each generated mp4's own audio track)")
    parser.add_argument("--out", type=Path, default=None, help="write per_video.csv and summary.json here")
    parser.add_argument("--syncnet", type=Path, default=None,
                        help="SyncNet weights (syncnet_v2.model or ours); without it no Sync_conf/LSE-D")
    parser.add_argument("--crop-size", type=int, default=DEFAULT_CROP_SIZE, help="evaluation crop side in px")
    parser.add_argument("--crop", choices=CROP_MODES, default="auto",
                        help="none: frames are aligned face crops; face: dlib box of the reference; auto: none if square")
    parser.add_argument("--landmarks", choices=LANDMARK_SOURCES, default="auto",
                        help="given: {name}.landmarks.npy / {name}.npz sidecars; dlib: detector; auto: given if present")
    parser.add_argument("--allow-failures", action="store_true", help="exit 0 even if some videos could not be scored")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run_evaluate(args: argparse.Namespace) -> int:
    """Entry point of ``talkclip evaluate``: 0 if every pair was scored (or --allow-failures), else 1."""
    try:
        per_video, summary = evaluate_folders(
            args.generated, args.reference, audio_dir=args.audio, out_dir=args.out, crop_size=args.crop_size,
            syncnet=args.syncnet, landmark_source=args.landmarks, allow_failures=args.allow_failures,
            progress=not args.no_progress, crop=args.crop,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"talkclip evaluate: {exc}", file=sys.stderr)
        return 2
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items())
    print(f"evaluated {summary['n_ok']}/{summary['n_videos']} videos: {metrics}")
    for name, error in summary["failed"].items():
        print(f"FAILED {name}: {error}", file=sys.stderr)
    return 0 if summary["passed"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = add_evaluate_arguments(argparse.ArgumentParser(prog="python -m talkclip.metrics.evaluator"))
    return run_evaluate(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
