"""Clip-level AU intensities and their discrete levels (the paper's "AU Lookup Table").

As in TalkCLIP (sec. 3), a clip's AU intensity is the mean over its frames of the per-frame
intensities (0..5, DISFA scale), and each AU is divided into levels by empirical thresholds:
below the first threshold the AU is inactive (level 0), then levels 1, 2, 3.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .vocabulary import N_AUS


def _check_thresholds(thresholds: Sequence[float]) -> np.ndarray:
    edges = np.asarray(thresholds, dtype=np.float64)
    if edges.shape != (3,) or not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
        raise ValueError(f"AU thresholds: expected 3 strictly increasing finite numbers, got {list(thresholds)}")
    return edges


def intensity_levels(au_mean: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Levels 0..3 of intensities: the number of thresholds each value reaches.

    A value equal to a threshold reaches it (0.5 with thresholds (0.5, 1.5, 2.5) is level 1).
    """
    edges = _check_thresholds(thresholds)
    values = np.asarray(au_mean, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("AU intensities contain NaN/inf")
    return np.searchsorted(edges, values, side="right").astype(np.int64)


def au_levels(au_per_frame: np.ndarray, thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(T, 12) per-frame AU intensities -> (mean (12,) float64, level (12,) int64 in 0..3)."""
    frames = np.asarray(au_per_frame)
    if frames.ndim != 2 or frames.shape[1] != N_AUS or frames.shape[0] < 1:
        raise ValueError(f"AU intensities: expected shape (T >= 1, {N_AUS}), got {frames.shape}")
    if not np.issubdtype(frames.dtype, np.number):
        raise ValueError(f"AU intensities: expected numbers, got dtype {frames.dtype}")
    if not np.isfinite(frames).all():
        bad_frames = np.flatnonzero(~np.isfinite(frames).all(axis=1))
        raise ValueError(f"AU intensities contain NaN/inf in {bad_frames.size} frame(s), first at frame {bad_frames[0]}")
    au_mean = frames.astype(np.float64).mean(axis=0)
    return au_mean, intensity_levels(au_mean, thresholds)
