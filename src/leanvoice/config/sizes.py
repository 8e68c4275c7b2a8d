"""Model-size schemas (`tiny`, `v2`) loaded from the shipped sizes/*.yaml.

A SoVITS version (v2Pro, v2ProPlus) is a variant of a size: each size file lists, under
`sovits_versions`, what a version changes in its `sovits` section (at the official size,
exactly what configs/s2v2Pro.json and s2v2ProPlus.json change in s2.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from leanvoice.config.loader import build, read_yaml
from leanvoice.errors import ConfigError

SIZE_NAMES = ("tiny", "v2")
SOVITS_VERSIONS = ("v2", "v2Pro", "v2ProPlus")
V2_DISCRIMINATOR_PERIODS = (2, 3, 5, 7, 11)


@dataclass
class GPTSize:
    phoneme_vocab_size: int = 732
    semantic_vocab_size: int = 1025
    eos_id: int = 1024
    model_dim: int = 512
    num_heads: int = 16
    num_layers: int = 24
    ffn_dim: int = 2048
    dropout: float = 0.1
    bert_dim: int = 1024


@dataclass
class SoVITSSize:
    sample_rate: int = 32000
    n_fft: int = 2048
    hop_length: int = 640
    win_length: int = 2048
    n_mels: int = 128
    segment_samples: int = 20480
    ssl_dim: int = 768
    codebook_size: int = 1024
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    dropout: float = 0.1
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilations: list[int] = field(default_factory=lambda: [1, 3, 5])
    upsample_rates: list[int] = field(default_factory=lambda: [10, 8, 2, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 8, 2, 2])
    upsample_initial_channel: int = 512
    gin_channels: int = 512
    style_hidden: int = 128  # fixed inside the official MelStyleEncoder
    posterior_layers: int = 16
    flow_count: int = 4
    n_speakers: int = 300
    discriminator_divisor: int = 1  # training only: >1 narrows the discriminator (tiny)
    harmonic_source: bool = False  # an NSF excitation and pitch predictor (tiny; not v2)
    # latent frames upsampled by interpolation and a conv, not transposed convs (tiny; not
    # v2): waveform detail can then come only from the harmonic source (decoder.py)
    smooth_upsampling: bool = False
    version: str = "v2"  # one of SOVITS_VERSIONS; set by load_size, not by the size files
    # the speaker-verification embedding a Pro model adds to the style (official: the
    # ERes2NetV2 feature, 20480 wide); 0 = none (v2)
    sv_dim: int = 0
    # the MRTE's width; 0 = gin_channels (v2). Pro widens the style to gin_channels 1024
    # and projects it back to the MRTE's 512 (`ge_to512`)
    mrte_channels: int = 0
    discriminator_periods: list[int] = field(default_factory=lambda: [*V2_DISCRIMINATOR_PERIODS])

    @property
    def mrte_width(self) -> int:
        return self.mrte_channels or self.gin_channels

    @property
    def frames_per_second(self) -> float:
        """SSL / spectrogram frames (50 Hz at 32 kHz, hop 640)."""
        return self.sample_rate / self.hop_length

    @property
    def codes_per_second(self) -> float:
        """Semantic codes: the SSL projection halves the frame rate (25 Hz)."""
        return self.frames_per_second / 2


@dataclass
class ModelSizes:
    gpt: GPTSize = field(default_factory=GPTSize)
    sovits: SoVITSSize = field(default_factory=SoVITSSize)


def load_size(name: str, version: str = "v2") -> ModelSizes:
    """The hyperparameters of a named model size, with SoVITS `version`'s changes."""
    if name not in SIZE_NAMES:
        raise ConfigError(f"unknown model.size {name!r}; valid sizes: {', '.join(SIZE_NAMES)}")
    if version not in SOVITS_VERSIONS:
        raise ConfigError(
            f"unknown model.version {version!r}; valid versions: {', '.join(SOVITS_VERSIONS)}"
        )
    path = Path(str(resources.files("leanvoice.config") / "sizes" / f"{name}.yaml"))
    data = read_yaml(path)
    variants = data.pop("sovits_versions", {})
    unknown = sorted(set(variants) - set(SOVITS_VERSIONS[1:]))
    if unknown:
        raise ConfigError(
            f"sizes/{name}.yaml: sovits_versions has {unknown[0]!r}; "
            f"valid versions: {', '.join(SOVITS_VERSIONS[1:])}"
        )
    data["sovits"] = {**data.get("sovits", {}), **variants.get(version, {}), "version": version}
    return build(ModelSizes, data, prefix=f"sizes/{name}.yaml:")
