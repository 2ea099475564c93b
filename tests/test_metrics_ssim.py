"""SSIM protocol: identical videos, length matching, input checks, pyiqa columns."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from talkclip.metrics.ssim import (
    VideoShapeError,
    match_lengths,
    pyiqa_scores,
    resample_fps,
    resample_indices,
    ssim_frames,
    ssim_video,
)


def _video(n_frames: int, size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size, size, 3))
    frames = [np.roll(base, shift, axis=1) for shift in range(n_frames)]  # each frame distinct
    return np.stack(frames).astype(np.uint8)


def test_identical_videos_score_one():
    video = _video(6)
    assert ssim_video(video, video.copy()) == 1.0


def test_degraded_video_scores_lower_and_matches_skimage_per_frame():
    video = _video(4)
    noisy = np.clip(video.astype(int) + np.random.default_rng(1).integers(-40, 41, video.shape), 0, 255).astype(
        np.uint8
    )
    per_frame = ssim_frames(noisy, video)
    assert per_frame.shape == (4,)
    expected = structural_similarity(noisy[2], video[2], channel_axis=-1, data_range=255)
    assert per_frame[2] == pytest.approx(expected)
    assert 0.0 < ssim_video(noisy, video) < 0.99


def test_resample_indices_even_spread():
    assert resample_indices(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert resample_indices(10, 5).tolist() == [1, 3, 5, 7, 9]
    assert resample_indices(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(VideoShapeError):
        resample_indices(0, 3)


def test_unequal_lengths_resampled_to_shorter():
    video = _video(10)
    half = video[resample_indices(10, 5)]
    gen, ref = match_lengths(video, half)
    assert len(gen) == len(ref) == 5
    assert ssim_video(video, half) == 1.0  # the longer video is resampled onto the same instants
    assert ssim_video(half, video) == 1.0


def test_bad_inputs_name_the_problem():
    video = _video(3)
    with pytest.raises(VideoShapeError, match="frame sizes differ"):
        ssim_video(video, _video(3, size=32))
    with pytest.raises(VideoShapeError, match="uint8 RGB"):
        ssim_video(video.astype(np.float32), video)
    with pytest.raises(VideoShapeError, match="empty"):
        ssim_video(video[:0], video)


@pytest.mark.skipif(importlib.util.find_spec("pyiqa") is None, reason="pyiqa not installed")
def test_pyiqa_columns_offline():
    video = _video(2, size=176)
    noisy = np.clip(video.astype(int) + 20, 0, 255).astype(np.uint8)
    same = pyiqa_scores(video, video)
    assert same["pyiqa_ssim"] == pytest.approx(1.0, abs=1e-6)
    assert same["pyiqa_ms_ssim"] == pytest.approx(1.0, abs=1e-6)
    different = pyiqa_scores(noisy, video)
    assert different["pyiqa_psnr"] < same["pyiqa_psnr"]
    assert different["pyiqa_ssim"] < 1.0
    small = pyiqa_scores(video[:, :128, :128], video[:, :128, :128], metrics=("ms_ssim",))
    assert np.isnan(small["pyiqa_ms_ssim"])  # too small for 5 scales
    with pytest.raises(ValueError, match="offline"):
        pyiqa_scores(video, video, metrics=("lpips",))


def test_resample_fps_30_to_25():
    frames = np.arange(30)  # one second at 30 fps, frame value = source index
    out = resample_fps(frames, 30.0, 25.0)
    assert len(out) == 25
    # output frame i at i/25 s takes the source frame containing that instant: floor(i * 30 / 25)
    assert out.tolist() == [int(np.floor(i * 1.2 + 1e-9)) for i in range(25)]
    assert resample_fps(frames, 25.0, 25.0).tolist() == frames.tolist()
    with pytest.raises(VideoShapeError):
        resample_fps(frames[:1], 30.0, 25.0)


def test_fast_ssim_equals_skimage_and_psnr_equals_pyiqa():
    """The OpenCV float32 SSIM against scikit-image itself; PSNR against pyiqa's psnr (the oracles)."""
    import torch

    from talkclip.metrics.ssim import psnr_frames

    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (3, 40, 52, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    expected = [structural_similarity(x, y, channel_axis=-1, data_range=255) for x, y in zip(b, a)]
    np.testing.assert_allclose(ssim_frames(b, a), expected, atol=1e-6)
    if importlib.util.find_spec("pyiqa") is None:
        pytest.skip("pyiqa not installed")
    import pyiqa

    metric = pyiqa.create_metric("psnr", device="cpu")
    with torch.no_grad():
        oracle = metric(torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255, torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255)
    np.testing.assert_allclose(psnr_frames(b, a), oracle.numpy().reshape(-1), rtol=1e-5)
    assert psnr_frames(a, a) == pytest.approx([80.0] * 3)
