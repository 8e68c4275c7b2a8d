"""Sizes of the flow-matching SoVITS (v3, v4, v5dev, v5turbo) and of the v4 vocoder.

`cfm_size("official", "v4")` is `SynthesizerTrnV3` as the official WebUI builds it for
v4 (`configs/s2.json` + `module/models.py`), 382.8 M parameters; v3 has the same
architecture and differs only in the mel frame rate, v5 (v5dev, v5turbo) only in its
DiT's time conditioning (no step-size embedding), training and sampler (`CFMVersion`).
`tiny` keeps the architecture at a few hundred k parameters so it trains on a CPU in
seconds.
`size_from_state_dict` reads a size back from a state dict's shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import torch

from leanvoice.audio.cfm_mel import V3_MEL, V4_MEL, MelSettings
from leanvoice.config.sizes import SoVITSSize
from leanvoice.errors import ConfigError

SIZE_NAMES = ("official", "tiny")
VERSIONS = ("v3", "v4", "v5dev", "v5turbo")


@dataclass(frozen=True)
class CFMVersion:
    """What differs between the versions (the encoders and the DiT's blocks are the same)."""

    name: str
    mel: MelSettings
    # semantic features are at 50 Hz after the ×2 nearest upsampling; the mel frame rate
    # is 93.75 Hz (v3: 24 kHz / 256) or 100 Hz (v4: 32 kHz / 320)
    upsample_factor: float
    # official decode_encp: wns1's mask length per semantic code (v3 says 3.875, more
    # than the 3.75 frames per code it makes, so its mask is all ones)
    frames_per_code_mask: float
    sample_steps: int  # the WebUI's default sampling steps
    # inference chunking (official inference_webui): at most `prompt_frames` of the
    # reference mel, and `chunk_frames` prompt + generated frames per sampler call
    prompt_frames: int
    chunk_frames: int
    vocoder_sample_rate: int  # v3: BigVGAN 24 kHz; v4, v5: MelVocoder 48 kHz
    # v3/v4: the DiT embeds the shortcut step size d (`d_embed`), training draws the
    # bootstrap target, the sampler accumulates t. v5 (official `CFMV5`): none of it,
    # plain flow matching and t = j / steps
    step_embedding: bool = True
    noise_temperature: float = 1.0  # the sampler's default noise scale (v5: 0.875)
    cfg_rate: float = 0.0  # default classifier-free guidance (v5dev: 1.3)
    # the guidance's negative run drops the prompt mel and the content (v3/v4) or only
    # the prompt mel (v5: `cfg_drop_text=False`)
    negative_keeps_content: bool = False
    # v5 chunking (`synthesize_v5_mel`): at most this many new frames per sampler call
    # (0: chunk_frames − prompt), and each later chunk is prompted by the original
    # reference with only its last `rolling_tail` frames replaced by the previous chunk's
    # end (0: v3/v4, the previous chunk's end alone)
    max_target_chunk: int = 0
    rolling_tail: int = 0

    def sampler(self, steps: int | None, cfg_rate: float | None) -> tuple[int, float]:
        """(steps, guidance) as the sampler runs them: the version's where not given
        (steps 0 or None, guidance None)."""
        return steps or self.sample_steps, self.cfg_rate if cfg_rate is None else cfg_rate


V3 = CFMVersion("v3", V3_MEL, 1.875, 3.875, 32, 468, 934, 24000)
V4 = CFMVersion("v4", V4_MEL, 2.0, 4.0, 8, 500, 1000, 48000)
_V5 = dict(  # official models_v5.py: v4's mels and rates, CFMV5's sampler and chunks
    step_embedding=False,
    noise_temperature=0.875,
    negative_keeps_content=True,
    max_target_chunk=640,
    rolling_tail=32,
)
V5DEV = CFMVersion("v5dev", V4_MEL, 2.0, 4.0, 32, 500, 1000, 48000, cfg_rate=1.3, **_V5)
V5TURBO = CFMVersion("v5turbo", V4_MEL, 2.0, 4.0, 4, 500, 1000, 48000, **_V5)
_VERSIONS = {version.name: version for version in (V3, V4, V5DEV, V5TURBO)}


@dataclass
class CFMSize:
    version: str = "v4"
    # the v2 text encoder with MRTE (enc_p), the style encoder and the quantizer
    ssl_dim: int = 768
    codebook_size: int = 1024
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    dropout: float = 0.1
    gin_channels: int = 512
    style_hidden: int = 128
    reference_bins: int = 704  # ref_enc reads the lowest 704 of the 1025 linear bins
    # bridge + wns1: semantic hidden → mel-rate content features ("inter_channels2")
    content_channels: int = 512
    content_layers: int = 8
    content_kernel_size: int = 5
    # the DiT velocity estimator of the CFM
    mel_bins: int = 100
    dit_dim: int = 1024
    dit_depth: int = 22
    dit_heads: int = 16
    dit_head_dim: int = 64
    dit_ff_mult: int = 2
    dit_dropout: float = 0.1
    dit_text_conv_layers: int = 4

    @property
    def settings(self) -> CFMVersion:
        return _VERSIONS[self.version]

    def text_encoder_size(self) -> SoVITSSize:
        """The v2 size fields the shared `enc_p` and quantizer read."""
        return SoVITSSize(
            ssl_dim=self.ssl_dim,
            codebook_size=self.codebook_size,
            inter_channels=self.inter_channels,
            hidden_channels=self.hidden_channels,
            filter_channels=self.filter_channels,
            n_heads=self.n_heads,
            n_layers=self.n_layers,
            kernel_size=self.kernel_size,
            dropout=self.dropout,
            gin_channels=self.gin_channels,
            style_hidden=self.style_hidden,
        )


TINY = CFMSize(
    ssl_dim=64,  # the built-in tiny HuBERT is 64 wide
    inter_channels=16,
    hidden_channels=16,
    filter_channels=32,
    n_layers=2,
    gin_channels=16,
    style_hidden=16,
    content_channels=32,
    content_layers=2,
    dit_dim=64,
    dit_depth=2,
    dit_heads=2,
    dit_head_dim=32,
    dit_text_conv_layers=1,
)


def cfm_size(name: str = "official", version: str = "v4") -> CFMSize:
    """`official` (SynthesizerTrnV3, 382.8 M; v5 without `d_embed`: 381.5 M) or `tiny`,
    for a version of VERSIONS."""
    if name not in SIZE_NAMES:
        raise ConfigError(f"unknown CFM size {name!r}; valid: {', '.join(SIZE_NAMES)}")
    if version not in VERSIONS:
        raise ConfigError(f"unknown CFM version {version!r}; valid: {', '.join(VERSIONS)}")
    base = TINY if name == "tiny" else CFMSize()
    return replace(base, version=version)


@dataclass
class VocoderSize:
    """v4's HiFi-GAN vocoder (`Generator` in inference_webui `init_hifigan`): 100 mels at
    100 Hz → 48 kHz, 480 samples per frame; 14.4 M parameters."""

    mel_bins: int = 100
    upsample_rates: list[int] = field(default_factory=lambda: [10, 6, 2, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [20, 12, 4, 4, 4])
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilations: list[int] = field(default_factory=lambda: [1, 3, 5])
    sample_rate: int = 48000


def vocoder_size(name: str = "official") -> VocoderSize:
    """`official` (14.4 M) or `tiny` (32 channels after conv_pre, one resblock kernel)."""
    if name not in SIZE_NAMES:
        raise ConfigError(f"unknown vocoder size {name!r}; valid: {', '.join(SIZE_NAMES)}")
    if name == "tiny":
        return VocoderSize(upsample_initial_channel=32, resblock_kernel_sizes=[3])
    return VocoderSize()


# -- sizes from shapes ------------------------------------------------------------------
StateDict = dict[str, torch.Tensor]


def _count(state: StateDict, pattern: str) -> int:
    """How many distinct indices `(\\d+)` the pattern matches among the keys."""
    regex = re.compile(pattern)
    return len({m.group(1) for key in state if (m := regex.match(key))})


def size_from_state_dict(state: StateDict, version: str) -> CFMSize:
    """The size a `SynthesizerTrnV3` state dict (official or ours) was built with.

    v3 and v4 have the same shapes, and so have v5dev and v5turbo: the version must be
    given (the official file tells it by its hash or 2-byte header, see compat/); a
    version whose DiT embeds the step size needs `d_embed` keys, v5 must have none.
    Weight-norm keys may be either form.
    """
    dit = "cfm.estimator."
    head_dim = 64  # x_transformers' inv_freq holds head_dim / 2 frequencies
    if f"{dit}rotary_embed.inv_freq" in state:
        head_dim = 2 * state[f"{dit}rotary_embed.inv_freq"].shape[0]
    dim = state[f"{dit}proj_out.weight"].shape[1]
    inner = state[f"{dit}transformer_blocks.0.attn.to_q.weight"].shape[0]
    hidden = state["enc_p.ssl_proj.weight"].shape[0]
    has_step_embedding = any(key.startswith(f"{dit}d_embed.") for key in state)
    if has_step_embedding != _VERSIONS[version].step_embedding:
        found = "have" if has_step_embedding else "lack"
        raise ValueError(
            f"these weights {found} the DiT's step-size embedding (d_embed): not {version}"
        )
    return CFMSize(
        version=version,
        ssl_dim=state["ssl_proj.weight"].shape[0],
        codebook_size=state["quantizer.vq.layers.0._codebook.embed"].shape[0],
        inter_channels=state["bridge.0.weight"].shape[1],
        hidden_channels=hidden,
        filter_channels=state["enc_p.encoder_text.ffn_layers.0.conv_1.weight"].shape[0],
        n_heads=_heads(state),
        n_layers=_count(state, r"enc_p\.encoder_text\.attn_layers\.(\d+)\."),
        kernel_size=state["enc_p.encoder_text.ffn_layers.0.conv_1.weight"].shape[2],
        gin_channels=state["ref_enc.fc.fc.weight"].shape[0],
        style_hidden=state["ref_enc.fc.fc.weight"].shape[1],
        reference_bins=state["ref_enc.spectral.0.fc.weight"].shape[1],
        content_channels=state["bridge.0.weight"].shape[0],
        content_layers=_count(state, r"wns1\.enc\.in_layers\.(\d+)\."),
        content_kernel_size=_in_layer_kernel(state),
        mel_bins=state[f"{dit}proj_out.weight"].shape[0],
        dit_dim=dim,
        dit_depth=_count(state, rf"{re.escape(dit)}transformer_blocks\.(\d+)\."),
        dit_heads=inner // head_dim,
        dit_head_dim=head_dim,
        dit_ff_mult=state[f"{dit}transformer_blocks.0.ff.ff.0.0.weight"].shape[0] // dim,
        dit_text_conv_layers=_count(state, rf"{re.escape(dit)}text_embed\.text_blocks\.(\d+)\."),
    )


def _heads(state: StateDict) -> int:
    """enc_p's attention heads: the relative embeddings are (1, 2·window+1, hidden/heads)."""
    hidden = state["enc_p.ssl_proj.weight"].shape[0]
    return hidden // state["enc_p.encoder_text.attn_layers.0.emb_rel_k"].shape[2]


def _in_layer_kernel(state: StateDict) -> int:
    for suffix in ("weight_v", "parametrizations.weight.original1", "weight"):
        key = f"wns1.enc.in_layers.0.{suffix}"
        if key in state:
            return state[key].shape[2]
    raise KeyError("wns1.enc.in_layers.0: no weight in the state dict")


def vocoder_size_from_state_dict(state: StateDict) -> VocoderSize:
    """The size an official `vocoder.pth` (weight norm removed) was built with."""
    ups = _count(state, r"ups\.(\d+)\.")
    per_stage = _count(state, r"resblocks\.(\d+)\.") // ups
    kernels = [state[f"resblocks.{j}.convs1.0.weight"].shape[2] for j in range(per_stage)]
    dilations = _count(state, r"resblocks\.0\.convs1\.(\d+)\.")
    up_weights = [state[f"ups.{i}.weight"] for i in range(ups)]  # (in, out, kernel)
    return VocoderSize(
        mel_bins=state["conv_pre.weight"].shape[1],
        upsample_rates=[_stride_of(w.shape[2]) for w in up_weights],
        upsample_kernel_sizes=[w.shape[2] for w in up_weights],
        upsample_initial_channel=state["conv_pre.weight"].shape[0],
        resblock_kernel_sizes=kernels,
        resblock_dilations=VocoderSize().resblock_dilations[:dilations],
    )


def _stride_of(kernel: int) -> int:
    """Strides are not in the shapes; the official kernels are twice the stride
    (20/10, 12/6, 4/2), and so are the tiny ones."""
    return kernel // 2
