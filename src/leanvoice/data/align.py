"""Cut a transcribed clip longer than `max_sec` so that each piece's text matches its audio.

Text boundaries (after punctuation) get an expected time from their share of the
phonemes; a monotone matching pairs them with pauses found in the audio. The pieces are
checked for a plausible speaking rate (a wrong pairing shows up as a piece speaking
much faster or slower than the rest) and regrouped into clips of at most `max_sec`.
When no consistent cut exists, the stretch is reported and left out, never mismatched.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from leanvoice.audio.slicer import Span, cut_at_pauses, find_pauses
from leanvoice.config.schema import SlicerConfig
from leanvoice.errors import TextError
from leanvoice.text.g2p import g2p

_PHRASE_END = re.compile(r"(?<=[,.!?…，。！？；;：:、])\s*")
_RATE_TOLERANCE = 2.5  # a piece may speak this many times faster/slower than the clip average


@dataclass(frozen=True)
class Piece:
    span: Span
    text: str


@dataclass
class SplitResult:
    pieces: list[Piece]
    dropped: list[tuple[float, str]]  # (seconds, reason) of stretches left out


def split_transcribed(
    samples: np.ndarray,
    sample_rate: int,
    region: Span,
    text: str,
    language: str,
    max_sec: float,
    cfg: SlicerConfig,
) -> SplitResult:
    phrases = [p for p in _PHRASE_END.split(text.strip()) if p.strip()]
    if len(phrases) < 2:
        return _drop(region, sample_rate, "no punctuation in the text to split it at pauses")
    weights = [_phoneme_count(p, language) for p in phrases]
    pauses = [
        p
        for p in find_pauses(samples, sample_rate, cfg)
        if region.start < p.start and p.end < region.end
    ]
    matches = _match_boundaries(weights, pauses, region)
    if not matches:
        return _drop(region, sample_rate, "no pause in the audio matches the text's punctuation")
    spans = cut_at_pauses(region, [pauses[i] for _, i in matches], sample_rate, cfg)
    cuts = [j for j, _ in matches]
    texts = _join_groups(phrases, cuts, language)
    piece_weights = [sum(weights[a:b]) for a, b in _ranges(cuts, len(phrases))]
    if not _rates_consistent(spans, piece_weights, sample_rate):
        return _drop(region, sample_rate, "text and pauses disagree (speaking rate implausible)")
    return _group(spans, texts, sample_rate, max_sec, language)


def _match_boundaries(
    weights: list[int], pauses: list[Span], region: Span
) -> list[tuple[int, int]]:
    """Monotone matching of text boundary j (after phrase j) to pause i.

    Maximises the number of pairs, then minimises the total time distance; a pair is
    allowed only within a tolerance of the boundary's expected time.
    """
    total = sum(weights)
    expected = np.cumsum(weights)[:-1] / total * region.length + region.start
    centres = [(p.start + p.end) / 2 for p in pauses]
    tolerance = max(region.length * 0.15, 1.0)
    n_b, n_p = len(expected), len(centres)
    # best[j][i] = (pairs, -distance, pairs list) over the first j boundaries and i pauses
    best = [[(0, 0.0, ())] * (n_p + 1) for _ in range(n_b + 1)]
    for j in range(1, n_b + 1):
        for i in range(1, n_p + 1):
            options = [best[j - 1][i], best[j][i - 1]]
            distance = abs(expected[j - 1] - centres[i - 1])
            if distance <= tolerance:
                pairs, neg, chosen = best[j - 1][i - 1]
                options.append((pairs + 1, neg - distance, (*chosen, (j, i - 1))))
            best[j][i] = max(options, key=lambda o: (o[0], o[1]))
    return list(best[n_b][n_p][2])


def _ranges(cuts: list[int], count: int) -> list[tuple[int, int]]:
    bounds = [0, *cuts, count]
    return list(itertools.pairwise(bounds))


def _join_groups(phrases: list[str], cuts: list[int], language: str) -> list[str]:
    sep = " " if language == "en" else ""
    return [sep.join(p.strip() for p in phrases[a:b]) for a, b in _ranges(cuts, len(phrases))]


def _rates_consistent(spans: list[Span], weights: list[int], sample_rate: int) -> bool:
    rates = [w / (s.length / sample_rate) for s, w in zip(spans, weights, strict=True)]
    overall = sum(weights) / (sum(s.length for s in spans) / sample_rate)
    return all(overall / _RATE_TOLERANCE <= r <= overall * _RATE_TOLERANCE for r in rates)


def _group(
    spans: list[Span], texts: list[str], sample_rate: int, max_sec: float, language: str
) -> SplitResult:
    """Merge neighbouring pieces while they fit in `max_sec`; drop pieces that never fit."""
    max_len = int(max_sec * sample_rate)
    sep = " " if language == "en" else ""
    pieces: list[Piece] = []
    dropped: list[tuple[float, str]] = []
    open_piece: Piece | None = None
    for span, text in zip(spans, texts, strict=True):
        if span.length > max_len:
            if open_piece:
                pieces.append(open_piece)
                open_piece = None
            dropped.append(
                (
                    span.length / sample_rate,
                    f"a {span.length / sample_rate:.1f} s stretch ({text[:30]!r}) has no pause "
                    f"matching the text to cut it below max_sec={max_sec}",
                )
            )
            continue
        if open_piece and span.end - open_piece.span.start <= max_len:
            open_piece = Piece(Span(open_piece.span.start, span.end), open_piece.text + sep + text)
        else:
            if open_piece:
                pieces.append(open_piece)
            open_piece = Piece(span, text)
    if open_piece:
        pieces.append(open_piece)
    return SplitResult(pieces, dropped)


def _drop(region: Span, sample_rate: int, reason: str) -> SplitResult:
    seconds = region.length / sample_rate
    return SplitResult([], [(seconds, f"{seconds:.1f} s clip is longer than max_sec: {reason}")])


def _phoneme_count(phrase: str, language: str) -> int:
    try:
        phones = g2p(phrase, language).phonemes
    except TextError:
        return max(1, len(phrase))
    return max(1, sum(1 for p in phones if p not in ",.!?…-"))
