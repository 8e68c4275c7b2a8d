import numpy as np
import pytest

from leanvoice.audio.pitch import estimate_f0


@pytest.mark.parametrize("hz", [110.0, 220.0, 440.0])
def test_f0_of_a_harmonic_tone(hz: float) -> None:
    rate = 32000
    t = np.arange(rate // 2) / rate
    tone = sum(0.3 / k * np.sin(2 * np.pi * hz * k * t) for k in (1, 2, 3))
    signal = np.concatenate([np.zeros(rate // 4), tone])
    f0 = estimate_f0(signal.astype(np.float32), rate, hop=640)
    assert len(f0) == len(signal) // 640
    assert np.all(f0[:10] == 0)  # silence is unvoiced
    assert np.median(f0[15:-5]) == pytest.approx(hz, rel=0.03)


def test_a_low_male_voice_gets_a_pitch_wherever_the_voicing_test_hears_one() -> None:
    from leanvoice.audio.io import load_audio
    from leanvoice.audio.pitch import voiced_frames
    from leanvoice.demo import demo_corpus_list

    folder = demo_corpus_list().parent / "wavs"
    samples = np.concatenate(
        [load_audio(folder / f"ben_en_0{i}.flac", 32000).samples for i in range(3)]
    )
    f0 = estimate_f0(samples, 32000, hop=640)
    voiced = voiced_frames(samples, 32000, 640)
    assert voiced.mean() > 0.4
    assert np.array_equal(f0 > 0, voiced)  # the training target voices what the report does
    assert 60 < np.median(f0[f0 > 0]) < 160  # a male range, not an octave up
    pairs = (f0[:-1] > 0) & (f0[1:] > 0)
    jumps = np.abs(np.log2(f0[1:][pairs] / f0[:-1][pairs]))
    assert np.mean(jumps > 0.5) < 0.05  # few octave jumps between voiced neighbours
