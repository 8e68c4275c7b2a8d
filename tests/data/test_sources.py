from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from leanvoice.config import load_config
from leanvoice.data.prepare import prepare_dataset
from leanvoice.data.sources import read_source
from leanvoice.errors import InputError


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 22050)) / 22050
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2 * t) ** 2
    return (0.2 * envelope * rng.standard_normal(t.size)).astype(np.float32)


def test_ljspeech_layout(tmp_path: Path) -> None:
    root = tmp_path / "LJ"
    (root / "wavs").mkdir(parents=True)
    for i in range(2):
        sf.write(root / "wavs" / f"LJ001-000{i}.wav", _speech_like(2.0, i), 22050)
    (root / "metadata.csv").write_text(
        "LJ001-0000|Printing, in 1492.|Printing, in fourteen ninety two.\n"
        "LJ001-0001|The second one.|\n"
    )
    items, problems = read_source(root)
    assert [i.text for i in items] == ["Printing, in fourteen ninety two.", "The second one."]
    assert {i.language for i in items} == {"auto"} and not problems  # the G2P splits by script
    result = prepare_dataset(root, tmp_path / "out", load_config())
    assert result.clips == 2


def test_folder_of_audio_with_txt_and_lab(tmp_path: Path) -> None:
    root = tmp_path / "rec" / "alice"
    root.mkdir(parents=True)
    sf.write(root / "a.wav", _speech_like(1.5, 0), 22050)
    (root / "a.txt").write_text("你好世界。", encoding="utf-8")
    sf.write(root / "b.flac", _speech_like(1.5, 1), 22050)
    (root / "b.lab").write_text("hello world")
    sf.write(root / "c.wav", _speech_like(1.5, 2), 22050)
    items, problems = read_source(tmp_path / "rec")
    assert [(i.speaker, i.text) for i in items] == [
        ("alice", "你好世界。"),
        ("alice", "hello world"),
    ]
    assert {i.language for i in items} == {"auto"}  # the G2P splits by script
    assert len(problems) == 1 and "no transcript" in problems[0].reason


def test_official_list_with_foreign_absolute_paths(tmp_path: Path) -> None:
    sf.write(tmp_path / "x.wav", _speech_like(1.5, 0), 22050)
    (tmp_path / "exp.list").write_text("D:\\data\\voices\\x.wav|spk|EN|Hello there.\n")
    items, _ = read_source(tmp_path / "exp.list")
    assert items[0].audio_path == tmp_path / "x.wav"


def test_nothing_usable_in_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no \.list, metadata\.csv or audio files"):
        read_source(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_source(tmp_path / "missing")
