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
