"""Korean G2P into the v2 symbols: hangul → pronounced hangul → jamo.

The official front end runs `g2pk2` (which needs MeCab and downloads NLTK data at
import) to apply the standard pronunciation rules, then writes every syllable as its
compatibility jamo, compound vowels split in two (`ㅘ` → `ㅗ ㅏ`), a space as `空` and
anything outside the table as `停`. We apply the rules ourselves, offline, from the
standard pronunciation (표준 발음법), in the order and reach that g2pk2 gives them:

- a final consonant moves onto a following silent `ㅇ` (liaison), inside a word only;
  `ㄷ`/`ㅌ` before `이` palatalise, `ㅎ` before a vowel is silent, a cluster's second
  consonant moves;
- `ㅎ` next to `ㄱ ㄷ ㅂ ㅈ` aspirates them;
- finals are said as one of seven sounds before a consonant, a space or the end;
- obstruent finals tense a following plain stop (also across a space, as g2pk2 does),
  as does the `ㄹ` of a modifier before a bound noun (`할 수` → `할 쑤`);
- stops before nasals become nasals, `ㄴ`/`ㄹ` meet as `ㄹㄹ`, `ㄹ` after `ㅁ ㅇ` is `ㄴ`
  (also across a space).

Numbers are read in native Korean before a counter (`3개` → `세 개`) and in Sino-Korean
elsewhere; Latin letters are spelt out, as in the official front end.
"""

from __future__ import annotations

import re

from leanvoice.text.symbols import MARKS_TO_V2, SYMBOL_TO_ID

_ONSETS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_FINALS = ("", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")
_FIRST_SYLLABLE, _LAST_SYLLABLE = 0xAC00, 0xD7A3

_SPLIT_VOWELS = {
    "ㅘ": "ㅗㅏ",
    "ㅙ": "ㅗㅐ",
    "ㅚ": "ㅗㅣ",
    "ㅝ": "ㅜㅓ",
    "ㅞ": "ㅜㅔ",
    "ㅟ": "ㅜㅣ",
    "ㅢ": "ㅡㅣ",
    "ㅑ": "ㅣㅏ",
    "ㅒ": "ㅣㅐ",
    "ㅕ": "ㅣㅓ",
    "ㅖ": "ㅣㅔ",
    "ㅛ": "ㅣㅗ",
    "ㅠ": "ㅣㅜ",
}
_PUNCTUATION_MAP = {**MARKS_TO_V2, " ": "空"}
_LETTER_NAMES = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyz",
        "에이 비 시 디 이 에프 지 에이치 아이 제이 케이 엘 엠 엔 오 피 큐 아르 에스 티 유 브이 "
        "더블유 엑스 와이 제트".split(),
        strict=True,
    )
)

# Finals as said before a consonant or a pause: (sound, what moves on in liaison).
_NEUTRAL = {
    "ㄲ": "ㄱ",
    "ㅋ": "ㄱ",
    "ㄳ": "ㄱ",
    "ㄺ": "ㄱ",
    "ㅅ": "ㄷ",
    "ㅆ": "ㄷ",
    "ㅈ": "ㄷ",
    "ㅊ": "ㄷ",
    "ㅌ": "ㄷ",
    "ㅎ": "ㄷ",
    "ㅍ": "ㅂ",
    "ㅄ": "ㅂ",
    "ㄿ": "ㅂ",
    "ㄵ": "ㄴ",
    "ㄶ": "ㄴ",
    "ㄼ": "ㄹ",
    "ㄽ": "ㄹ",
    "ㄾ": "ㄹ",
    "ㅀ": "ㄹ",
    "ㄻ": "ㅁ",
}
_CLUSTERS = {
    "ㄳ": "ㄱㅅ",
    "ㄵ": "ㄴㅈ",
    "ㄶ": "ㄴㅎ",
    "ㄺ": "ㄹㄱ",
    "ㄻ": "ㄹㅁ",
    "ㄼ": "ㄹㅂ",
    "ㄽ": "ㄹㅅ",
    "ㄾ": "ㄹㅌ",
    "ㄿ": "ㄹㅍ",
    "ㅀ": "ㄹㅎ",
    "ㅄ": "ㅂㅅ",
}
_TENSE = {"ㄱ": "ㄲ", "ㄷ": "ㄸ", "ㅂ": "ㅃ", "ㅅ": "ㅆ", "ㅈ": "ㅉ"}
_ASPIRATE = {"ㄱ": "ㅋ", "ㄷ": "ㅌ", "ㅂ": "ㅍ", "ㅈ": "ㅊ"}
_NASAL = {"ㄱ": "ㅇ", "ㄷ": "ㄴ", "ㅂ": "ㅁ"}
_OBSTRUENT_FINALS = set("ㄱㄲㅋㄳㄺㄷㅅㅆㅈㅊㅌㅂㅍㅄㄿㄼㄾ")
_NOUNS_WITH_RIEUL_GIYEOK = ("닭", "흙", "칡", "삵")
_BOUND_NOUNS = ("것", "거", "걸", "게", "수", "줄", "데", "때", "지", "듯", "바", "뻔")

_SINO_DIGITS = ["", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]
_NATIVE_UNITS_BEFORE_COUNTER = ["", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"]
_NATIVE_TENS = ["", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"]
_COUNTERS = (
    "군데 권 개 그루 닢 대 두 마리 모 모금 뭇 발 발짝 방 번 벌 보루 살 수 술 시 쌈 움큼 정 짝 "
    "채 척 첩 축 켤레 톨 통 명 사람 잔 장 병 시간 가지"
).split()


def korean_to_phonemes(text: str) -> list[str]:
    """Korean text → v2 phonemes (jamo, `空` for a space, `停` for the unknown)."""
    text = _spell_latin(text.lower())
    text = _numbers_to_hangul(text)
    spoken = pronounce(text)
    jamo = "".join(_SPLIT_VOWELS.get(j, j) for j in _to_jamo(spoken))
    if jamo and "\u3131" <= jamo[-1] <= "\u3163":
        jamo += "."
    phonemes = [_PUNCTUATION_MAP.get(ch, ch) for ch in jamo]
    return [p if p in SYMBOL_TO_ID else "停" for p in phonemes]


def pronounce(text: str) -> str:
    """Written hangul → hangul as it is said (e.g. `국물이` → `궁무리`)."""
    chars: list[str | list[str]] = [_split(ch) or ch for ch in text]
    _vowel_rules(chars)
    syllables = [i for i, ch in enumerate(chars) if isinstance(ch, list)]
    for position, index in enumerate(syllables):
        following = syllables[position + 1] if position + 1 < len(syllables) else None
        between = "".join(chars[index + 1 : following]) if following is not None else "."
        if following is None or between.strip(" "):
            _finish(chars[index])  # a pause follows
        else:
            _meet(chars, index, following, across_space=bool(between))
    return "".join(_join(ch) if isinstance(ch, list) else ch for ch in chars)


def _vowel_rules(chars: list) -> None:
    for ch in chars:
        if not isinstance(ch, list):
            continue
        onset, vowel, _ = ch
        if vowel == "ㅕ" and onset in "ㅈㅉㅊ":
            ch[1] = "ㅓ"  # 져 → 저
        elif vowel == "ㅢ" and onset != "ㅇ":
            ch[1] = "ㅣ"  # 희 → 히


def _meet(chars: list, left_index: int, right_index: int, *, across_space: bool) -> None:
    """The sound changes where one syllable's final meets the next one's onset."""
    left, right = chars[left_index], chars[right_index]
    final, onset = left[2], right[0]
    if not final:
        return
    if onset == "ㅇ" and not across_space:
        _liaison(left, right)
        return
    if not across_space and _aspirate(left, right):
        return
    if final in ("ㅎ", "ㄶ", "ㅀ") and not across_space:
        kept = {"ㅎ": "", "ㄶ": "ㄴ", "ㅀ": "ㄹ"}[final]
        if onset == "ㅅ":
            left[2], right[0] = kept, "ㅆ"
            return
        if onset == "ㄴ":
            left[2] = kept or "ㄴ"
            if kept == "ㄹ":
                right[0] = "ㄹ"
            return
    sound = _sound_before(final, onset, _join(left))
    if (final in _OBSTRUENT_FINALS and onset in _TENSE) or (
        across_space and sound == "ㄹ" and onset in _TENSE and _is_bound_noun(right)
    ):
        right[0] = _TENSE[onset]
    onset = right[0]
    if sound in _NASAL and onset in "ㄴㅁ":
        sound = _NASAL[sound]
    elif onset == "ㄹ" and sound in ("ㅁ", "ㅇ"):
        right[0] = "ㄴ"
    elif onset == "ㄹ" and sound in _NASAL:
        sound, right[0] = _NASAL[sound], "ㄴ"
    elif sound == "ㄴ" and onset == "ㄹ":
        sound = "ㄹ"
    elif sound == "ㄹ" and onset == "ㄴ" and not (across_space and _join(left) in ("을", "를")):
        right[0] = "ㄹ"  # (the object particle keeps the next ㄴ, as the official fix does)
    left[2] = sound


def _liaison(left: list[str], right: list[str]) -> None:
    final = left[2]
    if final == "ㅇ":
        return
    if final in _CLUSTERS:
        stay, move = _CLUSTERS[final]
        if move == "ㅎ":
            left[2], right[0] = "", stay  # 않아 → 아나, 싫어 → 시러
            return
        left[2], right[0] = stay, "ㅆ" if move == "ㅅ" else move
        return
    if final == "ㅎ":
        left[2] = ""
        return
    if right[1] == "ㅣ" and final in ("ㄷ", "ㅌ"):
        final = {"ㄷ": "ㅈ", "ㅌ": "ㅊ"}[final]  # 같이 → 가치
    left[2], right[0] = "", final


def _aspirate(left: list[str], right: list[str]) -> bool:
    final, onset = left[2], right[0]
    if onset == "ㅎ":
        if final in _CLUSTERS and _CLUSTERS[final][1] in _ASPIRATE:
            stay, move = _CLUSTERS[final]
            left[2], right[0] = stay, _ASPIRATE[move]
            return True
        sound = _NEUTRAL.get(final, final)
        if sound in _ASPIRATE:
            left[2], right[0] = "", _ASPIRATE[sound]
            return True
        return False
    if final in ("ㅎ", "ㄶ", "ㅀ") and onset in _ASPIRATE:
        left[2], right[0] = {"ㅎ": "", "ㄶ": "ㄴ", "ㅀ": "ㄹ"}[final], _ASPIRATE[onset]
        return True
    return False


def _sound_before(final: str, onset: str, syllable: str) -> str:
    if final == "ㄺ" and onset == "ㄱ" and syllable not in _NOUNS_WITH_RIEUL_GIYEOK:
        return "ㄹ"  # verb stems: 읽고 → 일꼬 (the noun 닭고기 → 닥꼬기)
    if final == "ㄼ" and onset != "ㄷ":
        return "ㅂ"  # 밟고 → 밥꼬 (넓다 → 널따 keeps ㄹ)
    return _NEUTRAL.get(final, final)


def _finish(syllable: list[str]) -> None:
    syllable[2] = _NEUTRAL.get(syllable[2], syllable[2])


def _is_bound_noun(syllable: list[str]) -> bool:
    return _join(syllable) in _BOUND_NOUNS


def _split(ch: str) -> list[str] | None:
    code = ord(ch) - _FIRST_SYLLABLE
    if not 0 <= code <= _LAST_SYLLABLE - _FIRST_SYLLABLE:
        return None
    return [_ONSETS[code // 588], _VOWELS[code % 588 // 28], _FINALS[code % 28]]


def _join(syllable: list[str]) -> str:
    onset, vowel, final = syllable
    code = (_ONSETS.index(onset) * 21 + _VOWELS.index(vowel)) * 28 + _FINALS.index(final)
    return chr(_FIRST_SYLLABLE + code)


def _to_jamo(text: str) -> str:
    return "".join("".join(_split(ch)) if _split(ch) else ch for ch in text)


def _spell_latin(text: str) -> str:
    return re.sub("[a-z]", lambda m: _LETTER_NAMES[m.group(0)], text)


def _numbers_to_hangul(text: str) -> str:
    def read(match: re.Match) -> str:
        digits, counter = match.group(1).replace(",", ""), match.group(2)
        native = any(counter.startswith(c) for c in _COUNTERS) and 0 < int(digits) < 100
        return (_native(int(digits)) if native else _sino(digits)) + counter

    return re.sub(r"(\d[\d,]*)([\uac00-\ud7a3]*)", read, text)


def _native(number: int) -> str:
    if number == 20:
        return "스무"
    return _NATIVE_TENS[number // 10] + _NATIVE_UNITS_BEFORE_COUNTER[number % 10]


def _sino(digits: str) -> str:
    """Sino-Korean reading of a whole number, grouped by 만 (10^4)."""
    number = int(digits)
    if number == 0:
        return "영"
    words = []
    for group_index, big in enumerate(["", "만", "억", "조", "경"]):
        group = number // 10 ** (4 * group_index) % 10**4
        if not group:
            continue
        part = ""
        for power, unit in ((3, "천"), (2, "백"), (1, "십"), (0, "")):
            digit = group // 10**power % 10
            if digit:
                part += ("" if digit == 1 and unit else _SINO_DIGITS[digit]) + unit
        if big == "만" and group == 1:
            part = ""
        words.insert(0, part + big)
    return "".join(words)
