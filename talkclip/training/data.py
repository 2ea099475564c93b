"""Training data: processed clips in memory, descriptions, and step-indexed batch sampling.

Sampling is a pure function of ``(seed, stream, step)``: every batch is drawn from its own
``numpy.random.default_rng([seed, stream, step])``. A resumed run therefore needs no sampler state to
draw exactly the batches an uninterrupted run would have drawn, and DataLoader workers can build
batches in any order.

Choices (documented in the README of the training stage):
- A batch item is one clip drawn uniformly among the usable clips, then an L-frame window drawn
  uniformly inside it. Clips shorter than L frames are skipped and counted (``ClipStore.skipped``),
  never padded: L_rec's SSIM, D_tem and D_sync all look at whole L-frame windows.
- Phoneme windows come from the full clip (frame t sees phonemes t-w..t+w of the clip, SIL only
  outside the clip), so window edges see real context as they would at inference.
- The style reference (StyleTalk's self-driven training) is, by default, the target's own clip:
  the text description is annotated for that clip, so s_v and s_t describe the same video, which is
  what L_cos needs. Clips longer than ``style_max_frames`` are randomly cropped; shorter ones are
  zero-padded to the longest style clip of the batch with a padding mask (True = padding).
  ``style_source="same_group"`` instead uses another train clip of the same speaker, emotion and level.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from talkclip.phonemes import SIL_ID
from talkclip.preprocess.dataset import read_clip, read_manifest

DESCRIPTION_COLUMNS = ("clip_id", "mode", "variant", "text")
DESCRIPTION_MODES = ("full", "simanno")
DESCRIPTION_SUBSTREAM = 1  # the description draws of a step (WindowSampler.batch)


class TrainingDataError(ValueError):
    """The processed dataset or the annotations cannot be used for training."""


@dataclass
class Clip:
    clip_id: str
    speaker: str
    emotion: str
    level: int
    expression: np.ndarray  # (T, 64) float32
    phonemes: np.ndarray  # (T,) int64

    @property
    def frames(self) -> int:
        return int(self.expression.shape[0])


@dataclass
class ClipStore:
    """The clips of one split of ``data/processed``, held in memory."""

    clips: list[Clip]
    # reason -> clip ids left out (e.g. "shorter_than_window", "no_description").
    skipped: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        processed_dir: str | Path,
        split: str,
        min_frames: int,
        *,
        require_clip_ids: set[str] | None = None,
    ) -> ClipStore:
        """Load every clip of ``split`` that has at least ``min_frames`` frames.

        With ``require_clip_ids``, clips not in that set (no description) are skipped and counted too.
        """
        processed_dir = Path(processed_dir)
        manifest = read_manifest(processed_dir / "manifest.csv")
        rows = manifest[manifest["split"] == split]
        if rows.empty:
            raise TrainingDataError(
                f"{processed_dir / 'manifest.csv'}: no clips with split '{split}' "
                f"(splits present: {sorted(set(manifest['split']))})"
            )
        clips: list[Clip] = []
        skipped: dict[str, list[str]] = {}
        for row in rows.sort_values("clip_id").to_dict("records"):
            clip_id = str(row["clip_id"])
            if int(row["frames"]) < min_frames:
                skipped.setdefault("shorter_than_window", []).append(clip_id)
                continue
            if require_clip_ids is not None and clip_id not in require_clip_ids:
                skipped.setdefault("no_description", []).append(clip_id)
                continue
            data = read_clip(processed_dir / row["path"], clip_id)
            if data.frames < min_frames:  # the manifest and the file disagree: trust the file
                skipped.setdefault("shorter_than_window", []).append(clip_id)
                continue
            clips.append(
                Clip(
                    clip_id=clip_id,
                    speaker=str(row["speaker"]),
                    emotion=str(row["emotion"]),
                    level=int(row["level"]),
                    expression=np.ascontiguousarray(data.expression, dtype=np.float32),
                    phonemes=np.ascontiguousarray(data.phonemes, dtype=np.int64),
                )
            )
        if not clips:
            detail = ", ".join(f"{len(v)} {k}" for k, v in skipped.items())
            raise TrainingDataError(
                f"{processed_dir}: no usable '{split}' clips of >= {min_frames} frames (skipped: {detail or 'none'})"
            )
        return cls(clips=clips, skipped=skipped)

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())


@dataclass
class DescriptionTable:
    """Distinct description texts of one mode and, per clip id, the indices of its texts."""

    mode: str
    texts: list[str]
    by_clip: dict[str, list[int]]

    @classmethod
    def load(cls, annotated_dir: str | Path, mode: str) -> DescriptionTable:
        if mode not in DESCRIPTION_MODES:
            raise ValueError(f"description mode {mode!r}: expected one of {', '.join(DESCRIPTION_MODES)}")
        path = Path(annotated_dir) / "descriptions.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: descriptions not found (run the annotation stage first)")
        frame = pd.read_csv(path, keep_default_na=False, dtype=str)
        missing = [c for c in DESCRIPTION_COLUMNS if c not in frame.columns]
        if missing:
            raise TrainingDataError(f"{path}: missing columns {missing}; expected {list(DESCRIPTION_COLUMNS)}")
        bad_modes = sorted(set(frame["mode"]) - set(DESCRIPTION_MODES))
        if bad_modes:
            raise TrainingDataError(f"{path}: unknown mode value(s) {bad_modes}; expected {list(DESCRIPTION_MODES)}")
        rows = frame[frame["mode"] == mode]
        empty = rows[rows["text"].str.strip() == ""]
        if not empty.empty:
            raise TrainingDataError(f"{path}: empty text for clip(s) {sorted(set(empty['clip_id']))[:5]} (mode {mode})")
        if rows.empty:
            raise TrainingDataError(f"{path}: no descriptions of mode '{mode}'")
        texts: list[str] = []
        text_index: dict[str, int] = {}
        by_clip: dict[str, list[int]] = {}
        # Sorted so the table (and hence the embedding cache key and sampling) does not depend on row order.
        for clip_id, variant, text in sorted(zip(rows["clip_id"], rows["variant"], rows["text"])):
            if text not in text_index:
                text_index[text] = len(texts)
                texts.append(text)
            by_clip.setdefault(clip_id, []).append(text_index[text])
        return cls(mode=mode, texts=texts, by_clip=by_clip)


def phoneme_windows_np(phonemes: np.ndarray, start: int, length: int, w: int) -> np.ndarray:
    """(length, 2w+1) phoneme ids of frames start..start+length-1, each seeing frames t-w..t+w of the
    whole clip; positions outside the clip are SIL (StyleTalk's padding)."""
    padded = np.concatenate([np.full(w, SIL_ID, np.int64), phonemes.astype(np.int64), np.full(w, SIL_ID, np.int64)])
    # Frame t's window is padded[t : t + 2w + 1] (padded index t + w is frame t).
    offsets = np.arange(start, start + length)[:, None] + np.arange(2 * w + 1)[None, :]
    if start < 0 or start + length > len(phonemes):
        raise ValueError(f"phoneme window {start}..{start + length} outside the clip of {len(phonemes)} frames")
    return padded[offsets]


@dataclass
class Batch:
    target: torch.Tensor  # (B, L, 64) float32, ground-truth expression window
    phoneme_windows: torch.Tensor  # (B, L, 2w+1) int64
    style: torch.Tensor  # (B, S, 64) float32, style reference clip (zero-padded)
    style_pad_mask: torch.Tensor  # (B, S) bool, True = padding
    description_index: torch.Tensor  # (B,) int64 into DescriptionTable.texts (-1 without descriptions)
    clip_index: torch.Tensor  # (B,) int64 into ClipStore.clips
    window_start: torch.Tensor  # (B,) int64, first frame of the target window in its clip

    def to(self, device: torch.device | str) -> Batch:
        return Batch(**{k: getattr(self, k).to(device) for k in self.__dataclass_fields__})

    def __len__(self) -> int:
        return int(self.target.shape[0])


class WindowSampler:
    """Builds the batch of any ``(stream, step)`` deterministically from ``seed``."""

    def __init__(
        self,
        store: ClipStore,
        *,
        clip_frames: int,
        window: int,
        style_max_frames: int,
        batch_size: int,
        seed: int,
        descriptions: DescriptionTable | None = None,
        style_source: str = "same_clip",
    ) -> None:
        if style_source not in ("same_clip", "same_group"):
            raise ValueError(f"style_source {style_source!r}: expected 'same_clip' or 'same_group'")
        self.store = store
        self.clip_frames = clip_frames
        self.window = window
        self.style_max_frames = style_max_frames
        self.batch_size = batch_size
        self.seed = seed
        self.style_source = style_source
        self.description_choices: list[list[int]] | None = None
        if descriptions is not None:
            missing = [c.clip_id for c in store.clips if c.clip_id not in descriptions.by_clip]
            if missing:
                raise TrainingDataError(
                    f"{len(missing)} clip(s) have no '{descriptions.mode}' description, e.g. {missing[:3]}"
                )
            self.description_choices = [descriptions.by_clip[c.clip_id] for c in store.clips]
        # Clips of the same speaker / emotion / level, for style_source="same_group".
        groups: dict[tuple[str, str, int], list[int]] = {}
        for i, clip in enumerate(store.clips):
            groups.setdefault((clip.speaker, clip.emotion, clip.level), []).append(i)
        self.group_of = [groups[(c.speaker, c.emotion, c.level)] for c in store.clips]

    def rng(self, stream: int, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream, step])

    def batch(self, stream: int, step: int) -> Batch:
        rng = self.rng(stream, step)
        # Descriptions come from a stream of their own: the windows and style clips of a step are then
        # the same whatever the description table (full, SimAnno, ...), which lets variants that
        # differ only in their text side share stage 1 (trainer.init_from_stage1).
        description_rng = np.random.default_rng([self.seed, stream, step, DESCRIPTION_SUBSTREAM])
        L, w = self.clip_frames, self.window
        clip_idx = rng.integers(0, len(self.store), size=self.batch_size)
        targets, windows, styles, desc, starts = [], [], [], [], []
        for i in clip_idx:
            clip = self.store.clips[i]
            start = int(rng.integers(0, clip.frames - L + 1))
            starts.append(start)
            targets.append(clip.expression[start : start + L])
            windows.append(phoneme_windows_np(clip.phonemes, start, L, w))
            style_clip = clip
            if self.style_source == "same_group":
                siblings = [j for j in self.group_of[i] if j != i]
                if siblings:
                    style_clip = self.store.clips[siblings[int(rng.integers(0, len(siblings)))]]
            n_style = min(style_clip.frames, self.style_max_frames)
            style_start = int(rng.integers(0, style_clip.frames - n_style + 1))
            styles.append(style_clip.expression[style_start : style_start + n_style])
            if self.description_choices is not None:
                choices = self.description_choices[i]
                desc.append(choices[int(description_rng.integers(0, len(choices)))])
            else:
                desc.append(-1)
        n_style_max = max(len(s) for s in styles)
        style = np.zeros((self.batch_size, n_style_max, targets[0].shape[1]), np.float32)
        style_pad = np.ones((self.batch_size, n_style_max), bool)
        for b, s in enumerate(styles):
            style[b, : len(s)] = s
            style_pad[b, : len(s)] = False
        return Batch(
            target=torch.from_numpy(np.stack(targets)),
            phoneme_windows=torch.from_numpy(np.stack(windows)),
            style=torch.from_numpy(style),
            style_pad_mask=torch.from_numpy(style_pad),
            description_index=torch.tensor(desc, dtype=torch.int64),
            clip_index=torch.from_numpy(clip_idx.astype(np.int64)),
            window_start=torch.tensor(starts, dtype=torch.int64),
        )


class StepBatches(torch.utils.data.Dataset):
    """The batches of steps ``first..last-1`` of one stream, for a ``DataLoader(batch_size=None)``."""

    def __init__(self, sampler: WindowSampler, stream: int, first: int, last: int) -> None:
        self.sampler, self.stream, self.first, self.last = sampler, stream, first, last

    def __len__(self) -> int:
        return max(self.last - self.first, 0)

    def __getitem__(self, index: int) -> Batch:
        return self.sampler.batch(self.stream, self.first + index)


def _identity(batch: Batch) -> Batch:
    return batch


def batch_loader(sampler: WindowSampler, stream: int, first: int, last: int, num_workers: int):
    """Iterate the batches of steps ``first..last-1`` in order (workers may prefetch them)."""
    return torch.utils.data.DataLoader(
        StepBatches(sampler, stream, first, last),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_identity,
        persistent_workers=False,
    )
