"""Mandarin G2P into the v2 symbols: pypinyin (phrase-aware) + jieba words + tone sandhi.

Each syllable becomes an initial and a tone-numbered final as in the official set
(zero-initial syllables take `AA`/`EE`/`OO`/`y`/`w`; `zhi` → `zh ir`, `zi` → `z i0`,
`ju` → `j v`, `yan` → `y En`). `word2ph` counts the phonemes of each character, which
later aligns BERT character features to phonemes as the official pipeline does.
"""

from __future__ import annotations

import functools
import logging
import re

from pypinyin import Style, lazy_pinyin

from leanvoice.errors import TextError
from leanvoice.text.symbols import PUNCTUATION, SYMBOL_TO_ID

# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
_PUNCTUATION_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",",
    "、": ",", "...": "…", "$": ".", "/": ",", "—": "-", "~": "…", "～": "…", ":": ",",
    ";": ",",
}  # fmt: skip
_HAN = r"\u4e00-\u9fa5"
_INITIALS = (
    "zh",
    "ch",
    "sh",
    "b",
    "p",
    "m",
    "f",
    "d",
    "t",
    "n",
    "l",
    "g",
    "k",
    "h",
    "j",
    "q",
    "x",
    "r",
    "z",
    "c",
    "s",
)
_DIGIT_CHARS = set("零一二三四五六七八九十百千万亿两第")
_NOT_ERHUA = {"女儿", "儿女", "婴儿", "孤儿", "幼儿", "男儿", "少儿", "患儿", "孙儿", "侄儿"}


def normalize_chinese(text: str) -> str:
    """Numbers to characters, punctuation to the v2 set, everything else dropped."""
    import cn2an

    text = text.replace("嗯", "恩").replace("呣", "母")
    text = cn2an.transform(text, "an2cn")
    pattern = "|".join(re.escape(k) for k in sorted(_PUNCTUATION_MAP, key=len, reverse=True))
    text = re.sub(pattern, lambda m: _PUNCTUATION_MAP[m.group(0)], text)
    punct = "".join(re.escape(p) for p in PUNCTUATION)
    text = re.sub(rf"[^{_HAN}{punct}]+", "", text)
    return re.sub(rf"([{punct}])[{punct}]+", r"\1", text)


def chinese_to_phonemes(text: str) -> tuple[list[str], list[int]]:
    """Normalised Mandarin → (phonemes, word2ph: phonemes per character)."""
    phonemes: list[str] = []
    word2ph: list[int] = []
    for run in re.findall(rf"[{_HAN}]+|[^{_HAN}]", text):
        if run in PUNCTUATION:
            phonemes.append(run)
            word2ph.append(1)
            continue
        for word, pos in _segment(run):
            syllables = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
            if len(syllables) != len(word):
                raise TextError(f"no pinyin for {word!r}")
            syllables = _apply_sandhi(word, pos, syllables)
            for char, syllable in zip(word, syllables, strict=True):
                initial, final = syllable_to_symbols(syllable, char)
                phonemes += [initial, final]
                word2ph.append(2)
    if not phonemes or all(p in PUNCTUATION for p in phonemes):
        raise TextError(f"no Mandarin characters in {text!r}")
    return phonemes, word2ph


def syllable_to_symbols(syllable: str, char: str = "?") -> tuple[str, str]:
    """`zhong1` → (`zh`, `ong1`); raises TextError when outside the v2 set."""
    tone = syllable[-1]
    if tone not in "12345" or len(syllable) < 2:
        raise TextError(f"character {char!r} has no Mandarin reading ({syllable!r})")
    base = syllable[:-1].replace("ü", "v")
    initial, final = _split_syllable(base)
    final += tone
    if initial not in SYMBOL_TO_ID or final not in SYMBOL_TO_ID:
        raise TextError(f"pinyin {syllable!r} of {char!r} is not in the v2 symbol table")
    return initial, final


def _split_syllable(base: str) -> tuple[str, str]:
    if base[0] == "y":
        rest = base[1:]
        if rest.startswith("u"):
            rest = "v" + rest[1:]  # yu yuan yue yun
        return "y", {"an": "En", "e": "E"}.get(rest, rest or "i")
    if base[0] == "w":
        return "w", "u" if base == "wu" else base[1:]
    if base[0] in "aeo":
        return {"a": "AA", "e": "EE", "o": "OO"}[base[0]], base
    for initial in _INITIALS:
        if base.startswith(initial):
            rest = base[len(initial) :]
            if initial in ("j", "q", "x") and rest.startswith("u"):
                rest = "v" + rest[1:]
            if rest == "i" and initial in ("zh", "ch", "sh", "r"):
                rest = "ir"
            elif rest == "i" and initial in ("z", "c", "s"):
                rest = "i0"
            return initial, rest
    return "", base


@functools.lru_cache(maxsize=1)
def _posseg():  # jieba loads its dictionary on first use (~1 s), so only when needed
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


def _segment(run: str) -> list[tuple[str, str]]:
    return [(pair.word, pair.flag) for pair in _posseg().lcut(run)]


def _apply_sandhi(word: str, pos: str, syllables: list[str]) -> list[str]:
    """Tone sandhi of 不, 一 and third-tone runs; erhua tone of a final 儿."""
    tones = [s[-1] for s in syllables]
    for i, char in enumerate(word):
        nxt = tones[i + 1] if i + 1 < len(word) else None
        if char == "不" and nxt == "4":
            tones[i] = "2"
        elif char == "一" and nxt is not None and not _is_numeric_context(word, i):
            tones[i] = "2" if nxt == "4" else "4"
    # third-tone sandhi inside a word: every 3 before another 3 becomes 2
    for i in range(len(tones) - 2, -1, -1):
        if tones[i] == "3" and tones[i + 1] == "3":
            tones[i] = "2"
    is_erhua = len(word) > 1 and word[-1] == "儿" and word not in _NOT_ERHUA and pos != "nr"
    if is_erhua and syllables[-1].startswith("er"):
        tones[-1] = tones[-2]
    return [s[:-1] + t for s, t in zip(syllables, tones, strict=True)]


def _is_numeric_context(word: str, index: int) -> bool:
    neighbours = word[max(0, index - 1) : index] + word[index + 1 : index + 2]
    return any(c in _DIGIT_CHARS and c != "一" for c in neighbours)
