"""Multi-period discriminator: one scale (waveform) and the size's periods (v2: 2, 3, 5,
7, 11; v2Pro and v2ProPlus add 17 and 23).

It declares no named groups: it is outside the memory policy (no freezing, LoRA,
checkpointing, offload or compile from `memory.*`); it runs under the run's precision,
and its optimizer follows the one rule in train/sovits.py (`discriminator_optimizer`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from leanvoice.config.sizes import V2_DISCRIMINATOR_PERIODS, SoVITSSize
from leanvoice.models.sovits.decoder import LRELU_SLOPE


def _conv_stack(
    convs: nn.ModuleList, conv_post: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Convolutions with leaky ReLU, keeping every feature map (for feature matching)."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        features.append(x)
    x = conv_post(x)
    features.append(x)
    return x.flatten(1), features


def _narrow(channels: int, divisor: int) -> int:
    return channels if channels == 1 else max(channels // divisor, 1)


class ScaleDiscriminator(nn.Module):
    def __init__(self, divisor: int = 1) -> None:
        """`divisor` > 1 narrows every layer (tiny test models); 1 is the official size."""
        super().__init__()
        spec = [
            (1, 16, 15, 1, 1, 7),
            (16, 64, 41, 4, 4, 20),
            (64, 256, 41, 4, 16, 20),
            (256, 1024, 41, 4, 64, 20),
            (1024, 1024, 41, 4, 256, 20),
            (1024, 1024, 5, 1, 1, 2),
        ]
        d = divisor
        self.convs = nn.ModuleList(
            weight_norm(
                nn.Conv1d(
                    _narrow(i, d), _narrow(o, d), k, s, groups=min(g, _narrow(i, d)), padding=p
                )
            )
            for i, o, k, s, g, p in spec
        )
        self.conv_post = weight_norm(nn.Conv1d(_narrow(1024, d), 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return _conv_stack(self.convs, self.conv_post, x)


class PeriodDiscriminator(nn.Module):
    def __init__(
        self, period: int, kernel_size: int = 5, stride: int = 3, divisor: int = 1
    ) -> None:
        super().__init__()
        self.period = period
        channels = [_narrow(c, divisor) for c in (1, 32, 128, 512, 1024, 1024)]
        pad = ((kernel_size - 1) // 2, 0)
        self.convs = nn.ModuleList(
            weight_norm(
                nn.Conv2d(
                    channels[i],
                    channels[i + 1],
                    (kernel_size, 1),
                    (stride if i < 4 else 1, 1),
                    padding=pad,
                )
            )
            for i in range(5)
        )
        self.conv_post = weight_norm(nn.Conv2d(channels[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), "reflect")
        x = x.view(b, c, -1, self.period)  # (B, 1, T/period, period)
        return _conv_stack(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    def __init__(
        self, divisor: int = 1, *, periods: Sequence[int] = V2_DISCRIMINATOR_PERIODS
    ) -> None:
        """`periods`: the size's `discriminator_periods` (the default is v2's)."""
        super().__init__()
        self.periods = tuple(periods)
        self.discriminators = nn.ModuleList(
            [
                ScaleDiscriminator(divisor),
                *(PeriodDiscriminator(p, divisor=divisor) for p in self.periods),
            ]
        )

    @classmethod
    def for_size(cls, size: SoVITSSize) -> MultiPeriodDiscriminator:
        """The discriminator trained with a generator of this size and version."""
        return cls(size.discriminator_divisor, periods=size.discriminator_periods)

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[list, list, list, list]:
        """Per discriminator: scores and feature maps for the real and the fake waveform."""
        scores_real, scores_fake, feats_real, feats_fake = [], [], [], []
        for disc in self.discriminators:
            s_r, f_r = disc(real)
            s_f, f_f = disc(fake)
            scores_real.append(s_r)
            scores_fake.append(s_f)
            feats_real.append(f_r)
            feats_fake.append(f_f)
        return scores_real, scores_fake, feats_real, feats_fake
