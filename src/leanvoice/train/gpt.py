"""Stage 1: the GPT learns phonemes (+ BERT features) → semantic codes.

The loss is the cross entropy summed over real target tokens (codes + EOS; padding is
not trained, so accumulated dynamic batches equal one batch of the same clips). With
`train.loss_norm=sum` (default) the gradient scale matches the official summed loss, so
official learning rates transfer; `mean` divides by the real tokens of the whole
accumulated step across all ranks. The logged loss is per real target token.

The stage's part of the trainer's step: `collate`, then one loss phase, the forward
through the DDP/FSDP wrapper under autocast (`_loss`); the trainer runs its backward
and the optimizer step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leanvoice.compat.official import load_official_gpt, load_official_sovits
from leanvoice.config.sizes import load_size
from leanvoice.data.training_sets import ClipSet, collate_gpt, gpt_clip_set
from leanvoice.memory.lora import attention_adapters_merged
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.gpt.sampling import (
    MAX_CODES_PER_PHONEME,
    MAX_LENGTH,
    MIN_LENGTH,
    SamplingConfig,
    generate,
    length_bounded,
)
from leanvoice.text.g2p import OFFICIAL_LANGUAGES
from leanvoice.train.distributed import all_reduce_sum, full_parameters, wrap_model
from leanvoice.train.trainer import HeldOut, LossPhase, MicroBatchWeight, Network, StageTrainer


class GPTLoss(nn.Module):
    """The module DDP/FSDP wrap: its forward is the training loss."""

    def __init__(self, model: SemanticGPT, dpo: bool = False) -> None:
        super().__init__()
        self.model = model
        self.dpo = dpo

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch_loss(self.model, batch, dpo=self.dpo)[0]


def batch_loss(
    model: SemanticGPT, batch: dict[str, torch.Tensor], *, dpo: bool = False, accuracy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """`model.loss` on a collated batch, summed over real target tokens (padding not
    trained): what training minimises and held-out evaluation reports."""
    return model.loss(
        batch["phoneme_ids"],
        batch["phoneme_lens"],
        batch["bert"],
        batch["codes"],
        batch["code_lens"],
        count_padding=False,
        dpo=dpo,
        language_ids=language_ids_for(model, batch["language_ids"]),
        with_accuracy=accuracy,
    )


def language_ids_for(model: SemanticGPT, language_ids: torch.Tensor) -> torch.Tensor | None:
    """The ids when the model has the language-ID embedding, else None."""
    return None if model.language_embedding is None else language_ids


def initial_gpt(cfg_size: str, init: str, language_embedding: bool = False) -> SemanticGPT:
    languages = len(OFFICIAL_LANGUAGES) if language_embedding else 0
    if init:
        model, _ = load_official_gpt(Path(init))
        if not languages:
            return model
        extended = SemanticGPT(model.size, num_languages=languages)  # the new rows start random
        extended.load_state_dict(model.state_dict(), strict=False)
        return extended
    return SemanticGPT(load_size(cfg_size).gpt, num_languages=languages)


def find_sovits(init: str, data: Path, size: str) -> Path | None:
    """The SoVITS whose quantizer made the dataset's codes: `model.sovits_init`, else the
    tiny one `prepare --tiny-features` wrote beside the data (tiny size only)."""
    if init:
        return Path(init)
    tiny = data / "tiny_models" / "sovits.pth"
    return tiny if size == "tiny" and tiny.is_file() else None


def _targets(batch: dict[str, torch.Tensor]) -> int:
    """Trained target tokens: each clip's codes and its EOS."""
    return int(batch["code_lens"].sum()) + len(batch["code_lens"])


class GPTTrainer(StageTrainer):
    stage = "gpt"
    batch_limit_key = "data.max_tokens"
    audition_clips = 2  # one voice, another clip's text
    official_schedule = "warmup_cosine"

    def load_clips(self, root: Path) -> ClipSet:
        rates = (self.cfg.prepare.min_phonemes_per_sec, self.cfg.prepare.max_phonemes_per_sec)
        return gpt_clip_set(root, self.cfg.data.max_sec, rates)

    def batch_limit(self) -> int:
        return self.cfg.data.max_tokens

    def build_networks(self) -> dict[str, Network]:
        cfg, device = self.cfg, self.ctx.device
        model = initial_gpt(cfg.model.size, cfg.model.gpt_init, cfg.model.language_embedding)
        model = model.to(device)
        setup = apply_memory_policy(
            model, "gpt", cfg.memory, device, compile_blocks=cfg.train.compile
        )
        self.model = setup.model.train()
        self.precision = setup.precision
        wrapped = wrap_model(GPTLoss(self.model, cfg.train.dpo), self.ctx, cfg.train.distributed)
        self._sovits = None
        groups = [{"params": list(self.model.parameters()), "lr": cfg.train.lr}]
        return {"gpt": Network(self.model, wrapped, groups)}

    def size_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self.model.size)

    def extensions(self) -> dict[str, Any]:
        embedding = self.model.language_embedding
        return {"num_languages": 0 if embedding is None else embedding.num_embeddings}

    # -- one step ------------------------------------------------------------------------
    def collate(self, part: list[int]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.ctx.device) for k, v in collate_gpt(self.clips, part).items()}

    def counts(self, batch: dict[str, torch.Tensor]) -> tuple[int, int]:
        real = int(batch["phoneme_lens"].sum() + batch["code_lens"].sum())
        return real, batch["phoneme_ids"].numel() + batch["codes"].numel()

    def weights(self, batches: list[dict[str, torch.Tensor]]) -> list[MicroBatchWeight]:
        targets = sum(_targets(batch) for batch in batches)
        scale = 1.0
        if self.cfg.train.loss_norm == "mean":  # DDP averages over ranks: undo, then /tokens
            scale = self.ctx.world_size / all_reduce_sum(targets, self.ctx)
        return [MicroBatchWeight(gradient=scale, reported=1.0 / max(targets, 1)) for _ in batches]

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        return {"batch": batch}  # the GPT's forward is its one loss

    def loss_phases(self) -> list[LossPhase]:
        return [LossPhase("gpt", self._loss)]

    def _loss(self, outputs: dict[str, Any]) -> torch.Tensor:
        with self.precision.autocast():
            return self.networks["gpt"].wrapped(outputs["batch"])

    def validate(self, batch: dict[str, torch.Tensor], clips: int) -> HeldOut:
        """Cross entropy per target token (codes and EOS) and the top-3 accuracy of the
        semantic codes, teacher-forced."""
        with full_parameters(self.networks["gpt"].wrapped), self.precision.autocast():
            loss, accuracy, _ = batch_loss(self.model, batch, accuracy=True)
        codes = int(batch["code_lens"].sum())
        return {
            "valid_loss": (float(loss), _targets(batch)),
            "valid_top3": (float(accuracy) * codes, codes),
        }

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
            if self._sovits.size.sv_dim and not self.clips.clips[0].sv_path:
                return None  # a v2Pro SoVITS speaks only with a speaker embedding
            with (
                full_parameters(self.networks["gpt"].wrapped),
                attention_adapters_merged(self.model),  # LoRA: for the KV-cache decoding
            ):
                return gpt_audition(self.model, self._sovits, self.clips, self.ctx.device)


def gpt_audition(
    gpt: SemanticGPT, sovits: Any, clips: ClipSet, device: torch.device
) -> tuple[np.ndarray, int]:
    """The second clip's text spoken in the first clip's voice (the trainer refuses runs
    with auditions and fewer than two clips at setup)."""
    from leanvoice.audio.spectrogram import linear_spectrogram
    from leanvoice.data.training_sets import collate_sovits

    reference, target = collate_gpt(clips, [0]), collate_gpt(clips, [1])
    size = sovits.size
    voice = collate_sovits(clips, [0], size.hop_length, size.sample_rate, size.sv_dim)
    wave = voice["wave"]
    sv_emb = voice["sv"].to(device) if "sv" in voice else None  # v2Pro/v2ProPlus
    spec = linear_spectrogram(wave, size.n_fft, size.hop_length, size.win_length)
    phonemes = torch.cat([reference["phoneme_ids"], target["phoneme_ids"]], dim=1).to(device)
    bert = torch.cat([reference["bert"], target["bert"]], dim=2).to(device)
    languages = torch.cat([reference["language_ids"], target["language_ids"]], dim=1)
    was_training = gpt.training
    gpt.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        sampling = length_bounded(  # as synthesis does, from the reference clip's rate
            SamplingConfig(top_k=5),
            target["phoneme_ids"].shape[1],
            reference["codes"].shape[1] / reference["phoneme_ids"].shape[1],
            MIN_LENGTH,
            MAX_LENGTH,
            MAX_CODES_PER_PHONEME,
        )
        codes = generate(
            gpt,
            phonemes,
            torch.tensor([phonemes.shape[1]], device=device),
            bert,
            reference["codes"].to(device),
            sampling,
            generator=torch.Generator(device=device).manual_seed(0),
            language_ids=language_ids_for(gpt, languages.to(device)),
        )[0]
        if len(codes) == 0:
            codes = reference["codes"][0].to(device)
        audio = sovits.decode(
            codes[None], target["phoneme_ids"].to(device), spec.to(device), sv_emb=sv_emb
        )
    gpt.train(was_training)
    return audio.reshape(-1).float().cpu().numpy(), size.sample_rate
