"""Transformer pieces of the SoVITS text encoder (VITS style, channels-first [B, C, T]).

Self-attention adds learned relative-position terms for offsets within ±window to the
keys and to the values, as in VITS; masked scores use −1e4 (not −inf) like the official
code, so fully padded query rows stay finite.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels of a [B, C, T] tensor (official names `gamma`, `beta`)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (x.shape[1],), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class ConvAttention(nn.Module):
    """Multi-head attention with 1×1 conv projections; optional relative positions."""

    def __init__(
        self,
        channels: int,
        out_channels: int,
        n_heads: int,
        dropout: float = 0.0,
        window: int | None = None,
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = channels // n_heads
        self.window = window
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(dropout)
        if window is not None:
            scale = self.head_dim**-0.5
            self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window + 1, self.head_dim) * scale)
            self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window + 1, self.head_dim) * scale)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x: torch.Tensor, context: torch.Tensor, allowed: torch.Tensor | None):
        """x [B, C, T_q], context [B, C, T_k], allowed [B, 1, T_q, T_k] (1 = may attend)."""
        b, _, t_q = x.shape
        t_k = context.shape[2]
        q = self.conv_q(x).view(b, self.n_heads, self.head_dim, t_q).transpose(2, 3)
        k = self.conv_k(context).view(b, self.n_heads, self.head_dim, t_k).transpose(2, 3)
        v = self.conv_v(context).view(b, self.n_heads, self.head_dim, t_k).transpose(2, 3)
        q = q / math.sqrt(self.head_dim)  # (B, heads, T_q, head_dim)
        scores = q @ k.transpose(-2, -1)  # (B, heads, T_q, T_k)
        if self.window is not None:
            rel = q @ self.emb_rel_k[0].transpose(0, 1)  # (B, heads, T, 2w+1)
            scores = scores + self._offsets_to_matrix(rel, t_q)
        if allowed is not None:
            scores = scores.masked_fill(allowed == 0, -1e4)
        probs = self.drop(F.softmax(scores, dim=-1))
        out = probs @ v
        if self.window is not None:
            out = out + self._matrix_to_offsets(probs) @ self.emb_rel_v[0]
        out = out.transpose(2, 3).reshape(b, -1, t_q)  # (B, C, T_q)
        return self.conv_o(out)

    def _offsets_to_matrix(self, rel: torch.Tensor, length: int) -> torch.Tensor:
        """rel[..., i, w + o] is the term for key i + o; place it at [..., i, i + o]."""
        out = rel.new_zeros(*rel.shape[:-1], length)
        for offset in range(-self.window, self.window + 1):
            if abs(offset) >= length:
                continue
            column = rel[..., self.window + offset]  # (B, heads, T)
            rows = column[..., : length - offset] if offset >= 0 else column[..., -offset:]
            out = out + torch.diag_embed(rows, offset=offset)
        return out

    def _matrix_to_offsets(self, probs: torch.Tensor) -> torch.Tensor:
        """probs[..., i, i + o] → [..., i, w + o] (zero where i + o is outside)."""
        length = probs.shape[-1]
        columns = []
        for offset in range(-self.window, self.window + 1):
            if abs(offset) >= length:
                columns.append(probs.new_zeros(probs.shape[:-1]))
                continue
            diagonal = torch.diagonal(probs, offset=offset, dim1=-2, dim2=-1)
            pad = (0, offset) if offset >= 0 else (-offset, 0)
            columns.append(F.pad(diagonal, pad))
        return torch.stack(columns, dim=-1)  # (B, heads, T, 2w+1)


class ConvFFN(nn.Module):
    def __init__(self, channels: int, filter_channels: int, kernel_size: int, dropout: float):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)
        self.drop = nn.Dropout(dropout)

    def _same_pad(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, ((self.kernel_size - 1) // 2, self.kernel_size // 2))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.drop(torch.relu(self.conv_1(self._same_pad(x * mask))))
        return self.conv_2(self._same_pad(x * mask)) * mask


class AttentionEncoder(nn.Module):
    """Official key layout: attn_layers.N, norm_layers_1.N, ffn_layers.N, norm_layers_2.N."""

    def __init__(
        self,
        channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        dropout: float,
        window: int = 4,
    ) -> None:
        super().__init__()
        self.attn_layers = nn.ModuleList(
            ConvAttention(channels, channels, n_heads, dropout, window) for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            ConvFFN(channels, filter_channels, kernel_size, dropout) for _ in range(n_layers)
        )
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(channels) for _ in range(n_layers))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, C, T], mask [B, 1, T] float."""
        allowed = mask.unsqueeze(2) * mask.unsqueeze(-1)  # (B, 1, T, T)
        x = x * mask
        for i in range(len(self.attn_layers)):
            x = self.norm_layers_1[i](
                x + F.dropout(self.attn_layers[i](x, x, allowed), self.dropout, self.training)
            )
            x = self.norm_layers_2[i](
                x + F.dropout(self.ffn_layers[i](x, mask), self.dropout, self.training)
            )
        return x * mask
