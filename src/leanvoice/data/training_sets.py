"""Prepared clips as training samples for each stage, with per-sample length caps.

GPT samples: phoneme ids, BERT features [bert_dim, phonemes], semantic codes (25 Hz).
SoVITS samples: SSL features [ssl_dim, frames], the 32 kHz waveform (its linear
spectrogram is computed in collate, in fp32), phoneme ids. A clip whose feature file is
missing is a clear error naming the file; clips past the caps are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from leanvoice.audio.io import load_audio
from leanvoice.data.manifest import ClipRecord, read_manifest
from leanvoice.errors import InputError

CODES_PER_SECOND = 25
SSL_FRAMES_PER_SECOND = 50


@dataclass
class ClipSet:
    root: Path
    clips: list[ClipRecord]
    lengths: list[int]  # batch-budget cost per clip
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count


def gpt_clip_set(
    root: Path, max_sec: float, phonemes_per_sec: tuple[float, float] = (3.0, 25.0)
) -> ClipSet:
    """Official caps: at most `max_sec` of codes, phonemes ≤ codes / 2.5; and a plausible
    phonemes-per-second ratio (prepare's `min/max_phonemes_per_sec`, which `prepare`
    already enforces on what it writes: this catches imported or older datasets)."""
    low, high = phonemes_per_sec
    kept, lengths, dropped = [], [], {}
    for clip in read_manifest(root, need_features=True):
        phonemes, codes = len(clip.phoneme_ids), int(clip.semantic_tokens or 0)
        seconds = codes / CODES_PER_SECOND
        reason = None
        if codes > max_sec * CODES_PER_SECOND:
            reason = f"longer than data.max_sec={max_sec}"
        elif phonemes > max_sec * CODES_PER_SECOND / 2.5:
            reason = "too many phonemes"
        elif seconds <= 0 or not low <= phonemes / seconds <= high:
            reason = f"phonemes per second outside {low:g}..{high:g}"
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        kept.append(clip)
        lengths.append(phonemes + codes)
    return ClipSet(root, kept, lengths, dropped)


def sovits_clip_set(root: Path, max_sec: float) -> ClipSet:
    kept, lengths, dropped = [], [], {}
    for clip in read_manifest(root, need_features=True):
        frames = clip.frames
        if frames > max_sec * SSL_FRAMES_PER_SECOND:
            reason = f"longer than data.max_sec={max_sec}"
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        kept.append(clip)
        lengths.append(frames)
    return ClipSet(root, kept, lengths, dropped)


def _load_npy(root: Path, relative: str) -> np.ndarray:
    path = root / relative
    try:
        return np.load(path)
    except FileNotFoundError:
        raise InputError(f"{path}: feature file missing; re-run `leanvoice prepare`") from None
    except ValueError as error:
        raise InputError(f"{path}: unreadable feature file ({error})") from None


def _pad_stack(arrays: list[torch.Tensor], value: float = 0) -> torch.Tensor:
    """Right-pad the last dimension to the batch maximum and stack."""
    longest = max(a.shape[-1] for a in arrays)
    return torch.stack(
        [torch.nn.functional.pad(a, (0, longest - a.shape[-1]), value=value) for a in arrays]
    )


def collate_gpt(clip_set: ClipSet, indices: list[int]) -> dict[str, torch.Tensor]:
    clips = [clip_set.clips[i] for i in indices]
    phonemes = [torch.tensor(c.phoneme_ids, dtype=torch.long) for c in clips]
    bert = [
        torch.from_numpy(_load_npy(clip_set.root, c.bert_path).astype(np.float32)) for c in clips
    ]
    codes = [
        torch.from_numpy(_load_npy(clip_set.root, c.semantic_path).astype(np.int64)) for c in clips
    ]
    codes = [c.reshape(-1) for c in codes]
    for clip, features, ids in zip(clips, bert, phonemes, strict=True):
        if features.shape[-1] != len(ids):
            raise InputError(
                f"{clip_set.root / clip.bert_path}: {features.shape[-1]} BERT frames for "
                f"{len(ids)} phonemes; re-run `leanvoice prepare`"
            )
    languages = [torch.tensor(c.language_ids()) for c in clips]
    return {
        "phoneme_ids": _pad_stack(phonemes),
        "phoneme_lens": torch.tensor([len(p) for p in phonemes]),
        "language_ids": _pad_stack(languages),
        "bert": _pad_stack(bert),
        "codes": _pad_stack(codes),
        "code_lens": torch.tensor([len(c) for c in codes]),
    }


def collate_sovits(
    clip_set: ClipSet,
    indices: list[int],
    hop_length: int,
    sample_rate: int,
    sv_dim: int = 0,
) -> dict[str, torch.Tensor]:
    """`sv_dim` > 0 (v2Pro/v2ProPlus): also each clip's speaker embedding, "sv" (B, sv_dim)."""
    clips = [clip_set.clips[i] for i in indices]
    ssl = [torch.from_numpy(_load_npy(clip_set.root, c.ssl_path).astype(np.float32)) for c in clips]
    waves = []
    for clip in clips:
        path = clip_set.root / clip.wav
        audio = load_audio(path, sample_rate)
        waves.append(torch.from_numpy(np.asarray(audio.samples, dtype=np.float32)))
    frames = [min(s.shape[-1], len(w) // hop_length) for s, w in zip(ssl, waves, strict=True)]
    ssl = [s[:, :n] for s, n in zip(ssl, frames, strict=True)]
    waves = [w[: n * hop_length] for w, n in zip(waves, frames, strict=True)]
    phonemes = [torch.tensor(c.phoneme_ids, dtype=torch.long) for c in clips]
    extra = {"sv": speaker_embeddings(clip_set.root, clips, sv_dim)} if sv_dim else {}
    return {
        **extra,
        "ssl": _pad_stack(ssl),
        "wave": _pad_stack(waves),
        "frames": torch.tensor(frames),
        "phoneme_ids": _pad_stack(phonemes),
        "phoneme_lens": torch.tensor([len(p) for p in phonemes]),
    }


def speaker_embeddings(root: Path, clips: list[ClipRecord], sv_dim: int) -> torch.Tensor:
    """The clips' speaker-verification embeddings (`prepare --sv`) → (B, sv_dim) fp32."""
    rows = []
    for clip in clips:
        if not clip.sv_path:
            raise InputError(
                f"{root / 'manifest.jsonl'}: clip {clip.id} has no speaker embedding, which "
                "v2Pro/v2ProPlus need: run `leanvoice prepare … --sv FILE` on this folder"
            )
        row = _load_npy(root, clip.sv_path).astype(np.float32).reshape(-1)
        if row.shape[0] != sv_dim:
            raise InputError(
                f"{root / clip.sv_path}: a {row.shape[0]}-wide speaker embedding; this model "
                f"takes {sv_dim} (the official ERes2NetV2: 20480, the tiny one: its own): "
                "prepare again with the matching --sv"
            )
        rows.append(torch.from_numpy(row))
    return torch.stack(rows)
