"""Finding the face in a portrait: dlib's HOG detector + 68-point shape predictor, and the crop.

dlib (``dlib-bin``) and its 68-point model (``face-recognition-models``) ship in wheels and run
offline; the landmarks are the iBUG 68 points the embedded face model and the LMD metric use.

- No face: :class:`NoFaceError` (the detector is retried with 1x and 2x upsampling first, which
  finds faces down to about 40 and 20 pixels).
- Several faces: the largest is used, with a warning naming how many were found (weak detections,
  score < 0.25, are not counted when a confident one exists).
- A face smaller than ``min_face_px`` (the detector box width): :class:`TinyFaceError`; the
  output would be an upscaled blur.

The crop is a square around the face as the field crops aligned portraits (FFHQ's rule: centred a
little below the eyes, side 2 x max(2 x eye distance, 1.8 x eye-to-mouth distance)), shifted to stay
inside the photo and shrunk when the photo is smaller; the photo is never rotated.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from talkclip.metrics.landmarks import dlib_predictor_path
from talkclip.portrait.image import PortraitError

N_LANDMARKS = 68
DETECT_MAX_SIDE = 1024  # the detector runs on a copy at most this large (speed); landmarks at full size
MIN_FACE_PX = 48
WEAK_DETECTION = 0.25  # dlib detector score below which a box is ignored if a stronger one exists


class NoFaceError(PortraitError):
    """No face was found in the portrait."""


class TinyFaceError(PortraitError):
    """The face is too small to animate."""


@dataclass(frozen=True)
class FaceDetection:
    box: tuple[float, float, float, float]  # left, top, right, bottom in image pixels
    landmarks: np.ndarray  # (68, 2) x, y pixels (iBUG order)
    n_faces: int  # how many faces the detector found (the largest is this one)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


@dataclass(frozen=True)
class PortraitCrop:
    image: np.ndarray  # (S, S, 3) uint8
    landmarks: np.ndarray  # (68, 2) in crop pixels
    source_box: tuple[float, float, float]  # left, top, side of the square in the original photo
    detection: FaceDetection


class DlibFaceFinder:
    """Detector + predictor, loaded once."""

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(dlib_predictor_path()))

    def _rectangle(self, box: tuple[float, float, float, float]) -> Any:
        left, top, right, bottom = (round(v) for v in box)
        return self._dlib.rectangle(left, top, right, bottom)

    def landmarks(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        shape = self._predictor(np.ascontiguousarray(image), self._rectangle(box))
        return np.array([(shape.part(k).x, shape.part(k).y) for k in range(N_LANDMARKS)], dtype=np.float64)

    def find(self, image: np.ndarray, where: str = "portrait", min_face_px: float = MIN_FACE_PX) -> FaceDetection:
        """The largest face of ``image`` (H, W, 3) uint8, with its 68 landmarks."""
        height, width = image.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = image
        if scale < 1.0:
            small = np.asarray(Image.fromarray(image).resize((round(width * scale), round(height * scale)),
                                                             Image.BILINEAR))
        boxes: list[Any] = []
        for upsample in (0, 1, 2):
            if upsample == 2 and max(small.shape[:2]) > 600:
                break  # 2x upsampling of a large image costs seconds and finds only tiny faces
            found, scores, _ = self._detector.run(np.ascontiguousarray(small), upsample, 0.0)
            # Weak detections (a face-like badge, a pattern) are ignored when a confident one exists.
            boxes = [box for box, score in zip(found, scores) if score >= WEAK_DETECTION] or list(found)
            if boxes:
                break
        if not boxes:
            raise NoFaceError(f"{where}: no face found (dlib's frontal face detector; the face should be "
                              "roughly frontal, unoccluded and at least ~40 pixels wide)")
        largest = max(boxes, key=lambda r: r.area())
        box = tuple(v / scale for v in (largest.left(), largest.top(), largest.right(), largest.bottom()))
        if len(boxes) > 1:
            warnings.warn(f"{where}: {len(boxes)} faces found; animating the largest "
                          f"({box[2] - box[0]:.0f} px wide at x={box[0]:.0f}, y={box[1]:.0f})", stacklevel=2)
        face_width = box[2] - box[0]
        if face_width < min_face_px:
            raise TinyFaceError(f"{where}: the face is only {face_width:.0f} pixels wide; at least {min_face_px:g} "
                                "are needed (use a larger or closer photo)")
        return FaceDetection(box=box, landmarks=self.landmarks(image, box), n_faces=len(boxes))


@functools.lru_cache(maxsize=1)
def default_finder() -> DlibFaceFinder:
    """One detector + predictor per process (the 68-point model takes about a second to load)."""
    return DlibFaceFinder()


def square_around_face(landmarks: np.ndarray, image_hw: tuple[int, int]) -> tuple[float, float, float]:
    """(left, top, side) of the crop square in image pixels (see the module docstring)."""
    eye_r, eye_l = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    eyes = 0.5 * (eye_r + eye_l)
    mouth = 0.5 * (landmarks[48] + landmarks[54])
    eye_to_mouth = mouth - eyes
    centre = eyes + 0.1 * eye_to_mouth
    side = 2.0 * max(2.0 * np.linalg.norm(eye_l - eye_r), 1.8 * np.linalg.norm(eye_to_mouth))
    height, width = image_hw
    side = float(min(side, width, height))
    left = float(np.clip(centre[0] - side / 2, 0, width - side))
    top = float(np.clip(centre[1] - side / 2, 0, height - side))
    return left, top, side


def crop_portrait(image: np.ndarray, size: int, finder: DlibFaceFinder | None = None, where: str = "portrait",
                  min_face_px: float = MIN_FACE_PX) -> PortraitCrop:
    """Detect the face, crop the square around it and resize it to ``size`` x ``size``.

    The landmarks are detected again on the resized crop (they are then exact at output scale).
    """
    if size < 64 or size % 2:
        raise ValueError(f"crop_portrait: size must be an even number >= 64, got {size}")
    finder = finder or default_finder()
    detection = finder.find(image, where, min_face_px)
    left, top, side = square_around_face(detection.landmarks, image.shape[:2])
    crop = Image.fromarray(image).resize((size, size), Image.LANCZOS, box=(left, top, left + side, top + side))
    crop_rgb = np.ascontiguousarray(np.asarray(crop, dtype=np.uint8))
    scale = size / side
    box = tuple(float(v) for v in ((detection.box[0] - left) * scale, (detection.box[1] - top) * scale,
                                   (detection.box[2] - left) * scale, (detection.box[3] - top) * scale))
    landmarks = finder.landmarks(crop_rgb, box)
    return PortraitCrop(crop_rgb, landmarks, (left, top, side), detection)
