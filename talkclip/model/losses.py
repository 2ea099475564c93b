"""TalkCLIP's loss terms (paper sec. 4.2, eqs. 2-4).

All take batch-first tensors and return a scalar mean over the batch.

SSIM on coefficient sequences. The paper applies SSIM (Wang et al. 2004) to the L x 64 expression
sequences without saying how. Three forms are offered (``train.ssim_form``; measured in docs/DESIGN.md):

- ``"coefficient"``: each raw coefficient is a 1-D signal over time; local means, variances and the
  covariance come from an 11-tap Gaussian window (sigma 1.5, Wang et al.'s, in 1-D) slid along time
  without padding, constants from data_range = 1. This is ill-conditioned for expression tracks: they
  are signed and their local means sit near zero, where the luminance term
  (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1) swings between -1 and 1 for tiny absolute errors. Its
  gradient then dominates L_rec and drowns the per-clip offset of a coefficient, which is the emotion.
- ``"standardized"`` (the default): the same 1-D SSIM on per-coefficient z-scores of the training
  frames, ``(x - mean_c) / std_c`` (std floored so nearly constant coefficients are not blown up), with
  Wang et al.'s K1 = 0.01, K2 = 0.03 of the span the z-scores actually cover (their median 0.5-99.5
  percentile span, about 4.4 on the embedded corpus). Each coefficient then counts alike and a per-clip
  offset (the emotion) is a large, well-scaled change of the local means.
- ``"range"``: tracks mapped like image intensities by each coefficient's range,
  ``0.5 + (x - centre_c) / scale_c``, with the image constants of data_range 1. Well conditioned (means
  near 0.5), but an offset then moves the luminance term only quadratically and weakly.
- ``"image"``: 2-D SSIM of the range-mapped L x 64 sequence taken as one image (11 x 11 Gaussian window
  over time and coefficient index); the coefficient axis has no spatial order, so this mixes
  unrelated neighbours.

Measured on the embedded corpus (docs/DESIGN.md, "Reconstruction loss"): with the paper's mu = 0.1 and
500 stage-1 steps, the style offset gain was 0.33 (coefficient), 0.38 (range), 0.13 (image) and 0.93
(standardized), against 0.86 with L1 alone (mu = 1).
"""
from __future__ import annotations

from dataclasses import dataclass

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


SSIM_FORMS = ("coefficient", "range", "standardized", "image")
# Floor of a coefficient's scale, as a fraction of the median over coefficients: unused or nearly
# constant coefficients would otherwise be divided by ~0.
SCALE_FLOOR = 0.1


@dataclass(frozen=True)
class TrackNormalisation:
    """How coefficient tracks are mapped before SSIM: ``(x - centre) / scale + offset``, with the SSIM
    constants of ``data_range`` (Wang et al.'s K1 = 0.01, K2 = 0.03 of the range)."""

    centre: torch.Tensor  # (C,)
    scale: torch.Tensor  # (C,)
    offset: float
    data_range: float

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.centre) / self.scale + self.offset

    def to(self, device: torch.device | str) -> TrackNormalisation:
        return TrackNormalisation(self.centre.to(device), self.scale.to(device), self.offset, self.data_range)


def track_normalisation(frames: torch.Tensor, ssim_form: str) -> TrackNormalisation | None:
    """The mapping of the ``"range"``, ``"image"`` or ``"standardized"`` form from the training frames
    (N, C); None for ``"coefficient"`` (raw tracks, data_range 1)."""
    if ssim_form not in SSIM_FORMS:
        raise ValueError(f"ssim_form {ssim_form!r}: expected one of {SSIM_FORMS}")
    if ssim_form == "coefficient":
        return None
    if frames.dim() != 2 or frames.shape[0] < 2:
        raise ValueError(f"track_normalisation: expected (N >= 2, C) frames, got {tuple(frames.shape)}")
    frames = frames.float()
    low, high = torch.quantile(frames, 0.005, dim=0), torch.quantile(frames, 0.995, dim=0)
    if ssim_form in ("range", "image"):
        spread = high - low
        scale = spread.clamp(min=SCALE_FLOOR * max(float(spread.median()), 1e-6))
        return TrackNormalisation((low + high) / 2.0, scale, offset=0.5, data_range=1.0)
    # standardized: z-scores; the constants come from the span the z-scores actually cover.
    std = frames.std(dim=0)
    scale = std.clamp(min=SCALE_FLOOR * max(float(std.median()), 1e-6))
    z_span = (high - low) / scale
    return TrackNormalisation(frames.mean(dim=0), scale, offset=0.0, data_range=float(z_span.median()))


def ssim_2d(pred: torch.Tensor, target: torch.Tensor, window_size: int = 11, sigma: float = 1.5,
            data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of (B, L, C) sequences taken as single-channel L x C images (valid Gaussian window)."""
    if pred.shape != target.shape or pred.dim() != 3:
        raise ValueError(f"ssim_2d: expected two (B, L, C) tensors of equal shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    smallest = min(pred.shape[1], pred.shape[2])
    size = min(window_size, smallest if smallest % 2 == 1 else smallest - 1)
    with torch.autocast(device_type=pred.device.type, enabled=False):
        x, y = pred.float().unsqueeze(1), target.float().unsqueeze(1)  # (B, 1, L, C)
        g = _gaussian_window(size, sigma, x.device, x.dtype)
        window = (g[:, None] * g[None, :])[None, None]  # (1, 1, size, size)

        def local_mean(signal: torch.Tensor) -> torch.Tensor:
            return F.conv2d(signal, window)

        mean_x, mean_y = local_mean(x), local_mean(y)
        var_x = local_mean(x * x) - mean_x**2
        var_y = local_mean(y * y) - mean_y**2
        cov_xy = local_mean(x * y) - mean_x * mean_y
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / (
            (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
        )
        return ssim_map.mean()


def reconstruction_loss(
    pred: torch.Tensor, target: torch.Tensor, mu: float = 0.1, ssim_form: str = "coefficient",
    normalisation: TrackNormalisation | None = None,
) -> torch.Tensor:
    """Eq. 2: mu * L1 + (1 - mu) * (1 - SSIM) on (B, L, 64) expression sequences (paper: mu = 0.1).

    L1 is taken on the raw coefficients; SSIM in the form ``ssim_form`` (module doc), on tracks mapped
    by ``normalisation`` (:func:`track_normalisation` of the training frames) for every form but
    ``"coefficient"``.
    """
    if not 0.0 <= mu <= 1.0:
        raise ValueError(f"reconstruction_loss: mu must be in [0, 1], got {mu}")
    if pred.shape != target.shape:
        raise ValueError(f"reconstruction_loss: shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if ssim_form not in SSIM_FORMS:
        raise ValueError(f"reconstruction_loss: ssim_form {ssim_form!r}: expected one of {SSIM_FORMS}")
    l1 = F.l1_loss(pred, target)
    if mu == 1.0:
        return l1
    if ssim_form == "coefficient":
        ssim = ssim_1d(pred, target)
    else:
        if normalisation is None:
            raise ValueError(f"reconstruction_loss: ssim_form {ssim_form!r} needs the training data's track normalisation")
        x, y, data_range = normalisation.apply(pred), normalisation.apply(target), normalisation.data_range
        ssim = ssim_2d(x, y, data_range=data_range) if ssim_form == "image" else ssim_1d(x, y, data_range=data_range)
    return mu * l1 + (1.0 - mu) * (1.0 - ssim)


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
