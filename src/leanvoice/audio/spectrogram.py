"""Linear and mel spectrograms, always computed in fp32 (precision-sensitive).

Frames as the official mel_processing: reflect-pad (n_fft − hop)/2 on each side, STFT
without centring, Hann window, magnitude sqrt(re² + im² + 1e-6); mel = Slaney-style
filterbank (librosa's default) then log(clamp(·, 1e-5)).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def linear_spectrogram(wave: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """wave [B, samples] or [B, 1, samples] → magnitude [B, n_fft/2 + 1, frames]."""
    wave = wave.reshape(wave.shape[0], -1).float()
    pad = (n_fft - hop) // 2
    wave = F.pad(wave[:, None], (pad, pad), mode="reflect")[:, 0]
    window = torch.hann_window(win, device=wave.device)
    spec = torch.stft(
        wave,
        n_fft,
        hop_length=hop,
        win_length=win,
        window=window,
        center=False,
        return_complex=True,
    )
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-6)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_region = hz >= 1000.0
    return np.where(
        log_region, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), mel
    )


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), hz)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """[n_mels, n_fft/2 + 1] triangular filters, area-normalised (Slaney)."""
    fmax = fmax or sample_rate / 2
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def linear_to_log_mel(spec: torch.Tensor, filterbank: torch.Tensor) -> torch.Tensor:
    mel = filterbank.to(spec.device) @ spec.float()
    return torch.log(torch.clamp(mel, min=1e-5))
