"""Time to evaluate one minute of 25 fps video: per metric, end to end on 2 cores, and how it scales.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_evaluate.py [--seconds 60] [--crop 256] [--scaling]

Timings are CPU seconds (`time.process_time`, workers included via `getrusage`) next to wall time:
on a shared machine the CPU seconds are the better estimate of a quiet machine's wall time (they
still include cache contention), the wall time is what the run took.

1. Per metric, one thread, on one clip of ``--seconds`` of embedded-renderer video (256 px face crops,
   a jaw-opening performance, noise audio) written as mp4: decode + crop of both videos, SSIM, PSNR,
   CPBD, F-/M-LMD with dlib on both videos, and full-size SyncNet (width 1, random weights: speed does
   not depend on the weights). The sum is the CPU time of the default metric set; scaled to a minute.
2. End to end: `evaluate_folders` on the same minute cut into 4 s clips (MEAD-like), dlib landmarks and
   the full-size SyncNet, with one single-threaded worker per core (the default) -- the number the
   issue's target (<= 60 s per minute of video on 2 cores) is about.
3. ``--scaling``: per-frame cost of each metric at 128 / 256 / 512 px crops (on 4 s clips); the cost of
   every metric is linear in the number of frames (plus the workers' start-up, a few seconds per run).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import print_table

from talkclip.corpus.identity import sample_identity
from talkclip.corpus.renderer import FaceRenderer
from talkclip.formats.media import write_video
from talkclip.metrics.cpbd import cpbd_video
from talkclip.metrics.evaluator import evaluate_folders
from talkclip.metrics.landmarks import DlibLandmarks, lmd_scores
from talkclip.metrics.ssim import psnr_video, ssim_video
from talkclip.metrics.syncnet import SyncNet, evaluate_sync
from talkclip.metrics.video_input import load_crop


def _clip(n_frames: int, size: int, phase: float) -> np.ndarray:
    renderer = FaceRenderer(sample_identity(np.random.default_rng(0), "M"), image_size=size)
    expression = np.zeros((n_frames, 64), np.float32)
    expression[:, 0] = 0.5 + 0.5 * np.sin(np.arange(n_frames) / 3.0 + phase)
    frames, _ = renderer.render(expression, np.zeros((n_frames, 6), np.float32))
    return frames


def per_metric(folder: Path, seconds: float, crop: int, syncnet: SyncNet) -> list[list]:
    n_frames = int(seconds * 25)
    audio = 0.1 * np.random.default_rng(0).standard_normal(n_frames * 640).astype(np.float32)
    gen_path, ref_path = folder / f"gen{crop}.mp4", folder / f"ref{crop}.mp4"
    write_video(gen_path, _clip(n_frames, crop, 0.0), 25)
    write_video(ref_path, _clip(n_frames, crop, 0.3), 25)
    detector = DlibLandmarks()
    loaded = {}

    def load() -> None:
        loaded["gen"] = load_crop(gen_path, None, crop).frames
        loaded["ref"] = load_crop(ref_path, None, crop).frames

    stages = {
        "decode + crop (both videos)": load,
        "SSIM": lambda: ssim_video(loaded["gen"], loaded["ref"]),
        "PSNR": lambda: psnr_video(loaded["gen"], loaded["ref"]),
        "CPBD (generated)": lambda: cpbd_video(loaded["gen"]),
        "F-/M-LMD (dlib68 on both videos)": lambda: lmd_scores(detector.landmarks(loaded["gen"]),
                                                               detector.landmarks(loaded["ref"])),
        "Sync_conf / LSE-D (SyncNet width 1)": lambda: evaluate_sync(syncnet, loaded["gen"], audio),
    }
    rows = []
    for name, run in stages.items():
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        rows.append([name, n_frames / cpu, cpu * 60.0 / seconds, elapsed * 60.0 / seconds])
    return rows


def end_to_end(folder: Path, seconds: float, crop: int, weights: Path, clip_seconds: float = 4.0) -> tuple[float, int]:
    gen, ref, audio_dir = folder / "e2e_gen", folder / "e2e_ref", folder / "e2e_audio"
    n_clips = max(1, round(seconds / clip_seconds))
    n_frames = int(clip_seconds * 25)
    from talkclip.formats.media import write_wav

    for index in range(n_clips):
        write_video(gen / f"clip{index:02d}.mp4", _clip(n_frames, crop, index), 25)
        write_video(ref / f"clip{index:02d}.mp4", _clip(n_frames, crop, index + 0.3), 25)
        write_wav(audio_dir / f"clip{index:02d}.wav",
                  0.1 * np.random.default_rng(index).standard_normal(n_frames * 640).astype(np.float32), 16000)
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    _, summary = evaluate_folders(gen, ref, audio_dir=audio_dir, syncnet=weights, landmark_source="dlib",
                                  crop_size=crop, progress=False)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    if summary["n_failed"]:
        raise RuntimeError(summary["failed"])
    return elapsed, cpu, summary["workers"]


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--scaling", action="store_true", help="also per-frame costs at 128 / 256 / 512 px")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    syncnet = SyncNet(width=1.0).eval()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        rows = per_metric(folder, args.seconds, args.crop, syncnet)
        total, total_wall = sum(r[2] for r in rows), sum(r[3] for r in rows)
        rows.append(["sum, 1 thread", 1500 / total, total, total_wall])
        rows.append(["sum / 2 cores (the ideal split over 2 workers)", 3000 / total, total / 2, total_wall / 2])
        print_table(f"Per metric, 1 min of 25 fps video at {args.crop} px, 1 thread (measured on {args.seconds:g} s)",
                    ["stage", "frames per CPU s", "CPU s per minute of video", "wall s per minute"], rows)
        if not args.skip_e2e:
            weights = folder / "syncnet_width1.pt"
            torch.save(syncnet.state_dict(), weights)
            wall, cpu, workers = end_to_end(folder, args.seconds, args.crop, weights)
            scale = 60.0 / args.seconds
            print_table("End to end: evaluate_folders, 4 s clips, dlib landmarks, full-size SyncNet",
                        ["video s", "workers", "wall s per minute", "CPU s per minute (all processes)",
                         "CPU s / 2 cores per minute"],
                        [[args.seconds, workers, wall * scale, cpu * scale, cpu * scale / 2]])
        if args.scaling:
            table = []
            for crop in (128, 256, 512):
                for name, fps, _, _ in per_metric(folder, 4.0, crop, syncnet):
                    table.append([name, crop, fps, 1500 / fps])
            print_table("Scaling with the crop size (4 s clips, 1 thread)",
                        ["stage", "crop px", "frames per CPU s", "CPU s per minute of video"], table)


if __name__ == "__main__":
    main()
