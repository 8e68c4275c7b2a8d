"""`dec`: the HiFi-GAN generator, latent frames → 32 kHz waveform."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from leanvoice.models.sovits.source import HarmonicSource

LRELU_SLOPE = 0.1


def _init_normal(module: nn.Module) -> None:
    if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
        module.weight.data.normal_(0.0, 0.01)


class ResBlock(nn.Module):
    """Residual block "1": pairs of (dilated conv, conv) with leaky ReLU."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]) -> None:
        super().__init__()

        def conv(dilation: int) -> nn.Module:
            padding = (kernel_size * dilation - dilation) // 2
            layer = nn.Conv1d(channels, channels, kernel_size, dilation=dilation, padding=padding)
            _init_normal(layer)
            return weight_norm(layer)

        self.convs1 = nn.ModuleList(conv(d) for d in dilations)
        self.convs2 = nn.ModuleList(conv(1) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            h = c1(F.leaky_relu(x, LRELU_SLOPE))
            x = x + c2(F.leaky_relu(h, LRELU_SLOPE))
        return x


class SmoothUpsample(nn.Module):
    """Linear interpolation to the next rate, then a 3-tap conv: a smooth path from the
    latent frames, unlike a transposed conv, whose kernel writes waveform detail itself.
    With a harmonic source, periodic detail can then come only from the source. Measured
    with transposed convs in the tiny decoder: for low male voices the latent path made
    the pitch band (84-250 Hz) itself, as noise; their reconstructions came out voiced in
    18-28 % of their voiced frames, 86-89 % with the latent zeroed (docs/design.md). The
    size's `upsample_kernel_sizes` apply to transposed convs only."""

    def __init__(self, channels: int, out_channels: int, rate: int) -> None:
        super().__init__()
        self.rate = rate
        conv = nn.Conv1d(channels, out_channels, 3, padding=1)
        _init_normal(conv)
        self.conv = weight_norm(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.rate, mode="linear", align_corners=False)
        return self.conv(x)


class UpsampleStage(nn.Module):
    """One upsampling step and the average of its resblocks: a checkpointing unit."""

    def __init__(self, upsample: nn.Module, resblocks: list[ResBlock]) -> None:
        super().__init__()
        self.upsample = upsample
        self.resblocks = resblocks  # plain list: the parameters live in Generator.resblocks

    def forward(self, x: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        x = self.upsample(F.leaky_relu(x, LRELU_SLOPE))
        if source is not None:  # the harmonic excitation at this stage's rate
            x = x + source
        return sum(block(x) for block in self.resblocks) / len(self.resblocks)


class Generator(nn.Module):
    def __init__(
        self,
        in_channels: int,
        kernel_sizes: list[int],
        dilations: list[int],
        upsample_rates: list[int],
        initial_channels: int,
        upsample_kernel_sizes: list[int],
        gin_channels: int,
        source: HarmonicSource | None = None,
        smooth: bool = False,
    ) -> None:
        """`source`: an NSF excitation, brought to each stage's rate by a strided conv
        and added after its upsampling; `smooth`: `SmoothUpsample` stages (both for the
        tiny sizes; official v2 has neither)."""
        super().__init__()
        self.conv_pre = nn.Conv1d(in_channels, initial_channels, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = initial_channels
        for rate, kernel in zip(upsample_rates, upsample_kernel_sizes, strict=True):
            if smooth:
                self.ups.append(SmoothUpsample(channels, channels // 2, rate))
            else:
                up = nn.ConvTranspose1d(
                    channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2
                )
                _init_normal(up)
                self.ups.append(weight_norm(up))
            channels //= 2
            for k in kernel_sizes:
                self.resblocks.append(ResBlock(channels, k, dilations))
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3, bias=False)
        self.source = source
        self.source_convs = nn.ModuleList() if source is not None else None
        if self.source_convs is not None:
            for index in range(len(upsample_rates)):
                stride = math.prod(upsample_rates[index + 1 :])
                out = initial_channels // 2 ** (index + 1)
                self.source_convs.append(
                    nn.Conv1d(1, out, 2 * stride - stride % 2, stride, padding=stride // 2)
                    if stride > 1
                    else nn.Conv1d(1, out, 1)
                )
        self.cond = nn.Conv1d(gin_channels, initial_channels, 1)
        per_stage = len(kernel_sizes)
        self.stages = [
            UpsampleStage(up, list(self.resblocks[i * per_stage : (i + 1) * per_stage]))
            for i, up in enumerate(self.ups)
        ]

    def forward(
        self,
        z: torch.Tensor,
        style: torch.Tensor,
        f0: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """z (B, inter, frames), style (B, gin, 1); f0 (B, 1, frames) in Hz, needed only
        with a harmonic source."""
        x = self.conv_pre(z) + self.cond(style)
        if self.source is None:
            for stage in self.stages:
                x = stage(x)
        else:
            if f0 is None:
                raise ValueError("this decoder has a harmonic source: pass f0 (B, 1, frames)")
            excitation = self.source(f0, generator).to(x.dtype)
            for stage, conv in zip(self.stages, self.source_convs, strict=True):
                x = stage(x, conv(excitation))
        return torch.tanh(self.conv_post(F.leaky_relu(x)))  # (B, 1, T · hop)
