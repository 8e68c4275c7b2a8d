"""Reference voice + text → 32 kHz speech through the two stages.

Per the official inference: the reference audio's SSL features give the prompt's
semantic codes (with 0.3 s of silence appended, at 16 kHz); its linear spectrogram
conditions the SoVITS decoder's timbre; the reference transcript's phonemes precede
each target sentence's phonemes so the GPT continues the prompt in the same voice.
Sentences are generated one at a time, faded in and out over 20 ms (no click against
the silence) and joined with 0.3 s of silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanvoice.audio.io import fade_edges, load_audio, peak_db, remove_dc
from leanvoice.audio.pitch import estimate_f0
from leanvoice.audio.spectrogram import linear_spectrogram
from leanvoice.errors import InputError, TextError
from leanvoice.features.bert import BertExtractor
from leanvoice.features.ssl import SSLExtractor
from leanvoice.infer.cfm_voice import INPUT_RATE, CFMVoice, check_sampler_options
from leanvoice.infer.text import phonemes_and_bert, split_sentences
from leanvoice.memory.precision import resolve_precision
from leanvoice.models.cfm import CFMSoVITS
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.gpt.sampling import (
    MAX_CODES_PER_PHONEME,
    MAX_LENGTH,
    MIN_LENGTH,
    SamplingConfig,
    generate,
    length_bounded,
)
from leanvoice.models.sovits import SoVITSGenerator

REFERENCE_SECONDS = (3.0, 10.0)  # the official limits
SILENT_REFERENCE_DB = -50.0  # a reference whose peak is below this holds no voice
PAUSE_SECONDS = 0.3


@dataclass
class SynthesisOptions:
    language: str = "auto"  # of the target text: auto/auto_yue (split by script) or zh/ja/en/ko/yue
    reference_language: str = "auto"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    seed: int = 0
    speed: float = 1.0
    noise_scale: float = 0.5
    # a sentence stops after this many codes per phoneme (+1 s): ~2-6 are normal speech;
    # the cap ends the endless repetition an undertrained GPT can fall into
    max_codes_per_phoneme: float = MAX_CODES_PER_PHONEME
    # length control from the reference's speaking rate (its codes per phoneme): a
    # sentence gets at least `min_length` and at most `max_length` × the codes that rate
    # gives its phonemes (EOS is masked until the minimum); 0 turns a bound off
    min_length: float = MIN_LENGTH
    max_length: float = MAX_LENGTH
    # v3/v4/v5, the flow-matching sampler: Euler steps (0: the version's, v4 8, v3 and
    # v5dev 32, v5turbo 4) and classifier-free guidance (None: the version's, v5dev 1.3,
    # else 0); more steps cost time in proportion, guidance doubles each step's cost
    flow_steps: int = 0
    guidance: float | None = None


class Synthesizer:
    def __init__(
        self,
        gpt: SemanticGPT,
        sovits: SoVITSGenerator,
        ssl: SSLExtractor,
        bert: BertExtractor,
        device: str = "cpu",
        precision: str = "fp32",
        speaker: Any = None,  # features.sv.SpeakerEmbedder: v2Pro/v2ProPlus only
        vocoder: Any = None,  # models.cfm BigVGAN (v3) or MelVocoder (v4)
    ) -> None:
        self.device = torch.device(device)
        self.speaker = speaker
        self.voice = None  # v3/v4: the flow-matching model and its vocoder speak
        if isinstance(sovits, CFMSoVITS):
            if vocoder is None:
                raise InputError(
                    f"a {sovits.size.version} SoVITS speaks through its vocoder: give --vocoder"
                )
            self.voice = CFMVoice(sovits, vocoder, self.device)
        self.gpt = gpt.to(self.device).eval()
        self.sovits = sovits.to(self.device).eval()
        self.ssl, self.bert = ssl, bert
        self.precision = resolve_precision(precision, self.device)
        if ssl.dim != sovits.size.ssl_dim:
            raise InputError(
                f"the SSL model gives {ssl.dim}-d features but the SoVITS model expects "
                f"{sovits.size.ssl_dim}-d: use the matching HuBERT"
            )
        if getattr(sovits.size, "sv_dim", 0) and (
            speaker is None or speaker.dim != sovits.size.sv_dim
        ):
            found = "none" if speaker is None else f"a {speaker.dim}-d one"
            raise InputError(
                f"this {sovits.size.version} SoVITS takes {sovits.size.sv_dim}-d speaker "
                f"embeddings and the speaker model gives {found}: use the matching --sv"
            )
        if bert.dim != gpt.size.bert_dim:
            raise InputError(
                f"the BERT model gives {bert.dim}-d features but the GPT expects "
                f"{gpt.size.bert_dim}-d: use the matching BERT"
            )

    @property
    def sample_rate(self) -> int:
        """Of the audio it makes (v3/v4: its vocoder's, 24/48 kHz)."""
        return self.voice.output_rate if self.voice is not None else self.sovits.size.sample_rate

    @property
    def input_rate(self) -> int:
        """Of the reference as the models read it."""
        return INPUT_RATE if self.voice is not None else self.sovits.size.sample_rate

    @torch.no_grad()
    def synthesize(
        self,
        reference: Path,
        reference_text: str,
        text: str,
        options: SynthesisOptions,
        on_sentence: Callable[[int, int, np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """→ mono float32 samples at `sample_rate`. `on_sentence(done, total, audio so
        far)` is called after each sentence: progress, and audio that can be written
        before a long text ends."""
        if not text.strip():
            raise TextError("the text to speak is empty")
        if not reference_text.strip():
            raise TextError("the reference transcript is empty")
        check_sampler_options(options.flow_steps, options.guidance)
        if self.voice is None and (options.flow_steps or options.guidance is not None):
            raise InputError(
                f"flow steps and guidance set the v3/v4/v5 sampler; this SoVITS is "
                f"{self.sovits.size.version}: leave them out"
            )
        audio = load_audio(Path(reference), self.input_rate)
        low, high = REFERENCE_SECONDS
        if not low <= audio.duration_sec <= high:
            raise InputError(
                f"{reference}: reference audio is {audio.duration_sec:.1f} s; "
                f"use a clip of {low:.0f}-{high:.0f} s"
            )
        if peak_db(audio.samples) < SILENT_REFERENCE_DB:
            raise InputError(
                f"{reference}: the reference audio is silent (peak below "
                f"{SILENT_REFERENCE_DB:.0f} dBFS); use a clip of the voice speaking"
            )
        size = self.sovits.size
        samples = audio.samples.astype(np.float32)
        padded = np.concatenate(
            [samples, np.zeros(int(PAUSE_SECONDS * self.input_rate), dtype=np.float32)]
        )
        ssl = torch.from_numpy(self.ssl.extract(padded, self.input_rate))[None].to(self.device)
        prompt = self.sovits.encode_semantic(ssl)  # (1, T/2)
        ref_ids, ref_bert, ref_languages = phonemes_and_bert(
            reference_text, options.reference_language, self.bert
        )
        if self.voice is not None:  # v4: the reference as the flow-matching model reads it,
            # prompted by the GPT's prompt codes, as the official decode_encp(prompt, …)
            voice_reference = self.voice.reference(samples, prompt, ref_ids)
        else:
            wave = torch.from_numpy(samples)[None].to(self.device)
            spec = linear_spectrogram(wave, size.n_fft, size.hop_length, size.win_length)
        has_f0 = getattr(self.sovits, "f0_embedding", None) is not None
        f0 = self._reference_pitch(samples) if has_f0 else None
        sv_emb = None  # v2Pro/v2ProPlus: the reference's speaker embedding
        if getattr(size, "sv_dim", 0):
            sv_emb = torch.from_numpy(self.speaker.extract(samples, self.sample_rate))
            sv_emb = sv_emb[None].to(self.device)
        generator = torch.Generator(device=self.device).manual_seed(options.seed)
        pieces = []
        pause = np.zeros(int(PAUSE_SECONDS * self.sample_rate), dtype=np.float32)
        sentences = split_sentences(text)
        for number, sentence in enumerate(sentences, start=1):
            ids, bert, languages = phonemes_and_bert(sentence, options.language, self.bert)
            phonemes = torch.tensor([ref_ids + ids], device=self.device)
            language_ids = None
            if self.gpt.language_embedding is not None:
                language_ids = torch.tensor([ref_languages + languages], device=self.device)
            features = torch.from_numpy(np.concatenate([ref_bert, bert], axis=1))[None]
            sampling = length_bounded(
                options.sampling,
                len(ids),
                prompt.shape[1] / len(ref_ids),
                options.min_length,
                options.max_length,
                options.max_codes_per_phoneme,
            )
            with self.precision.autocast():
                codes = generate(
                    self.gpt,
                    phonemes,
                    torch.tensor([phonemes.shape[1]], device=self.device),
                    features.to(self.device),
                    prompt,
                    sampling,
                    generator=generator,
                    language_ids=language_ids,
                )[0]
            if len(codes) == 0:
                continue
            if self.voice is not None:
                sentence_audio = self.voice.speak(
                    voice_reference,
                    codes[None],
                    ids,
                    speed=options.speed,
                    steps=options.flow_steps,
                    guidance=options.guidance,
                    generator=generator,
                )
                pieces += [fade_edges(remove_dc(sentence_audio), self.sample_rate), pause]
                if on_sentence is not None:
                    on_sentence(number, len(sentences), np.concatenate(pieces[:-1]))
                continue
            decoded = self.sovits.decode(
                codes[None],
                torch.tensor([ids], device=self.device),
                spec,
                noise_scale=options.noise_scale,
                speed=options.speed,
                generator=generator,
                f0=f0,
                sv_emb=sv_emb,
            )
            sentence_audio = decoded.reshape(-1).float().cpu().numpy()
            pieces += [fade_edges(remove_dc(sentence_audio), self.sample_rate), pause]
            if on_sentence is not None:
                on_sentence(number, len(sentences), np.concatenate(pieces[:-1]))
        if not pieces:
            raise TextError("the GPT produced no speech for this text")
        return np.concatenate(pieces[:-1])

    def _reference_pitch(self, samples: np.ndarray) -> torch.Tensor:
        """For a SoVITS with F0 conditioning: the target text has no pitch track of its
        own, so it speaks at the reference's level (a flat contour at its median voiced
        F0, stretched to any length)."""
        track = estimate_f0(samples, self.sample_rate, self.sovits.size.hop_length)
        voiced = track[track > 0]
        level = float(np.median(voiced)) if voiced.size else 0.0
        return torch.full((1, 1, 1), level, device=self.device)
