"""v3's vocoder: BigVGAN v2 (nvidia/bigvgan_v2_24khz_100band_256x), 100 log-mels at
93.75 Hz → 24 kHz waves, 256 samples per frame; 112.4 M parameters.

A HiFi-GAN whose residual blocks (AMP) run periodic activations (SnakeBeta: x + sin²(αx)/β
per channel, α and β stored as logs) at twice the sample rate, between kaiser-windowed
sinc low-pass filters, so that the harmonics they make alias less. The official builds it
from the model folder's `config.json`, loads `bigvgan_generator.pt` with weight norm and
removes it (GPT_SoVITS/BigVGAN, inference_webui `init_bigvgan`). We build plain convs and
compat/ folds the file's weight norm when loading, so our keys are the official's after
`remove_weight_norm`, filter buffers included. Inference only; only the official's
`resblock: "1"` (every shipped config) is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from leanvoice.errors import ConfigError

ACTIVATIONS = ("snake", "snakebeta")
SNAKE_EPSILON = 1e-9  # official `no_div_by_zero`
# the anti-aliased activation (official Activation1d defaults): ×2 up, act, ×2 down, each
# through a 12-tap kaiser-sinc low-pass at a quarter of the doubled rate
OVERSAMPLING = 2
FILTER_TAPS = 12
# official config.json keys → our field names (the others have the official names)
CONFIG_NAMES = {"num_mels": "mel_bins", "sampling_rate": "sample_rate"}
# keys the official code reads with a default (`h.get`); the rest must be present
CONFIG_DEFAULTS = {"use_tanh_at_final": True, "use_bias_at_final": True}


@dataclass(frozen=True)
class BigVGANSize:
    """The generator keys of the official `config.json`; the defaults are its 24 kHz one."""

    mel_bins: int = 100
    sample_rate: int = 24000
    upsample_rates: tuple[int, ...] = (4, 4, 2, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (8, 8, 4, 4, 4, 4)
    upsample_initial_channel: int = 1536
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    activation: str = "snakebeta"
    snake_logscale: bool = True
    use_tanh_at_final: bool = False  # False: the wave is clamped to [-1, 1] instead
    use_bias_at_final: bool = False

    def __post_init__(self) -> None:
        if self.resblock != "1":
            raise ConfigError(f"resblock {self.resblock!r}: only '1' (AMPBlock1) is built")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation {self.activation!r}: use one of {ACTIVATIONS}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ConfigError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ConfigError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BigVGANSize:
        """From an official `config.json`; its training keys (discriminators, losses,
        data) are not the generator's and are ignored. A missing key: `ConfigError`."""
        official_name = {ours: key for key, ours in CONFIG_NAMES.items()}
        values = {}
        for field in fields(cls):
            key = official_name.get(field.name, field.name)
            if key not in config and key not in CONFIG_DEFAULTS:
                raise ConfigError(f"no {key!r}")
            value = config.get(key, CONFIG_DEFAULTS.get(key))
            values[field.name] = _typed(key, value, field.default)
        return cls(**values)

    def to_config(self) -> dict[str, Any]:
        """The official `config.json` keys the generator reads."""
        names = {ours: key for key, ours in CONFIG_NAMES.items()}
        return {names.get(f.name, f.name): _as_json(getattr(self, f.name)) for f in fields(self)}


TINY_BIGVGAN = BigVGANSize(
    upsample_rates=(4, 4, 4, 4),  # still 256 samples per frame
    upsample_kernel_sizes=(8, 8, 8, 8),
    upsample_initial_channel=64,
    resblock_kernel_sizes=(3,),
    resblock_dilation_sizes=((1, 3),),
)


def bigvgan_size(name: str = "official") -> BigVGANSize:
    """`official` (bigvgan_v2_24khz_100band_256x, 112.4 M) or `tiny` (84 k)."""
    sizes = {"official": BigVGANSize(), "tiny": TINY_BIGVGAN}
    if name not in sizes:
        raise ConfigError(f"unknown BigVGAN size {name!r}; valid: {', '.join(sizes)}")
    return sizes[name]


def _typed(key: str, value: Any, default: Any) -> Any:
    """A JSON value as the type of the field's default (lists → tuples), or `ConfigError`."""
    if isinstance(default, tuple):
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key!r} is {value!r}, not a list")
        return tuple(_typed(key, item, default[0]) for item in value)
    if not isinstance(value, type(default)):
        raise ConfigError(f"{key!r} is {value!r}, not a {type(default).__name__}")
    return value


def _as_json(value: Any) -> Any:
    return [_as_json(v) for v in value] if isinstance(value, tuple) else value


# -- the anti-aliased periodic activation ---------------------------------------------------
def kaiser_sinc_lowpass(cutoff: float, half_width: float, taps: int) -> torch.Tensor:
    """(1, 1, taps) windowed-sinc low-pass; `cutoff` and `half_width` in cycles per sample.

    The Kaiser β is chosen from the stop-band attenuation the transition width allows
    (Kaiser's empirical formulas, as julius and StyleGAN3 use); the taps sum to 1 so a
    constant passes unchanged."""
    half = taps // 2
    attenuation_db = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation_db > 50.0:
        beta = 0.1102 * (attenuation_db - 8.7)
    elif attenuation_db >= 21.0:
        beta = 0.5842 * (attenuation_db - 21) ** 0.4 + 0.07886 * (attenuation_db - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, beta=beta, periodic=False)
    # an even filter is centred between two samples
    time = torch.arange(-half, half) + 0.5 if taps % 2 == 0 else torch.arange(taps) - half
    response = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (response / response.sum()).view(1, 1, taps)


def _oversampling_filter() -> torch.Tensor:
    """The low-pass of both resamplers: cutoff at the original Nyquist, 0.5 / ratio."""
    return kaiser_sinc_lowpass(0.5 / OVERSAMPLING, 0.6 / OVERSAMPLING, FILTER_TAPS)


class Upsample(nn.Module):
    """×`OVERSAMPLING` by zero stuffing (a strided transposed conv) and the low-pass,
    edges padded by replication; (B, C, T) → (B, C, 2T)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filter", _oversampling_filter())
        self.pad = FILTER_TAPS // OVERSAMPLING - 1  # input samples each side
        # what the padding and the filter's spread add to the output, cut off again
        self.crop_left = self.pad * OVERSAMPLING + (FILTER_TAPS - OVERSAMPLING) // 2
        self.crop_right = self.pad * OVERSAMPLING + (FILTER_TAPS - OVERSAMPLING + 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        kernel = self.filter.expand(channels, -1, -1)
        # zero stuffing keeps 1/ratio of the energy: the gain restores it
        x = OVERSAMPLING * F.conv_transpose1d(x, kernel, stride=OVERSAMPLING, groups=channels)
        return x[..., self.crop_left : -self.crop_right]


class LowPass(nn.Module):
    """The low-pass then every `stride`-th sample, edges padded by replication."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.register_buffer("filter", _oversampling_filter())
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        even = FILTER_TAPS % 2 == 0
        x = F.pad(x, (FILTER_TAPS // 2 - int(even), FILTER_TAPS // 2), mode="replicate")
        kernel = self.filter.expand(x.shape[1], -1, -1)
        return F.conv1d(x, kernel, stride=self.stride, groups=x.shape[1])


class Downsample(nn.Module):
    """÷`OVERSAMPLING`: (B, C, 2T) → (B, C, T)."""

    def __init__(self) -> None:
        super().__init__()
        self.lowpass = LowPass(OVERSAMPLING)  # official nesting, for the keys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class Snake(nn.Module):
    """x + sin²(αx) / β per channel; plain Snake has no β of its own (β = α).
    With `log_scale` the parameters hold log α and log β (zeros: α = β = 1)."""

    def __init__(self, channels: int, *, with_beta: bool, log_scale: bool) -> None:
        super().__init__()
        start = torch.zeros(channels) if log_scale else torch.ones(channels)
        self.alpha = nn.Parameter(start.clone())
        self.beta = nn.Parameter(start.clone()) if with_beta else None
        self.log_scale = log_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]  # (1, C, 1)
        beta = alpha if self.beta is None else self.beta[None, :, None]
        if self.log_scale:
            alpha, beta = torch.exp(alpha), torch.exp(beta)
        return x + (1.0 / (beta + SNAKE_EPSILON)) * torch.sin(x * alpha).pow(2)


class AntiAliasedActivation(nn.Module):
    """Snake at twice the sample rate: its harmonics above the original Nyquist are
    filtered out before coming back down, instead of folding into the band."""

    def __init__(self, channels: int, size: BigVGANSize) -> None:
        super().__init__()
        self.upsample = Upsample()
        self.act = Snake(
            channels, with_beta=size.activation == "snakebeta", log_scale=size.snake_logscale
        )
        self.downsample = Downsample()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


# -- the generator ------------------------------------------------------------------------
def _conv(channels: int, kernel: int, dilation: int) -> nn.Conv1d:
    """Same-length conv."""
    padding = (kernel * dilation - dilation) // 2
    return nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=padding)


class AMPBlock(nn.Module):
    """Official AMPBlock1: per dilation, x += conv(act(dilated_conv(act(x))))."""

    def __init__(
        self, channels: int, kernel: int, dilations: tuple[int, ...], size: BigVGANSize
    ) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel, 1) for _ in dilations)
        # official order: activations[2i] before convs1[i], [2i + 1] before convs2[i]
        self.activations = nn.ModuleList(
            AntiAliasedActivation(channels, size) for _ in range(2 * len(dilations))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, (dilated, plain) in enumerate(zip(self.convs1, self.convs2, strict=True)):
            before_dilated, before_plain = self.activations[2 * index : 2 * index + 2]
            x = plain(before_plain(dilated(before_dilated(x)))) + x
        return x


class BigVGAN(nn.Module):
    def __init__(self, size: BigVGANSize) -> None:
        super().__init__()
        self.size = size
        channels = size.upsample_initial_channel
        self.conv_pre = nn.Conv1d(size.mel_bins, channels, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(size.upsample_rates, size.upsample_kernel_sizes, strict=True):
            up = nn.ConvTranspose1d(channels, channels // 2, kernel, rate, (kernel - rate) // 2)
            self.ups.append(nn.Sequential(up))  # official nesting (ups.N.0), for the keys
            channels //= 2
            for k, dilations in zip(
                size.resblock_kernel_sizes, size.resblock_dilation_sizes, strict=True
            ):
                self.resblocks.append(AMPBlock(channels, k, dilations, size))
        self.activation_post = AntiAliasedActivation(channels, size)
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3, bias=size.use_bias_at_final)
        self.per_stage = len(size.resblock_kernel_sizes)

    @property
    def samples_per_frame(self) -> int:
        return math.prod(self.size.upsample_rates)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """log_mel (B, 100, frames), natural log (`denormalize_mel` of the CFM's output)
        → wave (B, 1, frames · 256) in [-1, 1] at 24 kHz."""
        x = self.conv_pre(log_mel)
        for index, up in enumerate(self.ups):
            x = up(x)  # no activation before it, unlike HiFi-GAN: the AMP blocks end in none
            blocks = self.resblocks[index * self.per_stage : (index + 1) * self.per_stage]
            x = sum(block(x) for block in blocks) / self.per_stage
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.size.use_tanh_at_final else x.clamp(-1.0, 1.0)
