"""Issue #30: a `.list` saved in GBK (or Shift-JIS, EUC-KR, Big5) is read in that
encoding and the report says which; one in none of them is refused naming the problem."""

from pathlib import Path

import pytest

from leanvoice.config import load_config
from leanvoice.data.prepare import prepare_dataset
from leanvoice.data.sources import read_source, read_text_lines
from leanvoice.errors import InputError

DEMO = Path(__file__).parents[2] / "src" / "leanvoice" / "demo_data"


def _lines(list_name: str, language: str) -> list[str]:
    """The shipped list's lines of one language, wav paths made absolute."""
    lines = (DEMO / list_name).read_text(encoding="utf-8").splitlines()
    return [
        f"{DEMO / line.split('|', 1)[0]}|{line.split('|', 1)[1]}"
        for line in lines
        if line.split("|")[2] == language
    ]


def test_a_gbk_list_of_the_demo_mandarin_lines_prepares_every_clip(tmp_path) -> None:
    lines = _lines("demo.list", "zh")
    assert len(lines) == 20
    source = tmp_path / "gbk.list"
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))  # as Windows saves it
    result = prepare_dataset(source, tmp_path / "out", load_config())
    assert result.clips == 20 and result.report["skipped"] == []
    assert result.report["source_encoding"] == "GB18030/GBK"
    texts = [line.split("|")[3] for line in lines]
    manifest = (tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8")
    assert all(text in manifest for text in texts)


@pytest.mark.parametrize(
    ("language", "codec", "name"),
    [("ja", "shift_jis", "Shift-JIS"), ("ko", "euc_kr", "EUC-KR"), ("yue", "big5hkscs", "Big5")],
)
def test_japanese_korean_and_cantonese_lists_are_read_in_their_encodings(
    tmp_path, language: str, codec: str, name: str
) -> None:
    lines = _lines("languages.list", language)
    source = tmp_path / f"{language}.list"
    source.write_bytes(("\n".join(lines) + "\n").encode(codec))
    read, encoding = read_text_lines(source)
    assert encoding == name and read == lines
    items, problems = read_source(source)
    assert [item.text for item in items] == [line.split("|")[3] for line in lines]
    assert not problems


def test_a_utf16_list_with_its_bom_is_read(tmp_path) -> None:
    lines = _lines("languages.list", "ko")
    source = tmp_path / "notepad.list"
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))
    assert read_text_lines(source) == (lines, "UTF-16")


def test_a_utf8_list_with_one_broken_line_keeps_the_others(tmp_path) -> None:
    lines = _lines("demo.list", "zh")[:3]
    source = tmp_path / "mixed.list"
    broken = lines[1].encode("gbk")
    source.write_bytes(lines[0].encode() + b"\n" + broken + b"\n" + lines[2].encode() + b"\n")
    items, problems = read_source(source)
    assert [item.text for item in items] == [lines[0].split("|")[3], lines[2].split("|")[3]]
    assert [p.origin for p in problems] == [f"{source}:2"]
    assert "not UTF-8" in problems[0].reason


def test_a_list_in_no_known_encoding_is_refused_naming_the_line(tmp_path) -> None:
    source = tmp_path / "latin1.list"
    source.write_bytes("a.wav|spk|en|Déjà vu.\nb.wav|spk|en|Café au lait.\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1.list: not UTF-8 \(line 1 has byte 0xe9\)"):
        read_source(source)
    source.write_bytes("a.wav|spk|en|Hello.\nb.wav|spk|en|Café au lait.\n".encode("latin-1"))
    items, problems = read_source(source)  # one stray byte: that line alone is skipped
    assert [item.text for item in items] == ["Hello."]
    assert [p.origin for p in problems] == [f"{source}:2"]
