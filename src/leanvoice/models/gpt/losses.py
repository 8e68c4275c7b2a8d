"""The official v2 DPO-style loss: prefer the real codes over a corrupted copy."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def make_rejected_codes(
    codes: torch.Tensor, code_lens: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, repeat or drop a random span of its codes (as the official recipe)."""
    rejected = []
    for row, length in zip(codes, code_lens.tolist(), strict=True):
        real = row[:length]
        start, end = torch.randint(0, length, (2,), generator=generator).sort().values.tolist()
        if torch.randint(0, 2, (1,), generator=generator).item() == 0:
            new = torch.cat([real[:start], real[start:end], real[start:end], real[end:]])
        else:
            new = torch.cat([real[:start], real[end:]])
        rejected.append(new)
    lens = torch.tensor([len(r) for r in rejected], device=codes.device)
    width = int(lens.max())
    padded = torch.stack([F.pad(r, (0, width - len(r))) for r in rejected])
    return padded, lens


def sequence_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over positions of log p(target) — (B,)."""
    log_probs = logits.log_softmax(-1).gather(2, targets[..., None]).squeeze(2)
    return log_probs.sum(-1)


def dpo_loss(chosen: torch.Tensor, rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """Reference-free DPO: mean of −log σ(β (log p_chosen − log p_rejected))."""
    return -F.logsigmoid(beta * (chosen - rejected)).mean()
