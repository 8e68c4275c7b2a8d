"""The manifest's one reader and writer: round trip, and bad lines named."""

import json

import pytest

from leanvoice.data.manifest import ClipRecord, read_manifest, write_manifest
from leanvoice.data.official_import import language_of_phonemes
from leanvoice.errors import InputError
from leanvoice.text.g2p import g2p


def _clip(text: str = "我用iPhone。", language: str = "zh") -> ClipRecord:
    phonemes = g2p(text, language)
    return ClipRecord(
        id="a",
        speaker="s",
        language=phonemes.language,
        text=text,
        normalized_text=phonemes.normalized_text,
        phonemes=phonemes.phonemes,
        phoneme_ids=phonemes.phoneme_ids,
        word2ph=phonemes.word2ph,
        duration_sec=1.5,
        samples=48000,
        frames=75,
        wav="wav32k/a.wav",
        source="a.wav",
        source_span_sec=[0.0, 1.5],
        runs=phonemes.runs,
    )


def test_round_trip_keeps_runs_and_adds_features(tmp_path) -> None:
    clip = _clip()
    write_manifest(tmp_path, [clip])
    (read,) = read_manifest(tmp_path)
    assert read == clip and [r.language for r in read.language_runs()] == ["zh", "en"]
    assert read.language_ids()[:2] == [0, 0] and len(read.language_ids()) == len(clip.phoneme_ids)
    with pytest.raises(InputError, match="clip a has no ssl_path; run prepare with feature"):
        read_manifest(tmp_path, need_features=True)
    line = json.loads((tmp_path / "manifest.jsonl").read_text())
    assert "ssl_path" not in line and line["word2ph"] is None


def test_a_bad_line_is_named_by_file_and_line(tmp_path) -> None:
    good = json.dumps(_clip().to_json(), ensure_ascii=False)
    broken = {k: v for k, v in _clip().to_json().items() if k != "frames"}
    (tmp_path / "manifest.jsonl").write_text(f"{good}\n{json.dumps(broken)}\n")
    with pytest.raises(InputError, match=r"manifest\.jsonl:2: clip has no frames"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.jsonl").write_text(f"{good}\n{{oops\n")
    with pytest.raises(InputError, match=r"manifest\.jsonl:2: not JSON"):
        read_manifest(tmp_path)


def test_official_lines_without_word2ph_get_their_language() -> None:
    assert language_of_phonemes(["ㅇ", "ㅏ", "空"]) == "ko"
    assert language_of_phonemes(["Yng", "Yo5"]) == "yue"
    assert language_of_phonemes(["HH", "AH0", "L", "OW1"]) == "en"
    assert language_of_phonemes(["k", "o", "[", "N", "n", "i"]) == "ja"
