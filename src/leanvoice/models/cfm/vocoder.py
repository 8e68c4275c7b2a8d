"""v4's vocoder: a HiFi-GAN generator from 100 log-mels at 100 Hz to 48 kHz waves.

The official builds the v2 `Generator` with 100 input channels, upsampling 10·6·2·2·2
(480 samples per mel frame), kernels 20·12·4·4·4, no style input and a biased output
conv (inference_webui `init_hifigan`), then removes weight norm and loads `vocoder.pth`;
its keys are therefore plain `weight`/`bias` (`conv_pre`, `ups.N`, `resblocks.N.convs1.M`,
`conv_post`). We reuse the v2 residual blocks and fold their weight norm away, so the
keys are the same. Inference only: the official never trains it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from leanvoice.models.cfm.config import VocoderSize
from leanvoice.models.sovits.decoder import LRELU_SLOPE, ResBlock


def _fold_weight_norm(module: nn.Module) -> nn.Module:
    """Replace every weight-norm parametrization under `module` by its plain weight."""
    for child in module.modules():
        if parametrize.is_parametrized(child, "weight"):
            parametrize.remove_parametrizations(child, "weight")
    return module


class MelVocoder(nn.Module):
    def __init__(self, size: VocoderSize) -> None:
        super().__init__()
        self.size = size
        channels = size.upsample_initial_channel
        self.conv_pre = nn.Conv1d(size.mel_bins, channels, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(size.upsample_rates, size.upsample_kernel_sizes, strict=True):
            self.ups.append(
                nn.ConvTranspose1d(
                    channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2
                )
            )
            channels //= 2
            for k in size.resblock_kernel_sizes:
                self.resblocks.append(
                    _fold_weight_norm(ResBlock(channels, k, size.resblock_dilations))
                )
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3)
        self.per_stage = len(size.resblock_kernel_sizes)

    @property
    def samples_per_frame(self) -> int:
        return int(torch.tensor(self.size.upsample_rates).prod())

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """log_mel (B, 100, frames), natural log (`denormalize_mel` of the CFM's output)
        → wave (B, 1, frames · 480) in [-1, 1] at 48 kHz."""
        x = self.conv_pre(log_mel)
        for index, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[index * self.per_stage : (index + 1) * self.per_stage]
            x = sum(block(x) for block in blocks) / self.per_stage
        return torch.tanh(self.conv_post(F.leaky_relu(x)))
