"""Dispatch text to the right language front end and return v2 phoneme ids.

Every language code splits Latin words out as English runs, as the official modes do
(`zh` is "Mandarin with English"); `auto` / `auto_yue` also tell Japanese, Korean and
Mandarin (Cantonese) apart by script (`leanvoice.text.segment`). Each run goes through
its own front end, and the runs are joined. BERT features stay Mandarin-only: each run
keeps its own normalised text and `word2ph`, so the extractor gives Mandarin runs real
features and the others zeros, as the official code does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leanvoice.errors import TextError
from leanvoice.text.segment import MIXED_MODES, language_runs
from leanvoice.text.symbols import phonemes_to_ids

OFFICIAL_LANGUAGES = ("zh", "ja", "en", "ko", "yue")
SUPPORTED_LANGUAGES = OFFICIAL_LANGUAGES
_ALIASES = {
    "all_zh": "zh",
    "all_ja": "ja",
    "all_ko": "ko",
    "all_yue": "yue",
    "cmn": "zh",
    "jp": "ja",
    "kr": "ko",
    "zh-cn": "zh",
    "zh_cn": "zh",
}


def language_id(code: str) -> int:
    """The index of a language for the GPT's optional language-ID embedding."""
    return OFFICIAL_LANGUAGES.index(normalize_language(code))


@dataclass
class Run:
    """One language's stretch of a transcript, for BERT alignment and language ids."""

    language: str
    normalized_text: str
    word2ph: list[int] | None  # phonemes per character (Mandarin only)
    phonemes: int

    def as_json(self) -> dict:
        return {
            "language": self.language,
            "normalized_text": self.normalized_text,
            "word2ph": self.word2ph,
            "phonemes": self.phonemes,
        }


@dataclass
class Phonemes:
    language: str  # the code asked for; `auto` stays `auto` only when no run decides it
    normalized_text: str
    phonemes: list[str]
    phoneme_ids: list[int]
    word2ph: list[int] | None  # phonemes per character (Mandarin only; BERT alignment)
    runs: list[Run] = field(default_factory=list)

    @property
    def language_ids(self) -> list[int]:
        return language_ids_of(self.runs)


def language_ids_of(runs: list[Run]) -> list[int]:
    """One language id per phoneme (the GPT's optional language-ID embedding)."""
    return [language_id(run.language) for run in runs for _ in range(run.phonemes)]


def normalize_language(code: str, *, mixed: bool = False) -> str:
    """Official codes in any case (`ZH`, `en`, `all_zh`) → `zh`/`en`/…; with `mixed`,
    also `auto` and `auto_yue`. Unknown codes are a TextError."""
    lang = code.strip().lower()
    lang = _ALIASES.get(lang, lang)
    if lang in OFFICIAL_LANGUAGES or (mixed and lang in MIXED_MODES):
        return lang
    known = OFFICIAL_LANGUAGES + (MIXED_MODES if mixed else ())
    raise TextError(f"unknown language {code!r}; the official codes are {', '.join(known)}")


def g2p(text: str, language: str) -> Phonemes:
    """Transcript → v2 phonemes; `language` is a v2 code or `auto` / `auto_yue`."""
    lang = normalize_language(language, mixed=True)
    if not text.strip():
        raise TextError("empty transcript")
    runs = [(t, run_lang) for t, run_lang in language_runs(text, lang) if _speakable(t)]
    if not runs:
        raise TextError(f"no speakable text in {text!r}")
    converted = [_one_language(t, run_lang) for t, run_lang in runs]
    phonemes = [p for _, ps, _ in converted for p in ps]
    run_records = [
        Run(run_lang, normalized, word2ph, len(ps))
        for (_, run_lang), (normalized, ps, word2ph) in zip(runs, converted, strict=True)
    ]
    languages = {run.language for run in run_records}
    overall = languages.pop() if len(languages) == 1 else lang
    word2ph = run_records[0].word2ph if len(run_records) == 1 else None
    normalized = "".join(run.normalized_text for run in run_records)
    return Phonemes(overall, normalized, phonemes, phonemes_to_ids(phonemes), word2ph, run_records)


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _one_language(text: str, lang: str) -> tuple[str, list[str], list[int] | None]:
    """(normalised text, phonemes, word2ph) from one language's front end."""
    if lang == "zh":
        from leanvoice.text.chinese import chinese_to_phonemes, normalize_chinese

        normalized = normalize_chinese(text)
        phonemes, word2ph = chinese_to_phonemes(normalized)
        return normalized, phonemes, word2ph
    if lang == "en":
        from leanvoice.text.english import english_to_phonemes, normalize_english

        normalized = normalize_english(text)
        phonemes = english_to_phonemes(normalized)
        if len(phonemes) < 4:  # the official front end pads very short English runs
            phonemes = [",", *phonemes]
        return normalized, phonemes, None
    if lang == "ja":
        from leanvoice.text.japanese import japanese_to_phonemes, normalize_japanese

        normalized = normalize_japanese(text)
        return normalized, japanese_to_phonemes(normalized), None
    if lang == "ko":
        from leanvoice.text.korean import korean_to_phonemes

        return text, korean_to_phonemes(text), None
    from leanvoice.text.cantonese import cantonese_to_phonemes, normalize_cantonese

    normalized = normalize_cantonese(text)
    return normalized, cantonese_to_phonemes(normalized), None
