"""What a batch costs: the one rule the sampler, the OOM guard, the trainer and the
planner share.

A batch's tensors are padded to its longest clip, so it costs `clips × longest` tokens
(GPT: phonemes + semantic codes) or frames (SoVITS: 50 Hz spectrogram frames; v3/v4:
mel frames, what their DiT runs over), padding counted. `data.max_tokens` /
`data.max_frames` bound that number.
"""

from __future__ import annotations

from collections.abc import Sequence


def padded_cost(batch: Sequence[int], lengths: Sequence[int]) -> int:
    """Tokens or frames the padded tensors of `batch` (clip indices) hold."""
    return len(batch) * max(lengths[i] for i in batch)


def costliest_first(batch: Sequence[int], lengths: Sequence[int]) -> tuple[int, int]:
    """A sort key: padded cost, then clip count."""
    return padded_cost(batch, lengths), len(batch)


def most_clips_first(batch: Sequence[int], lengths: Sequence[int]) -> tuple[int, int]:
    """A sort key for SoVITS, whose decoder trains on a fixed slice of every clip: clip
    count, then padded cost."""
    return len(batch), padded_cost(batch, lengths)


def mel_frames(frames: int, mel_frames_per_frame: float) -> int:
    """The mel frames of a clip of `frames` 50 Hz frames in the v3/v4 stage (v4: ×2 at
    32 kHz / 320, v3: ×1.875 at 24 kHz / 256), truncated: what the clip costs there and,
    as the v3/v4 collate's `mel_lengths`, the frames its loss covers."""
    return int(frames * mel_frames_per_frame)
