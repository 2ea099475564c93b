"""The processed dataset: one ``.npz`` per clip plus a manifest table (see docs/DESIGN.md).

One file per clip keeps a stage restartable and lets readers load only the clips they need; the
manifest is the index that training, annotation and evaluation filter on.

Every dataset is in one expression space (:mod:`talkclip.expression`): the manifest's
``expression_space`` column and each clip file's ``expression_space`` entry record it, and
:func:`dataset_expression_space` is how later stages learn it. A manifest written before the space
was recorded has no such column; it is read as :data:`~talkclip.expression.LEGACY_SPACE` with a
warning.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from talkclip.atomic import atomic_path
from talkclip.expression import ExpressionSpaceError, check_space, legacy_space
from talkclip.phonemes import N_PHONEMES

MANIFEST_COLUMNS = (
    "clip_id", "speaker", "gender", "emotion", "level", "split", "fps", "frames",
    "video", "audio", "coeffs", "transcript", "alignment_method", "path", "expression_space",
)
SPLITS = ("train", "val", "test", "hdtf")
_REQUIRED_ARRAYS = ("expression", "pose", "phonemes")


class DatasetError(ValueError):
    """A processed clip or manifest is malformed."""


@dataclass
class ProcessedClip:
    clip_id: str
    fps: float
    expression: np.ndarray  # (T, 64) float32
    pose: np.ndarray  # (T, 9) float32: angles, translation, crop (transform_params[-3:])
    phonemes: np.ndarray  # (T,) int64, the aligner's labels (what the model trains on)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # phonemes_reference, au, landmarks
    expression_space: str | None = None  # talkclip.expression space; None: a file that records none

    @property
    def frames(self) -> int:
        return int(self.expression.shape[0])

    def validate(self) -> None:
        t = self.frames
        if t == 0:
            raise DatasetError(f"{self.clip_id}: clip has no frames")
        if self.expression.ndim != 2 or self.expression.shape[1] != 64:
            raise DatasetError(f"{self.clip_id}: expression must be (T, 64), got {self.expression.shape}")
        if self.pose.shape != (t, 9):
            raise DatasetError(f"{self.clip_id}: pose must be ({t}, 9), got {self.pose.shape}")
        if self.phonemes.shape != (t,):
            raise DatasetError(f"{self.clip_id}: phonemes must be ({t},), got {self.phonemes.shape}")
        if self.phonemes.min() < 0 or self.phonemes.max() >= N_PHONEMES:
            raise DatasetError(f"{self.clip_id}: phoneme ids outside 0..{N_PHONEMES - 1}")
        if not (np.isfinite(self.expression).all() and np.isfinite(self.pose).all()):
            raise DatasetError(f"{self.clip_id}: expression or pose contains NaN/inf")
        for key, arr in self.extras.items():
            if arr.shape[0] != t:
                raise DatasetError(f"{self.clip_id}: extra array '{key}' has {arr.shape[0]} frames, expected {t}")


def write_clip(path: str | Path, clip: ProcessedClip) -> None:
    clip.validate()
    with atomic_path(path) as tmp:
        np.savez_compressed(
            tmp,
            expression=clip.expression.astype(np.float32),
            pose=clip.pose.astype(np.float32),
            phonemes=clip.phonemes.astype(np.int64),
            fps=np.float64(clip.fps),
            **({} if clip.expression_space is None else
               {"expression_space": np.str_(check_space(clip.expression_space, f"clip {clip.clip_id}"))}),
            **clip.extras,
        )


def read_clip(path: str | Path, clip_id: str | None = None) -> ProcessedClip:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: processed clip not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # zipfile / value errors from a corrupt file
        raise DatasetError(f"{path}: not a readable .npz clip file ({exc})") from exc
    missing = [k for k in (*_REQUIRED_ARRAYS, "fps") if k not in arrays]
    if missing:
        raise DatasetError(f"{path}: missing arrays {missing} (expected {list(_REQUIRED_ARRAYS)} and fps)")
    space = arrays.pop("expression_space", None)
    clip = ProcessedClip(
        clip_id=clip_id or path.stem,
        expression_space=None if space is None else check_space(str(space), str(path)),
        fps=float(arrays.pop("fps")),
        expression=arrays.pop("expression"),
        pose=arrays.pop("pose"),
        phonemes=arrays.pop("phonemes"),
        extras=arrays,
    )
    clip.validate()
    return clip


def write_manifest(path: str | Path, rows: list[dict]) -> pd.DataFrame:
    """Write the manifest; every row names its ``expression_space``, and all rows must agree."""
    for row in rows:
        if "expression_space" not in row:
            raise DatasetError(f"{path}: manifest row {row.get('clip_id')!r} has no expression_space")
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    manifest_expression_space(frame, str(path))
    frame = frame.sort_values("clip_id", kind="stable").reset_index(drop=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found (run the preprocessing stage first)")
    frame = pd.read_csv(path, keep_default_na=False, dtype={"level": int, "frames": int, "clip_id": str})
    if "expression_space" not in frame.columns:
        frame["expression_space"] = legacy_space(f"manifest {path}")
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: manifest lacks columns {missing}")
    bad = sorted(set(frame["split"]) - set(SPLITS))
    if bad:
        raise DatasetError(f"{path}: unknown split value(s) {bad}; expected {list(SPLITS)}")
    for line, (clip_id, clip_path) in enumerate(zip(frame["clip_id"], frame["path"]), start=2):
        problem = _clip_path_problem(str(clip_path))
        if problem:
            raise DatasetError(f"{path}:{line}: clip {clip_id}: path {clip_path!r} {problem}; clip paths are "
                               f"relative to the manifest's folder, like clips/{clip_id}.npz")
    return frame


def _clip_path_problem(clip_path: str) -> str | None:
    """Why a manifest's clip path could lead outside the dataset folder (checked before anything is opened)."""
    if not clip_path:
        return "is empty"
    if Path(clip_path).is_absolute():
        return "is absolute"
    if ".." in Path(clip_path.replace("\\", "/")).parts:
        return "leads outside the dataset folder"
    return None


def manifest_expression_space(manifest: pd.DataFrame, source: str) -> str:
    """The one expression space of a manifest's clips; ExpressionSpaceError when they disagree."""
    if "expression_space" not in manifest.columns:
        return legacy_space(source)
    spaces = sorted(set(manifest["expression_space"]))
    if not spaces:
        raise DatasetError(f"{source}: manifest has no clips")
    for space in spaces:
        check_space(space, source)
    if len(spaces) > 1:
        examples = "; ".join(
            f"{space!r}: {', '.join(manifest.loc[manifest['expression_space'] == space, 'clip_id'].astype(str).head(2))}"
            for space in spaces
        )
        raise ExpressionSpaceError(f"{source}: clips of different expression spaces in one dataset ({examples})")
    return spaces[0]


def dataset_expression_space(processed_dir: str | Path) -> str:
    """The expression space of a processed dataset (its manifest's ``expression_space``)."""
    path = Path(processed_dir) / "manifest.csv"
    return manifest_expression_space(read_manifest(path), f"processed dataset {path}")


def iter_clips(root: str | Path, manifest: pd.DataFrame) -> Iterator[tuple[dict, ProcessedClip]]:
    root = Path(root)
    for row in manifest.to_dict("records"):
        yield row, read_clip(root / row["path"], row["clip_id"])
