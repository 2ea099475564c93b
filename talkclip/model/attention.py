"""Multi-head attention and the post-norm encoder layer, batch-first and lean, for short sequences.

TalkCLIP's content encoder and decoder attend within 11-slot phoneme windows, one window per video
frame: a training batch of 16 x 32 frames is 512 tiny sequences per attention call. Through
``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` (sequence-first inside, whatever
``batch_first`` says) about a third of a CPU training step went into layout copies and the generic
path around ``scaled_dot_product_attention`` (benchmarks/bench_training.py). These modules compute the
same function with the same parameters -- identical names and shapes, so state dicts are
interchangeable with the torch modules -- but keep everything batch-first, project query/key/value
with one matmul when they are the same tensor, and let the caller ask for the output of a subset of
query positions only. tests/test_model_attention.py checks them against the torch modules.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiheadAttention(nn.Module):
    """Batch-first multi-head attention with ``nn.MultiheadAttention``'s parameters (bias, no extra k/v).

    ``forward(query (N, Lq, d), key (N, Lk, d), value (N, Lk, d), key_padding_mask (N, Lk) bool
    True = ignore)`` -> (N, Lq, d). Attention-weight dropout is applied in training mode as torch does.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} is not a multiple of num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        # torch's initialisation, so a freshly built module is distributed as nn.MultiheadAttention is.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, d) -> (N, heads, L, head_dim), a view."""
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def project(self, x: torch.Tensor, which: slice) -> torch.Tensor:
        """x (N, L, d) through the rows ``which`` of the packed in-projection (q = 0:d, k = d:2d, v = 2d:3d)."""
        return F.linear(x, self.in_proj_weight[which], self.in_proj_bias[which])

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Already projected q (N, Lq, d), k, v (N, Lk, d) -> attention output through out_proj (N, Lq, d)."""
        dropout_p = self.dropout if self.training else 0.0
        if q.shape[1] == 1 and key_padding_mask is None:
            # One query per sequence (the decoder's centre slot): a batched matmul would multiply
            # thousands of 1 x 16 by 16 x 11 matrices, dominated by per-matrix overhead on the CPU;
            # the same sums as broadcast products are several times faster.
            n, length = k.shape[:2]
            q1 = q.view(n, 1, self.num_heads, self.head_dim)
            kh = k.view(n, length, self.num_heads, self.head_dim)
            vh = v.view(n, length, self.num_heads, self.head_dim)
            weights = torch.softmax((q1 * kh).sum(-1) / math.sqrt(self.head_dim), dim=1)  # (N, L, heads)
            weights = F.dropout(weights, dropout_p, training=dropout_p > 0)
            out = (weights.unsqueeze(-1) * vh).sum(1).reshape(n, 1, self.embed_dim)
            return self.out_proj(out)
        mask = None
        if key_padding_mask is not None:
            # SDPA's boolean mask is True = attend.
            mask = ~key_padding_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            self._heads(q), self._heads(k), self._heads(v), attn_mask=mask, dropout_p=dropout_p,
        )
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        d = self.embed_dim
        q = self.project(query, slice(0, d))
        if key is value:  # one matmul for k and v
            k, v = self.project(key, slice(d, 3 * d)).chunk(2, dim=-1)
        else:
            k, v = self.project(key, slice(d, 2 * d)), self.project(value, slice(2 * d, 3 * d))
        return self.attend(q, k, v, key_padding_mask)


class TransformerEncoderLayer(nn.Module):
    """Post-norm encoder layer (self-attention, ReLU feed-forward), ``nn.TransformerEncoderLayer``'s
    parameters and computation with ``norm_first=False``, ``activation="relu"``, batch-first."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, L, d) -> (N, L, d)."""
        d = x.shape[-1]
        q, k, v = self.self_attn.project(x, slice(0, 3 * d)).chunk(3, dim=-1)  # one matmul for q, k, v
        x = self.norm1(x + self.dropout1(self.self_attn.attend(q, k, v, src_key_padding_mask)))
        feed_forward = self.linear2(self.dropout(F.relu(self.linear1(x))))
        return self.norm2(x + self.dropout2(feed_forward))


class TransformerEncoder(nn.Module):
    """A stack of :class:`TransformerEncoderLayer` (``nn.TransformerEncoder``'s parameter names: ``layers.i``).

    Like ``nn.TransformerEncoder`` the layers start as copies of one initialised layer, so a model
    built from the same seed starts from the same weights as with the torch modules.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, num_layers: int) -> None:
        super().__init__()
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout)
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.num_layers = num_layers

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, src_key_padding_mask)
        return x
