"""Annotate a whole manifest: descriptions (full + SimAnno) and the per-clip AU annotation table.

Outputs match docs/DESIGN.md ("Annotations"): ``descriptions`` with columns clip_id, mode,
variant, text and ``au_levels`` with clip_id, {AU}_mean for the 12 DISFA AUs, {AU}_level.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from talkclip.config.annotate import AnnotateConfig

from .au_levels import au_levels
from .descriptions import MODES, AnnotationError, describe_clip
from .vocabulary import DISFA_AUS, N_AUS, Vocabulary, default_vocabulary

REQUIRED_MANIFEST_COLUMNS = ("clip_id", "gender", "emotion", "level")
DESCRIPTION_COLUMNS = ("clip_id", "mode", "variant", "text")
AU_MEAN_COLUMNS = tuple(f"{au}_mean" for au in DISFA_AUS)
AU_LEVEL_COLUMNS = tuple(f"{au}_level" for au in DISFA_AUS)

AUSource = Callable[[pd.Series], np.ndarray]


def npz_au_source(dataset_dir: str | Path) -> AUSource:
    """AU source reading the ``au`` array (T, 12) of processed clips (``{dataset_dir}/{row.path}``)."""
    root = Path(dataset_dir)

    def load(row: pd.Series) -> np.ndarray:
        path = root / str(row["path"])
        if not path.is_file():
            raise FileNotFoundError(f"{row['clip_id']}: processed clip {path} not found")
        with np.load(path, allow_pickle=False) as data:
            if "au" not in data.files:
                raise AnnotationError(
                    f"{row['clip_id']}: {path} has no 'au' array (real data needs AU intensities, e.g. from OpenFace)"
                )
            return np.asarray(data["au"])

    return load


def annotate(
    manifest: pd.DataFrame,
    au_source: AUSource,
    config: AnnotateConfig,
    modes: Sequence[str] = MODES,
    vocabulary: Vocabulary | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Describe every clip of ``manifest`` in each of ``modes``.

    ``au_source(row)`` returns the clip's per-frame AU intensities (T, 12) in DISFA order.
    Returns (descriptions, au_levels) data frames. A clip whose emotion group is not in the label
    table, whose gender has no subjects, or whose AU array is malformed raises AnnotationError
    naming the clip.
    """
    vocabulary = vocabulary if vocabulary is not None else default_vocabulary()
    missing = [c for c in REQUIRED_MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise AnnotationError(f"manifest: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_MANIFEST_COLUMNS)}")
    duplicated = manifest["clip_id"][manifest["clip_id"].duplicated()].unique()
    if len(duplicated):
        raise AnnotationError(f"manifest: duplicated clip id(s) {', '.join(map(str, duplicated[:5]))}")
    unknown_modes = [m for m in modes if m not in MODES]
    if unknown_modes:
        raise AnnotationError(f"unknown annotation mode(s) {unknown_modes}; expected {', '.join(MODES)}")

    description_rows: list[tuple[str, str, int, str]] = []
    au_rows: list[list] = []
    for _, row in manifest.iterrows():
        clip_id = str(row["clip_id"])
        emotion, level = row["emotion"], row["level"]
        # Check the group before loading AUs: a wrong label table should fail fast and cheaply.
        if isinstance(level, (int, np.integer)) and (emotion, int(level)) not in vocabulary.emotion_labels:
            raise AnnotationError(f"{clip_id}: emotion {emotion!r} level {level!r} is not in the emotion-label table")
        try:
            au_per_frame = np.asarray(au_source(row))
        except AnnotationError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise AnnotationError(f"{clip_id}: could not load AU intensities: {exc}") from exc
        if au_per_frame.ndim != 2 or au_per_frame.shape[1] != N_AUS or au_per_frame.shape[0] < 1:
            raise AnnotationError(f"{clip_id}: AU intensities must have shape (T >= 1, {N_AUS}), got {au_per_frame.shape}")
        try:
            au_mean, au_level = au_levels(au_per_frame, config.au_thresholds)
        except ValueError as exc:
            raise AnnotationError(f"{clip_id}: {exc}") from exc
        au_rows.append([clip_id, *au_mean.tolist(), *au_level.tolist()])
        for mode in modes:
            texts = describe_clip(clip_id, str(row["gender"]), emotion, level, au_mean, config, mode, vocabulary)
            description_rows.extend((clip_id, mode, variant, text) for variant, text in enumerate(texts))

    descriptions = pd.DataFrame(description_rows, columns=list(DESCRIPTION_COLUMNS))
    au_table = pd.DataFrame(au_rows, columns=["clip_id", *AU_MEAN_COLUMNS, *AU_LEVEL_COLUMNS])
    au_table[list(AU_LEVEL_COLUMNS)] = au_table[list(AU_LEVEL_COLUMNS)].astype(np.int64)
    descriptions["variant"] = descriptions["variant"].astype(np.int64)
    return descriptions, au_table
