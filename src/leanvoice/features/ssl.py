"""HuBERT SSL features: 768-d (v2) at 50 Hz from 16 kHz audio, as the official prepare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr
import torch

from leanvoice.features.local_models import load_pretrained, require_transformers

SSL_SAMPLE_RATE = 16000


class SSLExtractor:
    def __init__(self, directory: Path, device: str = "cpu") -> None:
        require_transformers()
        from transformers import HubertModel

        self.model = load_pretrained(HubertModel, "hubert", directory).to(device)
        self.model.eval()
        self.device = device

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def extract(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono audio → features [dim, frames] (fp32), frames ≈ seconds × 50."""
        wave16 = soxr.resample(samples.astype(np.float32), sample_rate, SSL_SAMPLE_RATE)
        inputs = torch.from_numpy(np.ascontiguousarray(wave16))[None].to(self.device)
        hidden = self.model(inputs).last_hidden_state  # (1, frames, dim)
        return hidden[0].transpose(0, 1).float().cpu().numpy()
