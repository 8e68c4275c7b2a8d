"""Mixed precision: pick the autocast dtype for a device and make the GradScaler.

`auto` = bf16 where the device supports it (CUDA with bf16), else fp16 with a scaler on
CUDA, and fp32 on CPU. Precision-sensitive maths (spectrograms, KL, losses) is computed
in fp32 by the code that owns it (audio/spectrogram.py, models/sovits/losses.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from leanvoice.errors import ConfigError


@dataclass(frozen=True)
class PrecisionPlan:
    device_type: str
    dtype: torch.dtype | None  # None = full fp32, no autocast

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.device_type, dtype=self.dtype):
            yield

    def make_scaler(self) -> torch.amp.GradScaler:
        """One per optimizer (the GAN has two); a disabled scaler is a no-op."""
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_scaler)


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu"


def resolve_precision(precision: str, device: torch.device) -> PrecisionPlan:
    device = torch.device(device)
    if precision == "fp32":
        return PrecisionPlan(device.type, None)
    if precision == "auto":
        if device.type != "cuda":
            return PrecisionPlan(device.type, None)
        precision = "bf16" if bf16_supported(device) else "fp16"
    if precision == "bf16":
        if not bf16_supported(device):
            raise ConfigError(
                f"memory.precision=bf16 is not supported on {device} "
                "(needs an Ampere or newer GPU); use fp16 or auto"
            )
        return PrecisionPlan(device.type, torch.bfloat16)
    if device.type != "cuda":  # fp16: the schema's Literal admits nothing else
        raise ConfigError(
            f"memory.precision=fp16 needs a CUDA device, not {device}; use bf16 or fp32"
        )
    return PrecisionPlan(device.type, torch.float16)
