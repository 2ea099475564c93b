"""Head pose for an animated portrait: a little natural motion, or a reference clip's pose.

Poses are (T, 6) ``[yaw, pitch, roll, tx, ty, tz]`` in the embedded face model's convention
(``talkclip.corpus.face_model.project``), *relative to the photo*: zero is the photo's own pose.

- :func:`idle_head_motion`: slow, smooth sways (sums of sinusoids at 0.07-0.45 Hz, about 1-2
  degrees) plus small nods that follow the loudness of the speech; it starts at zero, so the
  first frame is the photo. Deterministic for a seed.
- :func:`reference_pose`: the rotations of a reference clip, relative to its first frame: a
  Deep3DFaceRecon ``.mat`` (a real fit's angles are about x, y, z = pitch, yaw, roll; both
  conventions rotate R = Rz Ry Rx with y up and z towards the camera; an embedded-corpus ``.mat``
  holds the embedded order) or an embedded-corpus / processed ``.npz`` with ``pose`` and ``fps``. Translations are not copied: a 3DMM fit's translation is in its own units,
  and the photo's framing is kept.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from talkclip.corpus.face_model import POSE_DIM

IDLE_AMPLITUDE_RAD = np.array([0.035, 0.022, 0.014])  # yaw, pitch, roll: ~2, 1.3, 0.8 degrees
NOD_RAD = 0.02  # pitch at full loudness
SAMPLE_RATE = 16000


def loudness_envelope(audio: np.ndarray, n_frames: int, fps: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(T,) RMS loudness per video frame, smoothed over ~0.3 s and scaled to 0..1 (robust maximum)."""
    audio = np.asarray(audio, dtype=np.float64)
    hop = sample_rate / fps
    starts = (np.arange(n_frames) * hop).astype(int)
    rms = np.array([np.sqrt(np.mean(audio[s : s + int(hop)] ** 2)) if s < len(audio) else 0.0 for s in starts])
    width = max(round(0.3 * fps), 1)
    smooth = np.convolve(rms, np.ones(width) / width, mode="same")
    top = np.percentile(smooth, 95) if n_frames else 0.0
    return np.clip(smooth / top, 0.0, 1.0) if top > 0 else np.zeros(n_frames)


def idle_head_motion(n_frames: int, fps: float, seed: int = 0, loudness: np.ndarray | None = None) -> np.ndarray:
    """(T, 6) gentle head motion starting at the photo's pose (see the module docstring)."""
    if n_frames < 0 or fps <= 0:
        raise ValueError(f"idle_head_motion: need n_frames >= 0 and fps > 0, got {n_frames}, {fps}")
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    pose = np.zeros((n_frames, POSE_DIM))
    for axis, amplitude in enumerate(IDLE_AMPLITUDE_RAD):
        freqs = rng.uniform(0.07, 0.45, 3)
        phases = rng.uniform(0, 2 * np.pi, 3)
        weights = rng.dirichlet(np.ones(3))
        wave = sum(w * np.sin(2 * np.pi * f * t + p) for w, f, p in zip(weights, freqs, phases))
        pose[:, axis] = amplitude * (wave - (wave[0] if n_frames else 0.0))
    if loudness is not None and n_frames:
        loud = np.asarray(loudness, dtype=np.float64)
        if loud.shape != (n_frames,):
            raise ValueError(f"idle_head_motion: loudness must be ({n_frames},), got {loud.shape}")
        pose[:, 1] += NOD_RAD * (loud - loud[0])
    return pose


def loop_track(track: np.ndarray, n_frames: int) -> np.ndarray:
    """``track`` for ``n_frames``: cut, or played forwards and backwards (no jump) when shorter."""
    if len(track) >= n_frames:
        return track[:n_frames]
    bounce = np.concatenate([track, track[::-1]])
    return np.tile(bounce, (int(np.ceil(n_frames / len(bounce))), 1))[:n_frames]


def reference_pose(path: str | Path, n_frames: int, fps: float, reference_fps: float | None = None) -> np.ndarray:
    """(T, 6) rotations of a reference clip relative to its first frame, resampled to ``fps``.

    ``reference_fps``: the frame rate of a ``.mat`` (which does not store one); default 25 (MEAD fits
    as DreamTalk ships them; StyleTalk's samples are 30). ``.npz`` files carry their own ``fps``.
    """
    from talkclip.expression import BFM_SPACE
    from talkclip.formats.mat3dmm import read_mat
    from talkclip.preprocess.spaces import coeffs_file_space
    from talkclip.preprocess.timing import resample_frames

    path = Path(path)
    if path.suffix.lower() == ".mat":
        angles = read_mat(path).angles.astype(np.float64)
        # A real fit stores rotations about x, y, z (pitch, yaw, roll); the embedded corpus writes
        # its own pose order (yaw, pitch, roll) into the same slot (talkclip.preprocess.spaces tells them apart).
        rotations = angles[:, [1, 0, 2]] if coeffs_file_space(path)[0] == BFM_SPACE else angles
        source_fps = float(reference_fps or 25.0)
    elif path.suffix.lower() == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"pose reference {path} does not exist")
        with np.load(path, allow_pickle=False) as data:
            if "pose" not in data.files or "fps" not in data.files:
                raise ValueError(f"pose reference {path}: expected 'pose' and 'fps' entries, found {data.files}")
            pose = np.asarray(data["pose"], dtype=np.float64)
            source_fps = float(data["fps"])
        if pose.ndim != 2 or pose.shape[1] < 3:
            raise ValueError(f"pose reference {path}: 'pose' must be (T, 6) or (T, 9), got {pose.shape}")
        rotations = pose[:, :3]
    else:
        raise ValueError(f"pose reference {path}: expected a Deep3DFaceRecon .mat or a .npz with 'pose' and 'fps', "
                         f"got a {path.suffix or 'file without extension'}")
    if len(rotations) == 0 or not np.isfinite(rotations).all():
        raise ValueError(f"pose reference {path}: empty or non-finite rotations")
    n_source = max(int(np.floor(len(rotations) / source_fps * fps + 1e-6)), 1)
    resampled = resample_frames(rotations, source_fps, fps, n_source)
    out = np.zeros((n_frames, POSE_DIM))
    out[:, :3] = loop_track(resampled - resampled[0], n_frames)
    return out
