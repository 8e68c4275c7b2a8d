"""v3's vocoder, BigVGAN v2: sizes, shapes and rates, the official config and keys, the
anti-aliased resampling."""

import math

import pytest
import torch

from leanvoice.audio.cfm_mel import V3_MEL
from leanvoice.errors import ConfigError
from leanvoice.models.cfm import BigVGAN, BigVGANSize, bigvgan_size
from leanvoice.models.cfm.bigvgan import Downsample, Upsample, kaiser_sinc_lowpass

# the generator keys of nvidia/bigvgan_v2_24khz_100band_256x's config.json, and some of
# its training keys, which the generator does not read
OFFICIAL_24KHZ_CONFIG = {
    "resblock": "1",
    "upsample_rates": [4, 4, 2, 2, 2, 2],
    "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
    "upsample_initial_channel": 1536,
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
    "activation": "snakebeta",
    "snake_logscale": True,
    "num_mels": 100,
    "sampling_rate": 24000,
    "hop_size": 256,
    "use_cqtd_instead_of_mrd": True,
    "mpd_reshapes": [2, 3, 5, 7, 11],
}


def test_tiny_bigvgan_makes_256_samples_per_mel_frame_at_24_khz_in_range() -> None:
    torch.manual_seed(0)
    vocoder = BigVGAN(bigvgan_size("tiny")).eval()
    with torch.no_grad():
        wave = vocoder(torch.randn(2, 100, 12) * 2 - 5)
    # the v3 CFM's mel: 100 bins, one frame per 256 samples at 24 kHz
    assert vocoder.size.sample_rate == V3_MEL.sample_rate and vocoder.size.mel_bins == 100
    assert vocoder.samples_per_frame == V3_MEL.hop_length == 256
    assert wave.shape == (2, 1, 12 * 256)
    assert wave.abs().max() <= 1 and wave.std() > 1e-3


def test_official_size_has_112_4_million_parameters_under_the_official_keys() -> None:
    with torch.device("meta"):
        vocoder = BigVGAN(bigvgan_size())
    assert sum(p.numel() for p in vocoder.parameters()) == 112_414_512
    keys = set(vocoder.state_dict())
    assert {"ups.5.0.weight", "resblocks.17.convs2.2.weight", "activation_post.act.beta"} <= keys
    assert "resblocks.0.activations.5.downsample.lowpass.filter" in keys  # buffers, as saved
    assert "conv_post.bias" not in keys  # use_bias_at_final: false


def test_the_size_reads_the_official_config_and_writes_its_keys_back() -> None:
    size = BigVGANSize.from_config(OFFICIAL_24KHZ_CONFIG)
    assert size == bigvgan_size("official")
    assert BigVGANSize.from_config(size.to_config()) == size
    assert size.to_config()["num_mels"] == 100 and "mel_bins" not in size.to_config()
    older = {k: v for k, v in OFFICIAL_24KHZ_CONFIG.items() if not k.startswith("use_")}
    legacy = BigVGANSize.from_config(older)  # v1 configs: the official code's defaults
    assert legacy.use_tanh_at_final and legacy.use_bias_at_final


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"upsample_rates": None}, "no 'upsample_rates'"),
        ({"upsample_rates": 4}, "'upsample_rates' is 4, not a list"),
        ({"resblock": "2"}, "only '1'"),
        ({"activation": "relu"}, "activation 'relu'"),
        ({"resblock_kernel_sizes": [3]}, "differ in length"),
    ],
)
def test_an_unusable_config_names_the_key(change, message) -> None:
    config = {k: v for k, v in {**OFFICIAL_24KHZ_CONFIG, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        BigVGANSize.from_config(config)


def test_the_resampling_filter_is_a_symmetric_unit_gain_lowpass() -> None:
    taps = kaiser_sinc_lowpass(0.25, 0.3, 12)
    assert taps.shape == (1, 1, 12) and torch.equal(taps, taps.flip(-1))
    assert math.isclose(taps.sum().item(), 1.0, rel_tol=1e-6)


def test_a_tone_below_nyquist_survives_the_up_and_down_sampling() -> None:
    time = torch.arange(2000.0)
    tone = torch.sin(2 * math.pi * 0.02 * time)[None, None]  # 0.02 cycles per sample
    doubled = Upsample()(tone)
    back = Downsample()(doubled)
    assert doubled.shape == (1, 1, 4000) and back.shape == tone.shape
    inner = slice(50, -50)  # away from the replicated edges
    assert (back - tone)[..., inner].abs().max() < 1e-3
