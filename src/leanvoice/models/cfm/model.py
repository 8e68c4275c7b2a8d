"""The flow-matching SoVITS of v3/v4 (official `SynthesizerTrnV3`): codes → mel frames.

Semantic codes (from SSL features in training) are encoded with the phonemes and a
style vector by the v2 text encoder (`enc_p`, with MRTE); its hidden output goes through
`bridge` (conv 192→512 + LeakyReLU), is upsampled to the mel frame rate (×1.875 for v3's
24 kHz/256 mels, ×2 for v4's 32 kHz/320 mels) and refined by `wns1` (a WaveNet). Those
content features condition the CFM, whose DiT turns noise into the normalised mel;
a vocoder makes the wave (v4: `MelVocoder`; v3: `BigVGAN`, models/cfm/bigvgan.py).

Training (official `s2_train_v3*.py`, `freeze_quantizer`): `ssl_proj`, the quantizer and
`enc_p` are frozen and run in eval mode without autograd; the style encoder's output
then reaches only frozen or detached paths, so it gets no gradient (we compute it
without autograd too, same result); what trains is `bridge`, `wns1` and the CFM.
The loss is the CFM's on the frames after a random prompt of up to 2/3 of the clip.

Under autocast, as the official, everything before `bridge` runs in fp32.

Where we differ: no `use_grad_ckpt` flag (checkpointing is applied by block name,
`block_names()`); `linear_mel` is kept for its keys but, as in the official forward,
never used; random draws can come from a `torch.Generator`.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from leanvoice.models.cfm.chunked import continue_reference
from leanvoice.models.cfm.config import CFMSize
from leanvoice.models.cfm.dit import DiT
from leanvoice.models.cfm.flow import ConditionalFlowMatching, random_uniform
from leanvoice.models.sovits.model import lengths_to_mask
from leanvoice.models.sovits.quantizer import ResidualVectorQuantizer
from leanvoice.models.sovits.style import MelStyleEncoder
from leanvoice.models.sovits.text_encoder import TextEncoder
from leanvoice.models.sovits.wavenet import WaveNet


class ContentEncoder(nn.Module):
    """`wns1` (official `Encoder`): conv 1×1, WaveNet conditioned on the detached style,
    conv 1×1; the output is masked."""

    def __init__(self, channels: int, kernel_size: int, n_layers: int, gin_channels: int) -> None:
        super().__init__()
        self.pre = nn.Conv1d(channels, channels, 1)
        self.enc = WaveNet(channels, kernel_size, n_layers, gin_channels)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = self.enc(self.pre(x) * mask, mask, style.detach())
        return self.proj(x) * mask


class CFMSoVITS(nn.Module):
    def __init__(self, size: CFMSize, *, freeze_quantizer: bool = True) -> None:
        """`freeze_quantizer` (official flag, on in every official v3/v4 config) freezes
        `ssl_proj`, the quantizer and also `enc_p`, as the official v3/v4 model does."""
        super().__init__()
        self.size = size
        self.freeze_quantizer = freeze_quantizer
        self.enc_p = TextEncoder(size.text_encoder_size())
        self.ref_enc = MelStyleEncoder(size.reference_bins, size.gin_channels, size.style_hidden)
        self.ssl_proj = nn.Conv1d(size.ssl_dim, size.ssl_dim, 2, stride=2)  # 50 Hz → 25 Hz
        self.quantizer = ResidualVectorQuantizer(size.ssl_dim, size.codebook_size)
        self.bridge = nn.Sequential(
            nn.Conv1d(size.inter_channels, size.content_channels, 1), nn.LeakyReLU()
        )
        self.wns1 = ContentEncoder(
            size.content_channels, size.content_kernel_size, size.content_layers, size.gin_channels
        )
        self.linear_mel = nn.Conv1d(size.content_channels, size.mel_bins, 1)  # unused (official)
        estimator = DiT(
            dim=size.dit_dim,
            depth=size.dit_depth,
            heads=size.dit_heads,
            head_dim=size.dit_head_dim,
            ff_mult=size.dit_ff_mult,
            mel_dim=size.mel_bins,
            text_dim=size.content_channels,
            conv_layers=size.dit_text_conv_layers,
            dropout=size.dit_dropout,
            step_embedding=size.settings.step_embedding,
        )
        self.cfm = ConditionalFlowMatching(
            size.mel_bins, estimator, shortcut=size.settings.step_embedding
        )
        if freeze_quantizer:
            for frozen in (self.ssl_proj, self.quantizer, self.enc_p):
                frozen.requires_grad_(False)

    # -- named groups: what memory/ (freeze, LoRA, checkpointing, offload, compile) targets
    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """Group → the modules whose parameters it holds; each parameter is in one group."""
        dit = "cfm.estimator"
        embeddings = ("time_embed", "d_embed", "text_embed", "input_embed", "norm_out")
        if self.cfm.estimator.d_embed is None:  # v5
            embeddings = tuple(name for name in embeddings if name != "d_embed")
        return {
            "text_encoder": ("enc_p",),
            "style": ("ref_enc",),
            "quantizer": ("ssl_proj", "quantizer"),
            "content": ("bridge", "wns1", "linear_mel"),
            "dit_embeddings": tuple(f"{dit}.{name}" for name in (*embeddings, "proj_out")),
            "dit_blocks": (f"{dit}.transformer_blocks",),
        }

    def block_names(self) -> dict[str, list[str]]:
        """Group → its repeatable blocks (checkpointing, offload and compile wrap these):
        the text encoder's three attention encoders, wns1's WaveNet, the content
        embedding's ConvNeXt blocks, each DiT transformer block."""
        encoders = ("encoder_ssl", "encoder_text", "encoder2")
        dit = self.cfm.estimator
        convnext = len(dit.text_embed.text_blocks)
        return {
            "text_encoder": [f"enc_p.{name}" for name in encoders],
            "content": ["wns1.enc"],
            "dit_embeddings": [
                f"cfm.estimator.text_embed.text_blocks.{i}" for i in range(convnext)
            ],
            "dit_blocks": [
                f"cfm.estimator.transformer_blocks.{i}" for i in range(len(dit.transformer_blocks))
            ],
        }

    def trained_beside_adapters(self) -> tuple[str, ...]:
        """Modules that train in full when the DiT trains through LoRA adapters (the
        official v3/v4 LoRA recipe: `bridge` and `wns1`)."""
        return ("bridge", "wns1")

    def full_precision_groups(self) -> tuple[str, ...]:
        """Groups that run in fp32 even under autocast (everything before `bridge`, as the
        official): memory.half_frozen leaves their weights in fp32."""
        return ("text_encoder", "style", "quantizer")

    def lora_targets(self) -> dict[str, tuple[str, ...]]:
        """Group → the names of its modules that get LoRA adapters: the official v3/v4
        LoRA trainer's, the DiT attention's projections (`to_out.0` is a dotted suffix)."""
        return {"dit_blocks": ("to_q", "to_k", "to_v", "to_out.0")}

    # -- pieces ---------------------------------------------------------------------------
    def style(self, spec: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Linear spectrogram (B, 1025, T) at 50 Hz, mask (B, 1, T) → (B, gin, 1)."""
        return self.ref_enc(spec[:, : self.size.reference_bins] * mask, mask)

    def _frozen(self):
        return torch.no_grad() if self.freeze_quantizer else contextlib.nullcontext()

    def semantic_hidden(
        self,
        features: torch.Tensor,  # (B, ssl_dim, T) quantized semantic features at 50 Hz
        lengths: torch.Tensor,  # (B,) real frames
        phoneme_ids: torch.Tensor,  # (B, T_text)
        phoneme_lengths: torch.Tensor,  # (B,)
        style: torch.Tensor,  # (B, gin, 1)
        speed: float = 1.0,
    ) -> torch.Tensor:
        """enc_p's hidden output before its `proj` (B, hidden, T') — the official v3
        `x`, which our TextEncoder does not return, so its layers are called here."""
        enc = self.enc_p
        mask = lengths_to_mask(lengths, features.shape[2])
        phoneme_mask = lengths_to_mask(phoneme_lengths, phoneme_ids.shape[1])
        y = enc.ssl_proj(features * mask) * mask
        y = enc.encoder_ssl(y * mask, mask)
        text = enc.text_embedding(phoneme_ids).transpose(1, 2)  # (B, hidden, T_text)
        text = enc.encoder_text(text * phoneme_mask, phoneme_mask)
        y = enc.mrte(y, mask, text, phoneme_mask, style)
        y = enc.encoder2(y * mask, mask)
        if speed != 1.0:
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
        return y

    def content(self, hidden: torch.Tensor, lengths: torch.Tensor, style: torch.Tensor):
        """enc_p hidden (B, 192, T) at 50 Hz → content features (B, 512, T_mel) at the mel
        rate, masked to `lengths` mel frames."""
        factor = self.size.settings.upsample_factor
        x = F.interpolate(self.bridge(hidden), scale_factor=factor, mode="nearest")
        return self.wns1(x, lengths_to_mask(lengths, x.shape[2]), style)

    # -- training -------------------------------------------------------------------------
    def forward(
        self,
        ssl: torch.Tensor,  # (B, ssl_dim, T_ssl) at 50 Hz
        spec: torch.Tensor,  # (B, 1025, T_spec) linear spectrogram, 32 kHz / 640
        spec_lengths: torch.Tensor,  # (B,)
        mel: torch.Tensor,  # (B, 100, T_mel) normalize_mel(cfm_log_mel(…)) of the clip
        mel_lengths: torch.Tensor,  # (B,)
        phoneme_ids: torch.Tensor,  # (B, T_text)
        phoneme_lengths: torch.Tensor,  # (B,)
        *,
        generator: torch.Generator | None = None,
        bootstrap: bool | None = None,
        bootstrap_no_grad: bool = False,
    ) -> dict[str, torch.Tensor]:
        """→ the CFM's {"loss", "sample_losses", "target_frames", "bootstrapped"} and
        "prompt_lengths". `bootstrap`: force the shortcut target on/off (None: p = 0.3);
        `bootstrap_no_grad`: its two extra estimator runs without autograd (same
        gradient, less memory)."""
        spec_mask = lengths_to_mask(spec_lengths, spec.shape[2])
        # official: the encoders before `bridge` run in fp32 even under autocast
        fp32 = torch.autocast(ssl.device.type, enabled=False)
        with fp32, self._frozen():  # frozen: the style reaches only frozen/detached paths
            style = self.style(spec, spec_mask)
            if self.freeze_quantizer:  # official: frozen parts run in eval mode
                for frozen in (self.ssl_proj, self.quantizer, self.enc_p):
                    frozen.eval()
            quantized, _, _ = self.quantizer(self.ssl_proj(ssl))
            quantized = F.interpolate(quantized, scale_factor=2, mode="nearest")  # 25 → 50 Hz
            hidden = self.semantic_hidden(
                quantized, spec_lengths, phoneme_ids, phoneme_lengths, style
            )
        content = self.content(hidden, mel_lengths, style)
        limit = mel_lengths * 2 / 3  # prompts cover up to 2/3 of a clip (official order of ops)
        prompt_lengths = (random_uniform(len(mel), mel.device, generator) * limit).floor().long()
        frames = min(mel.shape[-1], content.shape[-1])
        out = self.cfm(
            mel[:, :, :frames],
            mel_lengths,
            prompt_lengths,
            content[:, :, :frames],
            generator=generator,
            bootstrap=bootstrap,
            bootstrap_no_grad=bootstrap_no_grad,
        )
        return {**out, "prompt_lengths": prompt_lengths}

    # -- inference ------------------------------------------------------------------------
    @torch.no_grad()
    def encode_semantic(self, ssl_features: torch.Tensor) -> torch.Tensor:
        """SSL features [B, ssl_dim, T] at 50 Hz → semantic codes [B, T // 2] at 25 Hz (the
        reference's prompt codes, as the v2 model gives them)."""
        was_training = self.quantizer.training
        self.quantizer.eval()
        _, codes, _ = self.quantizer(self.ssl_proj(ssl_features.float()))
        self.quantizer.train(was_training)
        return codes[0]

    @torch.no_grad()
    def reference_style(self, reference_spectrogram: torch.Tensor) -> torch.Tensor:
        """(B, 1025, T) linear spectrogram of the reference clip → style (B, gin, 1)."""
        mask = torch.ones_like(reference_spectrogram[:, :1])
        return self.style(reference_spectrogram, mask)

    @torch.no_grad()
    def encode_codes(
        self,
        codes: torch.Tensor,  # (B, T_codes) or official (1, B, T_codes), 25 Hz
        phoneme_ids: torch.Tensor,  # (B, T_text)
        style: torch.Tensor,  # (B, gin, 1)
        speed: float = 1.0,
    ) -> torch.Tensor:
        """Official `decode_encp`: → content features (B, 512, T_mel) at the mel rate."""
        if codes.dim() == 2:
            codes = codes[None]
        batch, n_codes = codes.shape[1], codes.shape[2]
        features = F.interpolate(self.quantizer.decode(codes), scale_factor=2, mode="nearest")
        full = torch.full((batch,), features.shape[2], device=codes.device)
        phoneme_lengths = torch.full((batch,), phoneme_ids.shape[1], device=codes.device)
        hidden = self.semantic_hidden(features, full, phoneme_ids, phoneme_lengths, style, speed)
        frames = n_codes * self.size.settings.frames_per_code_mask
        mask_frames = int(frames) if speed == 1.0 else int(frames / speed) + 1
        return self.content(hidden, torch.full((batch,), mask_frames, device=codes.device), style)

    @torch.no_grad()
    def decode(
        self,
        codes: torch.Tensor,  # (1, T_codes) the target's semantic codes
        phoneme_ids: torch.Tensor,  # (1, T_text) the target's phonemes
        prompt_codes: torch.Tensor,  # (1, T_prompt_codes) the reference clip's codes
        prompt_phoneme_ids: torch.Tensor,  # (1, T_prompt_text) the reference's phonemes
        reference_spectrogram: torch.Tensor,  # (1, 1025, T) linear, 32 kHz / 640
        reference_mel: torch.Tensor,  # (1, 100, T_ref) normalize_mel of the reference
        *,
        steps: int | None = None,
        speed: float = 1.0,
        temperature: float | None = None,
        cfg_rate: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """→ normalised mel (1, 100, frames) of the target, continuing the reference.

        As the official WebUI: the reference's mel (its last `prompt_frames` at most) and
        content prompt the CFM, and the target is made in chunks (`continue_reference`).
        `steps`, `temperature` and `cfg_rate` default to the version's (steps v4 8, v3
        32, v5dev 32, v5turbo 4; temperature 1, v5 0.875; guidance 0, v5dev 1.3; the
        official v5 ignores a temperature it is given). Vocode `denormalize_mel` of it.
        """
        settings = self.size.settings
        steps, cfg_rate = settings.sampler(steps, cfg_rate)
        style = self.reference_style(reference_spectrogram)
        prompt_content = self.encode_codes(prompt_codes, prompt_phoneme_ids, style)
        target = self.encode_codes(codes, phoneme_ids, style, speed)
        return continue_reference(
            self.cfm,
            settings,
            reference_mel,
            prompt_content,
            target,
            steps=steps,
            temperature=settings.noise_temperature if temperature is None else temperature,
            cfg_rate=cfg_rate,
            generator=generator,
        )
