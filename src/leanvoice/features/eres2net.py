"""ERes2NetV2, the speaker-verification network of the official v2Pro/v2ProPlus.

The official code (3D-Speaker's ERes2NetV2, as vendored by GPT-SoVITS) builds it with
`baseWidth=24, scale=4, expansion=4` and uses only `forward3`: the fused pre-pooling map
(B, 2048, 10, T/8) flattened over channels × frequency and averaged over time, a 20480-d
vector per clip. Our modules keep the official state-dict keys, so
`pretrained_eres2netv2w24s4ep4.ckpt` loads strictly. Differences from the official code:
one residual block class (`fuse` chooses the plain or the attentional-fusion variant),
no in-place operations, and no temporal-statistics pooling (it has no weights and
GPT-SoVITS never uses it); `seg_1` is kept only so the checkpoint loads strictly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RELU_CAP = 20.0  # the official "ReLU" is Hardtanh(0, 20)
FUSION_REDUCTION = 4  # AFF bottleneck: channels // 4


@dataclass(frozen=True)
class ERes2NetV2Config:
    """Defaults are the official speaker model's (GPT-SoVITS `sv.py`)."""

    num_blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    m_channels: int = 64  # channels of the stem; stage k has m_channels * 2**k planes
    feat_dim: int = 80  # fbank bins
    embedding_size: int = 192  # `seg_1` output (unused by GPT-SoVITS)
    base_width: int = 24
    scale: int = 4  # Res2Net splits per block
    expansion: int = 4

    @property
    def pooled_dim(self) -> int:
        """Size of the time-averaged fused map: channels × frequency bins after three
        stride-2 stages (official: 64·8·4 · 80/8 = 20480)."""
        return self.m_channels * 8 * self.expansion * math.ceil(self.feat_dim / 8)


OFFICIAL_SV = ERes2NetV2Config()
# Tests and the demo: about 17 k parameters on a 16-bin fbank, 4·8·1 · 16/8 = 64-d
# output (the tiny size's `sv_dim`).
TINY_SV = ERes2NetV2Config(
    num_blocks=(1, 1, 1, 1),
    m_channels=4,
    feat_dim=16,
    embedding_size=16,
    base_width=32,
    scale=2,
    expansion=1,
)


def capped_relu(x: torch.Tensor) -> torch.Tensor:
    return F.hardtanh(x, 0.0, RELU_CAP)


class AttentionalFusion(nn.Module):
    """AFF: a 1×1-conv bottleneck on both inputs gives per-position weights in (0, 2)
    that mix `x` and `y` (x·w + y·(2 − w)). Official key names (`local_att.N`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = channels // FUSION_REDUCTION
        self.local_att = nn.Sequential(
            nn.Conv2d(channels * 2, inner, kernel_size=1),
            nn.BatchNorm2d(inner),
            nn.SiLU(),
            nn.Conv2d(inner, channels, kernel_size=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        weight = 1.0 + torch.tanh(self.local_att(torch.cat((x, y), dim=1)))
        return x * weight + y * (2.0 - weight)


class Res2Block(nn.Module):
    """Bottleneck block whose 3×3 stage runs on `scale` channel splits, each split
    receiving the previous one's output: added (plain) or mixed by AFF (`fuse`)."""

    def __init__(
        self, in_planes: int, planes: int, stride: int, cfg: ERes2NetV2Config, fuse: bool
    ) -> None:
        super().__init__()
        width = planes * cfg.base_width // 64
        out_planes = planes * cfg.expansion
        self.width = width
        self.conv1 = nn.Conv2d(in_planes, width * cfg.scale, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width * cfg.scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, padding=1, bias=False) for _ in range(cfg.scale)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(cfg.scale))
        self.fuse_models = (
            nn.ModuleList(AttentionalFusion(width) for _ in range(cfg.scale - 1)) if fuse else None
        )
        self.conv3 = nn.Conv2d(width * cfg.scale, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()  # identity; a projection when the shape changes
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        splits = torch.split(capped_relu(self.bn1(self.conv1(x))), self.width, dim=1)
        outputs = []
        for index, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            if index == 0:
                part = splits[0]
            elif self.fuse_models is not None:
                part = self.fuse_models[index - 1](part, splits[index])
            else:
                part = part + splits[index]
            part = capped_relu(bn(conv(part)))
            outputs.append(part)
        out = self.bn3(self.conv3(torch.cat(outputs, dim=1)))
        return capped_relu(out + self.shortcut(x))


class ERes2NetV2(nn.Module):
    def __init__(self, cfg: ERes2NetV2Config = OFFICIAL_SV) -> None:
        super().__init__()
        self.cfg = cfg
        m = cfg.m_channels
        self.conv1 = nn.Conv2d(1, m, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m)
        stage_planes = (m, m * 2, m * 4, m * 8)
        in_planes = m
        for stage, (planes, blocks) in enumerate(zip(stage_planes, cfg.num_blocks, strict=True)):
            layer = nn.Sequential()
            for index in range(blocks):
                stride = 1 if stage == 0 or index > 0 else 2
                layer.append(Res2Block(in_planes, planes, stride, cfg, fuse=stage >= 2))
                in_planes = planes * cfg.expansion
            setattr(self, f"layer{stage + 1}", layer)
        # bottom-up fusion: stage 3's map, downsampled, joins stage 4's
        self.layer3_ds = nn.Conv2d(
            m * 4 * cfg.expansion, m * 8 * cfg.expansion, 3, stride=2, padding=1, bias=False
        )
        self.fuse34 = AttentionalFusion(m * 8 * cfg.expansion)
        # mean + std pooling then a linear layer: the 192-d speaker embedding, unused here
        stats_dim = cfg.feat_dim // 8 * m * 8 * cfg.expansion
        self.seg_1 = nn.Linear(stats_dim * 2, cfg.embedding_size)

    def fused_map(self, fbank: torch.Tensor) -> torch.Tensor:
        """(B, T, feat_dim) log-mel → (B, channels, feat_dim/8, T/8)."""
        x = fbank.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out3 = self.layer3(out)
        out4 = self.layer4(out3)
        return self.fuse34(out4, self.layer3_ds(out3))

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """The official `forward3`: (B, T, feat_dim) → (B, pooled_dim)."""
        fused = self.fused_map(fbank)
        return fused.flatten(start_dim=1, end_dim=2).mean(dim=-1)  # (B, C·F', T') → (B, C·F')
