"""TalkCLIP's loss terms (paper sec. 4.2, eqs. 2-4).

All take batch-first tensors and return a scalar mean over the batch.

SSIM on coefficient sequences: the paper applies SSIM (Wang et al. 2004) to the L x 64 expression
sequences without saying how. Here each coefficient is treated as a 1-D signal over time: local
means, variances and covariance come from an 11-tap Gaussian window (sigma 1.5, Wang et al.'s
window, in 1-D) slid along time without padding, and the SSIM map is averaged over positions,
coefficients and batch. It compares the *temporal shape* of each coefficient track, which L1 alone
does not. The stabilising constants use data_range = 1.0: BFM-like expression coefficients span
about -2.5..2.5 with per-coefficient temporal std around 0.1, so (0.03 * 1)^2 = 9e-4 is small next
to typical variances (1e-2) while still regularising near-constant tracks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _gaussian_window(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    offsets = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2.0
    window = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return window / window.sum()


def ssim_1d(
    pred: torch.Tensor, target: torch.Tensor, window_size: int = 11, sigma: float = 1.5, data_range: float = 1.0
) -> torch.Tensor:
    """Mean SSIM of (B, L, C) sequences along time (per coefficient), a scalar in [-1, 1].

    Sequences shorter than window_size use a window of the largest odd size <= L.
    """
    if pred.shape != target.shape or pred.dim() != 3:
        raise ValueError(f"ssim_1d: expected two (B, L, C) tensors of equal shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    length, channels = pred.shape[1], pred.shape[2]
    if length < 1:
        raise ValueError("ssim_1d: sequences must have at least one frame")
    size = min(window_size, length if length % 2 == 1 else length - 1)
    # Variances as E[x^2] - E[x]^2 cancel catastrophically in half precision: always float32.
    with torch.autocast(device_type=pred.device.type, enabled=False):
        x, y = pred.float().transpose(1, 2), target.float().transpose(1, 2)  # (B, C, L)
        window = _gaussian_window(size, sigma, x.device, x.dtype).expand(channels, 1, size).contiguous()

        def local_mean(signal: torch.Tensor) -> torch.Tensor:  # (B, C, L) -> (B, C, L - size + 1)
            return F.conv1d(signal, window, groups=channels)

        mean_x, mean_y = local_mean(x), local_mean(y)
        var_x = local_mean(x * x) - mean_x**2
        var_y = local_mean(y * y) - mean_y**2
        cov_xy = local_mean(x * y) - mean_x * mean_y
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / (
            (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
        )
        return ssim_map.mean()


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mu: float = 0.1) -> torch.Tensor:
    """Eq. 2: mu * L1 + (1 - mu) * (1 - SSIM) on (B, L, 64) expression sequences (mu = 0.1)."""
    if not 0.0 <= mu <= 1.0:
        raise ValueError(f"reconstruction_loss: mu must be in [0, 1], got {mu}")
    if pred.shape != target.shape:
        raise ValueError(f"reconstruction_loss: shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    l1 = F.l1_loss(pred, target)
    return mu * l1 + (1.0 - mu) * (1.0 - ssim_1d(pred, target))


def cosine_style_loss(s_t: torch.Tensor, s_v: torch.Tensor) -> torch.Tensor:
    """Eq. 3: 1 - cos(s_t, s_v), averaged over the batch; (B, D) each."""
    if s_t.shape != s_v.shape:
        raise ValueError(f"cosine_style_loss: shapes differ: {tuple(s_t.shape)} vs {tuple(s_v.shape)}")
    return (1.0 - F.cosine_similarity(s_t, s_v, dim=-1, eps=1e-8)).mean()


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: E[relu(1 - D(real))] + E[relu(1 + D(fake))]."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: -E[D(fake)] (L_tem for the generator)."""
    return -fake_logits.mean()


def sync_loss(sync_logits: torch.Tensor) -> torch.Tensor:
    """L_sync: -log P(in sync) = BCE-with-logits toward label 1 = softplus(-logit), averaged."""
    return F.softplus(-sync_logits).mean()
