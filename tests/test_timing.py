import numpy as np
import pytest

from talkclip.preprocess.timing import LengthMismatchError, common_frame_count, resample_frames, resample_labels


def test_common_frame_count_takes_the_shorter_stream():
    # 90 frames at 30 fps = 3.0 s of video, 2.95 s of audio -> 2.95 s at 25 fps = 73 frames
    assert common_frame_count(90, 30, 2.95, 25, 0.2, "clip") == 73
    assert common_frame_count(90, 30, 3.5, 30, 0.6, "clip") == 90


def test_mismatch_beyond_tolerance_names_the_clip():
    with pytest.raises(LengthMismatchError, match="M001_front_happy_level1_001.*0.500 s exceeds"):
        common_frame_count(90, 30, 3.5, 25, 0.2, "M001_front_happy_level1_001")
    with pytest.raises(LengthMismatchError, match="no frames"):
        common_frame_count(0, 30, 1.0, 25, 0.2, "x")


def test_resample_frames_is_linear_in_time():
    t30 = np.arange(30) / 30.0
    values = np.stack([t30, 2 * t30], axis=1).astype(np.float32)
    out = resample_frames(values, 30, 25, 25)
    assert out.shape == (25, 2)
    np.testing.assert_allclose(out[:, 0], np.arange(25) / 25.0, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], 2 * np.arange(25) / 25.0, atol=1e-6)


def test_resample_labels_nearest_in_time():
    labels = np.array([0, 1, 2, 3, 4, 5])  # 30 fps: frame j spans [j/30, (j+1)/30)
    out = resample_labels(labels, 30, 25, 5)  # times 0, .04, .08, .12, .16
    assert out.tolist() == [0, 1, 2, 3, 4]
