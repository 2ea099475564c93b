"""TalkCLIP's trainable network: content encoder E_a, V2SS E_v, T2SS adapter, decoder E_d.

The frozen text backbone (text_backbone.py) and the discriminators (discriminators.py) live
outside: the trainer feeds precomputed text embeddings e_t (text_dim wide) and owns D_tem/D_sync.
All style codes (s_v from video, s_t from text) have the backbone's width text_dim, so they can be
compared with the cosine loss and fed to the same decoder interchangeably (paper sec. 4.1.2).
"""
from __future__ import annotations

import torch
from torch import nn

from talkclip.config.model import ModelConfig

from .content_encoder import ContentEncoder
from .decoder import StyleDecoder
from .style_encoder import VideoStyleEncoder
from .text_style_encoder import TextStyleEncoder


class TalkCLIP(nn.Module):
    def __init__(self, cfg: ModelConfig, text_dim: int) -> None:
        super().__init__()
        if text_dim < 1:
            raise ValueError(f"TalkCLIP: text_dim must be >= 1 (the text backbone's embedding size), got {text_dim}")
        self.cfg = cfg
        self.text_dim = text_dim
        self.content_encoder = ContentEncoder(cfg)
        self.video_style_encoder = VideoStyleEncoder(cfg, style_dim=text_dim)
        self.decoder = StyleDecoder(cfg, style_dim=text_dim)
        # Built last, so that the other networks' initial weights do not depend on the text side
        # (w/o Adapter has no adapter parameters): variants that differ only there share stage 1.
        self.text_style_encoder = TextStyleEncoder(cfg, dim=text_dim)

    def video_style(self, expression: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        """Style clip (B, S, 64) + pad mask (B, S) -> s_v (B, text_dim)."""
        return self.video_style_encoder(expression, pad_mask)

    def text_style(self, text_embedding: torch.Tensor) -> torch.Tensor:
        """Backbone embedding e_t (B, text_dim) -> s_t (B, text_dim)."""
        return self.text_style_encoder(text_embedding)

    def decode(self, phoneme_windows: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Phoneme windows (B, T, 2w+1) + style code (B, text_dim) -> expression (B, T, 64)."""
        return self.decoder(self.content_encoder(phoneme_windows), style)

    def forward(self, phoneme_windows: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.decode(phoneme_windows, style)


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Trainable parameters per direct child and in total (for logs and reports)."""
    counts = {name: sum(p.numel() for p in child.parameters() if p.requires_grad) for name, child in module.named_children()}
    counts["total"] = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return counts
