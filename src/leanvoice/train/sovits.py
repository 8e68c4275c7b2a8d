"""Stage 2: SoVITS, a GAN — the generator (VITS + HiFi-GAN decoder) against the
multi-period discriminator, with the official losses and weights: mel L1 × 45, KL,
quantizer commitment, feature matching and least-squares adversarial terms.

Order per step as in the official recipe: the discriminator steps first on the
generated (detached) audio, then the generator steps against the updated
discriminator. With several micro-batches this needs the generated audio twice: the
first pass runs the generator without a graph (its RNG state and slice positions
recorded) for the discriminator, the second repeats it exactly with a graph for the
generator, so the accumulated step equals one batch of the same clips. Micro-batch
losses are weighted by their share of the step's clips (the losses are per-clip means).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel, mel_filterbank
from leanvoice.compat.official import load_official_sovits
from leanvoice.config.sizes import load_size
from leanvoice.data.training_sets import ClipSet, collate_sovits, sovits_clip_set
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.optimizers import build_optimizer
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.memory.report import StepMemory
from leanvoice.models.sovits import SoVITSGenerator
from leanvoice.models.sovits.discriminator import MultiPeriodDiscriminator
from leanvoice.models.sovits.losses import (
    discriminator_loss,
    feature_matching,
    generator_adversarial_loss,
    kl_divergence,
)
from leanvoice.models.sovits.model import slice_frames
from leanvoice.train.distributed import full_parameters, sync_unless_accumulating, wrap_model
from leanvoice.train.gpt import find_sovits
from leanvoice.train.state import (
    load_model_state,
    load_optimizer_state,
    model_state,
    optimizer_state,
)
from leanvoice.train.trainer import StageTrainer, StepResult

MEL_WEIGHT, KL_WEIGHT = 45.0, 1.0


def initial_sovits(size_name: str, init: Path | None) -> tuple[SoVITSGenerator, list[str]]:
    """A trainable generator (with the posterior encoder); from `init` if given. Files
    exported for inference have no `enc_q`: it starts from random weights (listed)."""
    if init is None:
        return SoVITSGenerator(load_size(size_name).sovits), []
    loaded, _ = load_official_sovits(init)
    if loaded.enc_q is not None:
        return loaded.train(), []
    model = SoVITSGenerator(loaded.size)
    result = model.load_state_dict(loaded.state_dict(), strict=False)
    return model, list(result.missing_keys)  # exactly the enc_q.* weights


class SoVITSTrainer(StageTrainer):
    stage = "sovits"
    budget_key = "data.max_frames"

    def load_clips(self) -> ClipSet:
        return sovits_clip_set(self.data, self.cfg.data.max_sec)

    def budget(self) -> int:
        return self.cfg.data.max_frames

    def build(self) -> None:
        cfg, device = self.cfg, self.ctx.device
        init = find_sovits(cfg.model.sovits_init, self.data, cfg.model.size)
        generator, fresh = initial_sovits(cfg.model.size, init)
        if fresh and self.ctx.is_main:
            self.console.print(f"{init}: no posterior encoder in the file; it starts random")
        self.size = generator.size
        setup = apply_memory_policy(generator.to(device), "sovits", cfg.memory, cfg.train.lr,
                                    device)  # fmt: skip
        self.generator = setup.model.train()
        self.precision = setup.precision
        divisor = load_size(cfg.model.size).sovits.discriminator_divisor
        self.discriminator = MultiPeriodDiscriminator(divisor).to(device).train()
        self.g_wrapped = wrap_model(self.generator, self.ctx, cfg.train.distributed)
        self.d_wrapped = wrap_model(self.discriminator, self.ctx, cfg.train.distributed)
        self.g_optimizer = setup.optimizer
        if cfg.train.distributed == "fsdp" and self.ctx.active:
            self.g_optimizer = build_optimizer(self.g_wrapped.parameters(),
                                               cfg.memory.optimizer, cfg.train.lr)  # fmt: skip
        d_kind = "adamw8bit" if cfg.memory.optimizer == "adamw8bit" else "adamw"
        self.d_optimizer = build_optimizer(self.d_wrapped.parameters(), d_kind, cfg.train.lr)
        needs = self.precision.needs_scaler
        self.g_scaler = self.precision.make_scaler() if needs else None  # one per optimizer
        self.d_scaler = self.precision.make_scaler() if needs else None
        self.filterbank = mel_filterbank(self.size.sample_rate, self.size.n_fft,
                                         self.size.n_mels).to(device)  # fmt: skip

    def primary_model(self) -> nn.Module:
        return nn.ModuleList([self.generator, self.discriminator])

    def primary_optimizer(self) -> Any:
        return [self.g_optimizer, self.d_optimizer]

    def zero_grad(self) -> None:
        for optimizer in (self.g_optimizer, self.d_optimizer):
            if not isinstance(optimizer, OptimizerInBackward):
                optimizer.zero_grad(set_to_none=True)
        for p in [*self.generator.parameters(), *self.discriminator.parameters()]:
            p.grad = None

    # -- one step ------------------------------------------------------------------------
    def _mel(self, spec: torch.Tensor) -> torch.Tensor:
        return linear_to_log_mel(spec, self.filterbank)

    def _generate(self, batch: dict[str, torch.Tensor], seed: int, probe) -> dict[str, Any]:
        counting = probe.forward() if probe is not None else contextlib.nullcontext()
        with counting, self.precision.autocast():
            out = self.g_wrapped(
                batch["ssl"], batch["spec"], batch["frames"], batch["phoneme_ids"],
                batch["phoneme_lens"], generator=torch.Generator().manual_seed(seed),
            )  # fmt: skip
        hop, segment = self.size.hop_length, self.generator.segment_frames
        starts = out["slice_starts"]
        real = slice_frames(batch["wave"][:, None], starts * hop, segment * hop)
        out["real_wave"] = real
        out["real_mel"] = slice_frames(self._mel(batch["spec"]), starts, segment)
        return out

    def train_parts(self, parts: list[list[int]], probe: StepMemory | None) -> StepResult:
        device = self.ctx.device
        size = self.size
        batches = []
        for part in parts:
            batch = collate_sovits(self.clips, part, size.hop_length, size.sample_rate)
            batch["spec"] = linear_spectrogram(
                batch["wave"], size.n_fft, size.hop_length, size.win_length
            )[..., : batch["ssl"].shape[-1]]
            batches.append({k: v.to(device) for k, v in batch.items()})  # fmt: skip
        samples = sum(len(b["frames"]) for b in batches)
        real = sum(int(b["frames"].sum()) for b in batches)
        padded = sum(b["ssl"].shape[-1] * len(b["frames"]) for b in batches)
        seeds = [hash((self.cfg.train.seed, self.step, i)) % 2**31 for i in range(len(parts))]
        single = len(batches) == 1
        with probe if probe is not None else contextlib.nullcontext():
            # discriminator phase
            rng_states, kept = [], None
            for index, batch in enumerate(batches):
                self.before_micro_batch(index)
                rng_states.append(torch.get_rng_state())
                weight = len(batch["frames"]) / samples
                with torch.no_grad() if not single else contextlib.nullcontext():
                    out = self.guarded_forward(
                        lambda b=batch, s=seeds[index]: self._generate(b, s, probe)
                    )
                if single:
                    kept = out
                self._discriminator_backward(out, weight, last=index == len(batches) - 1)
            self.optimizer_step(self.d_optimizer, self.d_scaler, probe)
            # generator phase, against the updated discriminator
            total = 0.0
            for p in self.discriminator.parameters():
                p.requires_grad_(False)
            try:
                for index, batch in enumerate(batches):
                    weight = len(batch["frames"]) / samples
                    if single:
                        out = kept
                    else:
                        torch.set_rng_state(rng_states[index])  # same dropout and noise
                        out = self.guarded_forward(
                            lambda b=batch, s=seeds[index]: self._generate(b, s, None)
                        )
                    last = index == len(batches) - 1
                    total += weight * self._generator_backward(out, weight, last)
            finally:
                for p in self.discriminator.parameters():
                    p.requires_grad_(True)
            if probe is not None:
                probe.after_backward()
            self.optimizer_step(self.g_optimizer, self.g_scaler, probe)
        return StepResult(loss=total, real=real, padded=padded)

    def _discriminator_backward(self, out: dict[str, Any], weight: float, last: bool) -> None:
        with sync_unless_accumulating(self.d_wrapped, last):
            with self.precision.autocast():
                scores_real, scores_fake, _, _ = self.d_wrapped(
                    out["real_wave"], out["wave"].detach()
                )
            loss = discriminator_loss(scores_real, scores_fake) * weight
            (self.d_scaler.scale(loss) if self.d_scaler else loss).backward()

    def _generator_backward(self, out: dict[str, Any], weight: float, last: bool) -> float:
        size = self.size
        with self.precision.autocast():  # the discriminator is frozen here: no DDP wrapper
            _, scores_fake, feats_real, feats_fake = self.discriminator(
                out["real_wave"], out["wave"]
            )
        fake_mel = self._mel(linear_spectrogram(out["wave"].float(), size.n_fft,
                                                size.hop_length, size.win_length))  # fmt: skip
        frames = min(fake_mel.shape[-1], out["real_mel"].shape[-1])
        mel = (out["real_mel"][..., :frames] - fake_mel[..., :frames]).abs().mean()
        kl = kl_divergence(out["z_p"], out["logs_q"], out["m_p"], out["logs_p"], out["mask"])
        loss = (
            generator_adversarial_loss(scores_fake) + feature_matching(feats_real, feats_fake)
            + MEL_WEIGHT * mel + KL_WEIGHT * kl + out["commit_loss"].float()
        )  # fmt: skip
        scaled = loss * weight
        with sync_unless_accumulating(self.g_wrapped, last):
            (self.g_scaler.scale(scaled) if self.g_scaler else scaled).backward()
        return float(loss.detach())

    # -- checkpoint state ----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "size": dataclasses.asdict(self.size),  # what the generator was built with
            "model": model_state(self.generator, self.g_wrapped, self.ctx),
            "discriminator": model_state(self.discriminator, self.d_wrapped, self.ctx),
            "optimizer": optimizer_state(self.g_optimizer, self.g_wrapped, self.ctx),
            "d_optimizer": optimizer_state(self.d_optimizer, self.d_wrapped, self.ctx),
            "scaler": self.g_scaler.state_dict() if self.g_scaler else {},
            "d_scaler": self.d_scaler.state_dict() if self.d_scaler else {},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        load_model_state(self.generator, self.g_wrapped, self.ctx, state["model"])
        load_model_state(self.discriminator, self.d_wrapped, self.ctx, state["discriminator"])
        load_optimizer_state(self.g_optimizer, self.g_wrapped, self.ctx, state["optimizer"])
        load_optimizer_state(self.d_optimizer, self.d_wrapped, self.ctx, state["d_optimizer"])
        for scaler, key in ((self.g_scaler, "scaler"), (self.d_scaler, "d_scaler")):
            if scaler is not None and state.get(key):
                scaler.load_state_dict(state[key])

    # -- audition ------------------------------------------------------------------------
    def audition(self) -> tuple[np.ndarray, int] | None:
        """The first clip's codes and text in its own voice through the current weights."""
        path = self.data / self.clips.clips[0]["semantic_path"]
        codes = torch.from_numpy(np.load(path).astype(np.int64)).reshape(1, -1)
        batch = collate_sovits(self.clips, [0], self.size.hop_length, self.size.sample_rate)
        spec = linear_spectrogram(batch["wave"], self.size.n_fft, self.size.hop_length,
                                  self.size.win_length)  # fmt: skip
        device = self.ctx.device
        was_training = self.generator.training
        self.generator.eval()
        with torch.random.fork_rng(devices=[]), full_parameters(self.g_wrapped):
            audio = self.generator.decode(codes.to(device), batch["phoneme_ids"].to(device),
                                          spec.to(device))  # fmt: skip
        self.generator.train(was_training)
        return audio.reshape(-1).float().cpu().numpy(), self.size.sample_rate
