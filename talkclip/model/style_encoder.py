"""Video-to-speaking-style (V2SS) encoder E_v, StyleTalk's style encoder.

A reference clip of 64-d expression coefficients (up to 256 frames, zero-padded with a mask) goes
through a transformer encoder; self-attention pooling turns the frame features into one vector,
which a linear layer projects to the text backbone's embedding size. That projection is what makes
the paper's residual blend and cosine loss between the video code s_v and the text code s_t
(both style_dim wide) well defined.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from talkclip.config.model import ModelConfig

from .content_encoder import transformer_encoder
from .windows import sinusoidal_positions


def crop_or_pad_style_clip(
    expression: np.ndarray | torch.Tensor, max_frames: int, start: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """StyleTalk's style-clip preparation: crop to max_frames or zero-pad up to it, with a mask.

    expression: (S, 64). Longer clips are cropped to a window starting at ``start`` (default: the
    centre window, so the result is deterministic); shorter ones are zero-padded at the end.
    Returns (expression (max_frames, 64) float32, pad_mask (max_frames,) bool, True = padding).
    """
    clip = torch.as_tensor(expression, dtype=torch.float32)
    if clip.dim() != 2 or clip.shape[0] < 1:
        raise ValueError(f"crop_or_pad_style_clip: expected a (S >= 1, dim) clip, got shape {tuple(clip.shape)}")
    n_frames = clip.shape[0]
    if n_frames >= max_frames:
        if start is None:
            start = (n_frames - max_frames) // 2
        if not 0 <= start <= n_frames - max_frames:
            raise ValueError(f"crop_or_pad_style_clip: start {start} outside 0..{n_frames - max_frames}")
        return clip[start : start + max_frames].clone(), torch.zeros(max_frames, dtype=torch.bool)
    padded = torch.zeros(max_frames, clip.shape[1], dtype=torch.float32)
    padded[:n_frames] = clip
    pad_mask = torch.ones(max_frames, dtype=torch.bool)
    pad_mask[:n_frames] = False
    return padded, pad_mask


class SelfAttentionPooling(nn.Module):
    """Weighted mean over time with learned weights: linear d->d, Mish, linear d->1, softmax."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Mish(), nn.Linear(dim, 1))

    def forward(self, features: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        """features (B, S, d), pad_mask (B, S) True = padding -> pooled (B, d).

        Rows that are all padding would give softmax over nothing (NaN); they pool to zeros.
        """
        scores = self.score(features).squeeze(-1)  # (B, S)
        scores = scores.masked_fill(pad_mask, float("-inf"))
        all_padding = pad_mask.all(dim=1, keepdim=True)  # (B, 1)
        scores = scores.masked_fill(all_padding, 0.0)  # finite softmax; result zeroed below
        weights = torch.softmax(scores, dim=1)
        weights = weights.masked_fill(all_padding, 0.0)
        return torch.einsum("bs,bsd->bd", weights, features)


class VideoStyleEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, style_dim: int) -> None:
        super().__init__()
        if style_dim < 1:
            raise ValueError(f"VideoStyleEncoder: style_dim must be >= 1, got {style_dim}")
        self.cfg = cfg
        self.style_dim = style_dim
        self.to_model_dim = nn.Linear(cfg.expression_dim, cfg.d_model)
        self.encoder = transformer_encoder(cfg)
        self.pooling = SelfAttentionPooling(cfg.d_model)
        self.to_style = nn.Linear(cfg.d_model, style_dim)
        self.input_scale = math.sqrt(cfg.d_model)

    def forward(self, expression: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        """expression (B, S, 64), pad_mask (B, S) bool True = padding -> style code s_v (B, style_dim).

        S must be <= cfg.style_max_frames: longer clips raise instead of being cropped silently
        (crop with crop_or_pad_style_clip, as StyleTalk's data loader does).
        """
        if expression.dim() != 3 or expression.shape[-1] != self.cfg.expression_dim:
            raise ValueError(
                f"VideoStyleEncoder: expected expression (B, S, {self.cfg.expression_dim}), "
                f"got shape {tuple(expression.shape)}"
            )
        batch, n_frames, _ = expression.shape
        if pad_mask.shape != (batch, n_frames) or pad_mask.dtype != torch.bool:
            raise ValueError(
                f"VideoStyleEncoder: expected a bool pad_mask of shape {(batch, n_frames)}, "
                f"got {tuple(pad_mask.shape)} {pad_mask.dtype}"
            )
        if n_frames > self.cfg.style_max_frames:
            raise ValueError(
                f"VideoStyleEncoder: style clip of {n_frames} frames exceeds model.style_max_frames "
                f"({self.cfg.style_max_frames}); crop it first (style_encoder.crop_or_pad_style_clip)"
            )
        # Padded frames may hold anything; zero them so nothing leaks through numerics.
        expression = expression.masked_fill(pad_mask.unsqueeze(-1), 0.0)
        # Scaled by sqrt(d_model) as the Transformer scales its embeddings (Vaswani et al. 2017, sec. 3.4):
        # expression coefficients are small (std ~0.2), so the projected frames would otherwise be ~6x
        # smaller than the unit-amplitude positions, and after the first LayerNorm the clip-to-clip
        # (style) differences were drowned by the identical position pattern of every clip: s_v barely
        # varied between clips and the decoder learned to ignore it.
        frames = self.to_model_dim(expression) * self.input_scale
        tokens = frames + sinusoidal_positions(n_frames, self.cfg.d_model, expression.device)
        # An all-padding row would make every attention row empty (NaN); let such rows attend to
        # their (zeroed) frames instead, and pooling then returns zeros for them.
        all_padding = pad_mask.all(dim=1, keepdim=True)
        attention_mask = pad_mask & ~all_padding
        features = self.encoder(tokens, src_key_padding_mask=attention_mask)  # (B, S, d)
        pooled = self.pooling(features, pad_mask)  # (B, d)
        return self.to_style(pooled)
