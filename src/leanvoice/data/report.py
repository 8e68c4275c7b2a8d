"""The prepare report: hours, clips per speaker, duration histogram, skipped items."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from leanvoice.data.manifest import ClipRecord

HISTOGRAM_EDGES_SEC = (0, 1, 2, 4, 6, 8, 10, 12, 15, 20, 30, 60)


def build_report(
    clips: list[ClipRecord], skipped: list[dict[str, Any]], *, source: str, items: int
) -> dict[str, Any]:
    durations = [c.duration_sec for c in clips]
    histogram = []
    for low, high in itertools.pairwise(HISTOGRAM_EDGES_SEC):
        count = sum(1 for d in durations if low <= d < high)
        if count:
            histogram.append({"from_sec": low, "to_sec": high, "clips": count})
    return {
        "source": source,
        "items": items,
        "clips": len(clips),
        "hours": round(sum(durations) / 3600, 4),
        "seconds": round(sum(durations), 2),
        "max_clip_sec": max(durations, default=0.0),
        "clips_per_speaker": dict(sorted(Counter(c.speaker for c in clips).items())),
        "clips_per_language": dict(sorted(Counter(c.language for c in clips).items())),
        "duration_histogram": histogram,
        "skipped": skipped,
    }
