"""Style-aware facial animation decoder E_d, StyleTalk's.

For every frame t the decoder sees the content features of its 11-phoneme window (B, T, 11, d) and
the clip's style code. Its queries are the sinusoidal positions of the 11 window slots plus the
style code (projected to d_model); transformer decoder layers (post-norm) self-attend among the
slots, cross-attend to that frame's content features, and apply a feed-forward block whose FIRST
linear layer is *dynamic*: its weight is a style-dependent mixture of K kernels (Dynamic
Convolution, Chen et al. 2020), which is how StyleTalk lets the style reshape the mapping itself
rather than only the input. The output at the centre slot goes through an MLP per face region.

Two decoders run side by side, one for the upper face (51 dims) and one for the lower face
(13 dims, talkclip.expression.LOWER_FACE_INDICES), and their outputs are merged back into the
64-d expression layout. Splitting lets the mouth follow the phonemes while the brows/eyes follow
the style without the two competing for the same capacity.

Positions: DETR-style (which StyleTalk builds on), the window positions are re-added to the
queries of every attention and to the content keys, so the slots keep their identity across layers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from talkclip.config.model import ModelConfig
from talkclip.expression import LOWER_FACE_INDICES, UPPER_FACE_INDICES

from .attention import MultiheadAttention
from .windows import sinusoidal_positions


class DynamicLinear(nn.Module):
    """y = x @ (sum_k a_k W_k)^T + sum_k a_k b_k, with a = softmax(MLP(style) / temperature).

    The high temperature (30, StyleTalk) keeps the mixture close to uniform early in training so
    that all kernels receive gradient (Chen et al.'s reason for temperature annealing).
    """

    def __init__(
        self, in_features: int, out_features: int, style_dim: int, n_kernels: int, attention_hidden: int,
        temperature: float,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.temperature = temperature
        self.kernel_attention = nn.Sequential(
            nn.Linear(style_dim, attention_hidden), nn.ReLU(), nn.Linear(attention_hidden, n_kernels)
        )
        self.weight = nn.Parameter(torch.empty(n_kernels, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_kernels, out_features))
        # Every kernel initialised like an independent nn.Linear.
        bound = 1.0 / math.sqrt(in_features)
        for k in range(n_kernels):
            nn.init.kaiming_uniform_(self.weight[k], a=math.sqrt(5))
        nn.init.uniform_(self.bias, -bound, bound)

    def kernel_weights(self, style: torch.Tensor) -> torch.Tensor:
        """style (B, style_dim) -> mixture weights (B, K), each row summing to 1."""
        return torch.softmax(self.kernel_attention(style) / self.temperature, dim=-1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x (B, N, in) with one style per batch item (B, style_dim) -> (B, N, out)."""
        mix = self.kernel_weights(style)  # (B, K)
        weight = torch.einsum("bk,koi->boi", mix, self.weight)  # (B, out, in): one matrix per sample
        bias = mix @ self.bias  # (B, out)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


class StyleDecoderLayer(nn.Module):
    """Post-norm transformer decoder layer with a style-dynamic feed-forward block."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.self_attention = MultiheadAttention(d, cfg.n_heads, dropout=cfg.dropout)
        self.cross_attention = MultiheadAttention(d, cfg.n_heads, dropout=cfg.dropout)
        self.ffn_in = DynamicLinear(
            d, cfg.d_ff, style_dim=d, n_kernels=cfg.dynamic_kernels,
            attention_hidden=cfg.dynamic_attention_hidden, temperature=cfg.dynamic_temperature,
        )
        self.ffn_out = nn.Linear(cfg.d_ff, d)
        self.norm_self = nn.LayerNorm(d)
        self.norm_cross = nn.LayerNorm(d)
        self.norm_ffn = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_keys: torch.Tensor, positions: torch.Tensor,
        style: torch.Tensor, frames: int, centre_only: bool = False,
    ) -> torch.Tensor:
        """One layer over every frame's window.

        x: the slots, (B*T, W, d), or (B, W, d) when they are the same for all T frames of a sample
        (the first layer's queries are positions + style); memory = content features and
        memory_keys = content + positions, (B*T, W, d); positions (W, d); style (B, d).
        Returns (B*T, W, d), or (B*T, 1, d) with ``centre_only``: the decoder reads only the centre
        slot after its last layer, so computing the other W-1 there would be wasted work.

        A per-sample x is attended once per sample and only then repeated over the frames: the
        result is the same as attending the repeated slots, at 1/T of the self-attention's cost.
        """
        if centre_only:
            centre = x.shape[1] // 2
            query, query_positions = x[:, centre : centre + 1], positions[centre : centre + 1]
        else:
            query, query_positions = x, positions
        attended = self.self_attention(query + query_positions, x + positions, x)
        x = self.norm_self(query + self.dropout(attended))
        d = x.shape[-1]
        cross_query = self.cross_attention.project(x + query_positions, slice(0, d))
        if x.shape[0] != memory.shape[0]:  # per-sample slots: now one copy per frame
            x, cross_query = x.repeat_interleave(frames, dim=0), cross_query.repeat_interleave(frames, dim=0)
        keys = self.cross_attention.project(memory_keys, slice(d, 2 * d))
        values = self.cross_attention.project(memory, slice(2 * d, 3 * d))
        attended = self.cross_attention.attend(cross_query, keys, values)
        x = self.norm_cross(x + self.dropout(attended))
        # The dynamic layer mixes kernels per batch item: regroup the frames of each sample.
        batch = style.shape[0]
        per_sample = x.reshape(batch, -1, x.shape[-1])  # (B, T*W, d)
        hidden = self.dropout(torch.relu(self.ffn_in(per_sample, style)))
        ffn = self.ffn_out(hidden).reshape_as(x)
        return self.norm_ffn(x + self.dropout(ffn))


class FaceRegionDecoder(nn.Module):
    """One branch (upper or lower face): decoder layers, centre slot, MLP d -> 128 -> 128 -> n."""

    def __init__(self, cfg: ModelConfig, n_outputs: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(StyleDecoderLayer(cfg) for _ in range(cfg.n_layers))
        hidden = cfg.decoder_head_hidden
        self.head = nn.Sequential(
            nn.Linear(cfg.d_model, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs)
        )

    def forward(
        self, queries: torch.Tensor, content: torch.Tensor, positions: torch.Tensor, style: torch.Tensor
    ) -> torch.Tensor:
        """queries (B, W, d) (the same for every frame of a sample), content (B, T, W, d) -> (B, T, n_outputs)."""
        batch, frames, window_size, d = content.shape
        memory = content.reshape(batch * frames, window_size, d)
        memory_keys = memory + positions
        x = queries
        if self.training and self.layers[0].dropout.p > 0:
            # Dropout draws a mask per frame: only with the slots repeated first is that what happens.
            x = queries.repeat_interleave(frames, dim=0)
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, memory_keys, positions, style, frames, centre_only=i == len(self.layers) - 1)
        centre = x[:, 0].reshape(batch, frames, d)  # the last layer returned the centre slot only
        return self.head(centre)


class StyleDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig, style_dim: int) -> None:
        super().__init__()
        if style_dim < 1:
            raise ValueError(f"StyleDecoder: style_dim must be >= 1, got {style_dim}")
        self.cfg = cfg
        self.style_dim = style_dim
        self.style_to_model = nn.Linear(style_dim, cfg.d_model)
        self.upper = FaceRegionDecoder(cfg, len(UPPER_FACE_INDICES))
        self.lower = FaceRegionDecoder(cfg, len(LOWER_FACE_INDICES))
        # Outputs are produced as [upper | lower]; this permutation puts each back at its index.
        concat_order = torch.tensor(UPPER_FACE_INDICES + LOWER_FACE_INDICES)
        self.register_buffer("layout_order", torch.argsort(concat_order), persistent=False)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """content (B, T, 2w+1, d_model), style (B, style_dim) -> expression (B, T, 64)."""
        window_size = self.cfg.window_size
        if content.dim() != 4 or content.shape[2] != window_size or content.shape[3] != self.cfg.d_model:
            raise ValueError(
                f"StyleDecoder: expected content (B, T, {window_size}, {self.cfg.d_model}), got {tuple(content.shape)}"
            )
        if style.dim() != 2 or style.shape != (content.shape[0], self.style_dim):
            raise ValueError(
                f"StyleDecoder: expected style ({content.shape[0]}, {self.style_dim}), got {tuple(style.shape)}"
            )
        if self.cfg.style_norm:
            # Direction only: L_cos makes s_t point where s_v points, but says nothing of its length.
            style = F.normalize(style, dim=-1) * math.sqrt(self.style_dim)
        style_code = self.style_to_model(style)  # (B, d)
        positions = sinusoidal_positions(window_size, self.cfg.d_model, content.device)  # (W, d)
        # The same queries for every frame of a sample: window positions + the clip's style.
        queries = positions + style_code[:, None, :]  # (B, W, d)
        upper = self.upper(queries, content, positions, style_code)  # (B, T, 51)
        lower = self.lower(queries, content, positions, style_code)  # (B, T, 13)
        return torch.cat([upper, lower], dim=-1)[..., self.layout_order]
