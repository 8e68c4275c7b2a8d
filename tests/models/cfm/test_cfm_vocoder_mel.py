"""v4's vocoder and the v3/v4 mel spectrograms."""

import math

import pytest
import torch

from leanvoice.audio.cfm_mel import (
    V3_MEL,
    V4_MEL,
    cfm_log_mel,
    denormalize_mel,
    normalize_mel,
)
from leanvoice.models.cfm import MelVocoder, vocoder_size, vocoder_size_from_state_dict


def test_tiny_vocoder_makes_480_samples_per_mel_frame_in_range() -> None:
    torch.manual_seed(0)
    vocoder = MelVocoder(vocoder_size("tiny")).eval()
    with torch.no_grad():
        wave = vocoder(torch.randn(2, 100, 25) - 5)
    assert vocoder.samples_per_frame == 480 == 48000 // 100
    assert wave.shape == (2, 1, 25 * 480)
    assert wave.abs().max() <= 1


def test_vocoder_keys_are_plain_weights_and_its_size_reads_back() -> None:
    state = MelVocoder(vocoder_size("tiny")).state_dict()
    assert "resblocks.0.convs1.0.weight" in state and "ups.4.bias" in state
    assert "conv_post.bias" in state  # the official v4 vocoder's output conv has a bias
    assert not any("parametrizations" in key or "cond" in key for key in state)
    assert vocoder_size_from_state_dict(state) == vocoder_size("tiny")


def test_official_vocoder_size_has_14_4_million_parameters() -> None:
    with torch.device("meta"):
        vocoder = MelVocoder(vocoder_size())
    assert sum(p.numel() for p in vocoder.parameters()) == 14_425_409
    assert vocoder_size_from_state_dict(vocoder.state_dict()) == vocoder_size()


@pytest.mark.parametrize("settings", [V3_MEL, V4_MEL], ids=["v3", "v4"])
def test_mel_has_one_frame_per_hop_and_a_tone_in_its_band(settings) -> None:
    seconds, tone_hz = 0.5, 1000.0
    t = torch.arange(int(settings.sample_rate * seconds)) / settings.sample_rate
    mel = cfm_log_mel(0.5 * torch.sin(2 * math.pi * tone_hz * t)[None], settings)
    assert mel.shape == (1, 100, int(settings.sample_rate * seconds) // settings.hop_length)
    peak_bin = mel[0, :, 10].argmax().item()
    # Slaney scale: linear below 1 kHz at 200/3 Hz per mel; 100 bands up to Nyquist
    assert 15 <= peak_bin <= 30
    assert mel.max() < 2 and mel.min() >= math.log(1e-5)


def test_normalisation_maps_the_official_range_to_unit_and_back() -> None:
    log_mel = torch.tensor([-12.0, -5.0, 2.0])
    assert normalize_mel(log_mel).tolist() == [-1.0, 0.0, 1.0]
    torch.testing.assert_close(denormalize_mel(normalize_mel(log_mel)), log_mel)
