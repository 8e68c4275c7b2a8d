"""Held-out clips: a fixed share of each speaker's clips that training never sees, so a
run can measure how well it does on speech it did not learn from (`valid_loss`).

The rule is fixed, not seeded: each speaker's clips are ordered by a hash of their id
and the first `fraction` of them are held out. So both stages, every seed and every
resume hold out the same clips, and adding clips to a dataset moves few of them. A
speaker keeps at least one clip for training; one with a single clip holds none out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from leanvoice.data.manifest import ClipRecord
from leanvoice.data.training_sets import ClipSet


def held_out_ids(clips: Iterable[ClipRecord], fraction: float) -> set[str]:
    """The ids of the clips held out: round(fraction × clips) per speaker, at least one
    when `fraction` > 0, never all of a speaker's clips."""
    if fraction <= 0:
        return set()
    by_speaker: dict[str, list[str]] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, []).append(clip.id)
    held: set[str] = set()
    for ids in by_speaker.values():
        count = min(max(round(fraction * len(ids)), 1), len(ids) - 1)
        held.update(sorted(ids, key=_stable_hash)[:count])
    return held


def split_clip_set(clip_set: ClipSet, held: set[str]) -> tuple[ClipSet, ClipSet]:
    """(training clips, held-out clips) of a stage's clip set; the clips the stage left
    out stay counted with the training set."""
    train = [i for i, clip in enumerate(clip_set.clips) if clip.id not in held]
    valid = [i for i, clip in enumerate(clip_set.clips) if clip.id in held]
    return _subset(clip_set, train, clip_set.dropped), _subset(clip_set, valid, {})


def _subset(clip_set: ClipSet, indices: list[int], dropped: dict[str, int]) -> ClipSet:
    return ClipSet(
        clip_set.root,
        [clip_set.clips[i] for i in indices],
        [clip_set.lengths[i] for i in indices],
        dict(dropped),
    )


def _stable_hash(clip_id: str) -> str:
    return hashlib.sha1(clip_id.encode("utf-8")).hexdigest()
