"""Frame-rate conversion and the audio/video length rule of the processed dataset.

The rule (documented in the README and DESIGN.md):

1. A clip's video lasts ``n_video / video_fps`` seconds and its audio ``n_samples / sample_rate``.
   Raw MEAD clips differ by a few tens of milliseconds; if they differ by more than
   ``max_av_mismatch_s`` the clip is rejected (``LengthMismatchError``).
2. Otherwise the clip keeps the common part, ``duration = min(audio, video)``, starting at 0 (both
   streams start together in MEAD and HDTF), and has ``floor(duration * fps + 1e-6)`` frames at the
   output rate.
3. Frame ``i`` of the output is at time ``i / fps``. Per-frame video quantities (expression, pose,
   landmarks, AUs) are linearly interpolated at that time from the source frames at
   ``j / source_fps`` (the fit's rate for coefficients); phonemes take the phone whose interval
   contains ``i / fps``.

The frame rate of a ``.mat`` is not in the file. Fits are made from the video they come with, but
the field distributes 25 fps fits of 30 fps MEAD videos (StyleTalk, DreamTalk), so the rate is
configured (``preprocess.coeffs_fps``, ``talkclip preprocess --coeffs-fps``) or inferred per clip by
:func:`coeffs_frame_rate`: the video's own rate when the fit and the video last equally long
(within ``max_av_mismatch_s``), otherwise the first of ``COMMON_COEFFS_FPS`` that makes them agree;
an error lists every rate tried. Without a video, ``preprocess.mat_fps_without_video`` is assumed.
"""
from __future__ import annotations

import math

import numpy as np

COMMON_COEFFS_FPS: tuple[float, ...] = (25.0, 30.0)  # the rates 3DMM fits are distributed at


class LengthMismatchError(ValueError):
    """Audio and video durations of one clip differ by more than the tolerance."""


def coeffs_frame_rate(
    n_coeffs: int, n_video_frames: int, video_fps: float, configured: float, max_mismatch_s: float, name: str,
) -> tuple[float, str]:
    """(frame rate of a clip's 3DMM coefficients, how it was chosen), by the rule of this module.

    ``configured`` > 0 is used as given (and still checked against the video); 0 means infer.
    """
    video_s = n_video_frames / video_fps
    candidates = [float(configured)] if configured > 0 else list(dict.fromkeys([float(video_fps), *COMMON_COEFFS_FPS]))
    tried = []
    for rate in candidates:
        gap = abs(n_coeffs / rate - video_s)
        if gap <= max_mismatch_s:
            how = "configured" if configured > 0 else ("video" if rate == float(video_fps) else "inferred")
            return rate, how
        tried.append(f"at {rate:g} fps they last {n_coeffs / rate:.3f} s ({gap:.3f} s apart)")
    assumed = (f"assumed preprocess.coeffs_fps = {configured:g}" if configured > 0 else
               "preprocess.coeffs_fps = 0: tried the video's rate, then " + ", ".join(f"{r:g}" for r in COMMON_COEFFS_FPS))
    raise LengthMismatchError(
        f"{name}: the 3DMM fit has {n_coeffs} frames and the video {n_video_frames} frames at {video_fps:g} fps "
        f"({video_s:.3f} s); " + "; ".join(tried) + f" ({assumed}; tolerance preprocess.max_av_mismatch_s = "
        f"{max_mismatch_s:g} s). Set the fits' frame rate with --coeffs-fps or preprocess.coeffs_fps, or check "
        f"that the files belong together"
    )


def common_frame_count(
    n_video_frames: int, video_fps: float, audio_seconds: float, fps: float, max_mismatch_s: float, name: str
) -> int:
    """Number of output frames at ``fps`` for one clip, by the length rule above."""
    if n_video_frames <= 0:
        raise LengthMismatchError(f"{name}: video has no frames")
    if audio_seconds <= 0:
        raise LengthMismatchError(f"{name}: audio is empty")
    video_seconds = n_video_frames / video_fps
    gap = abs(video_seconds - audio_seconds)
    if gap > max_mismatch_s:
        raise LengthMismatchError(
            f"{name}: audio lasts {audio_seconds:.3f} s but video {video_seconds:.3f} s "
            f"({n_video_frames} frames at {video_fps:g} fps); difference {gap:.3f} s exceeds "
            f"the tolerance preprocess.max_av_mismatch_s = {max_mismatch_s:g} s"
        )
    duration = min(video_seconds, audio_seconds)
    return math.floor(duration * fps + 1e-6)


def resample_frames(values: np.ndarray, source_fps: float, target_fps: float, n_out: int) -> np.ndarray:
    """Linearly interpolate per-frame values (T, ...) from ``source_fps`` to ``n_out`` frames at ``target_fps``."""
    values = np.asarray(values)
    n_src = values.shape[0]
    if n_src == 0:
        raise ValueError("resample_frames: no source frames")
    positions = np.arange(n_out, dtype=np.float64) * (source_fps / target_fps)
    positions = np.clip(positions, 0.0, n_src - 1)
    lo = np.floor(positions).astype(np.int64)
    hi = np.minimum(lo + 1, n_src - 1)
    frac = (positions - lo).reshape((-1,) + (1,) * (values.ndim - 1))
    out = values[lo] * (1.0 - frac) + values[hi] * frac
    return out.astype(values.dtype if np.issubdtype(values.dtype, np.floating) else np.float32)


def resample_labels(labels: np.ndarray, source_fps: float, target_fps: float, n_out: int) -> np.ndarray:
    """Nearest-in-time resampling of per-frame integer labels (e.g. StyleTalk ``*_seq.json`` phonemes).

    Output frame i at time i/target_fps takes the source frame whose span [j/fps, (j+1)/fps) contains it.
    """
    labels = np.asarray(labels)
    if labels.shape[0] == 0:
        raise ValueError("resample_labels: no source labels")
    idx = np.floor(np.arange(n_out, dtype=np.float64) * source_fps / target_fps + 1e-9).astype(np.int64)
    return labels[np.minimum(idx, labels.shape[0] - 1)]
