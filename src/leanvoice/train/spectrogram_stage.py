"""What the two SoVITS stages (the VITS one of v2/v2Pro/v2ProPlus, the flow-matching one
of v3/v4) share: clips under `data.max_frames` (costed by `clip_cost`: 50 Hz spectrogram
frames here, mel frames in the v3/v4 stage), a per-clip-mean loss, and the v2 linear
spectrogram in collate."""

from __future__ import annotations

from pathlib import Path

import torch

from leanvoice.audio.spectrogram import linear_spectrogram
from leanvoice.config.schema import Config
from leanvoice.config.sizes import SoVITSSize
from leanvoice.data.training_sets import ClipSet, collate_sovits, sovits_clip_set
from leanvoice.train.trainer import MicroBatchWeight, StageTrainer


class SpectrogramStage(StageTrainer):
    stage = "sovits"
    batch_limit_key = "data.max_frames"
    official_schedule = "exponential"

    def load_clips(self, root: Path) -> ClipSet:
        clips = sovits_clip_set(root, self.cfg.data.max_sec)  # lengths in 50 Hz frames
        clips.lengths = [self.clip_cost(self.cfg, frames) for frames in clips.lengths]
        return clips

    def batch_limit(self) -> int:
        return self.cfg.data.max_frames

    @classmethod
    def clip_cost(cls, cfg: Config, frames: int) -> int:
        """What a clip of `frames` 50 Hz frames costs under `data.max_frames` (the
        planner asks too)."""
        return frames

    def counts(self, batch: dict[str, torch.Tensor]) -> tuple[int, int]:
        return int(batch["frames"].sum()), batch["ssl"].shape[-1] * len(batch["frames"])

    def weights(self, batches: list[dict[str, torch.Tensor]]) -> list[MicroBatchWeight]:
        clips = sum(len(batch["frames"]) for batch in batches)
        shares = [len(batch["frames"]) / clips for batch in batches]  # losses: per-clip means
        return [MicroBatchWeight(gradient=share, reported=share) for share in shares]

    def spectrogram_batch(
        self, part: list[int], size: SoVITSSize, sv_dim: int = 0
    ) -> dict[str, torch.Tensor]:
        """The clips' features, waves and phonemes (and speaker embeddings with
        `sv_dim`), with their linear spectrogram cut to the SSL frames; on the CPU."""
        batch = collate_sovits(self.clips, part, size.hop_length, size.sample_rate, sv_dim)
        batch["spec"] = linear_spectrogram(
            batch["wave"], size.n_fft, size.hop_length, size.win_length
        )[..., : batch["ssl"].shape[-1]]
        return batch
