"""Fréchet distance between two sets of feature vectors (FID, FVD).

``d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})`` with the sample means ``mu`` and the
unbiased sample covariances ``S`` of the two sets (Heusel et al. 2017, "GANs trained by a two
time-scale update rule converge to a local Nash equilibrium"; FVD: Unterthiner et al. 2018).

The trace term is computed exactly without a general matrix square root: ``S_1 S_2`` is similar to the
symmetric ``A = S_1^{1/2} S_2 S_1^{1/2}``, so ``Tr((S_1 S_2)^{1/2}) = sum_i sqrt(lambda_i(A))`` with
symmetric eigen-decompositions only (``numpy.linalg.eigh``; round-off negatives clipped to 0). This
equals pytorch-fid's ``scipy.linalg.sqrtm`` route to round-off, also for singular covariances (fewer
vectors than dimensions), where ``sqrtm`` needs an ``eps`` offset, and is about 10x faster at 2048-d.
"""

from __future__ import annotations

import numpy as np


class FrechetError(ValueError):
    """Feature sets that cannot be compared."""


def frechet_distance(features_1: np.ndarray, features_2: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two (N, D) feature sets (N >= 2 each)."""
    features_1 = np.asarray(features_1, dtype=np.float64)
    features_2 = np.asarray(features_2, dtype=np.float64)
    for name, features in (("first", features_1), ("second", features_2)):
        if features.ndim != 2 or features.shape[0] < 2:
            raise FrechetError(f"the {name} feature set must be (N >= 2, D), got shape {features.shape}")
        if not np.all(np.isfinite(features)):
            raise FrechetError(f"the {name} feature set has NaN/inf values")
    if features_1.shape[1] != features_2.shape[1]:
        raise FrechetError(f"feature sizes differ: {features_1.shape[1]} vs {features_2.shape[1]}")
    mu_1, mu_2 = features_1.mean(axis=0), features_2.mean(axis=0)
    sigma_1 = np.atleast_2d(np.cov(features_1, rowvar=False))
    sigma_2 = np.atleast_2d(np.cov(features_2, rowvar=False))
    diff = mu_1 - mu_2
    values, vectors = np.linalg.eigh(sigma_1)
    root_1 = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root_1 @ sigma_2 @ root_1
    trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2.0), 0.0, None)).sum())
    distance = float(diff @ diff + np.trace(sigma_1) + np.trace(sigma_2) - 2.0 * trace_root)
    return max(distance, 0.0)  # round-off can leave -1e-12 for identical sets
