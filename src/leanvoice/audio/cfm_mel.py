"""Log-mel spectrograms of the flow-matching SoVITS versions (v3, v4), in fp32.

As the official `mel_processing.mel_spectrogram_torch` with the settings of
`TextAudioSpeakerLoaderV3/V4` and `inference_webui` (`mel_fn`, `mel_fn_v4`): reflect-pad
(n_fft − hop)/2 on each side, STFT without centring, Hann window, magnitude
sqrt(re² + im² + 1e-8), Slaney mel filterbank (librosa's default), log(clamp(·, 1e-5)).
The CFM works on mels scaled from [-12, 2] to [-1, 1] (`normalize_mel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from leanvoice.audio.spectrogram import mel_filterbank

MAGNITUDE_EPSILON = 1e-8  # inside the sqrt (official mel_processing since v4)
LOG_FLOOR = 1e-5
MEL_MIN, MEL_MAX = -12.0, 2.0  # official spec_min / spec_max of the CFM's mels


@dataclass(frozen=True)
class MelSettings:
    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int = 100
    fmin: float = 0.0
    fmax: float | None = None

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop_length


V3_MEL = MelSettings(sample_rate=24000, n_fft=1024, hop_length=256, win_length=1024)
V4_MEL = MelSettings(sample_rate=32000, n_fft=1280, hop_length=320, win_length=1280)


def cfm_log_mel(wave: torch.Tensor, settings: MelSettings) -> torch.Tensor:
    """wave [B, samples] or [B, 1, samples] at `settings.sample_rate` → [B, n_mels, frames]
    natural-log mel (not normalised); frames = samples // hop."""
    wave = wave.reshape(wave.shape[0], -1).float()
    pad = (settings.n_fft - settings.hop_length) // 2
    wave = F.pad(wave[:, None], (pad, pad), mode="reflect")[:, 0]
    window = torch.hann_window(settings.win_length, device=wave.device)
    spec = torch.stft(
        wave,
        settings.n_fft,
        hop_length=settings.hop_length,
        win_length=settings.win_length,
        window=window,
        center=False,
        return_complex=True,
    )
    magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + MAGNITUDE_EPSILON)
    bank = mel_filterbank(
        settings.sample_rate, settings.n_fft, settings.n_mels, settings.fmin, settings.fmax
    )
    mel = bank.to(magnitude.device) @ magnitude
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))


def normalize_mel(log_mel: torch.Tensor) -> torch.Tensor:
    """[-12, 2] → [-1, 1]: what the CFM is trained on and samples."""
    return (log_mel - MEL_MIN) / (MEL_MAX - MEL_MIN) * 2 - 1


def denormalize_mel(mel: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → natural-log mel, what the vocoder reads."""
    return (mel + 1) / 2 * (MEL_MAX - MEL_MIN) + MEL_MIN
