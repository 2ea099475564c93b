"""Train the SyncNet of `talkclip.metrics.syncnet` on an embedded corpus (mp4 + wav clips).

The official ``syncnet_v2.model`` is not available offline, so Sync_conf / LSE-D in our tables come
from a SyncNet trained here (every table names the weights file). Training follows Chung & Zisserman,
"Out of time" (2016): a two-stream network embeds a 5-frame (0.2 s) face window and the matching 0.2 s
of MFCC; a contrastive loss pulls synchronised pairs together and pushes off-sync pairs at least
``margin`` apart:

    L = mean_pos(d^2) + mean_neg(max(margin - d, 0)^2),   d = ||video_emb - audio_emb||_2

Positives are a video window with its own audio window; negatives are the same video window with audio
shifted by ``min_negative_shift``..15 frames inside the same clip (hard negatives: same voice, same face)
and the synchronised audio of the *other* clips in the batch. Inputs are exactly what evaluation feeds
the network (`prepare_frames`: 25 fps face crops resized to 224x224, BGR 0..255; `mfcc` of int16-scale
16 kHz audio), so the trained weights plug into `evaluate_sync` unchanged.

``width`` scales the channel counts of the reference architecture (`SyncNet(width=...)`; layer names,
kernels and input sizes are unchanged, and `load_syncnet` reads the width back from the shapes).
Width 0.25 with 256-d embeddings trains in a few minutes on one CPU core on the embedded corpus.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from talkclip.atomic import atomic_path, write_text
from talkclip.formats.media import read_audio, read_video
from talkclip.metrics.ssim import resample_fps
from talkclip.metrics.syncnet import (
    MFCC_PER_VIDEO_FRAME,
    MFCC_WINDOW,
    SAMPLES_PER_VIDEO_FRAME,
    VIDEO_FPS,
    WINDOW_FRAMES,
    SyncNet,
    audio_to_int16_scale,
    mfcc,
    prepare_frames,
)

MAX_SHIFT = 15  # the evaluation's offset search range (frames)


class SyncTrainError(ValueError):
    """The training corpus or configuration is unusable."""


@dataclass(frozen=True)
class SyncTrainConfig:
    width: float = 0.25  # channel scale of the reference SyncNet (1.0 = official size)
    embedding_dim: int = 256
    steps: int = 400
    max_seconds: float = 0.0  # stop early after this much training time (0: run all steps)
    batch_size: int = 12  # video windows per step
    negatives_per_window: int = 6  # shifted-audio negatives from the same clip per video window
    min_negative_shift: int = 5  # frames; closer shifts overlap the true window too much to be negatives
    margin: float = 1.0
    multiway_weight: float = 1.0  # weight of the multi-way matching loss next to the contrastive loss
    temperature: float = 0.1
    learning_rate: float = 1e-3
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.width <= 1:
            raise SyncTrainError(f"width must be in (0, 1], got {self.width}")
        if self.batch_size < 2 or self.steps < 1 or self.negatives_per_window < 1:
            raise SyncTrainError("batch_size must be >= 2, steps and negatives_per_window >= 1")
        if not 1 <= self.min_negative_shift <= MAX_SHIFT:
            raise SyncTrainError(f"min_negative_shift must be in 1..{MAX_SHIFT}, got {self.min_negative_shift}")


@dataclass
class SyncClip:
    """One clip ready for training: 25 fps frames (T, H, W, 3) uint8 and its MFCC (n, 13)."""

    name: str
    frames: np.ndarray
    mfcc: np.ndarray

    @property
    def n_windows(self) -> int:
        by_audio = (len(self.mfcc) - MFCC_WINDOW) // MFCC_PER_VIDEO_FRAME + 1
        return min(len(self.frames) - WINDOW_FRAMES + 1, by_audio)


def corpus_clip_paths(corpus_root: str | Path) -> list[tuple[Path, Path]]:
    """(video mp4, wav) pairs of an embedded corpus, MEAD and HDTF layouts (see docs/DESIGN.md)."""
    root = Path(corpus_root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {root} does not exist")
    pairs = []
    for video in sorted(root.glob("mead/*/video/front/*/level_*/*.mp4")):
        speaker_dir = video.parents[4]
        emotion, level = video.parent.parent.name, video.parent.name
        pairs.append((video, speaker_dir / "audio" / emotion / level / f"{video.stem}.wav"))
    for video in sorted(root.glob("hdtf/video/*.mp4")):
        pairs.append((video, root / "hdtf" / "audio" / f"{video.stem}.wav"))
    missing = [str(wav) for _, wav in pairs if not wav.is_file()]
    if missing:
        raise FileNotFoundError(f"corpus {root}: wav files missing for {len(missing)} videos, e.g. {missing[0]}")
    if not pairs:
        raise SyncTrainError(f"corpus {root}: no mead/*/video/front/*/level_*/*.mp4 or hdtf/video/*.mp4 clips")
    return pairs


def clip_name(video_path: str | Path) -> str:
    """The corpus clip id of a video: ``{ID}_front_{emotion}_level{n}_{NNN}`` for MEAD layout, else the stem."""
    video_path = Path(video_path)
    parts = video_path.parts
    if len(parts) >= 6 and parts[-5] == "video" and parts[-4] == "front" and parts[-2].startswith("level_"):
        return f"{parts[-6]}_front_{parts[-3]}_level{parts[-2].removeprefix('level_')}_{video_path.stem}"
    return video_path.stem


def load_sync_clip(video_path: str | Path, audio_path: str | Path) -> SyncClip:
    """Decode a clip to 25 fps frames and the reference MFCC of its audio."""
    frames, fps = read_video(video_path)
    frames = resample_fps(frames, fps, VIDEO_FPS)
    audio = read_audio(audio_path)
    return SyncClip(name=clip_name(video_path), frames=frames, mfcc=mfcc(audio_to_int16_scale(audio)))


def shift_audio(audio: np.ndarray, frames: int) -> np.ndarray:
    """Delay (frames > 0) or advance (frames < 0) audio by whole 25 fps video frames, keeping its length."""
    shift = frames * SAMPLES_PER_VIDEO_FRAME
    shifted = np.zeros_like(audio)
    if shift >= 0:
        shifted[shift:] = audio[: len(audio) - shift]
    else:
        shifted[:shift] = audio[-shift:]
    return shifted


def _mfcc_window(clip: SyncClip, window: int) -> np.ndarray:
    start = window * MFCC_PER_VIDEO_FRAME
    return clip.mfcc[start : start + MFCC_WINDOW].T  # (13, 20)


def sample_batch(
    clips: list[SyncClip], cfg: SyncTrainConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training batch.

    Returns video windows (B, 3, 5, 224, 224), audio windows (B * (1 + K), 1, 13, 20) in groups of 1 + K
    per video window, the clip index of every audio window and its shift (audio window - video window,
    frames; 0 for the synchronised one, |shift| >= min_negative_shift for the K negatives).
    """
    video, audio, audio_clip, audio_shift = [], [], [], []
    usable = [i for i, c in enumerate(clips) if c.n_windows > cfg.min_negative_shift]
    for _ in range(cfg.batch_size):
        clip_index = int(rng.choice(usable))
        clip = clips[clip_index]
        window = int(rng.integers(clip.n_windows))
        video.append(prepare_frames(clip.frames[window : window + WINDOW_FRAMES]))
        audio.append(_mfcc_window(clip, window))
        audio_clip.append(clip_index)
        audio_shift.append(0)
        # Off-sync audio of the same clip at |shift| >= min_negative_shift (within the search range when possible).
        candidates = [w for w in range(clip.n_windows) if cfg.min_negative_shift <= abs(w - window)]
        near = [w for w in candidates if abs(w - window) <= MAX_SHIFT] or candidates
        for negative in rng.choice(near, size=cfg.negatives_per_window, replace=len(near) < cfg.negatives_per_window):
            audio.append(_mfcc_window(clip, int(negative)))
            audio_clip.append(clip_index)
            audio_shift.append(int(negative) - window)
    return (
        torch.stack(video),
        torch.from_numpy(np.stack(audio)).float().unsqueeze(1),
        torch.tensor(audio_clip),
        torch.tensor(audio_shift),
    )


def sync_losses(
    video_emb: torch.Tensor, audio_emb: torch.Tensor, audio_shift: torch.Tensor, per_window: int, margin: float,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Contrastive loss (Chung & Zisserman 2016) and multi-way matching loss of a batch.

    Audio windows come in groups of ``per_window`` per video window: the synchronised one (shift 0) and
    off-sync ones of the same clip (|shift| >= min_negative_shift). The contrastive loss treats each
    (video, audio) pair of a group independently; the multi-way loss (Chung, Chung & Zisserman, "Perfect
    match", 2019) is a cross-entropy over the group with logits ``-distance / temperature``, which asks
    directly for what the offset search needs: the synchronised audio closest among the shifts.
    """
    batch = video_emb.shape[0]
    distances = F.pairwise_distance(
        video_emb.repeat_interleave(per_window, dim=0), audio_emb
    ).view(batch, per_window)
    positive = (audio_shift == 0).view(batch, per_window)
    contrastive = torch.where(positive, distances.square(), torch.clamp(margin - distances, min=0).square()).mean()
    target = positive.float().argmax(dim=1)
    multiway = F.cross_entropy(-distances / temperature, target)
    stats = {
        "pos_dist": float(distances[positive].mean().detach()),
        "neg_dist": float(distances[~positive].mean().detach()),
        "match_acc": float((distances.argmin(dim=1) == target).float().mean()),
    }
    return contrastive, multiway, stats


def train_syncnet(
    clips: list[SyncClip], cfg: SyncTrainConfig, out_path: str | Path | None = None, progress: bool = True,
    device: str = "cpu",
) -> tuple[SyncNet, dict]:
    """Train a `SyncNet` of ``cfg.width`` on ``clips``; save its state dict to ``out_path`` (atomic).

    Returns the model (eval mode) and a training record (config, steps done, seconds, final losses),
    which is also written next to the weights as ``{out_path}.json``.
    """
    if len(clips) < 2:
        raise SyncTrainError(f"need at least 2 clips to train SyncNet, got {len(clips)}")
    if not any(c.n_windows > cfg.min_negative_shift for c in clips):
        raise SyncTrainError(f"every clip is shorter than {cfg.min_negative_shift + WINDOW_FRAMES} frames")
    torch.manual_seed(cfg.seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    model = SyncNet(embedding_dim=cfg.embedding_dim, width=cfg.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    per_window = 1 + cfg.negatives_per_window
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    model.train()
    try:
        bar = tqdm(range(cfg.steps), desc="syncnet", unit="step", disable=not progress)
        for step in bar:
            video, audio, audio_clip, audio_shift = sample_batch(clips, cfg, rng)
            video, audio, audio_shift = video.to(device), audio.to(device), audio_shift.to(device)
            video_emb, audio_emb = model.forward_lip(video), model.forward_aud(audio)
            contrastive, multiway, stats = sync_losses(
                video_emb, audio_emb, audio_shift, per_window, cfg.margin, cfg.temperature
            )
            loss = contrastive + cfg.multiway_weight * multiway
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.append({"step": step, "loss": float(loss.detach()), "contrastive": float(contrastive.detach()),
                            "multiway": float(multiway.detach()), **stats})
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", pos=f"{stats['pos_dist']:.2f}", neg=f"{stats['neg_dist']:.2f}")
            if cfg.max_seconds and time.perf_counter() - started > cfg.max_seconds:
                break
    finally:
        torch.set_num_threads(previous_threads)
    model = model.cpu().eval()
    tail = history[-20:]
    record = {
        "config": asdict(cfg),
        "steps_done": len(history),
        "seconds": round(time.perf_counter() - started, 1),
        "clips": [c.name for c in clips],
        "final_loss": float(np.mean([h["loss"] for h in tail])),
        "final_pos_dist": float(np.mean([h["pos_dist"] for h in tail])),
        "final_neg_dist": float(np.mean([h["neg_dist"] for h in tail])),
        "final_match_acc": float(np.mean([h["match_acc"] for h in tail])),
    }
    if out_path is not None:
        out_path = Path(out_path)
        with atomic_path(out_path) as tmp:
            torch.save(model.state_dict(), tmp)
        write_text(out_path.with_name(out_path.name + ".json"), json.dumps(record, indent=2) + "\n")
    return model, record


def train_syncnet_on_corpus(
    corpus_root: str | Path, out_path: str | Path, cfg: SyncTrainConfig = SyncTrainConfig(),
    exclude: tuple[str, ...] = (), progress: bool = True,
) -> tuple[SyncNet, dict]:
    """Load every clip of an embedded corpus (except names in ``exclude``) and `train_syncnet` on them."""
    clips = [load_sync_clip(video, wav) for video, wav in corpus_clip_paths(corpus_root) if clip_name(video) not in exclude]
    return train_syncnet(clips, cfg, out_path, progress)
