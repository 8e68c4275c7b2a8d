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
    for index in range(frames):
        frame = padded[index * hop : index * hop + window + max_lag]
        base = frame[:window]
        if np.sqrt(np.mean(base**2)) < 1e-3:
            continue  # silence
        diffs = np.array(
            [np.sum((base - frame[lag : lag + window]) ** 2) for lag in range(1, max_lag + 1)]
        )
        cumulative = np.cumsum(diffs) / np.arange(1, max_lag + 1)
        normalised = diffs / np.maximum(cumulative, 1e-12)
        candidates = np.flatnonzero(normalised[min_lag - 1 :] < threshold)
        if candidates.size == 0:
            continue
        lag = candidates[0] + min_lag - 1
        while lag + 1 < len(normalised) and normalised[lag + 1] < normalised[lag]:
            lag += 1  # walk down to the local minimum
        f0[index] = sample_rate / (lag + 1)
    return f0
