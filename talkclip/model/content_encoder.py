"""Audio (phoneme) content encoder E_a, as StyleTalk's.

Every video frame is described by the 2w+1 = 11 phoneme ids around it. A small transformer encoder
runs over those 11 tokens (one independent sequence per frame), so each frame gets 11 content
features that the style-aware decoder cross-attends to.
"""
from __future__ import annotations

import torch
from torch import nn

from talkclip.config.model import ModelConfig

from .attention import TransformerEncoder
from .windows import sinusoidal_positions


def transformer_encoder(cfg: ModelConfig) -> TransformerEncoder:
    """StyleTalk's encoder stack: post-norm, ReLU, dropout, batch-first (talkclip/model/attention.py:
    nn.TransformerEncoder's parameters and computation, without its sequence-first copies)."""
    return TransformerEncoder(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.n_layers)


class ContentEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.phoneme_embedding = nn.Embedding(cfg.n_phonemes, cfg.phoneme_embed_dim)
        self.to_model_dim = nn.Linear(cfg.phoneme_embed_dim, cfg.d_model)
        self.encoder = transformer_encoder(cfg)

    def forward(self, phoneme_windows: torch.Tensor) -> torch.Tensor:
        """phoneme_windows: LongTensor (B, T, 2w+1) -> content features (B, T, 2w+1, d_model)."""
        window_size = self.cfg.window_size
        if phoneme_windows.dim() != 3 or phoneme_windows.shape[-1] != window_size:
            raise ValueError(
                f"ContentEncoder: expected phoneme windows (B, T, {window_size}), got shape {tuple(phoneme_windows.shape)}"
            )
        if phoneme_windows.numel() and (phoneme_windows.min() < 0 or phoneme_windows.max() >= self.cfg.n_phonemes):
            raise ValueError(
                f"ContentEncoder: phoneme ids must be in 0..{self.cfg.n_phonemes - 1}, "
                f"got range {int(phoneme_windows.min())}..{int(phoneme_windows.max())}"
            )
        batch, frames, _ = phoneme_windows.shape
        tokens = self.to_model_dim(self.phoneme_embedding(phoneme_windows))  # (B, T, W, d)
        # Positions index the offset inside the window (-w..+w), added once before the encoder.
        tokens = tokens + sinusoidal_positions(window_size, self.cfg.d_model, tokens.device)
        # One independent 11-token sequence per frame.
        per_frame = tokens.reshape(batch * frames, window_size, self.cfg.d_model)
        content = self.encoder(per_frame)
        return content.reshape(batch, frames, window_size, self.cfg.d_model)
