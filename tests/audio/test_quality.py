"""The quality measures on signals whose answers are known."""

import numpy as np
import pytest

from leanvoice.audio.io import load_audio
from leanvoice.audio.quality import measure, mel_signature, speech_like
from leanvoice.demo import demo_corpus_list

RATE = 32000


def test_silence_is_not_speech() -> None:
    quality = measure(np.zeros(RATE, dtype=np.float32), RATE, expected_sec=1.0)
    assert quality.voiced_fraction == 0.0 and quality.voiced_rms_dbfs == -120.0
    assert quality.dc_offset == 0.0 and quality.edge_peak == 0.0
    assert quality.duration_ratio == 1.0
    problems = speech_like(quality)
    assert any("dBFS" in p for p in problems) and any("voiced" in p for p in problems)


def test_a_tone_is_voiced_at_its_level_with_a_click_where_it_starts_at_a_peak() -> None:
    t = np.arange(2 * RATE) / RATE
    tone = (0.5 * np.cos(2 * np.pi * 200 * t) + 0.01).astype(np.float32)  # cos: starts at +0.5
    quality = measure(tone, RATE, expected_sec=4.0)
    assert quality.voiced_fraction > 0.95
    assert quality.voiced_rms_dbfs == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.1)
    assert quality.dc_offset == pytest.approx(0.01, abs=1e-3)
    assert quality.edge_peak == pytest.approx(0.51, abs=0.01)
    assert quality.duration_ratio == 0.5
    problems = speech_like(quality)
    assert any("DC offset" in p for p in problems) and any("click" in p for p in problems)


def test_a_real_demo_clip_is_speech_like_and_closest_to_its_own_speaker() -> None:
    listing = demo_corpus_list()
    lines = [line.split("|") for line in listing.read_text(encoding="utf-8").splitlines()]
    by_speaker: dict[str, list[np.ndarray]] = {}
    for path, speaker, _language, _text in lines:
        audio = load_audio(listing.parent / path, RATE).samples
        by_speaker.setdefault(speaker, []).append(audio)
    assert len(by_speaker) == 2
    # each speaker's signature from all but its first clip; the first clips are tested
    signatures = {
        name: mel_signature(np.concatenate(clips[1:]), RATE) for name, clips in by_speaker.items()
    }
    for name, clips in by_speaker.items():
        clip = clips[0] / max(np.abs(clips[0]).max(), 1e-9) * 0.5  # a normalised level
        quality = measure(clip, RATE, speakers=signatures)
        assert quality.voiced_fraction > 0.4 and quality.voiced_rms_dbfs > -35
        assert quality.closest_speaker() == name
