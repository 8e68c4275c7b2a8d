"""Is a synthesized utterance speech-like? Measures on the audio itself, for the demo's
report and the web UI: duration against what the text should take, level and share of
voiced 20 ms frames (a YIN-style periodicity test), DC offset, clicks at the edges, and
which known speaker it sounds closest to (cosine of centred mean log-mel vectors: crude,
offline, enough to tell two voices apart).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch

from leanvoice.audio.pitch import voiced_frames
from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel, mel_filterbank

FRAME_SECONDS = 0.02
EDGE_SECONDS = 0.005
SILENT_DB = -120.0  # what an all-zero signal reports as its level


@dataclass
class Quality:
    duration_sec: float
    expected_sec: float | None
    duration_ratio: float | None  # duration / expected
    voiced_rms_dbfs: float  # level of the voiced frames (all frames when none is voiced)
    voiced_fraction: float  # share of 20 ms frames with a pitch
    dc_offset: float
    edge_peak: float  # largest |sample| within 5 ms of either end
    similarity: dict[str, float]  # speaker → cosine of mean log-mel vectors

    def as_dict(self) -> dict:
        return asdict(self)

    def closest_speaker(self) -> str | None:
        return max(self.similarity, key=self.similarity.get) if self.similarity else None


def mel_signature(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean log-mel vector (128 bands) of a signal, centred (its own mean removed, so
    loudness does not count): a rough fingerprint of a voice's spectral envelope."""
    n_fft, hop = 2048, 640
    wave = torch.from_numpy(np.asarray(samples, dtype=np.float32))[None]
    if wave.shape[-1] < n_fft:
        wave = torch.nn.functional.pad(wave, (0, n_fft - wave.shape[-1]))
    spec = linear_spectrogram(wave, n_fft, hop, n_fft)
    mel = linear_to_log_mel(spec, mel_filterbank(sample_rate, n_fft, 128))
    signature = mel[0].mean(dim=-1).numpy()
    return signature - signature.mean()


def measure(
    samples: np.ndarray,
    sample_rate: int,
    *,
    expected_sec: float | None = None,
    speakers: Mapping[str, np.ndarray] | None = None,
) -> Quality:
    """`speakers`: name → `mel_signature` of that speaker's audio."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    duration = len(samples) / sample_rate
    hop = int(FRAME_SECONDS * sample_rate)
    voiced = voiced_frames(samples, sample_rate, hop)
    frames = (
        samples[: len(voiced) * hop].reshape(len(voiced), hop) if len(voiced) else samples[None]
    )
    chosen = frames[voiced] if voiced.any() else frames
    rms = float(np.sqrt(np.mean(chosen.astype(np.float64) ** 2))) if chosen.size else 0.0
    edge = max(1, int(EDGE_SECONDS * sample_rate))
    similarity = {}
    if speakers:
        mine = mel_signature(samples, sample_rate)
        for name, signature in speakers.items():
            denominator = np.linalg.norm(mine) * np.linalg.norm(signature)
            similarity[name] = float(mine @ signature / denominator) if denominator else 0.0
    return Quality(
        duration_sec=duration,
        expected_sec=expected_sec,
        duration_ratio=duration / expected_sec if expected_sec else None,
        voiced_rms_dbfs=20 * np.log10(rms) if rms > 0 else SILENT_DB,
        voiced_fraction=float(voiced.mean()) if len(voiced) else 0.0,
        dc_offset=float(samples.mean()) if samples.size else 0.0,
        edge_peak=float(max(np.abs(samples[:edge]).max(), np.abs(samples[-edge:]).max()))
        if samples.size
        else 0.0,
        similarity=similarity,
    )


def speech_like(quality: Quality) -> list[str]:
    """What keeps an utterance from counting as speech (empty: it does), by the demo's
    thresholds."""
    problems = []
    if quality.duration_ratio is not None and not 0.5 <= quality.duration_ratio <= 2.0:
        problems.append(f"duration {quality.duration_ratio:.2f}× the expected")
    if quality.voiced_rms_dbfs < -35:
        problems.append(f"voiced frames at {quality.voiced_rms_dbfs:.1f} dBFS (< -35)")
    if quality.voiced_fraction < 0.4:
        problems.append(f"{100 * quality.voiced_fraction:.0f} % of frames voiced (< 40 %)")
    if abs(quality.dc_offset) >= 0.005:
        problems.append(f"DC offset {quality.dc_offset:+.4f}")
    if quality.edge_peak > 0.2:
        problems.append(f"a click at an edge ({quality.edge_peak:.2f})")
    return problems
