"""How a v3/v4 (flow-matching) SoVITS speaks a sentence, for `Synthesizer`.

As the official WebUI: the reference clip gives the style (its linear spectrogram), the
prompt codes and phonemes (the reference's semantic codes and transcript) and the
prompt mel (v4: 32 kHz / 320; v3: 24 kHz / 256); the CFM continues that mel through the
sentence's codes, in chunks; the vocoder (v3: `BigVGAN`, 24 kHz; v4: `MelVocoder`,
48 kHz) makes the wave, scaled down if it would clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from leanvoice.audio.cfm_mel import cfm_log_mel, denormalize_mel, normalize_mel
from leanvoice.audio.io import Audio, resample
from leanvoice.audio.spectrogram import linear_spectrogram
from leanvoice.errors import InputError
from leanvoice.models.cfm import BigVGAN, CFMSoVITS, MelVocoder

SPECTROGRAM = (2048, 640, 2048)  # the style encoder's v2 linear spectrogram (n_fft, hop, win)
INPUT_RATE = 32000  # the reference and the SSL features, as for v2
MAX_GUIDANCE = 2.0  # the official v5 sampler's bound (v5_inference.validate_v5_sampling)
# what each version speaks through (official pretrained_models/)
OFFICIAL_VOCODERS = {
    "v3": "models--nvidia--bigvgan_v2_24khz_100band_256x",
    "v4": "gsv-v4-pretrained/vocoder.pth",
    "v5dev": "gsv-v5-pretrained/vocoder.pth",  # v4's vocoder class, its own weights
    "v5turbo": "gsv-v5-pretrained/vocoder.pth",
}


def check_sampler_options(steps: int, guidance: float | None) -> None:
    """A one-line refusal of steps or guidance the sampler cannot take."""
    if steps < 0:
        raise InputError(f"flow steps {steps}: give 1 or more (0: the version's default)")
    if guidance is not None and not 0 <= guidance <= MAX_GUIDANCE:
        raise InputError(f"guidance {guidance}: give a value from 0 to {MAX_GUIDANCE:g}")


@dataclass
class Reference:
    spectrogram: torch.Tensor  # (1, 1025, T)
    mel: torch.Tensor  # (1, 100, T_mel) normalised
    codes: torch.Tensor  # (1, T_codes)
    phoneme_ids: torch.Tensor  # (1, T_text)


class CFMVoice:
    def __init__(
        self, model: CFMSoVITS, vocoder: MelVocoder | BigVGAN, device: torch.device
    ) -> None:
        settings = model.size.settings
        vocoder_frame_hz = vocoder.size.sample_rate / vocoder.samples_per_frame
        if (
            vocoder.size.mel_bins != model.size.mel_bins
            or vocoder_frame_hz != settings.mel.frame_rate_hz
            or vocoder.size.sample_rate != settings.vocoder_sample_rate
        ):
            raise InputError(
                f"a {settings.name} SoVITS makes {model.size.mel_bins} mel bins at "
                f"{settings.mel.frame_rate_hz:g} Hz, for a {settings.vocoder_sample_rate // 1000}"
                f" kHz vocoder; this vocoder reads {vocoder.size.mel_bins} at "
                f"{vocoder_frame_hz:g} Hz and makes {vocoder.size.sample_rate / 1000:g} kHz: "
                f"use {OFFICIAL_VOCODERS[settings.name]}"
            )
        self.model = model.to(device).eval()
        self.vocoder = vocoder.to(device).eval()
        self.device = device
        self.output_rate = vocoder.size.sample_rate

    @torch.no_grad()
    def reference(self, samples: np.ndarray, codes: torch.Tensor, ids: list[int]) -> Reference:
        """`samples` at 32 kHz; `codes` (1, T) the reference's semantic codes."""
        wave = torch.from_numpy(samples)[None].to(self.device)
        spectrogram = linear_spectrogram(wave, *SPECTROGRAM)
        mel_settings = self.model.size.settings.mel
        if mel_settings.sample_rate != INPUT_RATE:
            audio = resample(Audio(samples, INPUT_RATE), mel_settings.sample_rate)
            wave = torch.from_numpy(np.asarray(audio.samples, np.float32))[None].to(self.device)
        mel = normalize_mel(cfm_log_mel(wave, mel_settings))
        return Reference(spectrogram, mel, codes, torch.tensor([ids], device=self.device))

    @torch.no_grad()
    def speak(
        self,
        reference: Reference,
        codes: torch.Tensor,
        ids: list[int],
        *,
        speed: float,
        generator: torch.Generator,
        steps: int = 0,
        guidance: float | None = None,
    ) -> np.ndarray:
        """The sentence's codes (1, T) and phonemes → mono float32 at `output_rate`;
        `steps` 0 and `guidance` None are the version's defaults (checked by the caller:
        `check_sampler_options`)."""
        mel = self.model.decode(
            codes,
            torch.tensor([ids], device=self.device),
            reference.codes,
            reference.phoneme_ids,
            reference.spectrogram,
            reference.mel,
            speed=speed,
            steps=steps,
            cfg_rate=guidance,
            generator=generator,
        )
        wave = self.vocoder(denormalize_mel(mel)).reshape(-1).float()
        peak = float(wave.abs().max())
        return (wave / peak if peak > 1 else wave).cpu().numpy()  # official: no clipping
