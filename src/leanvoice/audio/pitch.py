"""A small F0 (pitch) estimator for the opt-in SoVITS F0 conditioning.

YIN-style: per frame, the cumulative-mean-normalised difference function; the first lag
under a threshold (else none: unvoiced, 0 Hz). Good enough to condition a model trained
from scratch; not a replacement for a neural pitch tracker.
"""

from __future__ import annotations

import numpy as np


def _normalised_difference(
    samples: np.ndarray, sample_rate: int, hop: int, fmin: float, fmax: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """YIN's cumulative-mean-normalised difference per frame and lag 1..max_lag, which
    frames have energy, and the shortest lag (fmax)."""
    min_lag, max_lag = int(sample_rate / fmax), int(sample_rate / fmin)
    window = 2 * max_lag
    padded = np.pad(samples.astype(np.float64), (0, window + max_lag))
    frames = len(samples) // hop
    if frames == 0:
        return np.zeros((0, max_lag)), np.zeros(0, dtype=bool), min_lag
    # every frame at once: (frames, window + max_lag) views of the signal
    spans = np.lib.stride_tricks.sliding_window_view(padded, window + max_lag)[::hop][:frames]
    bases = spans[:, :window]
    voiced = np.sqrt(np.mean(bases**2, axis=1)) >= 1e-3  # quieter frames are silence
    # difference function d(lag) = sum (x_j - x_{j+lag})^2 over the window, for lags
    # 1..max_lag: energy of the base + energy of the shifted window - 2 × their
    # cross-correlation (through the FFT)
    size = 1 << int(np.ceil(np.log2(2 * (window + max_lag))))
    cross = np.fft.irfft(
        np.fft.rfft(spans, size, axis=1) * np.conj(np.fft.rfft(bases, size, axis=1)), size, axis=1
    )[:, 1 : max_lag + 1]
    energy = np.concatenate([np.zeros((frames, 1)), np.cumsum(spans**2, axis=1)], axis=1)
    lags = np.arange(1, max_lag + 1)
    shifted = energy[:, lags + window] - energy[:, lags]
    diffs = np.maximum(energy[:, window : window + 1] + shifted - 2 * cross, 0.0)
    cumulative = np.cumsum(diffs, axis=1) / lags
    normalised = diffs / np.maximum(cumulative, 1e-12)
    return normalised, voiced, min_lag


def estimate_f0(
    samples: np.ndarray,
    sample_rate: int,
    hop: int,
    fmin: float = 60.0,
    fmax: float = 800.0,
    threshold: float = 0.35,
) -> np.ndarray:
    """Per-frame F0 in Hz (0 where unvoiced); frames = len(samples) // hop.

    A frame is voiced by the same test as `voiced_frames` (a dip below `threshold`; YIN's
    own 0.15 left most frames of low male voices unvoiced, measured: 5-15 % of frames the
    voicing test calls 60-85 %). Its period is the first dip that comes within 0.1 of the
    deepest (an earlier, shallower dip is an octave error); single-frame jumps are then
    smoothed by a 3-frame median over voiced neighbours."""
    normalised, voiced, min_lag = _normalised_difference(samples, sample_rate, hop, fmin, fmax)
    f0 = np.zeros(len(voiced), dtype=np.float32)
    for index in np.flatnonzero(voiced):
        row = normalised[index, min_lag - 1 :]
        deepest = row.min()
        if deepest >= threshold:
            continue
        lag = int(np.flatnonzero(row <= min(deepest + 0.1, threshold))[0])
        while lag + 1 < len(row) and row[lag + 1] < row[lag]:
            lag += 1  # walk down to the local minimum
        f0[index] = sample_rate / (lag + min_lag)
    return _median_over_voiced(f0)


def _median_over_voiced(f0: np.ndarray) -> np.ndarray:
    """Each voiced frame → the median of itself and its voiced neighbours."""
    smoothed = f0.copy()
    for index in np.flatnonzero(f0):
        window = f0[max(0, index - 1) : index + 2]
        smoothed[index] = np.median(window[window > 0])
    return smoothed


def voiced_frames(
    samples: np.ndarray,
    sample_rate: int,
    hop: int,
    fmin: float = 60.0,
    fmax: float = 800.0,
    aperiodicity: float = 0.35,
) -> np.ndarray:
    """Which frames are voiced: they have energy and some lag in the pitch range repeats
    the signal closely (the normalised difference dips below `aperiodicity`). A voicing
    decision only, more forgiving than the F0 pick's first-dip threshold."""
    normalised, voiced, min_lag = _normalised_difference(samples, sample_rate, hop, fmin, fmax)
    if not len(voiced):
        return voiced
    return voiced & (normalised[:, min_lag - 1 :].min(axis=1) < aperiodicity)
