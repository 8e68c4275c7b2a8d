from pathlib import Path

import pytest

from leanvoice.errors import TextError
from leanvoice.text import g2p, normalize_language
from leanvoice.text.chinese import syllable_to_symbols
from leanvoice.text.english import letter_to_sound, word_to_phonemes
from leanvoice.text.symbols import PAD, SYMBOL_TO_ID, SYMBOLS


def test_symbol_table_is_the_official_v2_one() -> None:
    assert len(SYMBOLS) == 732
    assert SYMBOL_TO_ID[PAD] == 95
    assert (SYMBOL_TO_ID["SP"], SYMBOL_TO_ID["UNK"]) == (77, 86)


def test_every_demo_transcript_maps_into_the_symbol_table(demo_list: Path) -> None:
    for line in demo_list.read_text(encoding="utf-8").splitlines():
        _, _, lang, text = line.split("|")
        result = g2p(text, lang)
        assert result.phoneme_ids
        assert all(0 <= i < len(SYMBOLS) for i in result.phoneme_ids)
        assert [SYMBOLS[i] for i in result.phoneme_ids] == result.phonemes


@pytest.mark.parametrize(
    ("syllable", "expected"),
    [
        ("zhi1", ("zh", "ir1")),
        ("zi3", ("z", "i03")),
        ("ju4", ("j", "v4")),
        ("yan2", ("y", "En2")),
        ("ye3", ("y", "E3")),
        ("yuan2", ("y", "van2")),
        ("wu3", ("w", "u3")),
        ("wo3", ("w", "o3")),
        ("a1", ("AA", "a1")),
        ("er4", ("EE", "er4")),
        ("ou1", ("OO", "ou1")),
        ("lv4", ("l", "v4")),
        ("gui4", ("g", "ui4")),
        ("xue2", ("x", "ve2")),
        ("yi1", ("y", "i1")),
    ],
)
def test_pinyin_syllables_map_as_the_official_table(syllable: str, expected: tuple) -> None:
    assert syllable_to_symbols(syllable) == expected


def test_mandarin_sentence_with_numbers_and_word2ph() -> None:
    result = g2p("我有3个苹果。", "ZH")
    assert result.normalized_text == "我有三个苹果."
    assert result.phonemes[:4] == ["w", "o3", "y", "ou3"]
    assert result.word2ph == [2, 2, 2, 2, 2, 2, 1]
    assert sum(result.word2ph) == len(result.phonemes)


def test_mandarin_tone_sandhi() -> None:
    assert g2p("你好", "zh").phonemes == ["n", "i2", "h", "ao3"]  # third-tone sandhi
    assert g2p("不要", "zh").phonemes == ["b", "u2", "y", "ao4"]
    assert g2p("一起", "zh").phonemes[:2] == ["y", "i4"]
    assert g2p("第一", "zh").phonemes[2:] == ["y", "i1"]


def test_english_numbers_abbreviations_and_stress() -> None:
    result = g2p("Dr. Lee paid $42 on the 21st.", "en")
    assert result.normalized_text == "doctor Lee paid forty two dollars on the twenty first."
    assert result.phonemes[:4] == ["D", "AA1", "K", "T"]
    assert result.word2ph is None


def test_unknown_english_words_use_the_offline_fallback() -> None:
    assert word_to_phonemes("sunflowerfield") == word_to_phonemes("sunflower") + word_to_phonemes(
        "field"
    )
    assert word_to_phonemes("xqz") == ["EH1", "K", "S", "K", "Y", "UW1", "Z", "IY1"]
    phones = letter_to_sound("blorptastic")
    assert phones[:3] == ["B", "L", "AO1"]
    assert all(p in SYMBOL_TO_ID for p in phones)
    assert sum(p[-1] == "1" for p in phones) == 1  # one primary stress


@pytest.mark.parametrize("code", ["ZH", "zh", "all_zh", "EN", "en"])
def test_official_language_codes_accepted(code: str) -> None:
    assert normalize_language(code) in ("zh", "en")


def test_unsupported_and_unknown_languages_and_empty_text() -> None:
    with pytest.raises(TextError, match="not supported yet"):
        g2p("こんにちは", "ja")
    with pytest.raises(TextError, match="unknown language 'xx'"):
        g2p("hello", "xx")
    with pytest.raises(TextError, match="empty transcript"):
        g2p("   ", "en")
    with pytest.raises(TextError, match="no Mandarin"):
        g2p("hello", "zh")
