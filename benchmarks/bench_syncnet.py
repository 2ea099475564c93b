"""Evaluation-SyncNet cost on this machine: training steps/s and scoring windows/s per width and threads.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_syncnet.py [--steps 10] [--widths 0.125 0.25 1.0]

Training steps use the pipeline's batch (params.yaml `syncnet`: 12 video windows, 6 shifted audio
windows each) on random 128 px frames upscaled to 224 as in evaluation; the time of a step does not
depend on the pixel values. Scoring is `embed_video_windows` + `embed_audio_windows` (forward only),
what `evaluate_sync` spends per 5-frame window. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _report import peak_rss_mb, print_table

from talkclip.config.syncnet import SyncNetConfig
from talkclip.metrics.syncnet import SyncNet, audio_to_int16_scale, embed_audio_windows, embed_video_windows, mfcc
from talkclip.metrics.syncnet_train import SyncClip, sample_batch, sync_losses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25, 1.0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    clips = [SyncClip(f"c{i}", rng.integers(0, 256, (80, 128, 128, 3), dtype=np.uint8),
                      mfcc(audio_to_int16_scale(rng.standard_normal(80 * 640).astype(np.float32) * 0.1)))
             for i in range(4)]
    rows = []
    for width in args.widths:
        for threads in args.threads:
            torch.set_num_threads(threads)
            cfg = SyncNetConfig(width=width, device="cpu")
            model = SyncNet(embedding_dim=cfg.embedding_dim, width=width)
            optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
            batch_rng = np.random.default_rng(1)
            per_window = 1 + cfg.negatives_per_window
            times = []
            for step in range(args.steps + 2):  # two warm-up steps
                start = time.perf_counter()
                video, audio, _, shift = sample_batch(clips, cfg, batch_rng)
                _, multiway, _ = sync_losses(model.forward_lip(video), model.forward_aud(audio), shift, per_window,
                                             cfg.margin, cfg.temperature)
                optimizer.zero_grad()
                multiway.backward()
                optimizer.step()
                if step >= 2:
                    times.append(time.perf_counter() - start)
            step_s = float(np.median(times))
            clip = clips[0]
            n_windows = 60
            start = time.perf_counter()
            embed_video_windows(model, clip.frames, n_windows)
            embed_audio_windows(model, clip.mfcc, n_windows)
            windows_per_s = n_windows / (time.perf_counter() - start)
            rows.append([f"{width:g}", threads, step_s, cfg.steps * step_s / 60.0, windows_per_s,
                         25.0 * 60 / windows_per_s])
    print_table("Evaluation SyncNet on the CPU (median of steps; 500 steps = the pipeline's default)",
                ["width", "threads", "train s/step", "500 steps (min)", "scoring windows/s",
                 "scoring 1 min of 25 fps video (s)"], rows)
    print(f"peak RSS {peak_rss_mb()[0]:.0f} MB")


if __name__ == "__main__":
    main()
