"""Energy-based silence slicer (defaults as the official tools/slicer2.py).

`find_pauses` locates silences; `trim_edges` drops leading/trailing silence beyond what we
keep; `slice_audio` cuts untranscribed audio into pieces of at most `max_sec`, at pauses
and, where a stretch has no pause, at its quietest frame. Transcribed audio is cut by
data/align.py, which must keep the text consistent with the audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leanvoice.audio.io import frame_rms_db
from leanvoice.config.schema import SlicerConfig


@dataclass(frozen=True)
class Span:
    start: int  # sample index, inclusive
    end: int  # sample index, exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


def silent_frames(samples: np.ndarray, sample_rate: int, cfg: SlicerConfig) -> np.ndarray:
    hop = int(sample_rate * cfg.hop_ms / 1000)
    return frame_rms_db(samples, hop, 4 * hop) < cfg.threshold_db


def find_pauses(samples: np.ndarray, sample_rate: int, cfg: SlicerConfig) -> list[Span]:
    """Internal silences of at least `min_interval_ms` (leading/trailing silence excluded)."""
    hop = int(sample_rate * cfg.hop_ms / 1000)
    silent = silent_frames(samples, sample_rate, cfg)
    min_frames = max(1, cfg.min_interval_ms // cfg.hop_ms)
    pauses = []
    for first, last in _runs(silent):
        if first == 0 or last == len(silent):
            continue  # edge silence, handled by trim_edges
        if last - first >= min_frames:
            pauses.append(Span(first * hop, min(last * hop, len(samples))))
    return pauses


def trim_edges(samples: np.ndarray, sample_rate: int, cfg: SlicerConfig) -> Span | None:
    """The span from the first to the last sound, with half the kept silence on each side."""
    hop = int(sample_rate * cfg.hop_ms / 1000)
    silent = silent_frames(samples, sample_rate, cfg)
    sounding = np.flatnonzero(~silent)
    if sounding.size == 0:
        return None
    keep = int(sample_rate * cfg.max_silence_kept_ms / 2000)
    start = max(0, int(sounding[0]) * hop - keep)
    end = min(len(samples), (int(sounding[-1]) + 1) * hop + keep)
    return Span(start, end)


def cut_at_pauses(
    region: Span, pauses: list[Span], sample_rate: int, cfg: SlicerConfig
) -> list[Span]:
    """Split `region` at each pause, keeping at most half the kept silence on each side."""
    keep = int(sample_rate * cfg.max_silence_kept_ms / 2000)
    pieces = []
    start = region.start
    for pause in sorted(pauses, key=lambda p: p.start):
        if not (region.start < pause.start and pause.end < region.end):
            continue
        middle = (pause.start + pause.end) // 2
        pieces.append(Span(start, min(pause.start + keep, middle)))
        start = max(pause.end - keep, middle)
    pieces.append(Span(start, region.end))
    return pieces


def slice_audio(
    samples: np.ndarray, sample_rate: int, max_sec: float, cfg: SlicerConfig
) -> list[Span]:
    """Cut untranscribed audio into spans of at most `max_sec` seconds.

    Pauses are cut points; neighbouring pieces are merged back while they fit. A piece
    still too long (no pause in it) is cut at its quietest frame, recursively.
    """
    region = trim_edges(samples, sample_rate, cfg)
    if region is None:
        return []
    max_len = int(max_sec * sample_rate)
    pieces = cut_at_pauses(region, find_pauses(samples, sample_rate, cfg), sample_rate, cfg)
    merged: list[Span] = []
    for piece in pieces:
        if merged and piece.end - merged[-1].start <= max_len:
            merged[-1] = Span(merged[-1].start, piece.end)
        else:
            merged.append(piece)
    out: list[Span] = []
    for piece in merged:
        out.extend(_cut_at_quietest(samples, piece, max_len, sample_rate, cfg))
    return out


def _cut_at_quietest(
    samples: np.ndarray, span: Span, max_len: int, sample_rate: int, cfg: SlicerConfig
) -> list[Span]:
    if span.length <= max_len:
        return [span]
    hop = int(sample_rate * cfg.hop_ms / 1000)
    # Search the middle of the span so both halves can end up no longer than max_len.
    low = span.end - max_len if span.length < 2 * max_len else span.start + span.length // 4
    high = span.start + max_len if span.length < 2 * max_len else span.end - span.length // 4
    # levels over the whole signal, so the window's own edges do not look quiet
    levels = frame_rms_db(samples, hop, 4 * hop)[low // hop : high // hop]
    cut = (low // hop + int(np.argmin(levels))) * hop
    cut = min(max(cut, low + 1), high - 1)
    return _cut_at_quietest(
        samples, Span(span.start, cut), max_len, sample_rate, cfg
    ) + _cut_at_quietest(samples, Span(cut, span.end), max_len, sample_rate, cfg)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last_exclusive) of each run of True values."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
