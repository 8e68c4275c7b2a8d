"""Dispatch text to the right language frontend and return v2 phoneme ids."""

from __future__ import annotations

from dataclasses import dataclass

from leanvoice.errors import TextError
from leanvoice.text.chinese import chinese_to_phonemes, normalize_chinese
from leanvoice.text.english import english_to_phonemes, normalize_english
from leanvoice.text.symbols import phonemes_to_ids

SUPPORTED_LANGUAGES = ("zh", "en")
OFFICIAL_LANGUAGES = ("zh", "ja", "en", "ko", "yue")


def language_id(code: str) -> int:
    """The index of a language for the GPT's optional language-ID embedding."""
    return OFFICIAL_LANGUAGES.index(normalize_language(code))


_ALIASES = {"all_zh": "zh", "all_ja": "ja", "all_ko": "ko", "all_yue": "yue", "cmn": "zh"}


@dataclass
class Phonemes:
    language: str
    normalized_text: str
    phonemes: list[str]
    phoneme_ids: list[int]
    word2ph: list[int] | None  # phonemes per character (Mandarin only; BERT alignment)


def normalize_language(code: str) -> str:
    """Official codes in any case (`ZH`, `en`, `all_zh`) → `zh`/`en`/…; error if unknown."""
    lang = code.strip().lower()
    lang = _ALIASES.get(lang, lang)
    if lang not in OFFICIAL_LANGUAGES:
        raise TextError(
            f"unknown language {code!r}; the official codes are {', '.join(OFFICIAL_LANGUAGES)}"
        )
    if lang not in SUPPORTED_LANGUAGES:
        raise TextError(
            f"language {lang!r} is not supported yet (supported: {', '.join(SUPPORTED_LANGUAGES)})"
        )
    return lang


def g2p(text: str, language: str) -> Phonemes:
    lang = normalize_language(language)
    if not text.strip():
        raise TextError("empty transcript")
    if lang == "zh":
        normalized = normalize_chinese(text)
        phonemes, word2ph = chinese_to_phonemes(normalized)
    else:
        normalized = normalize_english(text)
        phonemes, word2ph = english_to_phonemes(normalized), None
    return Phonemes(lang, normalized, phonemes, phonemes_to_ids(phonemes), word2ph)
