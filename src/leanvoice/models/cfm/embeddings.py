"""The DiT's input side: timestep, content ("text") and input embeddings, rotary positions.

Maths and key names of the official F5-TTS copy in GPT-SoVITS (`f5_tts/model/modules.py`,
`backbones/dit.py`) and of x_transformers' `RotaryEmbedding`. Everything here is
channels-last, (B, T, C), as the official DiT is inside.
"""

from __future__ import annotations

import math

import torch
from torch import nn

TIME_FREQUENCY_DIM = 256
TIME_SCALE = 1000.0  # t in [0, 1] is stretched to [0, 1000] before the sinusoids
CONTENT_MAX_POSITIONS = 4096  # official: positions past 4095 reuse the last one
CONV_POSITION_KERNEL, CONV_POSITION_GROUPS = 31, 16
CONVNEXT_KERNEL = 7
ROTARY_BASE = 10000.0


def sinusoidal_time(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) → (B, dim): [sin | cos] of TIME_SCALE·t at geometric frequencies."""
    half = dim // 2
    rate = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=t.device).float() * -rate)
    angles = TIME_SCALE * t[:, None] * freqs[None, :]  # (B, half)
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


class TimestepEmbedding(nn.Module):
    """Flow time t (and, as `d_embed`, the shortcut step size) → (B, dim)."""

    def __init__(self, dim: int, frequency_dim: int = TIME_FREQUENCY_DIM) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.time_mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_mlp(sinusoidal_time(t, self.frequency_dim).to(t.dtype))


def absolute_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) [cos | sin] table of positions (official `precompute_freqs_cis`)."""
    freqs = 1.0 / (ROTARY_BASE ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = torch.outer(torch.arange(length).float(), freqs)  # (length, dim / 2)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt-V2). As the official: the L2 norm runs over
    the time axis (dim 1 of (B, T, C)), then is divided by its mean over channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.norm(x, p=2, dim=1, keepdim=True)  # (B, 1, C)
        scaled = norm / (norm.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * scaled) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        pad = (CONVNEXT_KERNEL - 1) // 2
        self.dwconv = nn.Conv1d(dim, dim, CONVNEXT_KERNEL, padding=pad, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.grn = GRN(hidden)
        self.pwconv2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)  # depthwise over time, (B, T, C)
        h = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(h)))))
        return x + h


class TextEmbedding(nn.Module):
    """The content features (official "text": mel-rate semantic features, not phonemes)
    + absolute sinusoidal positions, through ConvNeXt-V2 blocks. No padding mask (as the
    official): padded frames take part in the convolutions and the GRN norms."""

    def __init__(self, dim: int, conv_layers: int, conv_mult: int = 2) -> None:
        super().__init__()
        # built on the CPU at init as the official (bit-equal on any device), not saved
        self.register_buffer(
            "positions", absolute_positions(CONTENT_MAX_POSITIONS, dim), persistent=False
        )
        self.text_blocks = nn.Sequential(
            *(ConvNeXtV2Block(dim, dim * conv_mult) for _ in range(conv_layers))
        )

    def forward(self, content: torch.Tensor, drop: bool = False) -> torch.Tensor:
        """content (B, T, C) → (B, T, C); `drop` zeroes it (classifier-free guidance)."""
        if drop:
            content = torch.zeros_like(content)
        if len(self.text_blocks) == 0:  # official: no positions without conv layers
            return content
        index = torch.arange(content.shape[1], device=content.device)
        content = content + self.positions[index.clamp(max=CONTENT_MAX_POSITIONS - 1)]
        return self.text_blocks(content)


class ConvPositionEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        pad = CONV_POSITION_KERNEL // 2
        self.conv1d = nn.Sequential(
            nn.Conv1d(dim, dim, CONV_POSITION_KERNEL, groups=CONV_POSITION_GROUPS, padding=pad),
            nn.Mish(),
            nn.Conv1d(dim, dim, CONV_POSITION_KERNEL, groups=CONV_POSITION_GROUPS, padding=pad),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1d(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C)


class InputEmbedding(nn.Module):
    """[noisy mel | prompt mel | content] → dim, plus a convolutional position term."""

    def __init__(self, mel_dim: int, text_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(mel_dim * 2 + text_dim, dim)
        self.conv_pos_embed = ConvPositionEmbedding(dim)

    def forward(
        self, x: torch.Tensor, prompt: torch.Tensor, content: torch.Tensor, drop_prompt: bool
    ) -> torch.Tensor:
        if drop_prompt:
            prompt = torch.zeros_like(prompt)
        x = self.proj(torch.cat((x, prompt, content), dim=-1))
        return self.conv_pos_embed(x) + x


class RotaryEmbedding(nn.Module):
    """x_transformers' `RotaryEmbedding(head_dim)`: `inv_freq` is a saved buffer (it is in
    the official state dict); each frequency serves an adjacent channel pair."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        inv_freq = 1.0 / (ROTARY_BASE ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, length: int) -> torch.Tensor:
        """→ (length, head_dim) angles [f0, f0, f1, f1, …] per position."""
        positions = torch.arange(length, device=self.inv_freq.device).float()
        angles = positions[:, None] * self.inv_freq[None, :]  # (T, head_dim / 2)
        return torch.stack((angles, angles), dim=-1).flatten(1)


def apply_rotary(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate the first `angles.shape[-1]` channels of x (B, T, C) in adjacent pairs.

    As the official: it is called on the packed (B, T, heads·head_dim) projections, so
    only the first head gets rotary positions (x_transformers' partial rotary).
    """
    rotated_dim = angles.shape[-1]
    head, rest = x[..., :rotated_dim].float(), x[..., rotated_dim:]
    pairs = head.unflatten(-1, (-1, 2))  # (B, T, rotated_dim / 2, 2)
    swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    head = head * angles.cos() + swapped * angles.sin()
    return torch.cat((head.to(x.dtype), rest), dim=-1)
