"""Configuration of the evaluation SyncNet trained on the embedded corpus (``params.yaml`` section ``syncnet``).

This is the *metric* network behind Sync_conf / LSE-D (talkclip.metrics.syncnet), not the lip-sync
discriminator D_sync that training uses (section ``sync``). The official ``syncnet_v2.model`` is not
available offline, so the pipeline trains one with syncnet_python's architecture (channel counts
scaled by ``width``) on the corpus's training speakers; every table names the weights file.

Measured choices (docs/DESIGN.md, "Evaluation SyncNet"): the multi-way matching loss over one
synchronised and ``negatives_per_window`` shifted audio windows with logits ``-distance /
temperature``. With temperature 0.1 (with or without the contrastive loss of Chung & Zisserman 2016)
in-sync and shifted pairs stayed at the same distance for hundreds of steps; with temperature 1 and
lr 3e-4 held-out offsets are recovered after ~500 steps (about five minutes on two CPU cores, 23 s on
a GPU), and the network grows more confident with more steps (2000 steps: Sync_conf 1.38 against
0.62 for mismatched audio).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .loader import require

MAX_SHIFT = 15  # frames: the offset search range of the reference evaluation


@dataclass(frozen=True)
class SyncNetConfig:
    seed: int = 0
    # "auto" = CUDA when available, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Channel scale of the reference network (1.0 = syncnet_python's sizes, what the official weights have).
    width: float = 0.25
    embedding_dim: int = 256
    steps: int = 500
    # Stop early after this much training time in seconds (0: run all steps).
    max_seconds: float = 0.0
    batch_size: int = 12  # video windows per step
    negatives_per_window: int = 6  # shifted audio windows of the same clip per video window
    # Closer shifts overlap the synchronised window too much to be negatives.
    min_negative_shift: int = 5
    learning_rate: float = 3.0e-4
    temperature: float = 1.0  # multi-way loss logits: -distance / temperature
    contrastive_weight: float = 0.0  # Chung & Zisserman's contrastive loss beside the multi-way loss
    margin: float = 1.0  # of the contrastive loss
    # Held-out check written to the stage metrics: this many clips of the test split.
    eval_clips: int = 8
    log_every: int = 50
    threads: int = 0  # torch intra-op threads; 0 = $OMP_NUM_THREADS, else every usable core

    def __post_init__(self) -> None:
        require(0 < self.width <= 1, "syncnet.width", "a value in (0, 1]", self.width)
        require(self.embedding_dim >= 2, "syncnet.embedding_dim", ">= 2", self.embedding_dim)
        require(self.steps >= 1, "syncnet.steps", ">= 1", self.steps)
        require(self.threads >= 0, "syncnet.threads", ">= 0 (0 = automatic)", self.threads)
        require(self.max_seconds >= 0, "syncnet.max_seconds", ">= 0", self.max_seconds)
        require(self.batch_size >= 2, "syncnet.batch_size", ">= 2", self.batch_size)
        require(self.negatives_per_window >= 1, "syncnet.negatives_per_window", ">= 1", self.negatives_per_window)
        require(1 <= self.min_negative_shift <= MAX_SHIFT, "syncnet.min_negative_shift", f"1..{MAX_SHIFT} frames",
                 self.min_negative_shift)
        for key in ("learning_rate", "temperature", "margin"):
            value = getattr(self, key)
            require(math.isfinite(value) and value > 0, f"syncnet.{key}", "a finite value > 0", value)
        require(math.isfinite(self.contrastive_weight) and self.contrastive_weight >= 0, "syncnet.contrastive_weight",
                 "a finite value >= 0", self.contrastive_weight)
        require(self.eval_clips >= 1, "syncnet.eval_clips", ">= 1", self.eval_clips)
        require(self.log_every >= 1, "syncnet.log_every", ">= 1", self.log_every)
