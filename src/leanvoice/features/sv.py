"""Speaker-verification embedding of the official v2Pro/v2ProPlus SoVITS.

As the official `2-get-sv.py` and `sv.py`: 32 kHz audio resampled to 16 kHz → an 80-bin
Kaldi fbank (Kaldi's defaults, dither 0, no mean normalisation) → ERes2NetV2's
time-averaged fused map, a 20480-d vector per clip (`OFFICIAL_SV.pooled_dim`).

The resampling is torchaudio's method, as the official's, not our audio layer's soxr:
the two filters differ in the top kHz (torchaudio's wider transition attenuates 6.8-7.6
kHz more and passes more near 8 kHz), which moves the top mel bins' log by up to 1.6 and
the embedding's deviation from the clips' mean by ~2e-3 in cosine (random weights); with
`sinc_resample` the difference is float32 rounding.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from leanvoice.compat.safe_load import read_checkpoint
from leanvoice.errors import AudioError, InputError
from leanvoice.features.eres2net import OFFICIAL_SV, TINY_SV, ERes2NetV2, ERes2NetV2Config

__all__ = [
    "KNOWN_CONFIGS",
    "OFFICIAL_SV_DIM",
    "SV_SAMPLE_RATE",
    "SpeakerEmbedder",
    "kaldi_fbank",
    "sinc_resample",
]

SV_SAMPLE_RATE = 16000
SOVITS_SAMPLE_RATE = 32000  # the official brings any reference to this rate first
SINC_ZERO_CROSSINGS = 6  # torchaudio `Resample` defaults, which the official uses
SINC_ROLLOFF = 0.99
# Kaldi `compute-fbank-feats` defaults, as the official call relies on them
# (`Kaldi.fbank(wav, num_mel_bins=80, sample_frequency=16000, dither=0)`).
FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
PREEMPHASIS = 0.97
LOW_FREQ_HZ = 20.0
HIGH_FREQ_HZ = 0.0  # <= 0: offset from Nyquist
KNOWN_CONFIGS = {"official": OFFICIAL_SV, "tiny": TINY_SV}
OFFICIAL_SV_DIM = OFFICIAL_SV.pooled_dim  # 20480, the width of the official `7-sv_cn/` files


def sinc_resample(samples: np.ndarray, orig_hz: int, new_hz: int) -> np.ndarray:
    """Band-limited resampling with a Hann-windowed sinc (6 zero crossings, cutoff 0.99 ×
    the lower Nyquist), output sample k of each period from its own polyphase filter:
    torchaudio's `Resample` method and defaults, to float32 rounding."""
    if orig_hz == new_hz:
        return np.asarray(samples, dtype=np.float32)
    step = math.gcd(orig_hz, new_hz)
    orig, new = orig_hz // step, new_hz // step  # one period: `orig` in, `new` out
    cutoff = min(orig, new) * SINC_ROLLOFF
    half_width = math.ceil(SINC_ZERO_CROSSINGS * orig / cutoff)  # input samples each side
    # (new, taps): time of each tap from output phase k, in cycles of the cutoff
    t = np.arange(-half_width, half_width + orig) / orig - np.arange(new)[:, None] / new
    t = np.clip(t * cutoff, -SINC_ZERO_CROSSINGS, SINC_ZERO_CROSSINGS)
    hann = np.cos(t * np.pi / SINC_ZERO_CROSSINGS / 2) ** 2
    filters = (np.sinc(t) * hann * cutoff / orig).astype(np.float32)
    padded = np.pad(np.asarray(samples, dtype=np.float32), (half_width, half_width + orig))
    periods = sliding_window_view(padded, filters.shape[1])[::orig]  # (periods, taps)
    out = (periods @ filters.T).reshape(-1)  # (periods · new,)
    return out[: math.ceil(new * len(samples) / orig)]


def kaldi_fbank(wave_16k: np.ndarray, num_mel_bins: int = 80) -> np.ndarray:
    """Log-mel filterbank (frames, num_mel_bins) fp32, Kaldi's definition: 25 ms povey
    frames every 10 ms (whole frames only), DC removed, pre-emphasis 0.97, FFT of 512,
    power spectrum, Kaldi mel banks from 20 Hz to Nyquist, log floored at float epsilon.
    Samples are used as given (the official passes [-1, 1] floats, not int16 scale)."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SV_SAMPLE_RATE
    opts.frame_opts.frame_length_ms = FRAME_LENGTH_MS
    opts.frame_opts.frame_shift_ms = FRAME_SHIFT_MS
    opts.frame_opts.dither = 0.0
    opts.frame_opts.preemph_coeff = PREEMPHASIS
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.round_to_power_of_two = True
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = num_mel_bins
    opts.mel_opts.low_freq = LOW_FREQ_HZ
    opts.mel_opts.high_freq = HIGH_FREQ_HZ
    opts.mel_opts.is_librosa = False
    opts.use_energy = False
    opts.use_log_fbank = True
    opts.use_power = True
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(SV_SAMPLE_RATE, np.asarray(wave_16k, dtype=np.float32).tolist())
    fbank.input_finished()
    frames = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
    return np.asarray(frames, dtype=np.float32).reshape(len(frames), num_mel_bins)


class SpeakerEmbedder:
    """ERes2NetV2 loaded from a plain state dict: the official
    `pretrained_eres2netv2w24s4ep4.ckpt` (20480-d) or our tiny one (64-d); which of the
    `KNOWN_CONFIGS` it is, is told by its keys and shapes, unless `config` is given."""

    def __init__(
        self, path: Path, device: str = "cpu", *, config: ERes2NetV2Config | None = None
    ) -> None:
        path = Path(path)
        state, _ = read_checkpoint(path)
        if not all(isinstance(value, torch.Tensor) for value in state.values()):
            raise InputError(f"{path}: not a plain state dict (ERes2NetV2 weights expected)")
        config = config or _config_matching(state, path)
        with torch.device("meta"):  # no random init: every tensor comes from the file
            model = ERes2NetV2(config)
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise InputError(
                f"{path}: does not fit ERes2NetV2 {config} ({_first_problem(exc)})"
            ) from None
        self.model = model.float().eval().to(device)
        self.config = config
        self.device = device

    @property
    def dim(self) -> int:
        return self.config.pooled_dim

    @torch.no_grad()
    def extract(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono audio → the embedding (dim,) fp32. Audio not at 32 kHz is first brought
        there, as the official does with a reference (our prepared clips are 32 kHz)."""
        wave = sinc_resample(samples, sample_rate, SOVITS_SAMPLE_RATE)
        wave = sinc_resample(wave, SOVITS_SAMPLE_RATE, SV_SAMPLE_RATE)
        fbank = kaldi_fbank(wave, self.config.feat_dim)
        if len(fbank) == 0:
            raise AudioError(
                f"audio of {len(samples) / sample_rate * 1000:.1f} ms is too short for the "
                f"speaker embedding (at least {FRAME_LENGTH_MS:g} ms)"
            )
        return self.embed_fbanks(torch.from_numpy(fbank)[None])[0].cpu().numpy()

    @torch.no_grad()
    def embed_fbanks(self, fbanks: torch.Tensor) -> torch.Tensor:
        """(B, frames, bins) → (B, dim), on the model's device. Clips of one length only:
        padding would enter the convolutions and the time average (the official batches
        its references the same way)."""
        return self.model(fbanks.to(self.device, torch.float32))


def _config_matching(state: dict[str, torch.Tensor], path: Path) -> ERes2NetV2Config:
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    for config in KNOWN_CONFIGS.values():
        with torch.device("meta"):
            expected = ERes2NetV2(config).state_dict()
        if shapes == {key: tuple(value.shape) for key, value in expected.items()}:
            return config
    conv1 = shapes.get("conv1.weight")
    raise InputError(
        f"{path}: not an ERes2NetV2 speaker model of a known size "
        f"({', '.join(KNOWN_CONFIGS)}; its conv1.weight is {conv1}); expected "
        "pretrained_eres2netv2w24s4ep4.ckpt or a tiny one from --tiny-features"
    )


def _first_problem(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[1][:200] if len(lines) > 1 else lines[0][:200]
