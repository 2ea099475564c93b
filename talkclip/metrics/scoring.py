"""Scoring one generated/reference pair: the per-pair part of evaluation/PROTOCOL.md.

A pair is scored in one or two tasks, so that two worker processes can share one long video:

- ``"image"``: decode and crop both videos once, then SSIM, PSNR, CPBD (generated), F-/M-LMD and the
  optional networks (identity similarity, LPIPS, FID / FVD features, emotion prediction);
- ``"sync"``: the generated video against its audio with SyncNet (Sync_conf / LSE-C, LSE-D, offset).

`score_task` runs in a worker process (`talkclip.parallel`); the networks are loaded once per process
(`_models`). What depends on the reference video only (its face box, dlib landmarks, identity
embedding, FID / FVD features) is cached in ``settings.cache_dir`` under a key of the file's path, size
and modification time, so a reference scored for several methods is analysed once.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkclip.atomic import atomic_path
from talkclip.formats.media import MediaError, read_audio
from talkclip.metrics.cpbd import cpbd_video
from talkclip.metrics.landmarks import DlibLandmarks, LandmarkError, NoFaceError, lmd_scores
from talkclip.metrics.ssim import match_lengths, psnr_video, ssim_video
from talkclip.metrics.syncnet import SyncInputError, evaluate_sync, load_syncnet
from talkclip.metrics.video_input import (
    CropBox,
    CroppedVideo,
    EvaluationError,
    check_lengths,
    face_crop_box,
    find_landmark_sidecar,
    given_landmarks_25fps,
    landmarks_to_crop,
    load_crop,
)
from talkclip.parallel import ProgressHook

CROP_MODES = ("auto", "none", "face")
LANDMARK_SOURCES = ("auto", "given", "dlib")
# Errors of one pair that become an error row; anything else is a bug and stops the run.
PAIR_ERRORS = (MediaError, LandmarkError, SyncInputError, EvaluationError, ValueError, OSError, RuntimeError)


@dataclass(frozen=True)
class ScoringSettings:
    """Everything a worker needs to score pairs (plain data: it is pickled to the workers)."""

    crop: str = "auto"
    crop_size: int = 256
    landmark_source: str = "auto"
    syncnet: str | None = None  # weights path
    audio_dir: str | None = None
    max_mismatch_s: float = 0.2
    identity: str | None = None  # None, "dlib" or an ArcFace (iresnet) state-dict path
    identity_frames: int = 10
    lpips: str | None = None  # LPIPS linear heads (alex.pth / vgg.pth)
    lpips_backbone: str | None = None  # torchvision AlexNet / VGG16 ImageNet weights
    fid: str | None = None  # pytorch-fid Inception weights
    fvd: str | None = None  # I3D (pytorch-i3d rgb_imagenet.pt layout)
    emotion: str | None = None  # Emotion-FAN weights
    emotion_labels: tuple[str, ...] | None = None
    cache_dir: str | None = None


@dataclass(frozen=True)
class PairTask:
    name: str
    generated: str
    reference: str
    groups: tuple[str, ...]  # ("image",), ("sync",) or both
    settings: ScoringSettings = field(default_factory=ScoringSettings)


# ----------------------------------------------------------------------------------------------------
# Networks, once per process


_loaded: dict[tuple[str, str], Any] = {}


def _model(kind: str, settings: ScoringSettings) -> Any:
    """The network of ``kind`` for ``settings``, loaded on first use in this process."""
    key = (kind, repr(asdict(settings)))
    if key not in _loaded:
        _loaded[key] = _load_model(kind, settings)
    return _loaded[key]


def _load_model(kind: str, settings: ScoringSettings) -> Any:
    if kind == "detector":
        return DlibLandmarks()
    if kind == "syncnet":
        return load_syncnet(settings.syncnet)
    if kind == "identity":
        from talkclip.metrics.identity import load_identity_encoder

        return load_identity_encoder(settings.identity)
    if kind == "lpips":
        from talkclip.metrics.lpips import load_lpips

        return load_lpips(settings.lpips, settings.lpips_backbone)
    if kind == "fid":
        from talkclip.metrics.fid import load_fid_inception

        return load_fid_inception(settings.fid)
    if kind == "fvd":
        from talkclip.metrics.fvd import load_i3d

        return load_i3d(settings.fvd)
    if kind == "emotion":
        from talkclip.metrics.emotion import load_emotion_classifier

        return load_emotion_classifier(settings.emotion, settings.emotion_labels)
    raise KeyError(kind)


# ----------------------------------------------------------------------------------------------------
# Reference cache


class ReferenceCache:
    """npz files in ``folder`` keyed by (file path, size, mtime, what); None: no caching."""

    def __init__(self, folder: str | None):
        self.folder = Path(folder) if folder else None

    def key(self, path: Path, what: str) -> str:
        stat = path.stat()
        text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{what}"
        return hashlib.sha1(text.encode()).hexdigest()

    def get(self, path: Path, what: str, compute) -> dict[str, np.ndarray]:
        if self.folder is None:
            return compute()
        file = self.folder / f"{self.key(path, what)}.npz"
        if file.is_file():
            with np.load(file, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        values = compute()
        with atomic_path(file) as tmp:
            np.savez(tmp, **values)
        return values


# ----------------------------------------------------------------------------------------------------
# The two task groups


def _crop_mode(settings: ScoringSettings, reference: Path) -> str:
    if settings.crop != "auto":
        return settings.crop
    from talkclip.formats.media import probe_video

    info = probe_video(reference)
    return "none" if info.width == info.height else "face"


def _box(settings: ScoringSettings, reference: Path, cache: ReferenceCache) -> CropBox | None:
    if _crop_mode(settings, reference) == "none":
        return None
    def detect() -> dict[str, np.ndarray]:
        box = face_crop_box(reference, _model("detector", settings))
        return {"box": np.array([box.top, box.left, box.side])}

    top, left, side = (int(v) for v in cache.get(reference, "face-box", detect)["box"])
    return CropBox(top=top, left=left, side=side)


def _landmarks(settings: ScoringSettings, generated: CroppedVideo, reference: CroppedVideo, box: CropBox | None,
               cache: ReferenceCache, crop_tag: str) -> tuple[np.ndarray, np.ndarray, str]:
    source = settings.landmark_source
    gen_sidecar, ref_sidecar = find_landmark_sidecar(generated.path), find_landmark_sidecar(reference.path)
    if source == "auto":
        source = "given" if gen_sidecar and ref_sidecar else "dlib"
    if source == "given":
        missing = [str(v.path.with_name(f"{v.path.stem}.landmarks.npy")) for v, s in
                   ((generated, gen_sidecar), (reference, ref_sidecar)) if s is None]
        if missing:
            raise LandmarkError(f"landmark_source='given' but no landmark sidecar for {', '.join(missing)}")
        gen_lm = landmarks_to_crop(given_landmarks_25fps(generated, gen_sidecar), generated.frame_hw, box,
                                   settings.crop_size)
        ref_lm = landmarks_to_crop(given_landmarks_25fps(reference, ref_sidecar), reference.frame_hw, box,
                                   settings.crop_size)
        return gen_lm, ref_lm, "given"
    detector = _model("detector", settings)

    def detect(video: CroppedVideo) -> np.ndarray:
        try:
            return detector.landmarks(video.frames)
        except NoFaceError as exc:
            raise NoFaceError(f"{video.path}: {exc}") from None

    # Detected on the same crop of both videos, so the units are crop pixels already.
    ref_lm = cache.get(reference.path, f"dlib68|{crop_tag}", lambda: {"landmarks": detect(reference)})["landmarks"]
    return detect(generated), ref_lm, detector.name


def _image_metrics(task: PairTask, cache: ReferenceCache, progress: ProgressHook,
                   timings: dict) -> tuple[dict[str, Any], CroppedVideo]:
    settings = task.settings
    generated_path, reference_path = Path(task.generated), Path(task.reference)
    steps = ["load", "ssim", "psnr", "cpbd", "landmarks"] + [k for k in ("identity", "lpips", "fid", "fvd", "emotion")
                                                               if getattr(settings, k)]
    clock = _StageClock(progress, steps, timings)

    box = _box(settings, reference_path, cache)
    generated = load_crop(generated_path, box, settings.crop_size)
    reference = load_crop(reference_path, box, settings.crop_size)
    if box is not None and generated.frame_hw != reference.frame_hw:
        raise EvaluationError(
            f"{generated_path}: frame size {generated.frame_hw} differs from the reference {reference.frame_hw}; "
            "a face crop needs both videos at the same resolution"
        )
    check_lengths(generated, reference, settings.max_mismatch_s)
    gen_frames, ref_frames = match_lengths(generated.frames, reference.frames)
    crop_tag = f"{box.describe() if box else 'none'}|{settings.crop_size}"
    row: dict[str, Any] = {
        "generated_fps": generated.fps, "reference_fps": reference.fps,
        "generated_frames": len(generated.frames), "reference_frames": len(reference.frames),
        "frames": len(gen_frames), "crop": box.describe() if box else "none",
    }
    clock.done("load")
    row["ssim"] = ssim_video(gen_frames, ref_frames)
    clock.done("ssim")
    row["psnr"] = psnr_video(gen_frames, ref_frames)
    clock.done("psnr")
    row["cpbd"] = cpbd_video(generated.frames)
    clock.done("cpbd")
    gen_lm, ref_lm, row["landmark_source"] = _landmarks(settings, generated, reference, box, cache, crop_tag)
    row.update(lmd_scores(gen_lm, ref_lm))
    clock.done("landmarks")
    features: dict[str, Any] = {}
    if settings.identity:
        from talkclip.metrics.identity import identity_similarity, sample_frames

        encoder = _model("identity", settings)
        gen_pick, ref_pick = sample_frames(len(gen_lm), settings.identity_frames), sample_frames(
            len(ref_lm), settings.identity_frames)
        ref_emb = cache.get(reference.path, f"identity|{encoder.name}|{crop_tag}|{settings.identity_frames}",
                            lambda: {"embeddings": encoder.embed(reference.frames[ref_pick], ref_lm[ref_pick])})
        gen_emb = encoder.embed(generated.frames[gen_pick], gen_lm[gen_pick])
        row["csim"] = identity_similarity(gen_emb, ref_emb["embeddings"])
        clock.done("identity")
    if settings.lpips:
        row["lpips"] = float(_model("lpips", settings).video_distance(gen_frames, ref_frames))
        clock.done("lpips")
    if settings.fid:
        net = _model("fid", settings)
        features["fid"] = (net.features(generated.frames),
                           cache.get(reference.path, f"fid|{crop_tag}", lambda: {"f": net.features(reference.frames)})["f"])
        clock.done("fid")
    if settings.fvd:
        net = _model("fvd", settings)
        features["fvd"] = (net.clip_features(generated.frames),
                           cache.get(reference.path, f"fvd|{crop_tag}",
                                     lambda: {"f": net.clip_features(reference.frames)})["f"])
        clock.done("fvd")
    if settings.emotion:
        row["emotion_predicted"] = _model("emotion", settings).predict(generated.frames)
        clock.done("emotion")
    row["_features"] = features
    return row, generated


def _sync_metrics(task: PairTask, progress: ProgressHook, timings: dict,
                  generated: CroppedVideo | None = None) -> dict[str, Any]:
    """SyncNet of the generated video; ``generated`` reuses the image task's decoded crop (one task)."""
    settings = task.settings
    clock = _StageClock(progress, ["sync load", "syncnet"], timings)
    generated_path, reference_path = Path(task.generated), Path(task.reference)
    audio_path = Path(settings.audio_dir) / f"{task.name}.wav" if settings.audio_dir else generated_path
    try:
        audio = read_audio(audio_path)
    except MediaError as exc:
        where = "the --audio folder" if settings.audio_dir else "the generated mp4's own audio track"
        raise EvaluationError(f"no usable audio for SyncNet from {where}: {exc}") from None
    # SyncNet scores the generated video at its own length against its audio (no length matching).
    if generated is None:
        generated = load_crop(generated_path, _box(settings, reference_path, ReferenceCache(settings.cache_dir)),
                              settings.crop_size)
    clock.done("sync load")
    result = evaluate_sync(_model("syncnet", settings), generated.frames, audio)
    clock.done("syncnet")
    return {"sync_conf": result.confidence, "lse_d": result.min_distance, "sync_offset": result.offset}


class _StageClock:
    """Moves the task's progress bar and records seconds per stage (the benchmark's per-metric split)."""

    def __init__(self, progress: ProgressHook, steps: list[str], timings: dict):
        self.progress, self.steps, self.timings = progress, steps, timings
        self.started = time.perf_counter()
        self.count = 0

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.started
        self.started = now
        self.count += 1
        self.progress(stage, self.count, len(self.steps))


def score_task(task: PairTask, progress: ProgressHook) -> dict[str, Any]:
    """The metrics of ``task.groups`` for one pair; a problem of the pair becomes ``status="error"``."""
    row: dict[str, Any] = {"name": task.name, "status": "ok", "error": ""}
    timings: dict[str, float] = {}
    generated = None
    try:
        if "image" in task.groups:
            image_row, generated = _image_metrics(task, ReferenceCache(task.settings.cache_dir), progress, timings)
            row.update(image_row)
        if "sync" in task.groups:
            row.update(_sync_metrics(task, progress, timings, generated))
    except PAIR_ERRORS as exc:
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        row.pop("_features", None)
    row["_seconds"] = timings
    return row
