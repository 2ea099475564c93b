"""SSIM between a generated and a reference video (scikit-image), plus optional pyiqa columns.

Protocol (see evaluation/PROTOCOL.md): both videos are uint8 RGB (T, H, W, 3) of the same frame size
(the evaluator crops/resizes to the evaluation crop first) and at the same frame rate (25 fps). If their
lengths differ, the longer one is resampled to the shorter length (`match_lengths`), then
`skimage.metrics.structural_similarity(generated, reference, channel_axis=-1, data_range=255)` is
computed per frame (7x7 uniform window, SSIM averaged over the three channels) and averaged over frames.
`ssim_frames` computes exactly that formula with OpenCV box filters in float32 (3-4x faster than
scikit-image; equal to it within 1e-6, which the tests check against scikit-image itself).

PSNR (`psnr_frames`): per frame on RGB scaled to [0, 1], ``10 log10(1 / (MSE + 1e-8))`` -- pyiqa's
``psnr`` exactly (the test oracle), so identical frames give its cap of 80 dB -- averaged over frames.

pyiqa columns (`pyiqa_scores`): pyiqa's `psnr` (RGB, dB), `ssim` and `ms_ssim` (both on the Y channel
of YCbCr, pyiqa's defaults). These metrics carry no learned weights, so `pyiqa.create_metric(name,
device="cpu")` runs offline. MS-SSIM needs frames of at least `MS_SSIM_MIN_SIZE` pixels per side
(5 scales with an 11x11 window); smaller frames get NaN for that column.
"""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np

PYIQA_METRICS = ("psnr", "ssim", "ms_ssim")
SSIM_WINDOW = 7  # scikit-image's default uniform window
SSIM_C1 = (0.01 * 255) ** 2  # K1 = 0.01, K2 = 0.03, data range 255
SSIM_C2 = (0.03 * 255) ** 2
PSNR_EPS = 1e-8  # pyiqa's eps on the [0, 1] scale: identical frames give 80 dB
MS_SSIM_MIN_SIZE = 161  # 4 halvings must leave at least the 11-pixel Gaussian window


class VideoShapeError(ValueError):
    """Two videos passed to a metric cannot be compared (shape, dtype or empty)."""


def resample_indices(n_source: int, n_target: int) -> np.ndarray:
    """Indices of ``n_target`` frames taken evenly (nearest in time) from ``n_source`` frames.

    Frame i of the output is source frame ``floor((i + 0.5) * n_source / n_target)``: the source frame
    whose time span contains the centre of output frame i when both cover the same duration.
    With ``n_target == n_source`` this is the identity.
    """
    if n_source <= 0 or n_target <= 0:
        raise VideoShapeError(f"cannot resample {n_source} frames to {n_target}")
    idx = np.floor((np.arange(n_target) + 0.5) * (n_source / n_target)).astype(np.int64)
    return np.minimum(idx, n_source - 1)


def resample_fps(frames: np.ndarray, source_fps: float, target_fps: float = 25.0) -> np.ndarray:
    """Nearest-in-time frame-rate conversion of a per-frame array (video frames, landmarks).

    Output frame i (time i / target_fps) is the source frame whose span [j / source_fps, (j + 1) /
    source_fps) contains that time; the output has ``floor(n * target_fps / source_fps)`` frames, so it
    never runs past the end of the source (the rule of ``talkclip.preprocess.timing``).
    """
    if source_fps <= 0 or target_fps <= 0:
        raise VideoShapeError(f"frame rates must be positive, got {source_fps} -> {target_fps}")
    n_source = len(frames)
    n_target = int(np.floor(n_source * target_fps / source_fps + 1e-6))
    if n_target == 0:
        raise VideoShapeError(f"{n_source} frames at {source_fps:g} fps give no frame at {target_fps:g} fps")
    idx = np.floor(np.arange(n_target) * (source_fps / target_fps) + 1e-9).astype(np.int64)
    return frames[np.minimum(idx, n_source - 1)]


def match_lengths(generated: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample the longer of two per-frame arrays to the length of the shorter one."""
    n_gen, n_ref = len(generated), len(reference)
    if n_gen == 0 or n_ref == 0:
        raise VideoShapeError(f"empty video: generated has {n_gen} frames, reference {n_ref}")
    if n_gen > n_ref:
        generated = generated[resample_indices(n_gen, n_ref)]
    elif n_ref > n_gen:
        reference = reference[resample_indices(n_ref, n_gen)]
    return generated, reference


def _check_videos(generated: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    generated, reference = np.asarray(generated), np.asarray(reference)
    for name, video in (("generated", generated), ("reference", reference)):
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise VideoShapeError(
                f"{name} video must be uint8 RGB (T, H, W, 3), got dtype {video.dtype} shape {video.shape}"
            )
    if generated.shape[1:] != reference.shape[1:]:
        raise VideoShapeError(
            f"frame sizes differ: generated {generated.shape[1:3]}, reference {reference.shape[1:3]}; "
            "crop/resize both to the evaluation crop first"
        )
    return match_lengths(generated, reference)


def _ssim_frame(generated: np.ndarray, reference: np.ndarray) -> float:
    """scikit-image's SSIM of one RGB frame pair (uniform 7x7 window, sample covariance, borders of
    3 px left out of the mean as scikit-image crops them), with OpenCV box filters in float32."""
    gen, ref = generated.astype(np.float32), reference.astype(np.float32)
    pad = (SSIM_WINDOW - 1) // 2
    inner = (slice(pad, -pad), slice(pad, -pad))

    def window_mean(image: np.ndarray) -> np.ndarray:
        # Valid-window means: the reflected border only reaches pixels that are cropped away.
        return cv2.blur(image, (SSIM_WINDOW, SSIM_WINDOW), borderType=cv2.BORDER_REFLECT)[inner]

    n = SSIM_WINDOW * SSIM_WINDOW
    cov_norm = n / (n - 1.0)
    mean_gen, mean_ref = window_mean(gen), window_mean(ref)
    var_gen = cov_norm * (window_mean(gen * gen) - mean_gen * mean_gen)
    var_ref = cov_norm * (window_mean(ref * ref) - mean_ref * mean_ref)
    covariance = cov_norm * (window_mean(gen * ref) - mean_gen * mean_ref)
    ssim_map = ((2 * mean_gen * mean_ref + SSIM_C1) * (2 * covariance + SSIM_C2)) / (
        (mean_gen * mean_gen + mean_ref * mean_ref + SSIM_C1) * (var_gen + var_ref + SSIM_C2)
    )
    return float(ssim_map.mean(dtype=np.float64))  # equal pixel counts per channel: mean of channel means


def ssim_frames(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame SSIM (T,) of two uint8 RGB videos after length matching."""
    generated, reference = _check_videos(generated, reference)
    if min(generated.shape[1:3]) < SSIM_WINDOW:
        raise VideoShapeError(f"SSIM needs frames of at least {SSIM_WINDOW} px per side, got {generated.shape[1:3]}")
    return np.array([_ssim_frame(gen, ref) for gen, ref in zip(generated, reference)], dtype=np.float64)


def psnr_frames(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame PSNR (T,) in dB of two uint8 RGB videos after length matching (pyiqa's definition)."""
    generated, reference = _check_videos(generated, reference)
    out = np.empty(len(generated), dtype=np.float64)
    for i, (gen, ref) in enumerate(zip(generated, reference)):
        diff = gen.astype(np.float32) - ref.astype(np.float32)
        mse = float(np.mean(diff * diff, dtype=np.float64)) / (255.0 * 255.0)
        out[i] = 10.0 * np.log10(1.0 / (mse + PSNR_EPS))
    return out


def psnr_video(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean per-frame PSNR (dB) of two uint8 RGB videos."""
    return float(psnr_frames(generated, reference).mean())


def ssim_video(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean per-frame SSIM of two uint8 RGB videos (the paper's SSIM column)."""
    return float(ssim_frames(generated, reference).mean())


@functools.cache
def _pyiqa_metric(name: str) -> Any:
    import pyiqa  # optional and slow to import: only when the extra columns are asked for

    return pyiqa.create_metric(name, device="cpu")


def pyiqa_scores(
    generated: np.ndarray, reference: np.ndarray, metrics: tuple[str, ...] = PYIQA_METRICS, batch_size: int = 32
) -> dict[str, float]:
    """Mean per-frame pyiqa scores ``{"pyiqa_psnr": ..., "pyiqa_ssim": ..., "pyiqa_ms_ssim": ...}``."""
    import torch

    unknown = sorted(set(metrics) - set(PYIQA_METRICS))
    if unknown:
        raise ValueError(f"pyiqa metrics {unknown} are not offline-safe here; choose from {PYIQA_METRICS}")
    generated, reference = _check_videos(generated, reference)
    scores: dict[str, float] = {}
    for name in metrics:
        if name == "ms_ssim" and min(generated.shape[1:3]) < MS_SSIM_MIN_SIZE:
            scores[f"pyiqa_{name}"] = float("nan")
            continue
        metric = _pyiqa_metric(name)
        values = []
        for start in range(0, len(generated), batch_size):
            # pyiqa takes float (N, 3, H, W) in [0, 1]
            gen = torch.from_numpy(generated[start : start + batch_size]).permute(0, 3, 1, 2).float() / 255.0
            ref = torch.from_numpy(reference[start : start + batch_size]).permute(0, 3, 1, 2).float() / 255.0
            with torch.no_grad():
                values.append(metric(gen, ref).reshape(-1).double().cpu().numpy())
        scores[f"pyiqa_{name}"] = float(np.concatenate(values).mean())
    return scores
