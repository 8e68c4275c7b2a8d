"""Target text → sentences → language runs → phoneme ids and BERT features.

`auto` language splits a sentence into runs of Han characters (Mandarin) and the rest
(English), as the official "auto" mode does for zh/en; each run goes through its G2P
and BERT (Mandarin only; English runs get zero BERT features, as in the official code).
"""

from __future__ import annotations

import re

import numpy as np

from leanvoice.errors import TextError
from leanvoice.features.bert import BertExtractor
from leanvoice.text.g2p import g2p, language_id, normalize_language

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=[.])\s+")
_HAN_RUN = re.compile(
    r"([\u4e00-\u9fff\u3400-\u4dbf][\u4e00-\u9fff\u3400-\u4dbf，。！？、：；“”‘’（）《》\s\d]*)"
)
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


def language_runs(sentence: str, language: str) -> list[tuple[str, str]]:
    if language != "auto":
        return [(sentence, normalize_language(language))]
    runs = []
    for index, part in enumerate(_HAN_RUN.split(sentence)):
        if part.strip() and any(ch.isalnum() for ch in part):
            runs.append((part.strip(), "zh" if index % 2 else "en"))
    return runs


def phonemes_and_bert(
    sentence: str, language: str, bert: BertExtractor
) -> tuple[list[int], np.ndarray, list[int]]:
    """Phoneme ids, BERT features [dim, n] and language ids (one per phoneme, for GPTs with
    the language-ID embedding) of one sentence."""
    ids: list[int] = []
    languages: list[int] = []
    features = []
    for run_text, run_language in language_runs(sentence, language):
        phonemes = g2p(run_text, run_language)
        ids.extend(phonemes.phoneme_ids)
        languages.extend([language_id(phonemes.language)] * len(phonemes.phoneme_ids))
        features.append(
            bert.phoneme_features(
                phonemes.normalized_text, phonemes.word2ph, len(phonemes.phoneme_ids)
            )
        )
    if not ids:
        raise TextError(f"no speakable text in {sentence!r}")
    return ids, np.concatenate(features, axis=1), languages
