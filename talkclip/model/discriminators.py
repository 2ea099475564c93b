"""The two discriminators of TalkCLIP's objective (paper sec. 4.2).

- TemporalDiscriminator D_tem: a PatchGAN over time (Isola et al. 2017 in 1-D). Each output logit
  judges one receptive-field patch of the L = 64-frame expression sequence as real or generated,
  which penalises jitter and implausible dynamics locally. Spectral norm on every convolution keeps
  it Lipschitz, which suits the hinge loss.
- SyncDiscriminator D_sync: StyleTalk's lip-sync discriminator idea (its code was never released):
  a mouth encoder over the 13 lower-face coefficients and a phoneme encoder over the per-frame
  phoneme windows give one embedding per frame each; the logit is a learned scale times their mean
  per-frame cosine similarity plus a bias (SyncNet / CLIP-style). Comparing per frame, not after
  pooling over the clip, is what makes a time shift between mouth and phonemes detectable.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from talkclip.config.model import ModelConfig
from talkclip.expression import LOWER_FACE_INDICES


class TemporalDiscriminator(nn.Module):
    """(B, L, 64) expression -> (B, P) patch logits; P = L // 4 (16 at L = 64)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        channels = cfg.tem_disc_channels
        self.net = nn.Sequential(
            spectral_norm(nn.Conv1d(cfg.expression_dim, channels, kernel_size=4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv1d(channels, 2 * channels, kernel_size=4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv1d(2 * channels, 2 * channels, kernel_size=3, stride=1, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv1d(2 * channels, 1, kernel_size=3, stride=1, padding=1)),
        )
        self.expression_dim = cfg.expression_dim

    def forward(self, expression: torch.Tensor) -> torch.Tensor:
        if expression.dim() != 3 or expression.shape[-1] != self.expression_dim or expression.shape[1] < 4:
            raise ValueError(
                f"TemporalDiscriminator: expected expression (B, L >= 4, {self.expression_dim}), "
                f"got {tuple(expression.shape)}"
            )
        return self.net(expression.transpose(1, 2)).squeeze(1)  # (B, 1, P) -> (B, P)


class SyncDiscriminator(nn.Module):
    """(B, L, 64) expression + (B, L, 2w+1) phoneme windows -> sync logits (B,); sigmoid = P(in sync)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        hidden = cfg.sync_disc_hidden
        self.window_size = cfg.window_size
        self.expression_dim = cfg.expression_dim
        self.register_buffer("mouth_indices", torch.tensor(LOWER_FACE_INDICES), persistent=False)
        # Mouth: per-frame projection, then temporal convolutions (receptive field 9 frames).
        self.mouth_in = nn.Linear(len(LOWER_FACE_INDICES), hidden)
        self.mouth_conv = nn.Sequential(
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2),
        )
        # Phonemes: each frame's window of ids is embedded and flattened (keeps slot order), then
        # temporal convolutions like the mouth branch.
        phoneme_dim = 32
        self.phoneme_embedding = nn.Embedding(cfg.n_phonemes, phoneme_dim)
        self.phoneme_in = nn.Linear(self.window_size * phoneme_dim, hidden)
        self.phoneme_conv = nn.Sequential(
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2),
        )
        # logit = exp(log_scale) * mean cosine + bias; scale starts at 10 as in CLIP-like heads.
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = nn.Parameter(torch.tensor(0.0))

    def embed_mouth(self, expression: torch.Tensor) -> torch.Tensor:
        """(B, L, 64) -> per-frame mouth embeddings (B, L, hidden), unit length."""
        mouth = expression.index_select(-1, self.mouth_indices)
        features = F.leaky_relu(self.mouth_in(mouth), 0.2).transpose(1, 2)
        return F.normalize(self.mouth_conv(features).transpose(1, 2), dim=-1)

    def embed_phonemes(self, phoneme_windows: torch.Tensor) -> torch.Tensor:
        """(B, L, 2w+1) -> per-frame phoneme embeddings (B, L, hidden), unit length."""
        batch, frames, _ = phoneme_windows.shape
        tokens = self.phoneme_embedding(phoneme_windows).reshape(batch, frames, -1)
        features = F.leaky_relu(self.phoneme_in(tokens), 0.2).transpose(1, 2)
        return F.normalize(self.phoneme_conv(features).transpose(1, 2), dim=-1)

    def forward(self, expression: torch.Tensor, phoneme_windows: torch.Tensor) -> torch.Tensor:
        if expression.dim() != 3 or expression.shape[-1] != self.expression_dim:
            raise ValueError(
                f"SyncDiscriminator: expected expression (B, L, {self.expression_dim}), got {tuple(expression.shape)}"
            )
        if phoneme_windows.shape != (*expression.shape[:2], self.window_size):
            raise ValueError(
                f"SyncDiscriminator: expected phoneme windows {(*expression.shape[:2], self.window_size)} "
                f"matching the expression, got {tuple(phoneme_windows.shape)}"
            )
        per_frame_cosine = (self.embed_mouth(expression) * self.embed_phonemes(phoneme_windows)).sum(-1)  # (B, L)
        return self.log_scale.exp() * per_frame_cosine.mean(dim=1) + self.bias
