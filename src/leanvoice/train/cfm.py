"""Stage 2 for v3/v4/v5: the flow-matching SoVITS (`CFMSoVITS`), one network, one loss.

The stage's part of the trainer's step: `collate` adds the clip's normalised mel (v4:
32 kHz / 320; v3: the wave at 24 kHz / 256) to what the v2 SoVITS reads; `forward` runs
the model, whose loss is the CFM's (a mean over clips of each clip's MSE on its frames
after a random prompt); one loss phase, `generator`. There is no discriminator.

What trains (official `s2_train_v3_lora.py` / `s2_train_v3.py`): the model freezes
`ssl_proj`, the quantizer and the text encoder itself; with LoRA
(`memory.lora.rank` > 0, the official recipe: rank 32, alpha = rank) the DiT gets
adapters on `to_q`, `to_k`, `to_v`, `to_out.0` and its own weights freeze, while
`bridge` and `wns1` train in full beside them; without LoRA everything else trains (the
official full fine-tune). `train.cfm_bootstrap_no_grad` runs the shortcut target's two
extra estimator passes without autograd: the official detaches them, so the gradient is
the same and their activations are never kept. v5 (v5dev, v5turbo) trains the same way
on v4's mels, with plain flow matching (no bootstrap: the setting has nothing to do).

Batches are measured in mel frames (v4 100 Hz, v3 93.75 Hz: ×2 / ×1.875 the 50 Hz
frames), the frames the DiT runs over: `data.max_frames` bounds a batch's padded mel
frames here, and the step's counts (tokens_per_second, padding_efficiency) are mel frames.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanvoice.audio.cfm_mel import cfm_log_mel, normalize_mel
from leanvoice.audio.io import Audio, resample
from leanvoice.config.schema import Config
from leanvoice.config.sizes import load_size
from leanvoice.data.batch_cost import mel_frames
from leanvoice.errors import ConfigError
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.cfm import CFMSoVITS, cfm_size
from leanvoice.train.distributed import wrap_model
from leanvoice.train.gpt import find_sovits
from leanvoice.train.spectrogram_stage import SpectrogramStage
from leanvoice.train.trainer import LossPhase, Network

V2_SPECTROGRAM = load_size("v2").sovits  # the style encoder reads the v2 linear spectrogram


def initial_cfm(size_name: str, version: str, init: Path | None) -> tuple[CFMSoVITS, list[str]]:
    """A trainable v3/v4 model of `size_name` ("v2" = official size): from an official
    v3/v4 file, or fresh with the shared parts (text encoder, style encoder, SSL
    projection and quantizer, whose codebook made the dataset's codes) from a v2 file of
    the same widths (what `prepare --tiny-features` writes). Returns the parts that
    start random."""
    size = cfm_size("official" if size_name == "v2" else size_name, version)
    model = CFMSoVITS(size)
    if init is None:
        return model, sorted({key.split(".")[0] for key in model.state_dict()})
    from leanvoice.compat.cfm import load_any_official_sovits

    loaded = load_any_official_sovits(init, version)
    if isinstance(loaded, CFMSoVITS):
        return loaded.train(), []
    v2 = loaded
    mine = model.state_dict()
    shared = {k: v for k, v in v2.state_dict().items() if k in mine and mine[k].shape == v.shape}
    if not any(key.startswith("quantizer.") for key in shared):
        raise ConfigError(
            f"{init}: its quantizer does not fit a {version} model of model.size={size_name}; "
            f"start from an official {version} file (model.sovits_init)"
        )
    model.load_state_dict(shared, strict=False)
    return model, sorted({key.split(".")[0] for key in set(mine) - set(shared)})


def _resampled(waves: torch.Tensor, rate: int, new_rate: int) -> torch.Tensor:
    """Each row resampled (soxr, as prepare; the official reads the clip again at 24 kHz
    through ffmpeg), at the length the frame rates give."""
    length = round(waves.shape[1] * new_rate / rate)
    rows = [resample(Audio(row.numpy(), rate), new_rate).samples[:length] for row in waves]
    out = torch.zeros(len(rows), length)
    for index, row in enumerate(rows):
        out[index, : len(row)] = torch.from_numpy(np.asarray(row, dtype=np.float32))
    return out


class CFMTrainer(SpectrogramStage):
    # -- batches, in mel frames ----------------------------------------------------------
    @classmethod
    def clip_cost(cls, cfg: Config, frames: int) -> int:
        """A clip's mel frames (its 50 Hz frames ×2 for v4, ×1.875 for v3): what its
        tensors hold in this stage, and the unit of `data.max_frames` here."""
        return mel_frames(frames, cfm_size(version=cfg.model.version).settings.upsample_factor)

    def counts(self, batch: dict[str, torch.Tensor]) -> tuple[int, int]:
        """(real, padded) mel frames."""
        lengths = batch["mel_lengths"]
        return int(lengths.sum()), len(lengths) * int(lengths.max())

    # -- the model -----------------------------------------------------------------------
    def build_networks(self) -> dict[str, Network]:
        cfg, device = self.cfg, self.ctx.device
        init = find_sovits(cfg.model.sovits_init, self.data, cfg.model.size)
        model, fresh = initial_cfm(cfg.model.size, cfg.model.version, init)
        if fresh and self.ctx.is_main:
            self.console.print(f"{init or 'no model.sovits_init'}: {', '.join(fresh)} start random")
        self.size = model.size
        setup = apply_memory_policy(
            model.to(device), "sovits", cfg.memory, device, compile_blocks=cfg.train.compile
        )
        self.model = setup.model.train()  # with LoRA: bridge + wns1 in full beside the
        # adapters (the model's trained_beside_adapters, applied by the policy)
        self.precision = setup.precision
        groups = [{"params": list(self.model.parameters()), "lr": cfg.train.lr}]
        return {"generator": Network(self.model, wrap_model(self.model, self.ctx), groups)}

    def size_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self.size)

    def extensions(self) -> dict[str, Any]:
        return {}

    # -- one step ------------------------------------------------------------------------
    def collate(self, part: list[int]) -> dict[str, torch.Tensor]:
        spectrogram = V2_SPECTROGRAM
        batch = self.spectrogram_batch(part, spectrogram)
        settings = self.size.settings
        wave = batch["wave"]
        if settings.mel.sample_rate != spectrogram.sample_rate:  # v3: 24 kHz mels, as the
            wave = _resampled(wave, spectrogram.sample_rate, settings.mel.sample_rate)  # official
        batch["mel"] = normalize_mel(cfm_log_mel(wave, settings.mel))
        factor = settings.upsample_factor  # by the rule the clips are costed with
        batch["mel_lengths"] = torch.tensor([mel_frames(int(n), factor) for n in batch["frames"]])
        return {k: v.to(self.ctx.device) for k, v in batch.items()}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        with self.precision.autocast():
            return self.networks["generator"].wrapped(
                batch["ssl"],
                batch["spec"],
                batch["frames"],
                batch["mel"],
                batch["mel_lengths"],
                batch["phoneme_ids"],
                batch["phoneme_lens"],
                bootstrap_no_grad=self.cfg.train.cfm_bootstrap_no_grad,
            )

    def loss_phases(self) -> list[LossPhase]:
        return [LossPhase("generator", lambda out: out["loss"])]
