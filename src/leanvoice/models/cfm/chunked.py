"""Continuing a reference mel through a sentence's content, a sampler call per chunk.

The DiT attends over the whole prompt + new frames at once, so a long sentence is made
in chunks of at most `chunk_frames` frames in all (official WebUI and `TTS.py`):
- v3/v4: the reference's last `prompt_frames` frames prompt the first chunk, and each
  later chunk is prompted by the end of the one before (mel and content alike);
- v5 (`synthesize_v5_mel`): at most `max_target_chunk` new frames per call, and each
  later chunk keeps the original reference as its prompt, with only its last
  `rolling_tail` frames replaced by the end of the chunk before, so the reference
  speaker stays in most of every prompt.
"""

from __future__ import annotations

import torch

from leanvoice.models.cfm.config import CFMVersion
from leanvoice.models.cfm.flow import ConditionalFlowMatching


def continue_reference(
    cfm: ConditionalFlowMatching,
    settings: CFMVersion,
    reference_mel: torch.Tensor,  # (B, mel, T_ref) normalised
    reference_content: torch.Tensor,  # (B, text_dim, T_ref') the reference's content
    target: torch.Tensor,  # (B, text_dim, T) the sentence's content features
    *,
    steps: int,
    temperature: float,
    cfg_rate: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """→ the sentence's normalised mel (B, mel, T)."""
    if target.shape[2] == 0 or min(reference_mel.shape[2], reference_content.shape[2]) == 0:
        raise ValueError("continuing a reference needs reference frames and target frames")
    usable = min(reference_mel.shape[2], reference_content.shape[2])
    reference_mel = reference_mel[:, :, :usable][:, :, -settings.prompt_frames :]
    reference_content = reference_content[:, :, :usable][:, :, -settings.prompt_frames :]
    reference_frames = reference_mel.shape[2]
    chunk = settings.chunk_frames - reference_frames
    if settings.max_target_chunk:
        chunk = min(chunk, settings.max_target_chunk)
    prompt_mel, prompt_content = reference_mel, reference_content
    pieces = []
    for start in range(0, target.shape[2], chunk):
        new = target[:, :, start : start + chunk]
        content = torch.cat([prompt_content, new], dim=2)
        lengths = torch.full((content.shape[0],), content.shape[2], device=content.device)
        mel = cfm.sample(
            content,
            lengths,
            prompt_mel,
            steps,
            temperature=temperature,
            cfg_rate=cfg_rate,
            negative_keeps_content=settings.negative_keeps_content,
            generator=generator,
        )[:, :, prompt_mel.shape[2] :]
        pieces.append(mel)
        previous_mel, previous_content = (
            mel[:, :, -reference_frames:],
            new[:, :, -reference_frames:],
        )
        if settings.rolling_tail:  # v5: the original reference with a rolling tail
            tail = min(settings.rolling_tail, reference_frames, previous_mel.shape[2])
            kept = reference_frames - tail
            prompt_mel = torch.cat([reference_mel[:, :, :kept], previous_mel[:, :, -tail:]], 2)
            prompt_content = torch.cat(
                [reference_content[:, :, :kept], previous_content[:, :, -tail:]], 2
            )
        else:
            prompt_mel, prompt_content = previous_mel, previous_content
    return torch.cat(pieces, dim=2)
