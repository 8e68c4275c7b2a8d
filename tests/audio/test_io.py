from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from leanvoice.audio.io import frame_rms_db, load_audio, normalize_loudness, write_wav
from leanvoice.errors import AudioError


def test_stereo_44k_becomes_mono_32k(awkward_list: Path) -> None:
    path = awkward_list.parent / "wavs" / "stereo_44k.flac"
    info = sf.info(str(path))
    audio = load_audio(path, 32000)
    assert (info.channels, info.samplerate) == (2, 44100)
    assert audio.samples.ndim == 1 and audio.sample_rate == 32000
    assert audio.source_channels == 2 and audio.source_rate == 44100
    assert len(audio.samples) == pytest.approx(info.frames * 32000 / 44100, abs=2)


def test_resampling_keeps_a_tone_at_its_frequency(tmp_path: Path) -> None:
    rate = 22050
    t = np.arange(rate) / rate
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), rate)
    audio = load_audio(tmp_path / "tone.wav", 32000)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak_hz = np.argmax(spectrum) * 32000 / len(audio.samples)
    assert peak_hz == pytest.approx(440, abs=2)


def test_corrupt_file_is_an_audio_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(AudioError, match=r"broken\.wav: cannot decode"):
        load_audio(bad)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(tmp_path / "empty.wav")


def test_loudness_normalisation_hits_target_and_respects_peak() -> None:
    rate = 32000
    rng = np.random.default_rng(0)
    quiet = (0.01 * rng.standard_normal(rate)).astype(np.float32)
    out = normalize_loudness(quiet, rate, target_rms_db=-20.0, peak_limit=0.95)
    rms_db = 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-20.0, abs=1.0)
    spiky = quiet.copy()
    spiky[100] = 0.9
    out = normalize_loudness(spiky, rate, target_rms_db=-10.0, peak_limit=0.95)
    assert np.max(np.abs(out)) <= 0.95 + 1e-6


def test_write_wav_is_16_bit_and_round_trips(tmp_path: Path) -> None:
    samples = np.linspace(-0.5, 0.5, 3200, dtype=np.float32)
    write_wav(tmp_path / "x.wav", samples, 32000)
    info = sf.info(str(tmp_path / "x.wav"))
    assert info.subtype == "PCM_16" and info.samplerate == 32000
    back, _ = sf.read(tmp_path / "x.wav", dtype="float32")
    assert np.max(np.abs(back - samples)) < 1e-4
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


def test_frame_levels_of_silence_and_tone() -> None:
    rate = 32000
    signal = np.concatenate([np.zeros(rate), 0.5 * np.sin(np.arange(rate) * 0.1)])
    levels = frame_rms_db(signal.astype(np.float32), 320, 640)
    assert levels[10] < -100 and levels[-10] == pytest.approx(-9.0, abs=0.5)


def test_fades_bring_the_edges_to_zero_and_leave_the_middle() -> None:
    from leanvoice.audio.io import fade_edges
    from leanvoice.audio.quality import measure

    rate = 32000
    loud = np.full(rate, 0.5, dtype=np.float32)  # starts and stops at 0.5: two clicks
    faded = fade_edges(loud, rate)
    assert faded[0] == 0 and faded[-1] == 0
    assert np.array_equal(faded[640:-640], loud[640:-640])  # 20 ms at each end only
    assert np.all(np.diff(faded[:640]) >= 0)  # a smooth rise, no step
    assert measure(loud, rate).edge_peak == 0.5
    assert measure(faded, rate).edge_peak < 0.2
    assert len(fade_edges(loud[:1], rate)) == 1  # too short to fade: unchanged


def test_remove_dc_takes_out_the_offset_and_nothing_else() -> None:
    from leanvoice.audio.io import remove_dc

    rate = 32000
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate).astype(np.float32)
    cleaned = remove_dc(tone + 0.02)
    assert abs(float(cleaned.mean())) < 1e-6
    np.testing.assert_allclose(cleaned, tone, atol=1e-4)  # a whole number of periods
    assert len(remove_dc(np.zeros(0, dtype=np.float32))) == 0
