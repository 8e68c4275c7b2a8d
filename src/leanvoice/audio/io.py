"""Decode any soundfile-readable file to mono float32, resample (soxr), normalise, write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from leanvoice.audio.wav_header import wav_truncation
from leanvoice.errors import AudioError
from leanvoice.fsutil import atomic_write


@dataclass
class Audio:
    samples: np.ndarray  # (n,) float32 in [-1, 1], mono
    sample_rate: int
    source_channels: int = 1
    source_rate: int = 0

    @property
    def duration_sec(self) -> float:
        return len(self.samples) / self.sample_rate


def load_audio(path: Path, sample_rate: int | None = None) -> Audio:
    """Read `path`, average channels to mono and resample to `sample_rate` when given."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    cut = wav_truncation(path)
    if cut is not None:
        declared, present = cut
        raise AudioError(
            f"{path}: truncated: the WAV header declares {declared:.2f} s of audio but the "
            f"file holds {present:.2f} s"
        )
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot decode audio ({_first_line(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file has no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    mono = data.mean(axis=1).astype(np.float32)
    audio = Audio(mono, int(rate), source_channels=data.shape[1], source_rate=int(rate))
    return resample(audio, sample_rate) if sample_rate else audio


def resample(audio: Audio, sample_rate: int) -> Audio:
    if audio.sample_rate == sample_rate:
        return audio
    out = soxr.resample(audio.samples, audio.sample_rate, sample_rate, quality="HQ")
    return Audio(
        np.ascontiguousarray(out, dtype=np.float32),
        sample_rate,
        source_channels=audio.source_channels,
        source_rate=audio.source_rate,
    )


def peak_db(samples: np.ndarray) -> float:
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return 20.0 * np.log10(max(peak, 1e-10))


def frame_rms_db(samples: np.ndarray, hop: int, win: int) -> np.ndarray:
    """RMS level (dBFS) of frames centred every `hop` samples, window `win`."""
    padded = np.pad(samples, (win // 2, win // 2))
    count = len(samples) // hop + 1
    starts = np.arange(count) * hop
    csum = np.concatenate([[0.0], np.cumsum(padded.astype(np.float64) ** 2)])
    ends = np.minimum(starts + win, len(padded))
    energy = (csum[ends] - csum[starts]) / np.maximum(ends - starts, 1)
    return 10.0 * np.log10(np.maximum(energy, 1e-20))


def normalize_loudness(
    samples: np.ndarray, sample_rate: int, target_rms_db: float, peak_limit: float
) -> np.ndarray:
    """Scale so speech frames (within 30 dB of the loudest) sit at `target_rms_db`.

    The gain is capped so no sample exceeds `peak_limit`: loud clips get quieter,
    quiet ones louder, and nothing clips.
    """
    hop = sample_rate // 100
    levels = frame_rms_db(samples, hop, 2 * hop)
    speech = levels[levels > levels.max() - 30.0]
    speech_rms_db = 10.0 * np.log10(np.mean(10.0 ** (speech / 10.0)))
    gain = 10.0 ** ((target_rms_db - speech_rms_db) / 20.0)
    peak = float(np.max(np.abs(samples)))
    if peak * gain > peak_limit:
        gain = peak_limit / peak
    return (samples * gain).astype(np.float32)


def remove_dc(samples: np.ndarray) -> np.ndarray:
    """The signal less its mean: a decoder's constant offset is inaudible, but it wastes
    headroom and steps at every join with silence (small decoders leave ~0.01)."""
    if not len(samples):
        return samples
    return (samples - samples.mean(dtype=np.float64)).astype(np.float32)


def fade_edges(samples: np.ndarray, sample_rate: int, seconds: float = 0.02) -> np.ndarray:
    """Raised-cosine fade-in and fade-out: a waveform that starts or stops away from zero
    clicks against the silence it is joined to (sentence pauses, the file's ends)."""
    length = min(int(seconds * sample_rate), len(samples) // 2)
    if length < 2:
        return samples
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, length, dtype=np.float32))
    faded = samples.astype(np.float32, copy=True)
    faded[:length] *= ramp
    faded[-length:] *= ramp[::-1]
    return faded


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM WAV, written atomically."""
    clipped = np.clip(samples, -1.0, 1.0)
    atomic_write(
        Path(path),
        lambda tmp: sf.write(str(tmp), clipped, sample_rate, subtype="PCM_16", format="WAV"),
    )


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit WAV, or FLAC when the name ends in .flac; written atomically."""
    path = Path(path)
    if path.suffix.lower() != ".flac":
        write_wav(path, samples, sample_rate)
        return
    clipped = np.clip(samples, -1.0, 1.0)
    atomic_write(
        path, lambda tmp: sf.write(str(tmp), clipped, sample_rate, subtype="PCM_16", format="FLAC")
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
