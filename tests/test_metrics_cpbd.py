"""Own vectorised CPBD against the `cpbd` package 1.0.7 (the oracle) on real and generated frames."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image
from scipy.ndimage import gaussian_filter

from talkclip.metrics.cpbd import FrameFormatError, cpbd_frame, cpbd_video, to_gray_uint8

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
VIDEO_DIR = SAMPLES / "styletalk" / "samples" / "source_video" / "video"
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def oracle():
    """`cpbd.compute`, importable on current SciPy by stubbing the removed `scipy.ndimage.imread`.

    cpbd 1.0.7 does `from scipy.ndimage import imread` at import time (only its command line uses it);
    the stub is set for the import and removed again, without touching the installed package.
    """
    if importlib.util.find_spec("cpbd") is None:
        pytest.skip("oracle package cpbd==1.0.7 is not installed")
    had_imread = hasattr(scipy.ndimage, "imread")
    if not had_imread:
        scipy.ndimage.imread = lambda *args, **kwargs: None
    try:
        module = importlib.import_module("cpbd.compute")
    finally:
        if not had_imread:
            del scipy.ndimage.imread
    return module.compute


def _real_frames(n_videos: int = 3, per_video: int = 2) -> list[np.ndarray]:
    if not VIDEO_DIR.is_dir():
        pytest.skip(f"real sample videos missing: {VIDEO_DIR}")
    import imageio.v3 as iio

    frames = []
    wanted = set(range(0, 40 * per_video, 40))  # frames 0, 40, ...: decode only the start of each clip
    for path in sorted(VIDEO_DIR.glob("*.mp4"))[:n_videos]:
        for index, frame in enumerate(iio.imiter(path, plugin="pyav")):
            if index in wanted:
                frames.append(frame)
            if index >= max(wanted):
                break
    return frames


def _generated_frames() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:256, 0:256]
    smooth_noise = gaussian_filter(rng.normal(128, 60, (256, 256)), 3)
    disc = np.where((yy - 120) ** 2 + (xx - 140) ** 2 < 70**2, 200.0, 40.0)
    stripes = 128 + 100 * np.sign(np.sin(xx / 6.0))
    frames = {
        "smooth_noise": smooth_noise,
        "disc": disc,
        "blurred_disc": gaussian_filter(disc, 2.5),
        "stripes": stripes,
        "ramp_stripes": gaussian_filter(stripes, 1.2) * (yy / 255.0),
        "low_contrast": 100 + 0.15 * (disc - 40),  # contrast <= 50: just-noticeable width 5
        "non_multiple_size": gaussian_filter(rng.normal(128, 80, (200, 150)), 1.0),
        "constant": np.full((128, 128), 90.0),
        "smaller_than_block": disc[:60, :60],
        "rgb_noise": rng.integers(0, 256, (128, 192, 3)),
    }
    return {name: np.clip(np.round(img), 0, 255).astype(np.uint8) for name, img in frames.items()}


def test_matches_oracle_on_real_frames(oracle):
    diffs = []
    for frame in _real_frames():
        gray = to_gray_uint8(frame)
        for image in (gray, gaussian_filter(gray, 1.5), gray[:128, 64:192]):
            diffs.append(abs(cpbd_frame(image) - oracle(image)))
    assert max(diffs) < TOLERANCE, diffs


def test_matches_oracle_on_generated_frames(oracle):
    for name, frame in _generated_frames().items():
        gray = to_gray_uint8(frame)
        assert abs(cpbd_frame(frame) - oracle(gray)) < TOLERANCE, name


def test_blur_lowers_cpbd():
    for frame in _real_frames(n_videos=2, per_video=1):
        gray = to_gray_uint8(frame)
        sharp = cpbd_frame(gray)
        blurred = cpbd_frame(gaussian_filter(gray, 1.0))
        very_blurred = cpbd_frame(gaussian_filter(gray, 2.5))
        assert sharp > blurred > very_blurred, (sharp, blurred, very_blurred)


def test_degenerate_frames_score_zero():
    assert cpbd_frame(np.full((128, 128), 77, np.uint8)) == 0.0  # no edges at all
    assert cpbd_frame(np.random.default_rng(0).integers(0, 256, (60, 60), dtype=np.uint8)) == 0.0  # < one block


def test_gray_conversion_is_pil_luma():
    rgb = np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    assert np.array_equal(to_gray_uint8(rgb), np.asarray(Image.fromarray(rgb).convert("L")))


def test_video_mean_and_errors():
    frames = np.stack([_generated_frames()["disc"], _generated_frames()["blurred_disc"]])
    expected = (cpbd_frame(frames[0]) + cpbd_frame(frames[1])) / 2
    assert cpbd_video(frames) == pytest.approx(expected)
    with pytest.raises(FrameFormatError, match="uint8"):
        cpbd_frame(np.zeros((64, 64), np.float32))
    with pytest.raises(FrameFormatError, match="shape"):
        cpbd_frame(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(FrameFormatError):
        cpbd_video(np.zeros((0, 64, 64), np.uint8))


def test_canny_edges_identical_to_skimage():
    from skimage.feature import canny

    from talkclip.metrics.cpbd import canny_edges

    for frame in _real_frames() + list(_generated_frames().values()):
        image = to_gray_uint8(frame).astype(np.float64)
        assert np.array_equal(canny_edges(image), canny(image))
    flat = np.full((70, 90), 7.0)
    assert np.array_equal(canny_edges(flat), canny(flat))


def test_run_lengths_by_binary_search_equal_the_walks():
    from talkclip.metrics.cpbd import _run_lengths_at

    rng = np.random.default_rng(3)
    condition = rng.random((9, 40)) < 0.7
    condition[:, [0, -1]] = False  # the helper's contract: no run crosses a row
    queries = rng.integers(0, condition.size, 60)
    ending, starting = _run_lengths_at(condition, queries, queries)
    flat = condition.ravel()
    for query, end, start in zip(queries, ending, starting):
        walk_left = 0
        while flat[query - walk_left]:
            walk_left += 1
        walk_right = 0
        while flat[query + walk_right]:
            walk_right += 1
        assert (end, start) == (walk_left, walk_right)
