"""The evaluator's common input steps: decode once, resample to 25 fps, cut the evaluation crop once.

evaluation/PROTOCOL.md ("Common steps") in code:

- `load_crop`: stream-decode a video (`talkclip.formats.media.iter_video_frames`), keep the frames of
  the 25 fps timeline (`resample_fps`'s rule: output frame i is source frame ``floor(i * fps / 25)``,
  ``floor(n * 25 / fps)`` frames), cut the crop box (or keep the whole frame) and resize to the crop
  side, frame by frame, so a 1080p source never sits in memory whole.
- `face_crop_box`: the square around the reference video's face (median dlib box over every
  ``FACE_BOX_STRIDE``-th frame, detected on a copy at most ``FACE_DETECT_SIDE`` px wide, enlarged by
  ``FACE_BOX_SCALE`` and clipped to the frame); the same box is cut from both videos.
- `check_lengths`: generated and reference videos must cover the same duration to within
  ``max_mismatch_s``; a truncated video is an error naming both lengths, not a silent resample.
- Landmark sidecars (`find_landmark_sidecar`, `read_landmark_sidecar`, `given_landmarks_25fps`) and
  `landmarks_to_crop` for exact landmarks of rendered videos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkclip.formats.media import MediaError, iter_video_frames, probe_video
from talkclip.metrics.landmarks import DlibLandmarks, LandmarkError, NoFaceError
from talkclip.metrics.ssim import resample_fps

TARGET_FPS = 25.0
FACE_BOX_SCALE = 1.6  # dlib boxes cover brows to chin; 1.6x takes in the forehead and jaw like aligned crops
FACE_BOX_STRIDE = 5  # the crop box is the median over every 5th reference frame (it is fixed for the clip)
FACE_DETECT_SIDE = 640  # detection for the crop box runs on a copy at most this wide (1080p: 3x smaller)
DEFAULT_MAX_MISMATCH_S = 0.2  # as preprocess.max_av_mismatch_s: 5 frames at 25 fps


class EvaluationError(ValueError):
    """A pair of videos cannot be scored; the message names the file and the problem."""


@dataclass(frozen=True)
class CropBox:
    """Square crop ``[top:top+side, left:left+side]`` in pixels of the original frames."""

    top: int
    left: int
    side: int

    def describe(self) -> str:
        return f"face {self.left},{self.top},{self.side}"


@dataclass
class CroppedVideo:
    """A video on the 25 fps timeline, cut to the evaluation crop."""

    path: Path
    frames: np.ndarray  # (T, crop, crop, 3) uint8 RGB at 25 fps
    fps: float  # the source frame rate
    n_source_frames: int
    frame_hw: tuple[int, int]  # source frame size (H, W)


def source_frame_count(n_25fps: int, fps: float) -> int:
    """Source frames that a 25 fps timeline of ``n_25fps`` frames came from (for sidecar checks)."""
    return math.floor(n_25fps * fps / TARGET_FPS + 0.5)


def _resize(frame: np.ndarray, crop_size: int) -> np.ndarray:
    if frame.shape[:2] == (crop_size, crop_size):
        return frame
    # Bilinear with half-pixel centres, as torch's interpolate(align_corners=False) used before;
    # INTER_AREA would be kinder to large downscales, but the field's evaluators resize bilinearly.
    return cv2.resize(frame, (crop_size, crop_size), interpolation=cv2.INTER_LINEAR)


def load_crop(path: Path, box: CropBox | None, crop_size: int) -> CroppedVideo:
    """Decode ``path`` once: 25 fps timeline, crop ``box`` (None: whole frame), resize to ``crop_size``."""
    fps = probe_video(path).fps  # raises MediaError naming the file (missing, empty, corrupt, no video)
    step = fps / TARGET_FPS
    kept: list[np.ndarray] = []
    n_source = 0
    frame_hw = (0, 0)
    next_output = 0
    for index, frame in enumerate(iter_video_frames(path)):
        n_source = index + 1
        frame_hw = frame.shape[:2]
        processed = None
        # Output frame i takes source frame floor(i * fps / 25); a source frame may serve several outputs.
        while math.floor(next_output * step + 1e-9) == index:
            if processed is None:
                if box is not None:
                    if box.top + box.side > frame_hw[0] or box.left + box.side > frame_hw[1]:
                        raise EvaluationError(f"{path}: frame size {frame_hw} does not contain the crop box {box}")
                    frame = frame[box.top : box.top + box.side, box.left : box.left + box.side]
                processed = _resize(np.ascontiguousarray(frame), crop_size)
            kept.append(processed)
            next_output += 1
    if n_source == 0:
        raise MediaError(f"video file {path} has no decodable frames")
    n_target = math.floor(n_source / step + 1e-6)
    if n_target == 0:
        raise EvaluationError(f"{path}: {n_source} frames at {fps:g} fps give no frame at {TARGET_FPS:g} fps")
    return CroppedVideo(path, np.stack(kept[:n_target]), fps, n_source, frame_hw)


def face_crop_box(path: Path, detector: DlibLandmarks) -> CropBox:
    """Square box around the face of the video at ``path`` (the reference): see the module docstring."""
    sampled = []
    scale = 1.0
    height = width = 0
    for index, frame in enumerate(iter_video_frames(path)):
        if index % FACE_BOX_STRIDE:
            continue
        height, width = frame.shape[:2]
        scale = min(1.0, FACE_DETECT_SIDE / max(height, width))
        if scale < 1.0:
            frame = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        sampled.append(frame)
    if not sampled:
        raise MediaError(f"video file {path} has no decodable frames")
    boxes = [b for b in detector.face_boxes(np.stack(sampled)) if b is not None]
    if not boxes:
        raise NoFaceError(f"{path}: no face found by dlib in any of {len(sampled)} sampled reference frames")
    # The median of the per-frame boxes is robust to a few bad detections and fixed for the whole clip.
    centre_x = float(np.median([(b.left() + b.right()) / 2 for b in boxes])) / scale
    centre_y = float(np.median([(b.top() + b.bottom()) / 2 for b in boxes])) / scale
    size = float(np.median([max(b.width(), b.height()) for b in boxes])) / scale * FACE_BOX_SCALE
    side = round(min(size, height, width))
    left = round(min(max(centre_x - side / 2, 0), width - side))
    top = round(min(max(centre_y - side / 2, 0), height - side))
    return CropBox(top=top, left=left, side=side)


def check_lengths(generated: CroppedVideo, reference: CroppedVideo, max_mismatch_s: float) -> None:
    """Error naming both lengths when the two 25 fps timelines differ by more than ``max_mismatch_s``."""
    n_gen, n_ref = len(generated.frames), len(reference.frames)
    if abs(n_gen - n_ref) / TARGET_FPS > max_mismatch_s + 1e-9:
        raise EvaluationError(
            f"length mismatch: generated {generated.path} has {n_gen} frames ({n_gen / TARGET_FPS:.2f} s at 25 fps), "
            f"reference {reference.path} has {n_ref} ({n_ref / TARGET_FPS:.2f} s); more than the tolerance of "
            f"{max_mismatch_s:g} s (a truncated or wrong video?)"
        )


def landmarks_to_crop(landmarks: np.ndarray, frame_hw: tuple[int, int], box: CropBox | None, crop_size: int) -> np.ndarray:
    """Landmarks in pixels of the original frames -> pixels of the evaluation crop."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if box is None:
        height, width = frame_hw
        return landmarks * np.array([crop_size / width, crop_size / height])
    return (landmarks - np.array([box.left, box.top])) * (crop_size / box.side)


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


def given_landmarks_25fps(video: CroppedVideo, sidecar: Path) -> np.ndarray:
    """The sidecar's landmarks of ``video`` on its 25 fps timeline (checked against the frame count)."""
    landmarks = read_landmark_sidecar(sidecar)
    if abs(len(landmarks) - video.n_source_frames) > 1:
        raise LandmarkError(
            f"{sidecar}: {len(landmarks)} landmark frames for {video.path.name} with {video.n_source_frames} frames"
        )
    return resample_fps(landmarks, video.fps, TARGET_FPS)[: len(video.frames)]
