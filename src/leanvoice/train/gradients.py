"""The global gradient norm of one network, measured every step and clipped on request.

`train.grad_clip` is a maximum of the norm over every gradient of a network (0 = off,
the official default: its SoVITS trainer only measures the norm, and its GPT recipe
clips inside ScaledAdam through `clipping_scale`). Under fp16 the GradScaler must
unscale first, so the norm is in true units. Under FSDP2 the gradients are shards
(DTensors): torch reduces the norm across ranks, and the full value is read here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def clip_gradients(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> float:
    """The norm of all gradients before clipping; scales them to `max_norm` if above it
    (`max_norm` 0: measured only). nan when no parameter has a gradient."""
    gradients = [p for p in parameters if p.grad is not None]
    if not gradients:
        return math.nan
    total = torch.nn.utils.clip_grad_norm_(gradients, max_norm if max_norm > 0 else math.inf)
    full_tensor = getattr(total, "full_tensor", None)  # FSDP2: a DTensor norm
    return float(full_tensor() if full_tensor is not None else total)
