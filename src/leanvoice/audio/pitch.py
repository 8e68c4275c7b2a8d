"""A small F0 (pitch) estimator for the opt-in SoVITS F0 conditioning.

YIN-style: per frame, the cumulative-mean-normalised difference function; the first lag
under a threshold (else none: unvoiced, 0 Hz). Good enough to condition a model trained
from scratch; not a replacement for a neural pitch tracker.
"""

from __future__ import annotations

import numpy as np


def estimate_f0(
    samples: np.ndarray,
    sample_rate: int,
    hop: int,
    fmin: float = 60.0,
    fmax: float = 800.0,
    threshold: float = 0.15,
) -> np.ndarray:
    """Per-frame F0 in Hz (0 where unvoiced); frames = len(samples) // hop."""
    min_lag, max_lag = int(sample_rate / fmax), int(sample_rate / fmin)
    window = 2 * max_lag
    padded = np.pad(samples.astype(np.float64), (0, window + max_lag))
    frames = len(samples) // hop
    f0 = np.zeros(frames, dtype=np.float32)
    if frames == 0:
        return f0
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
    for index in np.flatnonzero(voiced):
        row = normalised[index]
        candidates = np.flatnonzero(row[min_lag - 1 :] < threshold)
        if candidates.size == 0:
            continue
        lag = candidates[0] + min_lag - 1
        while lag + 1 < len(row) and row[lag + 1] < row[lag]:
            lag += 1  # walk down to the local minimum
        f0[index] = sample_rate / (lag + 1)
    return f0
