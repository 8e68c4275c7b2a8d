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
    assert result.phonemes[:4] == ["w", "o2", "y", "ou3"]  # third tones meet across words
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


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ZH", "zh"),
        ("all_zh", "zh"),
        ("EN", "en"),
        ("JA", "ja"),
        ("all_ja", "ja"),
        ("KO", "ko"),
        ("yue", "yue"),
        ("ALL_YUE", "yue"),
    ],
)  # fmt: skip  (code → normalised pairs, several per line)
def test_official_language_codes_accepted(code: str, expected: str) -> None:
    assert normalize_language(code) == expected


def test_unknown_languages_and_empty_text() -> None:
    with pytest.raises(TextError, match="unknown language 'xx'"):
        g2p("hello", "xx")
    with pytest.raises(TextError, match="empty transcript"):
        g2p("   ", "en")
    with pytest.raises(TextError, match="no speakable text"):
        g2p("。！", "zh")


def test_japanese_phonemes_carry_the_v2_prosody_marks() -> None:
    result = g2p("こんにちは、今日は良い天気ですね。", "ja")
    assert result.phonemes[:8] == ["k", "o", "[", "N", "n", "i", "ch", "i"]
    assert "," in result.phonemes and result.phonemes[-1] == "."
    assert "UNK" in result.phonemes  # the accent-phrase border `#`, as in the official table
    assert result.word2ph is None and result.language == "ja"


def test_korean_follows_the_pronunciation_rules() -> None:
    from leanvoice.text.korean import pronounce

    assert pronounce("국물이 맛있어요") == "궁무리 마시써요"  # nasalisation, liaison
    assert pronounce("같이 축하해요") == "가치 추카해요"  # palatalisation, aspiration
    assert pronounce("신라면 설날") == "실라면 설랄"  # lateralisation
    assert pronounce("읽고 닭고기 값이") == "일꼬 닥꼬기 갑씨"  # clusters
    assert pronounce("책 가방 할 수") == "책 까방 할 쑤"  # tensing across a space
    result = g2p("안녕하세요.", "ko")
    assert "".join(result.phonemes) == "ㅇㅏㄴㄴㅣㅓㅇㅎㅏㅅㅔㅇㅣㅗ."


def test_korean_numbers_are_read_native_before_counters() -> None:
    from leanvoice.text.korean import _numbers_to_hangul

    assert _numbers_to_hangul("3개 25살 100원 2024년") == "세개 스물다섯살 백원 이천이십사년"


def test_cantonese_jyutping_splits_as_the_v2_table() -> None:
    result = g2p("佢個鋤頭太短啦。", "yue")
    assert result.phonemes == [
        "Yk",
        "Yeoi5",
        "Yg",
        "Yo3",
        "Yc",
        "Yo4",
        "Yt",
        "Yau2",
        "Yt",
        "Yaai3",
        "Yd",
        "Yyun2",
        "Yl",
        "Yaa1",
        ".",
    ]  # fmt: skip  (one symbol pair per syllable reads better across a line)
    assert g2p("我有3個", "yue").normalized_text == "我有三個"


def test_mixed_text_is_split_into_language_runs() -> None:
    result = g2p("我今天用iPhone拍了照片。", "zh")
    assert [run.language for run in result.runs] == ["zh", "en", "zh"]
    assert result.word2ph is None  # BERT alignment is per run
    assert [r.word2ph is not None for r in result.runs] == [True, False, True]
    assert len(result.language_ids) == len(result.phoneme_ids)
    auto = g2p("今日は、我们一起去吃饭吧。안녕하세요, nice to meet you.", "auto")
    assert [run.language for run in auto.runs] == ["ja", "zh", "ko", "en"]
    assert auto.language == "auto"
    assert g2p("你好吗？", "auto").language == "zh"


def test_script_split_keeps_marks_with_the_run_before() -> None:
    from leanvoice.text.segment import language_runs

    assert language_runs("저는 iPhone을 써요.", "ko") == [
        ("저는 ", "ko"), ("iPhone", "en"), ("을 써요.", "ko"),
    ]  # fmt: skip
    assert language_runs("我喜欢看アニメ。", "auto") == [("我喜欢看", "zh"), ("アニメ。", "ja")]
    assert language_runs("今日はYouTubeで動画を見ました。", "auto") == [
        ("今日は", "ja"), ("YouTube", "en"), ("で動画を見ました。", "ja"),
    ]  # fmt: skip
    assert language_runs("香港係個好地方", "auto_yue") == [("香港係個好地方", "yue")]
