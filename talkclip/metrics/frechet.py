"""Fréchet distance between two sets of feature vectors (FID, FVD).

``d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})`` with the sample means ``mu`` and the
unbiased sample covariances ``S`` of the two sets (Heusel et al. 2017, "GANs trained by a two
time-scale update rule converge to a local Nash equilibrium"; FVD: Unterthiner et al. 2018). As the
pytorch-fid implementation does, the matrix square root is ``scipy.linalg.sqrtm``; when the product
is singular (fewer vectors than dimensions) ``eps`` is added to both diagonals, and an imaginary part
left by round-off is dropped only if it is negligible.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


class FrechetError(ValueError):
    """Feature sets that cannot be compared."""


def frechet_distance(features_1: np.ndarray, features_2: np.ndarray, eps: float = 1e-6) -> float:
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
    covmean = linalg.sqrtm(sigma_1 @ sigma_2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma_1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma_1 + offset) @ (sigma_2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise FrechetError(f"matrix square root has a large imaginary part ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    distance = float(diff @ diff + np.trace(sigma_1) + np.trace(sigma_2) - 2.0 * np.trace(covmean))
    return max(distance, 0.0)  # round-off can leave -1e-12 for identical sets
