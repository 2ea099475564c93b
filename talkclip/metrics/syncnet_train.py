"""Train the SyncNet of `talkclip.metrics.syncnet` on an embedded corpus (mp4 + wav clips).

The official ``syncnet_v2.model`` is not available offline, so Sync_conf / LSE-D in our tables come
from a SyncNet trained here on the corpus's *training* speakers (every table names the weights
file). The network embeds a 5-frame (0.2 s) face window and the matching 0.2 s of MFCC, as in Chung &
Zisserman, "Out of time" (2016). Each video window is scored against its synchronised audio window and
``negatives_per_window`` audio windows of the same clip shifted by ``min_negative_shift``..15 frames
(hard negatives: same voice, same face, only the timing differs), with the multi-way matching loss of
Chung, Chung & Zisserman, "Perfect match" (2019): a cross-entropy over the group with logits
``-distance / temperature``. That asks directly for what the offset search needs, the synchronised
audio closest among the shifts. The contrastive loss of the 2016 paper can be added
(``contrastive_weight``); alone, or with temperature 0.1, it learned nothing in 3000 steps
(docs/DESIGN.md).

Inputs are exactly what evaluation feeds the network (`prepare_frames`: 25 fps face crops resized to
224x224, BGR 0..255; `mfcc` of int16-scale 16 kHz audio), so the trained weights plug into
`evaluate_sync` unchanged. ``width`` scales the channel counts of the reference architecture (layer
names, kernels and input sizes unchanged; `load_syncnet` reads the width back from the shapes).

`heldout_report` measures the trained network on clips it never saw: the offset it finds for the true
audio and for audio delayed or advanced by known amounts, and its confidence for the true audio versus
another clip's audio.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from talkclip.atomic import atomic_path, write_text
from talkclip.config.syncnet import MAX_SHIFT, SyncNetConfig
from talkclip.device import resolve_device
from talkclip.formats.media import read_audio, read_video
from talkclip.metrics.ssim import resample_fps
from talkclip.metrics.syncnet import (
    MFCC_PER_VIDEO_FRAME,
    MFCC_WINDOW,
    SAMPLES_PER_VIDEO_FRAME,
    VIDEO_FPS,
    WINDOW_FRAMES,
    SyncNet,
    SyncResult,
    audio_to_int16_scale,
    embed_audio_windows,
    embed_video_windows,
    mfcc,
    offset_distances,
    prepare_frames,
    sync_from_distances,
    window_count,
)

# Audio shifts (frames; positive = audio delayed) of the held-out check; the true offset of a shift s is -s.
HELDOUT_SHIFTS = (-6, -3, 0, 3, 6)
LogHook = Callable[[int, dict[str, float]], None]


class SyncTrainError(ValueError):
    """The training corpus or configuration is unusable."""


@dataclass
class SyncClip:
    """One clip ready for training: 25 fps frames (T, H, W, 3) uint8, its MFCC (n, 13) and 16 kHz audio."""

    name: str
    frames: np.ndarray
    mfcc: np.ndarray
    audio: np.ndarray | None = None

    @property
    def n_windows(self) -> int:
        by_audio = (len(self.mfcc) - MFCC_WINDOW) // MFCC_PER_VIDEO_FRAME + 1
        return min(len(self.frames) - WINDOW_FRAMES + 1, by_audio)


def corpus_clip_paths(corpus_root: str | Path, splits: tuple[str, ...] | None = None) -> list[tuple[Path, Path]]:
    """(video mp4, wav) pairs of an embedded corpus, MEAD and HDTF layouts (see docs/DESIGN.md).

    ``splits``: keep only clips of these splits (``train``, ``val``, ``test``, ``hdtf``), as recorded
    per speaker in the corpus's ``corpus.json``; None keeps every clip.
    """
    root = Path(corpus_root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {root} does not exist")
    split_of: dict[str, str] = {}
    if splits is not None:
        meta = root / "corpus.json"
        if not meta.is_file():
            raise FileNotFoundError(f"{meta}: needed to select the {list(splits)} split(s) of the corpus")
        split_of = {s["id"]: s["split"] for s in json.loads(meta.read_text()).get("speakers", [])}
    pairs = []
    for video in sorted(root.glob("mead/*/video/front/*/level_*/*.mp4")):
        speaker_dir = video.parents[4]
        if splits is not None and split_of.get(speaker_dir.name) not in splits:
            continue
        emotion, level = video.parent.parent.name, video.parent.name
        pairs.append((video, speaker_dir / "audio" / emotion / level / f"{video.stem}.wav"))
    if splits is None or "hdtf" in splits:
        for video in sorted(root.glob("hdtf/video/*.mp4")):
            pairs.append((video, root / "hdtf" / "audio" / f"{video.stem}.wav"))
    missing = [str(wav) for _, wav in pairs if not wav.is_file()]
    if missing:
        raise FileNotFoundError(f"corpus {root}: wav files missing for {len(missing)} videos, e.g. {missing[0]}")
    if not pairs:
        wanted = f" of split(s) {list(splits)}" if splits is not None else ""
        raise SyncTrainError(f"corpus {root}: no mead/*/video/front/*/level_*/*.mp4 or hdtf/video/*.mp4 clips{wanted}")
    return pairs


def clip_name(video_path: str | Path) -> str:
    """The corpus clip id of a video: ``{ID}_front_{emotion}_level{n}_{NNN}`` for MEAD layout, else the stem."""
    video_path = Path(video_path)
    parts = video_path.parts
    if len(parts) >= 6 and parts[-5] == "video" and parts[-4] == "front" and parts[-2].startswith("level_"):
        return f"{parts[-6]}_front_{parts[-3]}_level{parts[-2].removeprefix('level_')}_{video_path.stem}"
    return video_path.stem


def load_sync_clip(video_path: str | Path, audio_path: str | Path, keep_audio: bool = False) -> SyncClip:
    """Decode a clip to 25 fps frames and the reference MFCC of its audio (and keep the audio if asked)."""
    frames, fps = read_video(video_path)
    frames = resample_fps(frames, fps, VIDEO_FPS)
    audio = read_audio(audio_path)
    return SyncClip(name=clip_name(video_path), frames=frames, mfcc=mfcc(audio_to_int16_scale(audio)),
                    audio=audio if keep_audio else None)


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
    clips: list[SyncClip], cfg: SyncNetConfig, rng: np.random.Generator
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
    """Contrastive loss (Chung & Zisserman 2016) and multi-way matching loss (Chung et al. 2019) of a batch.

    Audio windows come in groups of ``per_window`` per video window: the synchronised one (shift 0) and
    off-sync ones of the same clip. The contrastive loss treats each (video, audio) pair on its own
    (``d^2`` for in-sync pairs, ``max(margin - d, 0)^2`` for the others); the multi-way loss is a
    cross-entropy over the group with logits ``-d / temperature``.
    """
    batch = video_emb.shape[0]
    distances = F.pairwise_distance(video_emb.repeat_interleave(per_window, dim=0), audio_emb).view(batch, per_window)
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
    clips: list[SyncClip], cfg: SyncNetConfig, out_path: str | Path | None = None, progress: bool = True,
    on_log: LogHook | None = None,
) -> tuple[SyncNet, dict]:
    """Train a `SyncNet` of ``cfg.width`` on ``clips``; save its state dict to ``out_path`` (atomic).

    Returns the model (eval mode, on the CPU) and a training record (config, steps done, seconds, final
    losses), which is also written next to the weights as ``{out_path}.json``. ``on_log(step, metrics)``
    gets the mean losses of every ``cfg.log_every`` steps.
    """
    if len(clips) < 2:
        raise SyncTrainError(f"need at least 2 clips to train SyncNet, got {len(clips)}")
    if not any(c.n_windows > cfg.min_negative_shift for c in clips):
        raise SyncTrainError(f"every clip is shorter than {cfg.min_negative_shift + WINDOW_FRAMES} frames")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = SyncNet(embedding_dim=cfg.embedding_dim, width=cfg.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    per_window = 1 + cfg.negatives_per_window
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    model.train()
    bar = tqdm(range(cfg.steps), desc="syncnet", unit="step", disable=not progress)
    for step in bar:
        video, audio, _, audio_shift = sample_batch(clips, cfg, rng)
        video, audio, audio_shift = video.to(device), audio.to(device), audio_shift.to(device)
        video_emb, audio_emb = model.forward_lip(video), model.forward_aud(audio)
        contrastive, multiway, stats = sync_losses(
            video_emb, audio_emb, audio_shift, per_window, cfg.margin, cfg.temperature
        )
        loss = multiway + cfg.contrastive_weight * contrastive
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append({"loss": float(loss.detach()), "contrastive": float(contrastive.detach()),
                        "multiway": float(multiway.detach()), **stats})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", match=f"{stats['match_acc']:.2f}")
        if on_log is not None and (step + 1) % cfg.log_every == 0:
            interval = history[-cfg.log_every:]
            on_log(step + 1, {k: float(np.mean([h[k] for h in interval])) for k in interval[0]})
        if cfg.max_seconds and time.perf_counter() - started > cfg.max_seconds:
            break
    model = model.cpu().eval()
    tail = history[-cfg.log_every:]
    record = {
        "config": asdict(cfg),
        "steps_done": len(history),
        "seconds": round(time.perf_counter() - started, 1),
        "device": str(device),
        "train_clips": len(clips),
        **{f"final_{k}": float(np.mean([h[k] for h in tail])) for k in ("loss", "pos_dist", "neg_dist", "match_acc")},
    }
    if out_path is not None:
        save_syncnet(model, record, out_path)
    return model, record


def save_syncnet(model: SyncNet, record: dict, out_path: str | Path) -> None:
    """The weights at ``out_path`` (what `load_syncnet` reads) and the record beside them as
    ``{out_path}.json``, each written whole or not at all."""
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        torch.save(model.state_dict(), tmp)
    write_text(out_path.with_name(out_path.name + ".json"), json.dumps(record, indent=2) + "\n")


def sync_with_video_embeddings(model: SyncNet, video_emb: torch.Tensor, audio: np.ndarray) -> SyncResult:
    """`evaluate_sync`'s result for one audio track against a clip's video embeddings, computed once by
    `embed_video_windows` (the video side is most of the work and does not change with the audio)."""
    audio_emb = embed_audio_windows(model, mfcc(audio_to_int16_scale(audio)), len(video_emb))
    return sync_from_distances(offset_distances(video_emb, audio_emb))


def heldout_report(model: SyncNet, clips: list[SyncClip], tolerance: int = 1) -> dict[str, float]:
    """How the network does on held-out clips (each with ``audio``).

    - ``offset_accuracy``: share of (clip, shift in HELDOUT_SHIFTS) whose found offset is within
      ``tolerance`` frames of the truth (audio delayed by s frames has offset -s);
    - ``offset_accuracy_in_sync``: the same for the unshifted audio alone;
    - ``sync_conf_in_sync`` / ``lse_d_in_sync``: mean Sync_conf / LSE-D with the true audio;
    - ``sync_conf_mismatched``: mean Sync_conf with the audio of the next held-out clip (no true offset:
      a network that measures sync is much less confident there).
    Video embeddings are computed once per clip and scored against every audio variant.
    """
    usable = [c for c in clips if c.audio is not None]
    if len(usable) < 2:
        raise SyncTrainError(f"the held-out check needs at least 2 clips with audio, got {len(usable)}")
    hits, in_sync_hits, conf, lse_d, conf_other = [], [], [], [], []
    for index, clip in enumerate(usable):
        n_windows = window_count(len(clip.frames), len(clip.audio))
        if n_windows <= 2 * max(abs(s) for s in HELDOUT_SHIFTS):
            raise SyncTrainError(f"held-out clip {clip.name} is too short ({n_windows} SyncNet windows)")
        video_emb = embed_video_windows(model, clip.frames, n_windows)
        for shift in HELDOUT_SHIFTS:
            result = sync_with_video_embeddings(model, video_emb, shift_audio(clip.audio, shift))
            hits.append(abs(result.offset - (-shift)) <= tolerance)
            if shift == 0:
                in_sync_hits.append(hits[-1])
                conf.append(result.confidence)
                lse_d.append(result.min_distance)
        other = usable[(index + 1) % len(usable)].audio
        other = np.pad(other, (0, max(0, len(clip.audio) - len(other))))[: len(clip.audio)]
        conf_other.append(sync_with_video_embeddings(model, video_emb, other).confidence)
    return {
        "heldout_clips": len(usable),
        "offset_accuracy": float(np.mean(hits)),
        "offset_accuracy_in_sync": float(np.mean(in_sync_hits)),
        "sync_conf_in_sync": float(np.mean(conf)),
        "lse_d_in_sync": float(np.mean(lse_d)),
        "sync_conf_mismatched": float(np.mean(conf_other)),
    }


def train_syncnet_on_corpus(
    corpus_root: str | Path, out_path: str | Path, cfg: SyncNetConfig, progress: bool = True,
    on_log: LogHook | None = None,
) -> tuple[SyncNet, dict]:
    """Train on the corpus's ``train`` speakers (MEAD layout), then run `heldout_report` on up to
    ``cfg.eval_clips`` clips of its ``test`` speakers (spread over the emotions). Returns the model and
    the training record with the held-out results added (also in ``{out_path}.json``)."""
    train_pairs = corpus_clip_paths(corpus_root, splits=("train",))
    held_pairs = corpus_clip_paths(corpus_root, splits=("test",))
    step = max(1, len(held_pairs) // cfg.eval_clips)
    held_pairs = held_pairs[::step][: cfg.eval_clips]
    clips = [load_sync_clip(video, wav) for video, wav in
             tqdm(train_pairs, desc="syncnet: load clips", unit="clip", disable=not progress)]
    model, record = train_syncnet(clips, cfg, None, progress, on_log)
    held = [load_sync_clip(video, wav, keep_audio=True) for video, wav in held_pairs]
    record["heldout"] = heldout_report(model, held)
    record["heldout_clip_names"] = [c.name for c in held]
    # The evaluator reads this to warn that corpus-trained weights mean nothing on real faces.
    embedded = (Path(corpus_root) / "corpus.json").is_file()  # written by `talkclip synth` only
    record["training_data"] = {"corpus_root": str(corpus_root), "embedded_corpus": embedded,
                               "description": "embedded synthetic corpus" if embedded else "MEAD-layout videos"}
    save_syncnet(model, record, out_path)
    return model, record
