"""Deterministic held-out evaluation of a TalkCLIP model during training (sweeps, early stopping).

The trainer's own metrics are training-batch losses, which reward memorising the training
speakers. Here a fixed set of windows from held-out clips (the ``val`` split by default: validation
speakers, seen neither in training nor in the reported tables) is scored with the deployed path,
the *text* style code:

- ``val_rec``: eq. 2 (mu L1 + (1 - mu)(1 - SSIM)) between E_d(phonemes, s_t) and the ground truth;
- ``val_l1``: plain L1 of the same predictions;
- ``val_rec_video``: eq. 2 with the clip's own video style code s_v (self-driven reconstruction);
- ``val_emotion_acc``: every held-out description's s_t is assigned the emotion of the nearest
  (cosine) centroid of the held-out clips' video codes s_v; accuracy against the clip's emotion
  (NaN when the held-out clips show fewer than two emotions).

Everything is a function of the data and ``seed``: window starts come from one
``default_rng([seed, ...])``, clips are visited round-robin so each contributes, descriptions
cycle through each clip's variants, and style clips are centre-cropped. The model runs in eval mode
(no dropout) under no_grad and its training mode is restored, so evaluating does not change training.

Sweeps select hyper-parameters on these metrics, so they must not come from the split the tables
report (``test``): the embedded corpus holds ``corpus.n_val_speakers`` validation speakers out for
this, and real MEAD folders ``preprocess.val_speakers``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from talkclip.config.model import ModelConfig
from talkclip.config.sweep import VALIDATION_METRIC_MODES
from talkclip.config.train import TrainConfig
from talkclip.model import losses
from talkclip.model.style_encoder import crop_or_pad_style_clip

from .data import ClipStore, DescriptionTable, phoneme_windows_np
from .trainer import text_embedding_table

# Stream of the window-start generator (distinct from the trainer's batch/coin/torch streams).
VALIDATION_STREAM = 11


@dataclass
class ValidationSet:
    target: torch.Tensor  # (N, L, 64) ground-truth expression windows
    phoneme_windows: torch.Tensor  # (N, L, 2w+1)
    window_text: torch.Tensor  # (N,) int64 index into text_table: the description scored on that window
    window_clip: torch.Tensor  # (N,) int64 index into the held-out clips
    style: torch.Tensor  # (C, S, 64) centre-cropped / zero-padded style clip of every held-out clip
    style_pad_mask: torch.Tensor  # (C, S) bool, True = padding
    text_table: torch.Tensor  # (D, text_dim) frozen backbone embeddings of the held-out descriptions
    text_clip: torch.Tensor  # (D,) int64 held-out clip each description belongs to (one row per pair)
    clip_emotion: torch.Tensor  # (C,) int64 index into emotions
    emotions: list[str]
    clip_ids: list[str]
    mu: float

    @classmethod
    def build(
        cls,
        processed_dir: str | Path,
        annotated_dir: str | Path,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        backbone,
        cache_dir: str | Path,
        *,
        n_windows: int = 64,
        seed: int = 0,
        split: str = "val",
    ) -> ValidationSet:
        """``n_windows`` L-frame windows (L = train.clip_frames) of the ``split`` clips that have a
        description of the run's mode; ``model_cfg`` must be the run's model config, whose
        backbone ``backbone`` is."""
        if n_windows < 1:
            raise ValueError(f"ValidationSet: n_windows must be >= 1, got {n_windows}")
        descriptions = DescriptionTable.load(annotated_dir, train_cfg.descriptions)
        store = ClipStore.load(processed_dir, split, train_cfg.clip_frames, require_clip_ids=set(descriptions.by_clip))
        length, w = train_cfg.clip_frames, model_cfg.window

        # Embeddings of the whole description table: the same cache file the trainer reads.
        table = text_embedding_table(model_cfg, descriptions, backbone, cache_dir)[0]
        # Keep only the held-out clips' descriptions, one row per (clip, description) pair.
        text_rows, text_clip = [], []
        clip_rows: list[list[int]] = []  # held-out clip -> its rows in the kept table
        for c, clip in enumerate(store.clips):
            clip_rows.append([])
            for t in descriptions.by_clip[clip.clip_id]:
                clip_rows[c].append(len(text_rows))
                text_rows.append(t)
                text_clip.append(c)

        rng = np.random.default_rng([seed, VALIDATION_STREAM])
        targets, windows, window_text, window_clip = [], [], [], []
        for i in range(n_windows):
            c = i % len(store)  # round-robin: every held-out clip is scored
            clip = store.clips[c]
            start = int(rng.integers(0, clip.frames - length + 1))
            targets.append(clip.expression[start : start + length])
            windows.append(phoneme_windows_np(clip.phonemes, start, length, w))
            window_text.append(clip_rows[c][(i // len(store)) % len(clip_rows[c])])  # cycle the variants
            window_clip.append(c)

        styles = [crop_or_pad_style_clip(clip.expression, model_cfg.style_max_frames) for clip in store.clips]
        emotions = sorted({clip.emotion for clip in store.clips})
        return cls(
            target=torch.from_numpy(np.stack(targets)),
            phoneme_windows=torch.from_numpy(np.stack(windows)),
            window_text=torch.tensor(window_text, dtype=torch.int64),
            window_clip=torch.tensor(window_clip, dtype=torch.int64),
            style=torch.stack([s for s, _ in styles]),
            style_pad_mask=torch.stack([m for _, m in styles]),
            text_table=table[torch.tensor(text_rows, dtype=torch.int64)].clone(),
            text_clip=torch.tensor(text_clip, dtype=torch.int64),
            clip_emotion=torch.tensor([emotions.index(clip.emotion) for clip in store.clips], dtype=torch.int64),
            emotions=emotions,
            clip_ids=[clip.clip_id for clip in store.clips],
            mu=train_cfg.mu,
        )

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, chunk: int = 32) -> dict[str, float]:
        """The ``val_*`` metrics of ``model`` (a TalkCLIP) on this set."""
        was_training = model.training
        model.eval()
        try:
            device = next(model.parameters()).device
            s_v_clips = model.video_style(self.style.to(device), self.style_pad_mask.to(device))  # (C, D)
            s_t_all = model.text_style(self.text_table.to(device))  # (D_texts, D)
            sums = {"val_rec": 0.0, "val_l1": 0.0, "val_rec_video": 0.0}
            for first in range(0, len(self), chunk):
                part = slice(first, first + chunk)
                target = self.target[part].to(device)
                phonemes = self.phoneme_windows[part].to(device)
                weight = target.shape[0] / len(self)  # chunk means -> set mean
                pred_text = model.decode(phonemes, s_t_all[self.window_text[part].to(device)])
                pred_video = model.decode(phonemes, s_v_clips[self.window_clip[part].to(device)])
                sums["val_rec"] += weight * losses.reconstruction_loss(pred_text, target, self.mu).item()
                sums["val_l1"] += weight * F.l1_loss(pred_text, target).item()
                sums["val_rec_video"] += weight * losses.reconstruction_loss(pred_video, target, self.mu).item()
            sums["val_emotion_acc"] = self._emotion_accuracy(s_t_all, s_v_clips)
        finally:
            model.train(was_training)
        assert set(sums) == set(VALIDATION_METRIC_MODES), "validation metrics and config names disagree"
        return sums

    def _emotion_accuracy(self, s_t: torch.Tensor, s_v_clips: torch.Tensor) -> float:
        if len(self.emotions) < 2:
            return float("nan")
        s_v_unit = F.normalize(s_v_clips.float(), dim=-1)
        emotion = self.clip_emotion.to(s_v_unit.device)
        centroids = torch.stack([s_v_unit[emotion == e].mean(0) for e in range(len(self.emotions))])
        similarity = F.normalize(s_t.float(), dim=-1) @ F.normalize(centroids, dim=-1).T  # (D_texts, E)
        predicted = similarity.argmax(dim=-1)
        truth = emotion[self.text_clip.to(s_v_unit.device)]
        return float((predicted == truth).float().mean().item())


def validation_loss(
    model: torch.nn.Module,
    processed_dir: str | Path,
    annotated_dir: str | Path,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    backbone,
    cache_dir: str | Path,
    *,
    n_windows: int = 64,
    seed: int = 0,
    split: str = "val",
) -> dict[str, float]:
    """One-shot form of ``ValidationSet.build(...).evaluate(model)`` (build the set once when
    evaluating repeatedly)."""
    validation = ValidationSet.build(processed_dir, annotated_dir, model_cfg, train_cfg, backbone, cache_dir,
                                     n_windows=n_windows, seed=seed, split=split)
    return validation.evaluate(model)
