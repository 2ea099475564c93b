"""OpenFace 2.x CSV output (``FeatureExtraction`` / ``FaceLandmarkVidMulti``) -> DISFA AU intensities.

OpenFace writes one row per frame and face, with a space after every comma, so the header reads
``frame, face_id, timestamp, confidence, success, ..., AU01_r, AU02_r, ...``; column names are
stripped here. Intensities (``_r``) are regressed on the 0..5 scale for 17 AUs; the 12 DISFA AUs
are the ones the annotation uses. Rows where tracking failed (``success == 0``) carry zeros in
OpenFace's output, which are not real intensities: they are masked (NaN, ``valid == False``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# The 12 AUs annotated in DISFA, in the order used by the whole project (facs.AU_NAMES).
DISFA_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
OPENFACE_AU_COLUMNS: tuple[str, ...] = tuple(f"AU{int(name[2:]):02d}_r" for name in DISFA_AUS)


class OpenFaceError(ValueError):
    """An OpenFace CSV does not have the expected columns or values."""


class OpenFaceNotFoundError(OpenFaceError, FileNotFoundError):
    """The OpenFace CSV does not exist."""


@dataclass(frozen=True)
class OpenFaceAUs:
    """AU intensities of one tracked face, one row per frame (in file order)."""

    intensities: np.ndarray  # (T, 12) float32 in DISFA_AUS order; NaN where valid is False
    valid: np.ndarray  # (T,) bool: OpenFace's success flag
    frame: np.ndarray  # (T,) int64, OpenFace's 1-based frame numbers
    timestamp: np.ndarray  # (T,) float64 seconds
    confidence: np.ndarray  # (T,) float32, tracking confidence (1 where the column is absent)

    @property
    def n_frames(self) -> int:
        return int(self.intensities.shape[0])

    def masked(self) -> np.ma.MaskedArray:
        """The intensities as a masked array (failed frames masked), e.g. for ``.mean(axis=0)``."""
        return np.ma.masked_array(self.intensities, mask=np.repeat(~self.valid[:, None], len(DISFA_AUS), axis=1))


def read_openface_csv(path: str | Path, face_id: int | None = None) -> OpenFaceAUs:
    """Read the 12 DISFA AU intensities of one face from an OpenFace 2.x CSV.

    ``face_id`` picks one face in multi-face output; it is required when the file holds several.
    Raises :class:`OpenFaceError` naming the file for missing columns, non-numeric values, NaN in a
    successfully tracked frame or an empty table.
    """
    path = Path(path)
    if not path.is_file():
        raise OpenFaceNotFoundError(f"OpenFace CSV {path} does not exist")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise OpenFaceError(f"OpenFace CSV {path} cannot be parsed as CSV: {exc}") from exc
    table.columns = [str(c).strip() for c in table.columns]  # OpenFace's ", " separators

    required = ("frame", "timestamp", "success", *OPENFACE_AU_COLUMNS)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise OpenFaceError(
            f"OpenFace CSV {path}: missing column(s) {missing}. Run FeatureExtraction with -aus "
            "(OpenFace 2.x writes e.g. 'frame, face_id, timestamp, confidence, success, ..., AU01_r, ...')"
        )

    if "face_id" in table.columns:
        faces = sorted(int(f) for f in pd.unique(table["face_id"]))
        if face_id is not None:
            if face_id not in faces:
                raise OpenFaceError(f"OpenFace CSV {path}: no face_id {face_id}; faces present: {faces}")
            table = table[table["face_id"] == face_id]
        elif len(faces) > 1:
            raise OpenFaceError(f"OpenFace CSV {path}: holds faces {faces}; pass face_id to pick one")
    elif face_id not in (None, 0):
        raise OpenFaceError(f"OpenFace CSV {path}: has no face_id column, cannot select face {face_id}")
    if len(table) == 0:
        raise OpenFaceError(f"OpenFace CSV {path}: no rows")

    numeric_columns = [c for c in required if c != "success"] + ["success"]
    if "confidence" in table.columns:
        numeric_columns.append("confidence")
    values: dict[str, np.ndarray] = {}
    for column in numeric_columns:
        converted = pd.to_numeric(table[column], errors="coerce")
        bad = converted.isna() & table[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise OpenFaceError(
                f"OpenFace CSV {path}: column '{column}' has non-numeric value {table[column].iloc[row]!r} "
                f"(data row {row})"
            )
        values[column] = converted.to_numpy(dtype=np.float64)

    for column in ("frame", "timestamp", "success"):
        if not np.isfinite(values[column]).all():
            row = int(np.flatnonzero(~np.isfinite(values[column]))[0])
            raise OpenFaceError(f"OpenFace CSV {path}: column '{column}' is empty in data row {row}")
    success = values["success"]
    if not np.isin(success, (0.0, 1.0)).all():
        raise OpenFaceError(f"OpenFace CSV {path}: 'success' must be 0 or 1, got {sorted(set(success.tolist()))[:5]}")
    valid = success == 1.0
    intensities = np.stack([values[c] for c in OPENFACE_AU_COLUMNS], axis=1).astype(np.float32)
    bad_rows = np.flatnonzero(valid & ~np.isfinite(intensities).all(axis=1))
    if bad_rows.size:
        raise OpenFaceError(
            f"OpenFace CSV {path}: NaN/inf AU intensity in successfully tracked data row {int(bad_rows[0])}"
        )
    intensities[~valid] = np.nan
    confidence = values.get("confidence", np.ones(len(valid)))
    return OpenFaceAUs(
        intensities=intensities,
        valid=valid,
        frame=values["frame"].astype(np.int64),
        timestamp=values["timestamp"],
        confidence=confidence.astype(np.float32),
    )
