"""Split mixed-language text into runs, each for one language's G2P.

The official front end splits with a language detector. We split by script, which
needs no model and no download: Latin words are English; hangul is Korean; kana is
Japanese. Han characters belong to the language the user named (`zh`, `ja`, `yue`, …);
under `auto` they are Japanese when they touch hiragana (`今日は`, `見ました`: kanji
with okurigana or particles) and Mandarin otherwise (Cantonese under `auto_yue`).
Spaces, digits and punctuation stay with the run before them, as in the official split.
"""

from __future__ import annotations

import re

_SCRIPT = (
    ("latin", re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a'’]")),
    ("hangul", re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")),
    ("hiragana", re.compile(r"[\u3041-\u309f]")),
    ("katakana", re.compile(r"[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d]")),
    ("han", re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005]")),
)
MIXED_MODES = ("auto", "auto_yue")


def language_runs(text: str, language: str) -> list[tuple[str, str]]:
    """`(run text, language)` pairs in order; `language` is a v2 code or a mixed mode."""
    if language == "en":
        return [(text, "en")]
    scripted = _script_runs(text)
    labelled = [
        (run, _language_of(script, index, scripted, language))
        for index, (run, script) in enumerate(scripted)
    ]
    merged: list[tuple[str, str]] = []
    for run, lang in labelled:
        if merged and merged[-1][1] == lang:
            merged[-1] = (merged[-1][0] + run, lang)
        else:
            merged.append((run, lang))
    return merged


def _script_runs(text: str) -> list[tuple[str, str]]:
    """Maximal runs of one script; other characters join the run before them."""
    runs: list[list[str]] = []
    leading = ""
    for char in text:
        script = _script_of(char)
        if script is None:
            if runs:
                runs[-1][0] += char
            else:
                leading += char
        elif runs and runs[-1][1] == script:
            runs[-1][0] += char
        else:
            runs.append([leading + char, script])
            leading = ""
    if leading:  # nothing but digits and marks
        runs.append([leading, "other"])
    return [(run, script) for run, script in runs]


def _script_of(char: str) -> str | None:
    for name, pattern in _SCRIPT:
        if pattern.match(char):
            return name
    return None


def _language_of(script: str, index: int, runs: list[tuple[str, str]], language: str) -> str:
    if script == "latin":
        return "en"
    if language not in MIXED_MODES:
        return language
    if script == "hangul":
        return "ko"
    if script in ("hiragana", "katakana"):
        return "ja"
    if script == "han" and _touches_hiragana(index, runs):
        return "ja"
    return "yue" if language == "auto_yue" else "zh"


def _touches_hiragana(index: int, runs: list[tuple[str, str]]) -> bool:
    """Kanji written against hiragana, with no space or mark between them."""
    text = runs[index][0]
    before = runs[index - 1] if index > 0 else None
    if before and before[1] == "hiragana" and _script_of(before[0][-1]) == "hiragana":
        return True
    if index + 1 < len(runs) and runs[index + 1][1] == "hiragana":
        return _script_of(text[-1]) == "han"
    return False
