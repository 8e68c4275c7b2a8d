"""Spell out English numbers: 42 → forty two, 3.5 → three point five, 21st → twenty first."""

from __future__ import annotations

import re

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip


def integer_to_words(n: int) -> str:
    if n < 0:
        return "minus " + integer_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + integer_to_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            tail = "" if rest == 0 else " " + integer_to_words(rest)
            return integer_to_words(high) + " " + name + tail
    raise AssertionError("unreachable")


def ordinal_to_words(n: int) -> str:
    words = integer_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int) -> str:
    high, low = divmod(n, 100)
    if low == 0:
        return integer_to_words(high) + " hundred"
    if low < 10:
        return integer_to_words(high) + " oh " + integer_to_words(low)
    return integer_to_words(high) + " " + integer_to_words(low)


def expand_numbers(text: str) -> str:
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    text = re.sub(r"\$(\d+)(?:\.(\d\d))?", _money, text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*%", lambda m: m.group(1) + " percent", text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: ordinal_to_words(int(m.group(1))), text)
    text = re.sub(r"\b(\d+)\.(\d+)\b", _decimal, text)
    text = re.sub(r"\b(1[1-9]\d\d|20\d\d)\b(?=\s*(?:$|[,.!?]|\s[a-z]))", _maybe_year, text)
    return re.sub(r"\d+", lambda m: " " + integer_to_words(int(m.group(0))) + " ", text)


def _money(match: re.Match[str]) -> str:
    dollars = int(match.group(1))
    words = integer_to_words(dollars) + (" dollar" if dollars == 1 else " dollars")
    if match.group(2) and int(match.group(2)):
        cents = int(match.group(2))
        words += " " + integer_to_words(cents) + (" cent" if cents == 1 else " cents")
    return words


def _decimal(match: re.Match[str]) -> str:
    digits = " ".join(_ONES[int(d)] for d in match.group(2))
    return integer_to_words(int(match.group(1))) + " point " + digits


def _maybe_year(match: re.Match[str]) -> str:
    return year_to_words(int(match.group(1)))
