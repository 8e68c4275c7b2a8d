"""Target text → sentences → phoneme ids, BERT features and language ids.

The G2P splits each sentence into language runs (`leanvoice.text.segment`); each run
gets BERT features (Mandarin only; the other languages get zeros, as in the official
code), joined in phoneme order.
"""

from __future__ import annotations

import re

import numpy as np

from leanvoice.errors import TextError
from leanvoice.features.bert import BertExtractor
from leanvoice.text.g2p import g2p

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=[.])\s+")
MIN_SENTENCE_CHARS = 5  # shorter pieces are joined to the next: too little for the GPT


def split_sentences(text: str) -> list[str]:
    pieces = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    sentences: list[str] = []
    for piece in pieces:
        if sentences and len(sentences[-1]) < MIN_SENTENCE_CHARS:
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def phonemes_and_bert(
    sentence: str, language: str, bert: BertExtractor
) -> tuple[list[int], np.ndarray, list[int]]:
    """Phoneme ids, BERT features [dim, n] and language ids (one per phoneme, for GPTs with
    the language-ID embedding) of one sentence."""
    phonemes = g2p(sentence, language)
    features = [
        bert.phoneme_features(run.normalized_text, run.word2ph, run.phonemes)
        for run in phonemes.runs
    ]
    if not phonemes.phoneme_ids:
        raise TextError(f"no speakable text in {sentence!r}")
    return phonemes.phoneme_ids, np.concatenate(features, axis=1), phonemes.language_ids
