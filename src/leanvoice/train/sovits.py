"""Stage 2: SoVITS, a GAN — the generator (VITS + HiFi-GAN decoder) against the
multi-period discriminator, with the official losses and weights: mel L1 × 45, KL,
quantizer commitment, feature matching and least-squares adversarial terms.

The stage's part of the trainer's step: `forward` runs the generator once with its graph;
then two loss phases, in this order: the discriminator's loss on the real and the
(detached) generated audio, backpropagated first; then the generator's loss against the
same discriminator (its weights frozen for that pass). Both optimizers step
after every micro-batch has succeeded, so an out-of-memory retry never updates either
network twice for one batch. The official recipe steps the discriminator before the
generator's forward through it; here both gradients come from the same discriminator
weights (simultaneous updates), which is what makes the step retryable and lets
accumulation run the generator once per micro-batch instead of twice. Micro-batch losses
are weighted by their share of the step's clips (the losses are per-clip means).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leanvoice.audio.pitch import estimate_f0
from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel, mel_filterbank
from leanvoice.compat.official import load_discriminator_weights, load_official_sovits
from leanvoice.config.sizes import load_size
from leanvoice.data.training_sets import ClipSet, collate_sovits
from leanvoice.errors import ConfigError
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.sovits import SoVITSGenerator
from leanvoice.models.sovits.discriminator import MultiPeriodDiscriminator
from leanvoice.models.sovits.losses import (
    discriminator_loss,
    feature_matching,
    generator_adversarial_loss,
    kl_divergence,
)
from leanvoice.models.sovits.model import lengths_to_mask, slice_frames
from leanvoice.models.sovits.source import pitch_loss
from leanvoice.train.distributed import full_parameters, wrap_model
from leanvoice.train.gpt import find_sovits
from leanvoice.train.spectrogram_stage import SpectrogramStage
from leanvoice.train.trainer import HeldOut, LossPhase, Network

MEL_WEIGHT, KL_WEIGHT = 45.0, 1.0
# the official recipe trains the text embedding, text encoder and MRTE at a lower rate
TEXT_PARTS = ("enc_p.text_embedding.", "enc_p.encoder_text.", "enc_p.mrte.")


# what the decoder and its harmonic source are built from
DECODER_FIELDS = (
    "sample_rate",
    "hop_length",
    "inter_channels",
    "gin_channels",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
)
# what a decoder is, beyond its shapes: tiny files made before either came in have neither
DECODER_KINDS = ("harmonic_source", "smooth_upsampling")


def initial_sovits(
    size_name: str, init: Path | None, f0_conditioning: bool = False, version: str = "v2"
) -> tuple[SoVITSGenerator, list[str]]:
    """A trainable generator (with the posterior encoder); from `init` if given. Files
    exported for inference have no `enc_q`, official ones no F0 embedding, and a file of
    the named size made before its decoder changed kind (a harmonic source, smooth
    upsampling) has the old kind (its decoder is replaced): those weights start random
    (listed). A file of another version than `version` is refused, except a tiny v2 one
    (what `prepare --tiny-features` writes) for a tiny Pro run: its quantizer made the
    dataset's codes, so it and every part of the same shape carry over."""
    named = load_size(size_name, version).sovits
    if init is None:
        return SoVITSGenerator(named, f0_conditioning=f0_conditioning), []
    loaded, _ = load_official_sovits(init)
    if loaded.size.version != version:
        if not (size_name == "tiny" and loaded.size.version == "v2"):
            raise ConfigError(
                f"{init}: a {loaded.size.version} SoVITS, but model.version={version}; set "
                f"model.version={loaded.size.version} or start from a {version} file"
            )
        model = SoVITSGenerator(named, f0_conditioning=f0_conditioning)
        mine = model.state_dict()
        fitting = {
            k: v for k, v in loaded.state_dict().items() if k in mine and mine[k].shape == v.shape
        }
        model.load_state_dict(fitting, strict=False)
        return model, sorted(set(mine) - set(fitting))
    size, state = loaded.size, loaded.state_dict()
    kinds = {name: getattr(named, name) for name in DECODER_KINDS}
    if any(getattr(size, name) != kind for name, kind in kinds.items()) and all(
        getattr(size, name) == getattr(named, name) for name in DECODER_FIELDS
    ):  # a file of the named size with an older kind of decoder: that decoder learnt to
        # make audio its own way and would learn to ignore a source, so it starts anew
        size = dataclasses.replace(size, **kinds)
        state = {k: v for k, v in state.items() if not k.startswith("dec.")}
    if loaded.enc_q is not None and not f0_conditioning and size == loaded.size:
        return loaded.train(), []
    model = SoVITSGenerator(size, f0_conditioning=f0_conditioning)
    result = model.load_state_dict(state, strict=False)
    return model, list(result.missing_keys)  # enc_q.*, f0_embedding.*, pitch.*, dec.*


def generator_groups(model: nn.Module, lr: float, text_factor: float) -> list[dict[str, Any]]:
    """Parameter groups: the text side at `text_factor` × lr, the rest at lr (the rest
    last: the learning rate logged is the last group's)."""
    text, rest = [], []
    for name, parameter in model.named_parameters():
        (text if any(part in name for part in TEXT_PARTS) else rest).append(parameter)
    groups = [{"params": text, "lr": lr * text_factor}] if text else []
    return [*groups, {"params": rest, "lr": lr}]


def discriminator_optimizer(kind: str) -> str:
    """The one rule for the discriminator's optimizer ("" = memory.optimizer itself): it
    follows memory.optimizer, except the generator-side kinds: ScaledAdam is the GPT
    recipe's, and the in-backward and CPU-offload kinds save little on a network whose
    graph is freed right after its own backward, so it keeps a fused AdamW there."""
    return "adamw" if kind in ("scaled_adam", "adamw_in_backward", "adamw_cpu_offload") else ""


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """A forward through `module` that builds no gradients for its weights."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


class SoVITSTrainer(SpectrogramStage):
    memory_per_clip = True  # the decoder and discriminator run on a slice of every clip

    def load_clips(self, root: Path) -> ClipSet:
        clips = super().load_clips(root)
        missing = [c.id for c in clips.clips if not c.sv_path]
        if self.cfg.model.version in ("v2Pro", "v2ProPlus") and missing:  # said at setup
            raise ConfigError(
                f"{root}: model.version={self.cfg.model.version} needs each clip's "
                f"speaker embedding and {len(missing)} clips have none (first: {missing[0]}): "
                "run `leanvoice prepare SRC OUT --sv FILE` (the official "
                "pretrained_eres2netv2w24s4ep4.ckpt; `--sv tiny` with --tiny-features)"
            )
        return clips

    def build_networks(self) -> dict[str, Network]:
        cfg, device = self.cfg, self.ctx.device
        init = find_sovits(cfg.model.sovits_init, self.data, cfg.model.size)
        generator, fresh = initial_sovits(
            cfg.model.size, init, cfg.model.f0_conditioning, cfg.model.version
        )
        if fresh and self.ctx.is_main:
            parts = sorted({key.split(".")[0] for key in fresh})
            self.console.print(
                f"{init}: no {', '.join(parts)} weights in the file; they start random"
            )
        self._f0: dict[str, torch.Tensor] = {}  # per clip id, estimated once
        self.size = generator.size
        setup = apply_memory_policy(
            generator.to(device), "sovits", cfg.memory, device, compile_blocks=cfg.train.compile
        )
        self.generator = setup.model.train()
        self.precision = setup.precision
        divisor = load_size(cfg.model.size).sovits.discriminator_divisor
        self.discriminator = MultiPeriodDiscriminator(
            divisor, periods=self.size.discriminator_periods
        )
        if cfg.model.sovits_d_init:  # fine-tuning: the base's discriminator, as official
            load_discriminator_weights(Path(cfg.model.sovits_d_init), self.discriminator)
        self.discriminator = self.discriminator.to(device).train()
        self.filterbank = mel_filterbank(
            self.size.sample_rate, self.size.n_fft, self.size.n_mels
        ).to(device)
        lr = cfg.train.lr
        return {
            "generator": Network(
                self.generator,
                wrap_model(self.generator, self.ctx, cfg.train.distributed),
                generator_groups(self.generator, lr, cfg.train.text_lr_factor),
            ),
            "discriminator": Network(
                self.discriminator,
                # replicated (DDP) even under FSDP: the generator's pass freezes it by
                # requires_grad, which FSDP2's sharded parameters do not follow
                wrap_model(self.discriminator, self.ctx, "ddp"),
                [{"params": list(self.discriminator.parameters()), "lr": lr}],
                optimizer_kind=discriminator_optimizer(cfg.memory.optimizer),
            ),
        }

    def size_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self.size)  # what the generator was built with

    def extensions(self) -> dict[str, Any]:
        return {"f0_conditioning": self.generator.f0_embedding is not None}

    def _needs_f0(self) -> bool:
        """F0 conditioning reads the clip's pitch; a harmonic source trains on it."""
        return self.generator.f0_embedding is not None or self.generator.pitch is not None

    def clip_f0(self, index: int, wave: torch.Tensor) -> torch.Tensor:
        """The F0 per spectrogram frame (Hz, 0 = unvoiced) of clip `index` of the clips
        being read (training or held-out ones), estimated once per clip id."""
        key = self.clips.clips[index].id
        if key not in self._f0:
            samples = wave.numpy()
            f0 = estimate_f0(samples, self.size.sample_rate, self.size.hop_length)
            self._f0[key] = torch.from_numpy(f0)
        return self._f0[key]

    # -- one step ------------------------------------------------------------------------
    def collate(self, part: list[int]) -> dict[str, torch.Tensor]:
        size = self.size
        batch = self.spectrogram_batch(part, size, size.sv_dim)
        if self._needs_f0():
            frames = batch["frames"].tolist()
            waves = [batch["wave"][row, : n * size.hop_length] for row, n in enumerate(frames)]
            tracks = [self.clip_f0(i, w) for i, w in zip(part, waves, strict=True)]
            batch["f0"] = torch.stack(
                [F.pad(t, (0, batch["spec"].shape[-1] - len(t))) for t in tracks]
            )[:, None]
        return {k: v.to(self.ctx.device) for k, v in batch.items()}

    def loss_phases(self) -> list[LossPhase]:
        """The discriminator learns first, on the detached generated audio; then the
        generator, against the same discriminator weights."""
        return [
            LossPhase("discriminator", self._discriminator_loss, logged=False),
            LossPhase("generator", self._generator_loss),
        ]

    def _discriminator_loss(self, out: dict[str, Any]) -> torch.Tensor:
        discriminator = self.networks["discriminator"].wrapped
        with self.precision.autocast():
            scores_real, scores_fake, _, _ = discriminator(out["real_wave"], out["wave"].detach())
        return discriminator_loss(scores_real, scores_fake)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The generator on the whole clips, its decoder on a random slice of each; the
        matching slices of the real audio and mel."""
        with self.precision.autocast():
            out = self.networks["generator"].wrapped(
                batch["ssl"],
                batch["spec"],
                batch["frames"],
                batch["phoneme_ids"],
                batch["phoneme_lens"],
                f0=batch.get("f0"),
                sv=batch.get("sv"),  # v2Pro/v2ProPlus: the speaker embedding
            )
        hop, segment = self.size.hop_length, self.generator.segment_frames
        starts = out["slice_starts"]
        out["real_wave"] = slice_frames(batch["wave"][:, None], starts * hop, segment * hop)
        out["real_mel"] = slice_frames(self._mel(batch["spec"]), starts, segment)
        out["f0"] = batch.get("f0")
        return out

    def _generator_loss(self, out: dict[str, Any]) -> torch.Tensor:
        size = self.size
        with frozen(self.discriminator), self.precision.autocast():  # no DDP wrapper: frozen
            _, scores_fake, feats_real, feats_fake = self.discriminator(
                out["real_wave"], out["wave"]
            )
        fake_mel = self._mel(
            linear_spectrogram(out["wave"].float(), size.n_fft, size.hop_length, size.win_length)
        )
        frames = min(fake_mel.shape[-1], out["real_mel"].shape[-1])
        mel = (out["real_mel"][..., :frames] - fake_mel[..., :frames]).abs().mean()
        kl = kl_divergence(out["z_p"], out["logs_q"], out["m_p"], out["logs_p"], out["mask"])
        adversarial = generator_adversarial_loss(scores_fake) + feature_matching(
            feats_real, feats_fake
        )
        loss = adversarial + MEL_WEIGHT * mel + KL_WEIGHT * kl + out["commit_loss"].float()
        if out["pitch"] is not None:
            loss = loss + pitch_loss(out["pitch"], out["f0"], out["mask"])
        return loss

    def validate(self, batch: dict[str, torch.Tensor], clips: int) -> HeldOut:
        """The mel L1 (log mel, per bin and frame) of each held-out clip decoded whole
        from its posterior, a mean over clips: how well the model encodes and renders
        speech it never trained on (the training loss's adversarial terms would measure
        the discriminator as much as the voice)."""
        size = self.size
        with full_parameters(self.networks["generator"].wrapped), self.precision.autocast():
            wave = self.generator.reconstruct(
                batch["spec"], batch["frames"], f0=batch.get("f0"), sv=batch.get("sv")
            )
        fake = self._mel(
            linear_spectrogram(wave.float(), size.n_fft, size.hop_length, size.win_length)
        )
        real = self._mel(batch["spec"])
        frames = min(fake.shape[-1], real.shape[-1])
        mask = lengths_to_mask(batch["frames"], frames).to(real.dtype)
        error = (real[..., :frames] - fake[..., :frames]).abs() * mask
        per_clip = error.sum((1, 2)) / (mask.sum((1, 2)) * real.shape[1])
        return {"valid_loss": (float(per_clip.sum()), clips)}

    def _mel(self, spec: torch.Tensor) -> torch.Tensor:
        return linear_to_log_mel(spec, self.filterbank)

    # -- audition ------------------------------------------------------------------------
    def audition(self) -> tuple[np.ndarray, int] | None:
        """The first clip's codes and text in its own voice through the current weights."""
        path = self.data / str(self.clips.clips[0].semantic_path)
        codes = torch.from_numpy(np.load(path).astype(np.int64)).reshape(1, -1)
        size = self.size
        batch = collate_sovits(self.clips, [0], size.hop_length, size.sample_rate, size.sv_dim)
        spec = linear_spectrogram(
            batch["wave"], self.size.n_fft, self.size.hop_length, self.size.win_length
        )
        device = self.ctx.device
        was_training = self.generator.training
        self.generator.eval()
        f0 = None
        if self.generator.f0_embedding is not None:
            f0 = self.clip_f0(0, batch["wave"][0])[None, None].to(device)
        with torch.random.fork_rng(devices=[]), full_parameters(self.networks["generator"].wrapped):
            audio = self.generator.decode(
                codes.to(device),
                batch["phoneme_ids"].to(device),
                spec.to(device),
                f0=f0,
                sv_emb=batch["sv"].to(device) if "sv" in batch else None,
            )
        self.generator.train(was_training)
        return audio.reshape(-1).float().cpu().numpy(), self.size.sample_rate
