"""Time structure shared by the networks: per-frame phoneme windows and sinusoidal positions."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from talkclip.phonemes import SIL_ID


def phoneme_windows(phonemes: torch.Tensor, w: int) -> torch.Tensor:
    """Each frame's phoneme context: ids of frames t-w .. t+w, SIL where outside the clip.

    phonemes: LongTensor (B, T) (or (T,), giving (T, 2w+1)) of per-frame phoneme ids.
    Returns LongTensor (B, T, 2w+1); window[..., w] is the frame's own phoneme.
    This is StyleTalk's sliding-window input (w = 5 -> 11 ids per frame).
    """
    if phonemes.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"phoneme_windows: expected integer phoneme ids, got dtype {phonemes.dtype}")
    if w < 0:
        raise ValueError(f"phoneme_windows: window half-width w must be >= 0, got {w}")
    squeeze = phonemes.dim() == 1
    if squeeze:
        phonemes = phonemes.unsqueeze(0)
    if phonemes.dim() != 2:
        raise ValueError(f"phoneme_windows: expected (B, T) or (T,), got shape {tuple(phonemes.shape)}")
    padded = F.pad(phonemes.long(), (w, w), value=SIL_ID)  # (B, T + 2w)
    windows = padded.unfold(dimension=1, size=2 * w + 1, step=1)  # (B, T, 2w+1), a view
    windows = windows.contiguous()
    return windows[0] if squeeze else windows


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """The Transformer's fixed sinusoidal position table (Vaswani et al. 2017), (length, dim) float32.

    Computed on the fly (cheap) so any length works and nothing depends on a registered buffer size.
    """
    if dim % 2 != 0:
        raise ValueError(f"sinusoidal_positions: dim must be even, got {dim}")
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)  # (length, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, dtype=torch.float32, device=device)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table
