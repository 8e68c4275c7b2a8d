"""`ref_enc`: a mel-style encoder that turns a reference spectrogram into one style vector."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

STYLE_HEADS = 2
STYLE_KERNEL = 5


class _Linear(nn.Module):
    """Holds `fc` (official key `…fc.weight`)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class _ConvGLU(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Module()
        self.conv1.conv = nn.Conv1d(channels, 2 * channels, kernel_size, padding=kernel_size // 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1.conv(x).chunk(2, dim=1)
        return x + self.dropout(a * torch.sigmoid(b))


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.w_qs, self.w_ks, self.w_vs = (nn.Linear(dim, dim) for _ in range(3))
        self.fc = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = nn.Dropout(dropout)
        self.temperature = math.sqrt(dim)  # official: sqrt(d_model), not sqrt(head_dim)

    def forward(self, x: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        # heads first, as the official's (heads·batch) stacking: the attention dropout
        # then draws its mask in the official element order: a seed drops the same ones
        q, k, v = (
            w(x).view(b, t, self.heads, d // self.heads).permute(2, 0, 1, 3)
            for w in (self.w_qs, self.w_ks, self.w_vs)
        )  # (heads, B, T, head_dim)
        scores = (q @ k.transpose(-2, -1)) / self.temperature  # (heads, B, T, T)
        scores = scores.masked_fill(padded[None, :, None, :], float("-inf"))
        out = self.attn_dropout(F.softmax(scores, dim=-1)) @ v  # (heads, B, T, head_dim)
        out = out.permute(1, 2, 0, 3).reshape(b, t, d)  # (B, T, heads·head_dim)
        return self.dropout(self.fc(out)) + x


class _Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


class MelStyleEncoder(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            _Linear(in_dim, hidden),
            _Mish(),
            nn.Dropout(dropout),
            _Linear(hidden, hidden),
            _Mish(),
            nn.Dropout(dropout),
        )
        self.temporal = nn.Sequential(
            _ConvGLU(hidden, STYLE_KERNEL, dropout),
            _ConvGLU(hidden, STYLE_KERNEL, dropout),
        )
        self.slf_attn = _SelfAttention(hidden, STYLE_HEADS, dropout)
        self.fc = _Linear(hidden, out_dim)

    def forward(self, spec: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """spec [B, in_dim, T], mask [B, 1, T] → style [B, out_dim, 1]."""
        padded = mask[:, 0] == 0  # (B, T)
        x = self.spectral(spec.transpose(1, 2))  # (B, T, hidden)
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)
        x = x.masked_fill(padded[..., None], 0.0)
        x = self.fc(self.slf_attn(x, padded))
        x = x.masked_fill(padded[..., None], 0.0)
        lengths = (~padded).sum(1)[:, None, None]  # (B, 1, 1)
        # divided before the sum, in fp32, as the official's temporal_avg_pool
        return (x.float() / lengths).sum(1).to(x.dtype).unsqueeze(-1)
