"""Approximate AU intensities from the 68 dlib landmarks: an offline AU source for real videos.

No AU detector runs offline here (OpenFace is a C++ program to build; every AU wheel downloads its
weights at run time), so real MEAD videos would have no AU annotation at all. This estimator reads
the 12 DISFA AUs (``talkclip.corpus.facs.AU_NAMES`` order, 0..5) off face geometry:

1. landmarks -> a face frame (origin between the eye centres, x to the image right, y up, unit =
   inter-ocular distance, eye line horizontal): translation, scale and roll removed;
2. 25 geometric features (brow heights and gap, lid openings, nose-wing and lip heights, mouth
   width, lip-corner heights, lip gaps, chin), :data:`FEATURE_NAMES`;
3. features minus a *reference*: the median features of the speaker's neutral clips when there are
   any (model ``speaker_neutral``), otherwise nothing (model ``population``, less accurate: identity
   shape is then part of the signal);
4. a ridge regression per AU, clipped to 0..5.

The regressions are calibrated on the embedded corpus, where every frame's true AU intensities are
known: its clips are rendered at 256 px and measured with the *same* dlib detector as real videos
(dlib places the drawn brows and lids of the synthetic face less faithfully than real ones, so a
calibration on the renderer's exact landmarks transfers worse; see docs/DESIGN.md). The shipped
coefficients (``talkclip/data/au_from_landmarks.json``) come from ``talkclip au-calibrate`` (module
:mod:`talkclip.au_calibration`), which also writes the held-out-speaker validation into the file.

This is an approximation. OpenFace 2 CSVs (``talkclip annotate --openface DIR``) remain the
recommended AU source when available. Entry points: :func:`estimate_aus` ((T, 68, 2) landmarks ->
(T, 12)), :func:`estimate_aus_from_frames` (RGB frames -> (T, 12)), :func:`video_landmarks`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from talkclip.calibration_file import read_calibration, write_calibration
from talkclip.formats.openface import DISFA_AUS as AU_NAMES

N_AUS = len(AU_NAMES)  # 12, in the project's DISFA order
AU_MAX = 5.0
REFERENCES = ("speaker_neutral", "population")
DEFAULT_MODEL_FILE = "au_from_landmarks.json"
FORMAT = "talkclip-au-from-landmarks-v1"
APPROXIMATION_NOTE = (
    "approximate AU intensities estimated from dlib 68-point landmarks (talkclip.metrics.au_estimate, calibrated "
    "on the embedded corpus); OpenFace 2 CSVs are the recommended source when available"
)


class AUEstimateError(ValueError):
    """Landmarks, features or a model file are malformed."""


# --- geometry -----------------------------------------------------------------------------------------
def normalize_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) image pixels -> (T, 68, 2) face frame: origin between the eye centres (each the
    midpoint of its two corners), x to the image right, y up, unit = their distance, eye line level."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2) or points.shape[0] == 0:
        raise AUEstimateError(f"landmarks must be (T > 0, 68, 2), got shape {points.shape}")
    if not np.isfinite(points).all():
        raise AUEstimateError("landmarks contain NaN/inf")
    right_eye = (points[:, 36] + points[:, 39]) / 2  # the subject's right eye: image left
    left_eye = (points[:, 42] + points[:, 45]) / 2
    origin = (right_eye + left_eye) / 2
    axis = left_eye - right_eye
    distance = np.linalg.norm(axis, axis=1)
    if (distance <= 1e-6).any():
        raise AUEstimateError("landmarks: the eyes coincide in some frame (not a face)")
    cos, sin = axis[:, 0] / distance, axis[:, 1] / distance
    centred = points - origin[:, None]
    x = cos[:, None] * centred[..., 0] + sin[:, None] * centred[..., 1]
    y = -sin[:, None] * centred[..., 0] + cos[:, None] * centred[..., 1]
    return np.stack([x, -y], axis=-1) / distance[:, None, None]  # image y points down; the frame's up


def _mean(values: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    return values[:, list(indices)].mean(axis=1)


# name -> function of (x, y) (T, 68) face-frame coordinates; iBUG 0-based point numbers.
_FEATURES: dict[str, Any] = {
    "brow_inner_r": lambda x, y: y[:, 21], "brow_inner_l": lambda x, y: y[:, 22],
    "brow_outer_r": lambda x, y: y[:, 17], "brow_outer_l": lambda x, y: y[:, 26],
    "brow_mid_r": lambda x, y: y[:, 19], "brow_mid_l": lambda x, y: y[:, 24],
    "brow_gap": lambda x, y: x[:, 22] - x[:, 21],
    "eye_open_r": lambda x, y: _mean(y, (37, 38)) - _mean(y, (40, 41)),
    "eye_open_l": lambda x, y: _mean(y, (43, 44)) - _mean(y, (46, 47)),
    "lower_lid": lambda x, y: _mean(y, (40, 41, 46, 47)),
    "upper_lid": lambda x, y: _mean(y, (37, 38, 43, 44)),
    "nose_wing": lambda x, y: _mean(y, (31, 35)),
    "nose_tip": lambda x, y: y[:, 33],
    "upper_lip": lambda x, y: y[:, 51],
    "lower_lip": lambda x, y: y[:, 57],
    "mouth_width": lambda x, y: x[:, 54] - x[:, 48],
    "corner_r": lambda x, y: y[:, 48], "corner_l": lambda x, y: y[:, 54],
    "corner_rel_r": lambda x, y: y[:, 48] - (y[:, 51] + y[:, 57]) / 2,
    "corner_rel_l": lambda x, y: y[:, 54] - (y[:, 51] + y[:, 57]) / 2,
    "inner_lip_gap": lambda x, y: _mean(y, (61, 62, 63)) - _mean(y, (65, 66, 67)),
    "outer_lip_gap": lambda x, y: y[:, 51] - y[:, 57],
    "chin": lambda x, y: y[:, 8],
    "chin_to_lower_lip": lambda x, y: y[:, 57] - y[:, 8],
    "jaw_width": lambda x, y: x[:, 12] - x[:, 4],
}
FEATURE_NAMES: tuple[str, ...] = tuple(_FEATURES)


def landmark_features(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) pixel landmarks -> (T, 25) geometric features in inter-ocular units."""
    frame = normalize_landmarks(landmarks)
    x, y = frame[..., 0], frame[..., 1]
    return np.stack([_FEATURES[name](x, y) for name in FEATURE_NAMES], axis=1)


def neutral_reference(features: Iterable[np.ndarray]) -> np.ndarray:
    """The reference of the ``speaker_neutral`` model: median features over a speaker's neutral clips."""
    stacked = [np.asarray(f, dtype=np.float64) for f in features]
    if not stacked:
        raise AUEstimateError("neutral_reference: no neutral clip features given")
    for f in stacked:
        if f.ndim != 2 or f.shape[1] != len(FEATURE_NAMES) or f.shape[0] == 0:
            raise AUEstimateError(f"neutral_reference: features must be (T > 0, {len(FEATURE_NAMES)}), got {f.shape}")
    return np.median(np.concatenate(stacked), axis=0)


# --- the regression -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RidgeAUModel:
    """Standardised features -> 12 AU intensities: ``clip((x - mean) / scale @ coef.T + intercept, 0, 5)``."""

    reference: str  # speaker_neutral | population
    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    coef: np.ndarray  # (12, F)
    intercept: np.ndarray  # (12,)
    alpha: float

    def __post_init__(self) -> None:
        n = len(FEATURE_NAMES)
        shapes = {"mean": (n,), "scale": (n,), "coef": (N_AUS, n), "intercept": (N_AUS,)}
        for name, shape in shapes.items():
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape or not np.isfinite(arr).all():
                raise AUEstimateError(f"RidgeAUModel.{name}: expected finite values of shape {shape}, got {arr.shape}")
            object.__setattr__(self, name, arr)
        if self.reference not in REFERENCES:
            raise AUEstimateError(f"RidgeAUModel.reference: expected one of {REFERENCES}, got {self.reference!r}")
        if (self.scale <= 0).any():
            raise AUEstimateError("RidgeAUModel.scale: must be positive")

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(T, F) features (already minus the reference for ``speaker_neutral``) -> (T, 12) in 0..5."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise AUEstimateError(f"features must be (T, {len(FEATURE_NAMES)}), got {x.shape}")
        return np.clip(((x - self.mean) / self.scale) @ self.coef.T + self.intercept, 0.0, AU_MAX)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "alpha": self.alpha, "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_dict(cls, data: dict, where: str) -> RidgeAUModel:
        try:
            return cls(reference=data["reference"], mean=np.asarray(data["mean"]), scale=np.asarray(data["scale"]),
                       coef=np.asarray(data["coef"]), intercept=np.asarray(data["intercept"]),
                       alpha=float(data["alpha"]))
        except KeyError as exc:
            raise AUEstimateError(f"{where}: model lacks {exc}") from None


@dataclass(frozen=True)
class LandmarkAUEstimator:
    """The two calibrated models and where they came from (provenance, validation)."""

    models: dict[str, RidgeAUModel]  # by reference kind
    provenance: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)

    def estimate(self, features: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """(T, F) features -> (T, 12): with a neutral ``reference`` (F,) the ``speaker_neutral`` model,
        otherwise the ``population`` model."""
        if reference is None:
            return self.models["population"].predict(features)
        ref = np.asarray(reference, dtype=np.float64)
        if ref.shape != (len(FEATURE_NAMES),):
            raise AUEstimateError(f"reference: expected ({len(FEATURE_NAMES)},) features, got {ref.shape}")
        return self.models["speaker_neutral"].predict(np.asarray(features, dtype=np.float64) - ref)

    def save(self, path: str | Path) -> None:
        write_calibration(path, FORMAT, {
            "au_names": list(AU_NAMES), "feature_names": list(FEATURE_NAMES), "note": APPROXIMATION_NOTE,
            "provenance": self.provenance, "validation": self.validation,
            "models": {k: m.to_dict() for k, m in self.models.items()}})

    @classmethod
    def load(cls, path: str | Path) -> LandmarkAUEstimator:
        payload = read_calibration(path, FORMAT, "AU estimator file", "talkclip au-calibrate", AUEstimateError)
        if tuple(payload.get("feature_names", ())) != FEATURE_NAMES or tuple(payload.get("au_names", ())) != AU_NAMES:
            raise AUEstimateError(f"{path}: feature or AU names differ from this version of talkclip "
                                  "(re-run `talkclip au-calibrate`)")
        models = {k: RidgeAUModel.from_dict(v, f"{path} model {k}") for k, v in payload["models"].items()}
        missing = [r for r in REFERENCES if r not in models]
        if missing:
            raise AUEstimateError(f"{path}: models {missing} missing")
        return cls(models, payload.get("provenance", {}), payload.get("validation", {}))


def default_model_path() -> Path:
    return Path(str(resources.files("talkclip") / "data" / DEFAULT_MODEL_FILE))


@lru_cache(maxsize=4)
def load_estimator(path: str | None = None) -> LandmarkAUEstimator:
    """The estimator of ``path`` (default: the shipped calibration), loaded once."""
    return LandmarkAUEstimator.load(path or default_model_path())


# --- entry points -------------------------------------------------------------------------------------
def estimate_aus(
    landmarks: np.ndarray, neutral_landmarks: np.ndarray | Sequence[np.ndarray] | None = None,
    estimator: LandmarkAUEstimator | None = None,
) -> np.ndarray:
    """(T, 68, 2) pixel landmarks -> (T, 12) approximate AU intensities (0..5, DISFA order).

    ``neutral_landmarks``: landmarks of the same person with a neutral face ((N, 68, 2), or a list of
    such arrays, one per neutral clip); without them the less accurate ``population`` model is used.
    """
    estimator = estimator or load_estimator()
    features = landmark_features(landmarks)
    reference = None
    if neutral_landmarks is not None:
        clips = [neutral_landmarks] if isinstance(neutral_landmarks, np.ndarray) else list(neutral_landmarks)
        reference = neutral_reference(landmark_features(c) for c in clips)
    return estimator.estimate(features, reference)


def estimate_aus_from_frames(
    frames: np.ndarray, neutral_frames: np.ndarray | None = None, detector=None,
    estimator: LandmarkAUEstimator | None = None,
) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of one face -> (T, 12) approximate AU intensities.

    ``neutral_frames``: frames of the same person with a neutral face (see :func:`estimate_aus`).
    """
    from talkclip.metrics.landmarks import DlibLandmarks

    detector = detector or DlibLandmarks()
    neutral = detector.landmarks(downscale_frames(neutral_frames)) if neutral_frames is not None else None
    return estimate_aus(detector.landmarks(downscale_frames(frames)), neutral, estimator)


MAX_SIDE = 640  # detection size: MEAD's 1920x1080 frames are ~25x slower for dlib and no more accurate


def downscale_frames(frames: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Frames shrunk (area averaging) so that the longer side is at most ``max_side``.

    The features are scale-free, so this changes only the detector's speed.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise AUEstimateError(f"frames must be (T, H, W, 3), got {frames.shape}")
    height, width = frames.shape[1:3]
    factor = int(np.ceil(max(height, width) / max_side))
    if factor <= 1:
        return frames
    h, w = height // factor * factor, width // factor * factor
    shrunk = frames[:, :h, :w].reshape(len(frames), h // factor, factor, w // factor, factor, 3).mean(axis=(2, 4))
    return np.round(shrunk).astype(np.uint8)


def video_landmarks(path: str | Path, frame_step: int = 1, detector=None, max_side: int = MAX_SIDE) -> np.ndarray:
    """dlib landmarks of every ``frame_step``-th frame of a video (pixels of the downscaled frames)."""
    from talkclip.formats.media import iter_video_frames
    from talkclip.metrics.landmarks import DlibLandmarks

    if frame_step < 1:
        raise AUEstimateError(f"frame_step must be >= 1, got {frame_step}")
    frames = [frame for i, frame in enumerate(iter_video_frames(path)) if i % frame_step == 0]
    if not frames:
        raise AUEstimateError(f"{path}: the video has no frames")
    detector = detector or DlibLandmarks()
    try:
        return detector.landmarks(downscale_frames(np.stack(frames), max_side))
    except ValueError as exc:  # NoFaceError and friends
        raise AUEstimateError(f"{path}: {exc}") from exc
