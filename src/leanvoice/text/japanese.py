"""Japanese G2P into the v2 symbols: OpenJTalk phonemes with the v2 prosody marks.

OpenJTalk (`pyopenjtalk-plus`, whose dictionary ships inside the wheel, so nothing is
downloaded) reads the text, normalises numbers and symbols, and gives full-context
labels. From each label we keep the phoneme and, after it, the mark the v2 front end
emits: `#` at an accent-phrase border, `]` where the pitch falls, `[` where it rises,
`_` for a pause. Devoiced vowels (`A I U E O`) count as voiced, as in the official
front end. The official table has no `#`, so it becomes `UNK`, as it does there: the
official models were trained on exactly that. Punctuation between Japanese runs is kept
(mapped to the v2 set); anything else outside the table is `UNK`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re

from leanvoice.errors import TextError
from leanvoice.text.symbols import MARKS_TO_V2, PUNCTUATION, SYMBOL_TO_ID

# Characters OpenJTalk reads (kana, kanji, Latin, digits, full-width forms); the rest
# are marks that split the text into runs.
_JAPANESE = (
    "A-Za-z\\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
)
_MARK = re.compile(f"[^{_JAPANESE}]")
_READABLE = re.compile(f"[{_JAPANESE}]")
_SYMBOLS_TO_WORDS = {"％": "パーセント"}
_REPEATED_PUNCTUATION = re.compile(
    f"([{re.escape(''.join(PUNCTUATION))}])[{re.escape(''.join(PUNCTUATION))}]+"
)


@functools.cache
def _openjtalk():
    try:
        # pyopenjtalk-plus prints a notice about an optional model at import; not ours to show.
        with contextlib.redirect_stdout(io.StringIO()):
            import pyopenjtalk
    except ImportError:
        raise TextError("Japanese needs pyopenjtalk-plus (pip install pyopenjtalk-plus)") from None
    return pyopenjtalk


def normalize_japanese(text: str) -> str:
    """Repeated punctuation collapses to its first mark (a run of `！！！` leaks the
    reference's pauses otherwise); OpenJTalk normalises the rest itself."""
    return _REPEATED_PUNCTUATION.sub(r"\1", text)


def japanese_to_phonemes(text: str) -> list[str]:
    for symbol, words in _SYMBOLS_TO_WORDS.items():
        text = text.replace(symbol, words)
    text = text.lower()  # Latin words; no effect on Japanese script
    runs = _MARK.split(text)
    marks = _MARK.findall(text)
    phonemes: list[str] = []
    for index, run in enumerate(runs):
        if _READABLE.match(run):
            phonemes += _prosody_phonemes(run)
        if index < len(marks) and marks[index] != " ":
            phonemes.append(marks[index])
    phonemes = [MARKS_TO_V2.get(p, p) for p in phonemes]
    return [p if p in SYMBOL_TO_ID else "UNK" for p in phonemes]


def _prosody_phonemes(text: str) -> list[str]:
    """Phonemes with accent marks, without the leading and trailing silence."""
    jtalk = _openjtalk()
    labels = jtalk.make_label(jtalk.run_frontend(text))
    phonemes: list[str] = []
    for index, label in enumerate(labels):
        phoneme = _field(r"\-(.*?)\+", label)
        if phoneme == "sil":  # the first and last labels; dropped
            continue
        if phoneme == "pau":
            phonemes.append("_")
            continue
        if phoneme in "AEIOU":
            phoneme = phoneme.lower()
        phonemes.append(phoneme)
        mark = _accent_mark(phoneme, label, labels[index + 1])
        if mark:
            phonemes.append(mark)
    return phonemes


def _accent_mark(phoneme: str, label: str, following: str) -> str | None:
    """The prosody mark after this phoneme: from the mora's position in its accent
    phrase (a2 forward, a3 backward), the accent nucleus (a1 = 0) and the phrase length."""
    a1 = _number(r"/A:([0-9\-]+)\+", label)
    a2 = _number(r"\+(\d+)\+", label)
    a3 = _number(r"\+(\d+)/", label)
    moras = _number(r"/F:(\d+)_", label)
    next_a2 = _number(r"\+(\d+)\+", following)
    if a3 == 1 and next_a2 == 1 and phoneme in "aeiouAEIOUNcl":
        return "#"
    if a1 == 0 and next_a2 == a2 + 1 and a2 != moras:
        return "]"
    if a2 == 1 and next_a2 == 2:
        return "["
    return None


def _field(pattern: str, label: str) -> str:
    match = re.search(pattern, label)
    return match.group(1) if match else ""


def _number(pattern: str, label: str) -> int:
    match = re.search(pattern, label)
    return int(match.group(1)) if match else -50  # "xx": no such feature here
