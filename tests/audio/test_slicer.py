import numpy as np
import pytest

from leanvoice.audio.slicer import find_pauses, slice_audio, trim_edges
from leanvoice.config.schema import SlicerConfig

RATE = 32000


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def test_pauses_found_where_the_silence_is() -> None:
    audio = np.concatenate([_tone(2), _silence(0.8), _tone(2), _silence(0.1), _tone(1)])
    pauses = find_pauses(audio, RATE, SlicerConfig())
    assert len(pauses) == 1  # the 0.1 s gap is below min_interval_ms
    assert pauses[0].start / RATE == pytest.approx(2.0, abs=0.05)
    assert pauses[0].end / RATE == pytest.approx(2.8, abs=0.05)


def test_edges_trimmed_to_the_kept_silence() -> None:
    audio = np.concatenate([_silence(2), _tone(1), _silence(2)])
    span = trim_edges(audio, RATE, SlicerConfig(max_silence_kept_ms=500))
    assert span.start / RATE == pytest.approx(1.75, abs=0.03)
    assert span.end / RATE == pytest.approx(3.25, abs=0.03)
    assert trim_edges(_silence(1), RATE, SlicerConfig()) is None


def test_cuts_at_pauses_and_merges_while_pieces_fit() -> None:
    audio = np.concatenate([_tone(4), _silence(1), _tone(4), _silence(1), _tone(4)])
    spans = slice_audio(audio, RATE, max_sec=10, cfg=SlicerConfig())
    assert [round(s.length / RATE) for s in spans] == [9, 4]


def test_a_stretch_without_pause_is_cut_at_its_quietest_frame() -> None:
    t = np.arange(25 * RATE) / RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    dip = int(9.0 * RATE)
    audio[dip - 800 : dip + 800] *= 0.05  # a 50 ms quiet spot, too short to be a pause
    spans = slice_audio(audio, RATE, max_sec=10, cfg=SlicerConfig())
    assert all(s.length <= 10 * RATE for s in spans)
    assert sum(s.length for s in spans) == len(audio)
    assert spans[0].end / RATE == pytest.approx(9.0, abs=0.02)
