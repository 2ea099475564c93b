"""A tiny processed dataset + descriptions for the training tests (imported by tests/test_training_*.py).

Expressions are random walks whose style depends on the clip's emotion and level (upper-face offset
and mouth amplitude), and whose mouth follows the phonemes (a fixed 13-d "viseme" per phoneme, smoothed
over time), so that a lip-sync discriminator has something real to learn.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from talkclip.config.model import ModelConfig
from talkclip.expression import LOWER_FACE_INDICES, UPPER_FACE_INDICES
from talkclip.phonemes import SIL_ID
from talkclip.preprocess.dataset import ProcessedClip, write_clip, write_manifest

EMOTIONS = ("neutral", "happy", "angry")
_ADJECTIVE = {"neutral": "calmly", "happy": "happily", "angry": "angrily"}
_INTENSITY = {1: "slightly", 2: "strongly"}


def tiny_model_config(**overrides) -> ModelConfig:
    values = {
        "d_model": 32, "n_heads": 2, "n_layers": 1, "d_ff": 64, "dropout": 0.1, "phoneme_embed_dim": 16, "window": 5,
        "style_max_frames": 64, "dynamic_kernels": 2, "dynamic_attention_hidden": 8, "decoder_head_hidden": 16,
        "tem_disc_channels": 8, "sync_disc_hidden": 16,
    }
    values.update(overrides)
    return ModelConfig(**values)


class HashBackbone:
    """A deterministic stand-in for the frozen text backbone (bag of hashed words, unit length):
    the training mechanics under test do not need MiniLM's 8 s load."""

    name = "hash"
    max_tokens = 77

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim
        self.calls = 0

    def embed(self, texts: list[str]) -> torch.Tensor:
        self.calls += 1
        out = torch.zeros(len(texts), self.dim)
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError("empty text")
            for word in text.lower().split():
                h = zlib.crc32(word.encode())
                out[i, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        return torch.nn.functional.normalize(out + 1e-3, dim=-1)


def _phoneme_track(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    ids = np.full(n_frames, SIL_ID, np.int64)
    t = int(rng.integers(2, 5))
    while t < n_frames - 3:
        length = int(rng.integers(2, 7))
        phone = int(rng.integers(0, 41))
        ids[t : t + length] = phone
        t += length
    return ids


def build_toy_dataset(
    root: Path,
    *,
    seed: int = 0,
    train_speakers: tuple[str, ...] = ("M001", "W002"),
    test_speakers: tuple[str, ...] = ("M003",),
    val_speakers: tuple[str, ...] = ("W004",),
    clips_per_group: int = 2,
    frames: tuple[int, int] = (70, 120),
    short_clips: int = 0,
) -> tuple[Path, Path]:
    """Write ``root/processed`` (manifest + clips) and ``root/annotated/descriptions.csv``."""
    rng = np.random.default_rng(seed)
    visemes = np.random.default_rng(1234).normal(0.0, 0.6, size=(41, len(LOWER_FACE_INDICES)))
    visemes[SIL_ID] = 0.0
    emotion_offset = {e: np.random.default_rng(100 + k).normal(0, 0.5, len(UPPER_FACE_INDICES))
                      for k, e in enumerate(EMOTIONS)}
    emotion_gain = {"neutral": 0.6, "happy": 1.0, "angry": 1.4}
    processed, annotated = root / "processed", root / "annotated"
    rows, descriptions = [], []
    split_of = {**{s: "train" for s in train_speakers}, **{s: "val" for s in val_speakers},
                **{s: "test" for s in test_speakers}}
    clips = [(spk, split, e, lvl, n) for spk, split in split_of.items() for e in EMOTIONS for lvl in (1, 2)
             for n in range(clips_per_group if split == "train" else 1)]
    clips += [(train_speakers[0], "train", "neutral", 1, 100 + k) for k in range(short_clips)]
    for speaker, split, emotion, level, number in clips:
        clip_id = f"{speaker}_front_{emotion}_level{level}_{number:03d}"
        n_frames = int(rng.integers(*frames)) if number < 100 else 20  # the extra clips are short
        phonemes = _phoneme_track(rng, n_frames)
        expression = np.zeros((n_frames, 64), np.float32)
        # Mouth: smoothed visemes of the phonemes, scaled by the emotion's gain, plus small noise.
        mouth = visemes[phonemes] * emotion_gain[emotion] * (0.8 + 0.2 * level)
        kernel = np.array([0.25, 0.5, 0.25])
        mouth = np.stack([np.convolve(mouth[:, j], kernel, mode="same") for j in range(mouth.shape[1])], 1)
        expression[:, LOWER_FACE_INDICES] = mouth + rng.normal(0, 0.02, mouth.shape)
        # Upper face: emotion x level offset + a slow random walk.
        walk = np.cumsum(rng.normal(0, 0.02, (n_frames, len(UPPER_FACE_INDICES))), axis=0)
        expression[:, UPPER_FACE_INDICES] = emotion_offset[emotion] * level / 2 + walk
        path = f"clips/{clip_id}.npz"
        write_clip(processed / path, ProcessedClip(clip_id, 25.0, expression, np.zeros((n_frames, 9), np.float32),
                                                   phonemes, expression_space="embedded"))
        rows.append({"clip_id": clip_id, "speaker": speaker, "gender": "male" if speaker[0] == "M" else "female",
                         "emotion": emotion, "level": level, "split": split, "fps": 25, "frames": n_frames, "video": "", "audio": "",
                         "coeffs": "", "transcript": "toy", "alignment_method": "reference", "path": path,
                     "expression_space": "embedded"})
        person = "man" if speaker[0] == "M" else "woman"
        descriptions += [
            {"clip_id": clip_id, "mode": "full", "variant": 0, "text": f"A {person} talks {_ADJECTIVE[emotion]}, {_INTENSITY[level]}."},
            {"clip_id": clip_id, "mode": "full", "variant": 1, "text": f"The {person} speaks {_INTENSITY[level]} {emotion}."},
            {"clip_id": clip_id, "mode": "simanno", "variant": 0, "text": f"{emotion}"},
        ]
    write_manifest(processed / "manifest.csv", rows)
    annotated.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(descriptions).to_csv(annotated / "descriptions.csv", index=False)
    return processed, annotated


def toy_training_data(root: Path, model_cfg: ModelConfig, clip_frames: int = 32) -> tuple[Path, Path, Path]:
    """Toy dataset + a briefly pretrained D_sync: (processed dir, annotated dir, sync checkpoint)."""
    from talkclip.config.train import SyncPretrainConfig
    from talkclip.training.sync_pretrain import pretrain_sync

    processed, annotated = build_toy_dataset(root)
    sync_cfg = SyncPretrainConfig(device="cpu", batch_size=16, lr=3e-3, steps=40, clip_frames=clip_frames,
                                  min_shift=3, max_shift=12, eval_windows=64, log_every=40)
    sync = pretrain_sync(model_cfg, sync_cfg, processed, root / "sync.pt")
    return processed, annotated, sync.checkpoint


def test_toy_dataset_is_well_formed(tmp_path):
    from talkclip.preprocess.dataset import read_clip, read_manifest

    processed, annotated = build_toy_dataset(tmp_path, short_clips=1)
    manifest = read_manifest(processed / "manifest.csv")
    assert set(manifest["split"]) == {"train", "val", "test"}
    assert len(manifest) == 2 * 3 * 2 * 2 + 2 * 3 * 2 + 1
    clip = read_clip(processed / manifest["path"][0])
    assert clip.expression.shape[1] == 64 and clip.phonemes.shape == (clip.frames,)
    table = pd.read_csv(annotated / "descriptions.csv")
    assert set(table["mode"]) == {"full", "simanno"}
    # The style really depends on the emotion: upper-face means differ between emotions.
    means = {}
    for row in manifest[manifest["level"] == 2].to_dict("records"):
        expr = read_clip(processed / row["path"]).expression
        means.setdefault(row["emotion"], []).append(expr[:, UPPER_FACE_INDICES].mean(0))
    assert np.linalg.norm(np.mean(means["happy"], 0) - np.mean(means["angry"], 0)) > 1.0


def test_hash_backbone_is_deterministic_and_rejects_empty_text():
    backbone = HashBackbone()
    a = backbone.embed(["a happy man", "a sad woman"])
    assert torch.equal(a, HashBackbone().embed(["a happy man", "a sad woman"]))
    assert not torch.allclose(a[0], a[1])
    import pytest

    with pytest.raises(ValueError):
        backbone.embed([" "])
