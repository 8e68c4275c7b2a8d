"""SoVITS generator (`SynthesizerTrn`): semantic codes + phonemes + reference → 32 kHz.

Training: the style vector comes from the target spectrogram; SSL features are
quantized (the frozen quantizer runs without autograd — the official code builds a
graph for it anyway), encoded with the phonemes into the prior; the posterior encoder
reads the linear spectrogram; the flow maps the posterior sample into the prior's
space; the HiFi-GAN decoder renders a random slice of the latent.

v2Pro and v2ProPlus (`size.sv_dim > 0`) add a speaker-verification embedding to the
style: style = PReLU(ref_enc(spec) + sv_emb(sv)), gin_channels (1024) wide for the
posterior encoder, flows and decoder; the MRTE reads it projected to its own width
(`ge_to512`). The sizes differ only in data (config/sizes/*.yaml: `sovits_versions`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from leanvoice.config.sizes import SOVITS_VERSIONS, SoVITSSize
from leanvoice.models.sovits.decoder import Generator
from leanvoice.models.sovits.quantizer import ResidualVectorQuantizer
from leanvoice.models.sovits.source import HarmonicSource, PitchPredictor
from leanvoice.models.sovits.style import MelStyleEncoder
from leanvoice.models.sovits.text_encoder import TextEncoder
from leanvoice.models.sovits.wavenet import CouplingFlow, PosteriorEncoder

REFERENCE_BINS = 704  # the style encoder reads the lowest 704 linear bins (official v2)


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) → (B, 1, max_len) float mask, 1 at real frames."""
    real = torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
    return real[:, None].float()


class SoVITSGenerator(nn.Module):
    def __init__(
        self,
        size: SoVITSSize,
        *,
        freeze_quantizer: bool = True,
        with_posterior: bool = True,
        f0_conditioning: bool = False,
    ) -> None:
        """`with_posterior=False` builds the inference model: no `enc_q` (as exported).
        `f0_conditioning=True` is an opt-in extension for training from scratch: log-F0
        per frame is embedded and added to the semantic features (not in official files).
        """
        super().__init__()
        if size.version not in SOVITS_VERSIONS or (size.sv_dim > 0) != (size.version != "v2"):
            raise ValueError(
                f"SoVITS version {size.version!r} with sv_dim={size.sv_dim}: v2 has no "
                "speaker-verification input, v2Pro and v2ProPlus need one (load_size sets both)"
            )
        self.size = size
        self.freeze_quantizer = freeze_quantizer
        self.segment_frames = size.segment_samples // size.hop_length
        self.enc_p = TextEncoder(size)
        self.dec = Generator(
            size.inter_channels,
            size.resblock_kernel_sizes,
            size.resblock_dilations,
            size.upsample_rates,
            size.upsample_initial_channel,
            size.upsample_kernel_sizes,
            size.gin_channels,
            HarmonicSource(size.sample_rate, size.hop_length) if size.harmonic_source else None,
            smooth=size.smooth_upsampling,
        )
        self.pitch = (
            PitchPredictor(size.inter_channels, size.gin_channels) if size.harmonic_source else None
        )
        self.enc_q = (
            PosteriorEncoder(
                size.n_fft // 2 + 1,
                size.inter_channels,
                size.hidden_channels,
                size.posterior_layers,
                size.gin_channels,
            )
            if with_posterior
            else None
        )
        self.flow = CouplingFlow(
            size.inter_channels, size.hidden_channels, size.flow_count, size.gin_channels
        )
        self.ref_enc = MelStyleEncoder(REFERENCE_BINS, size.gin_channels, size.style_hidden)
        self.ssl_proj = nn.Conv1d(size.ssl_dim, size.ssl_dim, 2, stride=2)  # 50 Hz → 25 Hz
        self.quantizer = ResidualVectorQuantizer(size.ssl_dim, size.codebook_size)
        if size.sv_dim > 0:  # v2Pro, v2ProPlus (official names and order)
            self.sv_emb = nn.Linear(size.sv_dim, size.gin_channels)
            self.ge_to512 = nn.Linear(size.gin_channels, size.mrte_width)
            self.prelu = nn.PReLU(size.gin_channels)
        else:
            self.sv_emb = self.ge_to512 = self.prelu = None
        self.f0_embedding = nn.Conv1d(1, size.hidden_channels, 1) if f0_conditioning else None
        if freeze_quantizer:  # official: the codes must stay those the GPT was trained on
            self.ssl_proj.requires_grad_(False)
            self.quantizer.requires_grad_(False)

    @property
    def official_compatible(self) -> bool:
        return self.f0_embedding is None

    def _f0_term(self, f0: torch.Tensor | None, frames: int) -> torch.Tensor | None:
        """f0 [B, 1, T] in Hz (0 = unvoiced) → [B, hidden, frames], or None when off."""
        if self.f0_embedding is None:
            return None
        if f0 is None:
            raise ValueError("this SoVITS has F0 conditioning: pass f0 [B, 1, frames] in Hz")
        return self.f0_embedding(torch.log1p(_fit_length(f0.float(), frames)) / 7.0)

    # -- named groups: what memory/ (freeze, LoRA, checkpointing, offload, compile) targets
    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """Group → the modules whose parameters it holds; each parameter is in one group.
        A part this model lacks leaves its group empty (`speaker` on v2, `posterior` without
        `enc_q`, `f0` without the F0 extensions), so a config fits every version."""

        def present(*names: str) -> tuple[str, ...]:
            return tuple(name for name in names if getattr(self, name) is not None)

        return {
            "text_encoder": ("enc_p",),
            "posterior": present("enc_q"),
            "flow": ("flow",),
            "decoder": ("dec",),
            "style": ("ref_enc",),
            "quantizer": ("ssl_proj", "quantizer"),
            "speaker": present("sv_emb", "prelu", "ge_to512"),  # v2Pro/v2ProPlus
            "f0": present("f0_embedding", "pitch"),  # extensions: F0 input, harmonic source
        }

    def block_names(self) -> dict[str, list[str]]:
        """Group → its repeatable blocks (checkpointing, offload and compile wrap these):
        the text encoder's three attention encoders, the posterior's WaveNet, each
        coupling layer's WaveNet, the decoder's residual blocks."""
        encoders = ("encoder_ssl", "encoder_text", "encoder2")
        return {
            "text_encoder": [f"enc_p.{name}" for name in encoders],
            "posterior": ["enc_q.enc"] if self.enc_q is not None else [],
            "flow": [f"flow.flows.{i}.enc" for i in range(0, len(self.flow.flows), 2)],
            "decoder": [f"dec.resblocks.{i}" for i in range(len(self.dec.resblocks))],
        }

    def lora_targets(self) -> dict[str, tuple[str, ...]]:
        """Group → the last names of its modules that get LoRA adapters: the text
        encoder's attention and FFN convolutions (the MRTE's attention included)."""
        return {"text_encoder": ("conv_q", "conv_k", "conv_v", "conv_o", "conv_1", "conv_2")}

    # -- pieces ---------------------------------------------------------------------------
    def style(
        self, spec: torch.Tensor, mask: torch.Tensor, sv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The reference's style vector (B, gin, 1); a Pro model adds its speaker
        embedding `sv` (B, sv_dim) and applies PReLU (the official `ge`)."""
        style = self.ref_enc(spec[:, :REFERENCE_BINS] * mask, mask)
        if self.sv_emb is None:
            if sv is not None:
                raise ValueError(
                    f"this SoVITS is {self.size.version}: it takes no speaker-verification "
                    "embedding (only v2Pro and v2ProPlus do)"
                )
            return style
        if sv is None:
            raise ValueError(
                f"this SoVITS is {self.size.version}: pass its speaker-verification "
                f"embedding, shape (B, {self.size.sv_dim})"
            )
        return self.prelu(style + self.sv_emb(sv.to(style.dtype)).unsqueeze(-1))

    def mrte_style(self, style: torch.Tensor) -> torch.Tensor:
        """The style as the text encoder's MRTE reads it: Pro projects it to the MRTE's
        width (`ge_to512`), v2 uses it as it is."""
        if self.ge_to512 is None:
            return style
        return self.ge_to512(style.transpose(1, 2)).transpose(1, 2)  # (B, mrte_width, 1)

    def quantize(self, ssl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SSL [B, 768, T] → (quantized at 25 Hz, codes [1, B, T/2], commitment loss)."""
        if self.freeze_quantizer:
            self.ssl_proj.eval()
            self.quantizer.eval()
            with torch.no_grad():
                return self.quantizer(self.ssl_proj(ssl.float()))
        return self.quantizer(self.ssl_proj(ssl.float()))

    def encode_semantic(self, ssl_features: torch.Tensor) -> torch.Tensor:
        """SSL features [B, 768, T] at 50 Hz → semantic codes [B, T // 2] at 25 Hz."""
        was_training = self.quantizer.training
        self.quantizer.eval()
        with torch.no_grad():
            _, codes, _ = self.quantizer(self.ssl_proj(ssl_features.float()))
        self.quantizer.train(was_training)
        return codes[0]

    @torch.no_grad()
    def init_codebook(self, ssl_features: list[torch.Tensor], clusters: int | None = None) -> None:
        """k-means the codebook on projected SSL frames (what the first training batch of
        an uninitialised quantizer does), e.g. for a fresh tiny model; `clusters`: how
        many distinct codes (default: all)."""
        frames = [self.ssl_proj(f[None].float())[0].transpose(0, 1) for f in ssl_features]
        self.quantizer.vq.layers[0]._codebook.kmeans_init(torch.cat(frames), clusters)

    # -- training -------------------------------------------------------------------------
    def forward(
        self,
        ssl: torch.Tensor,  # (B, 768, T_ssl) at 50 Hz
        spec: torch.Tensor,  # (B, n_fft/2+1, T) linear spectrogram at 50 Hz
        spec_lens: torch.Tensor,  # (B,)
        phoneme_ids: torch.Tensor,  # (B, T_text)
        phoneme_lens: torch.Tensor,  # (B,)
        generator: torch.Generator | None = None,
        f0: torch.Tensor | None = None,  # (B, 1, T) Hz: F0 conditioning, harmonic source
        sv: torch.Tensor | None = None,  # (B, sv_dim) speaker embedding: v2Pro/v2ProPlus
    ) -> dict[str, torch.Tensor]:
        frames = spec.shape[2]
        mask = lengths_to_mask(spec_lens, frames)
        style = self.style(spec, mask, sv)
        quantized, _, commit_loss = self.quantize(ssl)
        features = F.interpolate(quantized, scale_factor=2.0, mode="nearest")  # back to 50 Hz
        features = _fit_length(features, frames)
        phoneme_mask = lengths_to_mask(phoneme_lens, phoneme_ids.shape[1])
        m_p, logs_p, _ = self.enc_p(
            features,
            mask,
            phoneme_ids,
            phoneme_mask,
            self.mrte_style(style),
            extra=self._f0_term(f0, frames),
        )
        if self.enc_q is None:
            raise RuntimeError("built with with_posterior=False: inference only")
        z, m_q, logs_q = self.enc_q(spec, mask, style)
        z_p = self.flow(z, mask, style)
        starts = random_slice_starts(spec_lens, self.segment_frames, generator)
        pitch, f0_slice = None, None
        if self.pitch is not None:  # the clip's F0 drives the source, else the predicted
            pitch = self.pitch(z.detach(), style.detach())
            track = PitchPredictor.to_hz(pitch.detach()) if f0 is None else f0.float()
            f0_slice = slice_frames(_fit_length(track, frames), starts, self.segment_frames)
        segment = slice_frames(z, starts, self.segment_frames)
        wave = self.dec(segment, style, f0_slice, generator)
        return {
            "wave": wave,
            "pitch": pitch,  # (B, 2, frames) log-F0 and voicing, with a harmonic source
            "slice_starts": starts,
            "commit_loss": commit_loss,
            "mask": mask,
            "z_p": z_p,
            "m_p": m_p,
            "logs_p": logs_p,
            "m_q": m_q,
            "logs_q": logs_q,
        }

    @torch.no_grad()
    def reconstruct(
        self,
        spec: torch.Tensor,  # (B, n_fft/2+1, T) linear spectrogram at 50 Hz
        spec_lens: torch.Tensor,  # (B,)
        f0: torch.Tensor | None = None,  # (B, 1, T) Hz, for a harmonic source
        sv: torch.Tensor | None = None,  # (B, sv_dim): v2Pro/v2ProPlus
    ) -> torch.Tensor:
        """The clips' audio [B, 1, samples] decoded whole from their posterior means (no
        sampling, no prior): what held-out evaluation compares with the real clips."""
        frames = spec.shape[2]
        mask = lengths_to_mask(spec_lens, frames)
        style = self.style(spec, mask, sv)
        if self.enc_q is None:
            raise RuntimeError("built with with_posterior=False: inference only")
        _, m_q, _ = self.enc_q(spec, mask, style)
        z = m_q * mask
        source_f0 = None
        if self.pitch is not None:  # the clip's F0 drives the source, else the predicted
            track = PitchPredictor.to_hz(self.pitch(z, style)) if f0 is None else f0.float()
            source_f0 = _fit_length(track, frames) * mask
        return self.dec(z, style, source_f0)

    # -- inference ------------------------------------------------------------------------
    @torch.no_grad()
    def decode(
        self,
        codes: torch.Tensor,  # (B, T_codes) or official (1, B, T_codes)
        phoneme_ids: torch.Tensor,  # (B, T_text)
        reference_spectrogram: torch.Tensor | Sequence[torch.Tensor],  # (B, n_fft/2+1, T_ref)
        noise_scale: float = 0.0,
        speed: float = 1.0,
        generator: torch.Generator | None = None,
        f0: torch.Tensor | None = None,
        sv_emb: torch.Tensor | Sequence[torch.Tensor] | None = None,  # (B, sv_dim): Pro
    ) -> torch.Tensor:
        """→ waveform [B, 1, samples] at 32 kHz (1280 samples per code at speed 1).
        Several references (a list, with a list of as many `sv_emb` for Pro): their
        style vectors are averaged, as the official decode does."""
        if codes.dim() == 2:
            codes = codes[None]
        batch = codes.shape[1]
        style = self.reference_style(reference_spectrogram, sv_emb, batch)
        features = F.interpolate(self.quantizer.decode(codes), scale_factor=2.0, mode="nearest")
        mask = torch.ones(batch, 1, features.shape[2], device=codes.device)
        phoneme_mask = torch.ones(batch, 1, phoneme_ids.shape[1], device=codes.device)
        extra = self._f0_term(f0, features.shape[2])
        m_p, logs_p, mask = self.enc_p(
            features, mask, phoneme_ids, phoneme_mask, self.mrte_style(style), speed, extra=extra
        )
        noise = torch.randn(m_p.shape, generator=generator, device=m_p.device, dtype=m_p.dtype)
        z_p = m_p + noise * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, mask, style, reverse=True)
        source_f0 = None
        if self.pitch is not None:  # the predicted pitch drives the harmonic source
            source_f0 = PitchPredictor.to_hz(self.pitch(z, style)) * mask
        return self.dec(z * mask, style, source_f0, generator)

    def reference_style(
        self,
        references: torch.Tensor | Sequence[torch.Tensor],
        sv_emb: torch.Tensor | Sequence[torch.Tensor] | None = None,
        batch: int = 1,
    ) -> torch.Tensor:
        """The style (batch, gin, 1) of one whole reference spectrogram, or the mean over
        a list of them (each with its own speaker embedding for Pro)."""
        if isinstance(references, torch.Tensor):
            references, embeddings = [references], [sv_emb]
        elif sv_emb is None or isinstance(sv_emb, torch.Tensor):
            if sv_emb is not None:
                raise ValueError("several references take a list of sv_emb, one per reference")
            embeddings = [None] * len(references)
        else:
            embeddings = list(sv_emb)
        if len(embeddings) != len(references):
            raise ValueError(f"{len(references)} references but {len(embeddings)} sv_emb")
        styles = []
        for spec, sv in zip(references, embeddings, strict=True):
            mask = torch.ones(batch, 1, spec.shape[2], device=spec.device)
            styles.append(self.style(spec, mask, sv))
        return styles[0] if len(styles) == 1 else torch.stack(styles).mean(0)


def _fit_length(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Crop, or repeat the last frame, so the features match the spectrogram length."""
    if x.shape[2] >= frames:
        return x[:, :, :frames]
    return F.pad(x, (0, frames - x.shape[2]), mode="replicate")


def random_slice_starts(
    lengths: torch.Tensor, segment: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Start frame per sample, uniform over the positions where a full slice fits."""
    room = (lengths - segment + 1).clamp(min=1).float()
    draw = torch.rand(len(lengths), generator=generator).to(lengths.device)
    return (draw * room).long()


def slice_frames(x: torch.Tensor, starts: torch.Tensor, segment: int) -> torch.Tensor:
    """[B, C, T] → [B, C, segment] from each start (zero-padded past the end)."""
    padded = F.pad(x, (0, segment))
    index = starts[:, None] + torch.arange(segment, device=x.device)[None, :]  # (B, seg)
    return padded.gather(2, index[:, None, :].expand(-1, x.shape[1], -1))
