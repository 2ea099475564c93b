"""Time to evaluate one minute of 25 fps video on 2 cores: SSIM + CPBD + LMD (dlib) + SyncNet.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_evaluate.py [--seconds 60] [--crop 256] [--syncnet-width 1.0]

A clip of ``--seconds`` of embedded-renderer video (256 px face crops, a jaw-opening performance) and
noise audio is scored stage by stage with the evaluator's metric functions; the times are scaled to one
minute of video (exact when --seconds 60). The SyncNet has random weights of the given width (speed
does not depend on the weights; width 1.0 is the reference network). Prints a Markdown table.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "2"

import argparse
import time

import numpy as np
import torch
from _report import print_table

from talkclip.corpus.identity import sample_identity
from talkclip.corpus.renderer import FaceRenderer
from talkclip.metrics.cpbd import cpbd_video
from talkclip.metrics.landmarks import DlibLandmarks, lmd_scores
from talkclip.metrics.ssim import ssim_video
from talkclip.metrics.syncnet import SyncNet, evaluate_sync


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--syncnet-width", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    n_frames = int(args.seconds * 25)
    renderer = FaceRenderer(sample_identity(np.random.default_rng(0), "M"), image_size=args.crop)
    expression = np.zeros((n_frames, 64), np.float32)
    expression[:, 0] = 0.5 + 0.5 * np.sin(np.arange(n_frames) / 3.0)
    generated, _ = renderer.render(expression, np.zeros((n_frames, 6), np.float32))
    expression[:, 0] = 0.5 + 0.5 * np.sin(np.arange(n_frames) / 3.0 + 0.3)
    reference, _ = renderer.render(expression, np.zeros((n_frames, 6), np.float32))
    audio = 0.1 * np.random.default_rng(0).standard_normal(n_frames * 640).astype(np.float32)
    detector = DlibLandmarks()
    syncnet = SyncNet(width=args.syncnet_width).eval()
    stages = {
        "SSIM (skimage, RGB)": lambda: ssim_video(generated, reference),
        "CPBD (own, vectorised)": lambda: cpbd_video(generated),
        "LMD (dlib68 on both videos)": lambda: lmd_scores(detector.landmarks(generated), detector.landmarks(reference)),
        f"SyncNet (width {args.syncnet_width:g}, offset search)": lambda: evaluate_sync(syncnet, generated, audio),
    }
    scale = 60.0 / args.seconds
    rows, total = [], 0.0
    for name, run in stages.items():
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        total += seconds * scale
        rows.append([name, n_frames / seconds, seconds * scale])
    rows.append(["total", 1500 / total, total])
    print_table(f"Evaluate 1 min of 25 fps video at {args.crop} px, 2 threads (measured on {args.seconds:g} s)",
                ["stage", "frames/s", "s per minute of video"], rows)


if __name__ == "__main__":
    main()
