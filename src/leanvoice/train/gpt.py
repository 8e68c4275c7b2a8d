"""Stage 1: the GPT learns phonemes (+ BERT features) → semantic codes.

The loss is the cross entropy summed over real target tokens (codes + EOS; padding is
not trained, so accumulated dynamic batches equal one batch of the same clips). With
`train.loss_norm=sum` (default) the gradient scale matches the official summed loss, so
official learning rates transfer; `mean` divides by the real tokens of the whole
accumulated step across all ranks.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leanvoice.compat.official import load_official_gpt, load_official_sovits
from leanvoice.config.sizes import load_size
from leanvoice.data.training_sets import ClipSet, collate_gpt, gpt_clip_set
from leanvoice.errors import ConfigError
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.optimizers import build_optimizer
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.memory.report import StepMemory
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.gpt.sampling import SamplingConfig, generate
from leanvoice.train.distributed import (
    all_reduce_sum,
    full_parameters,
    sync_unless_accumulating,
    wrap_model,
)
from leanvoice.train.state import (
    load_model_state,
    load_optimizer_state,
    model_state,
    optimizer_state,
)
from leanvoice.train.trainer import StageTrainer, StepResult


class GPTLoss(nn.Module):
    """The module DDP/FSDP wrap: its forward is the training loss."""

    def __init__(self, model: SemanticGPT) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss, _, _ = self.model.loss(
            batch["phoneme_ids"], batch["phoneme_lens"], batch["bert"], batch["codes"],
            batch["code_lens"], count_padding=False,
        )  # fmt: skip
        return loss


def initial_gpt(cfg_size: str, init: str) -> SemanticGPT:
    if init:
        model, _ = load_official_gpt(Path(init))
        return model
    return SemanticGPT(load_size(cfg_size).gpt)


def find_sovits(init: str, data: Path, size: str) -> Path | None:
    """The SoVITS whose quantizer made the dataset's codes: `model.sovits_init`, else the
    tiny one `prepare --tiny-features` wrote beside the data (tiny size only)."""
    if init:
        return Path(init)
    tiny = data / "tiny_models" / "sovits.pth"
    return tiny if size == "tiny" and tiny.is_file() else None


class GPTTrainer(StageTrainer):
    stage = "gpt"
    budget_key = "data.max_tokens"

    def load_clips(self) -> ClipSet:
        return gpt_clip_set(self.data, self.cfg.data.max_sec)

    def budget(self) -> int:
        return self.cfg.data.max_tokens

    def build(self) -> None:
        cfg, device = self.cfg, self.ctx.device
        model = initial_gpt(cfg.model.size, cfg.model.gpt_init).to(device)
        setup = apply_memory_policy(model, "gpt", cfg.memory, cfg.train.lr, device)
        self.model = setup.model.train()
        self.precision = setup.precision
        self.wrapped = wrap_model(GPTLoss(self.model), self.ctx, cfg.train.distributed)
        self.optimizer = setup.optimizer
        if cfg.train.distributed == "fsdp" and self.ctx.active:  # parameters are now sharded
            self.optimizer = build_optimizer(self.wrapped.parameters(), cfg.memory.optimizer,
                                             cfg.train.lr)  # fmt: skip
        self.scaler = self.precision.make_scaler() if self.precision.needs_scaler else None
        self._sovits = None

    def primary_model(self) -> nn.Module:
        return self.model

    def primary_optimizer(self) -> Any:
        return self.optimizer

    def zero_grad(self) -> None:
        if not isinstance(self.optimizer, OptimizerInBackward):
            self.optimizer.zero_grad(set_to_none=True)
        for p in self.model.parameters():
            p.grad = None

    def train_parts(self, parts: list[list[int]], probe: StepMemory | None) -> StepResult:
        batches = [collate_gpt(self.clips, part) for part in parts]
        real = sum(int(b["phoneme_lens"].sum() + b["code_lens"].sum()) for b in batches)
        padded = sum(b["phoneme_ids"].numel() + b["codes"].numel() for b in batches)
        with probe if probe is not None else contextlib.nullcontext():
            total, targets = self.accumulate(batches, probe)
            if probe is not None:
                probe.after_backward()
            self.optimizer_step(self.optimizer, self.scaler, probe)
        return StepResult(loss=total / max(targets, 1), real=real, padded=padded)

    def accumulate(
        self, batches: list[dict[str, torch.Tensor]], probe: StepMemory | None = None
    ) -> tuple[float, int]:
        """Forward and backward over micro-batches, gradients summed as for one batch of
        the same clips; returns (summed loss, real target tokens)."""
        targets = sum(int(b["code_lens"].sum()) + len(b["code_lens"]) for b in batches)
        scale = 1.0
        if self.cfg.train.loss_norm == "mean":  # DDP averages over ranks: undo, then /tokens
            scale = self.ctx.world_size / all_reduce_sum(targets, self.ctx)
        total = 0.0
        for index, batch in enumerate(batches):
            self.before_micro_batch(index)
            batch = {k: v.to(self.ctx.device) for k, v in batch.items()}
            last = index == len(batches) - 1
            with sync_unless_accumulating(self.wrapped, last):
                loss = self.guarded_forward(lambda b=batch: self._forward(b, probe))
                scaled = loss.float() * scale
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            total += float(loss.detach())
        return total, targets

    def _forward(self, batch: dict[str, torch.Tensor], probe: StepMemory | None) -> torch.Tensor:
        counting = probe.forward() if probe is not None else contextlib.nullcontext()
        with counting, self.precision.autocast():
            return self.wrapped(batch)

    # -- checkpoint state ----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "size": dataclasses.asdict(self.model.size),
            "model": model_state(self.model, self.wrapped, self.ctx),
            "optimizer": optimizer_state(self.optimizer, self.wrapped, self.ctx),
            "scaler": self.scaler.state_dict() if self.scaler else {},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        load_model_state(self.model, self.wrapped, self.ctx, state["model"])
        load_optimizer_state(self.optimizer, self.wrapped, self.ctx, state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    # -- audition ------------------------------------------------------------------------
    def audition(self) -> tuple[np.ndarray, int] | None:
        """The second clip's text in the first clip's voice, through the current weights
        and the dataset's SoVITS (fixed seed; training RNG untouched)."""
        with torch.random.fork_rng(devices=[]):  # building a model draws random numbers
            if self._sovits is None:
                path = find_sovits(self.cfg.model.sovits_init, self.data, self.cfg.model.size)
                if path is None:
                    return None
                self._sovits = load_official_sovits(path)[0].to(self.ctx.device)
            with full_parameters(self.wrapped):
                return gpt_audition(self.model, self._sovits, self.clips, self.ctx.device)


def gpt_audition(
    gpt: SemanticGPT, sovits: Any, clips: ClipSet, device: torch.device
) -> tuple[np.ndarray, int]:
    from leanvoice.audio.spectrogram import linear_spectrogram
    from leanvoice.data.training_sets import collate_sovits

    if len(clips.clips) < 2:
        raise ConfigError("audition needs at least two clips")
    reference, target = collate_gpt(clips, [0]), collate_gpt(clips, [1])
    size = sovits.size
    wave = collate_sovits(clips, [0], size.hop_length, size.sample_rate)["wave"]
    spec = linear_spectrogram(wave, size.n_fft, size.hop_length, size.win_length)
    phonemes = torch.cat([reference["phoneme_ids"], target["phoneme_ids"]], dim=1).to(device)
    bert = torch.cat([reference["bert"], target["bert"]], dim=2).to(device)
    was_training = gpt.training
    gpt.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        limit = int(target["phoneme_ids"].shape[1] * 12 + 25)
        codes = generate(
            gpt, phonemes, torch.tensor([phonemes.shape[1]], device=device), bert,
            reference["codes"].to(device), SamplingConfig(top_k=5, max_new_tokens=limit),
            generator=torch.Generator(device=device).manual_seed(0),
        )[0]  # fmt: skip
        if len(codes) == 0:
            codes = reference["codes"][0].to(device)
        audio = sovits.decode(codes[None], target["phoneme_ids"].to(device), spec.to(device))
    gpt.train(was_training)
    return audio.reshape(-1).float().cpu().numpy(), size.sample_rate
