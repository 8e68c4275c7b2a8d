"""Regenerate the shipped demo corpus (maintainers only; needs Debian's espeak-ng).

    python scripts/make_demo_corpus.py src/leanvoice/demo_data

Two synthetic speakers (different espeak-ng voice variants and pitch) read 10 Mandarin and
10 English sentences each. `languages.list`: the same two speakers read Japanese, Korean,
Cantonese and mixed Mandarin-English sentences, for the tests of the other front ends
(`--languages-only` regenerates just those). Awkward clips for tests: a long clip with
pauses, a clip with leading/trailing silence and a stereo 44.1 kHz clip. Output is
deterministic for a given espeak-ng version. The demo itself never needs espeak-ng.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 22050
# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
SPEAKERS = {
    "ava": {"zh": ["-v", "cmn+f3", "-p", "65", "-s", "150"],
            "en": ["-v", "en-us+f3", "-p", "65", "-s", "155"]},
    "ben": {"zh": ["-v", "cmn+m3", "-p", "35", "-s", "140"],
            "en": ["-v", "en-gb+m3", "-p", "35", "-s", "145"]},
}  # fmt: skip
ZH = [
    "今天天气很好。",
    "我们一起去公园散步吧。",
    "这本书非常有意思，我已经看了两遍。",
    "请把窗户关上。",
    "他每天早上六点起床。",
    "你喜欢喝茶还是喝咖啡？",
    "春天来了，花都开了。",
    "我明天要去北京出差。",
    "这家饭馆的菜很好吃。",
    "谢谢你的帮助。",
    "小猫在沙发上睡觉。",
    "火车马上就要开了。",
    "学习语言需要耐心和时间。",
    "晚上我们一起看电影吧！",
    "这个问题有点难。",
    "她唱歌唱得非常好听。",
    "图书馆里很安静。",
    "我们下个星期见。",
    "妈妈做的饺子最好吃。",
    "路上注意安全。",
]
EN = [
    "The weather is lovely today.",
    "Please close the window.",
    "She reads a new book every week.",
    "Would you like some tea or coffee?",
    "The train leaves at seven in the morning.",
    "Thank you very much for your help.",
    "Our small garden is full of flowers.",
    "He walked slowly along the quiet river.",
    "Learning a language takes patience and time.",
    "The cat is sleeping on the sofa.",
    "Let us meet again next Tuesday.",
    "This question is a little difficult.",
    "The library is always quiet in the evening.",
    "My brother plays the piano beautifully.",
    "Drive carefully on the way home.",
    "We watched the sunset from the hill.",
    "Fresh bread smells wonderful in the morning.",
    "Could you tell me where the station is?",
    "The children laughed and ran outside.",
    "Good ideas often come when you relax.",
]
# Voices for languages.list: (speaker, language code in the list, espeak-ng voice, text).
OTHER_LANGUAGES = [
    ("ava", "ja", ["-v", "ja+f3", "-p", "65", "-s", "150"], "今日はとても良い天気ですね。"),
    ("ben", "ja", ["-v", "ja+m3", "-p", "35", "-s", "140"], "駅まで歩いて十分かかります。"),
    ("ava", "ja", ["-v", "ja+f3", "-p", "65", "-s", "150"], "この本はとても面白かったです。"),
    ("ava", "ko", ["-v", "ko+f3", "-p", "65", "-s", "150"], "오늘 날씨가 정말 좋네요."),
    ("ben", "ko", ["-v", "ko+m3", "-p", "35", "-s", "140"], "같이 밥 먹으러 갈래요?"),
    ("ben", "ko", ["-v", "ko+m3", "-p", "35", "-s", "140"], "국물이 정말 맛있어요."),
    ("ava", "yue", ["-v", "yue+f3", "-p", "65", "-s", "150"], "我哋今晚去邊度食嘢？"),
    ("ben", "yue", ["-v", "yue+m3", "-p", "35", "-s", "140"], "今日天氣好好，不如出去行下。"),
    ("ava", "yue", ["-v", "yue+f3", "-p", "65", "-s", "150"], "我好鍾意飲奶茶。"),
    ("ben", "zh", ["-v", "cmn+m3", "-p", "35", "-s", "140"], "我们下午有一个meeting。"),
    ("ava", "zh", ["-v", "cmn+f3", "-p", "65", "-s", "150"], "这个App非常好用。"),
]
LONG_EN = [
    "Once upon a time a small fox lived at the edge of a green forest.",
    "Every morning she walked down to the river to drink the cold water.",
    "One day she met an old turtle resting on a flat warm stone.",
    "The turtle told her stories about the distant mountains and the sea.",
    "The fox listened carefully and dreamed about travelling far away.",
    "When autumn came she finally packed her things and began the journey.",
    "Many years later she came back home and told the stories to her own children.",
]
LONG_GAP_SEC = 0.8
EDGE_SILENCE_SEC = 1.5


def speak(text: str, voice: list[str]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", *voice, "-w", str(wav), text], check=True)
        audio, rate = sf.read(wav, dtype="float32")
    assert rate == RATE, rate
    return trim(audio)


def trim(audio: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > threshold)
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def write(path: Path, audio: np.ndarray, rate: int = RATE) -> None:
    sf.write(path, audio, rate, format="FLAC", subtype="PCM_16")


def make_language_clips(out: Path) -> None:
    wavs = out / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    lines, counts = [], {}
    for speaker, lang, voice, text in OTHER_LANGUAGES:
        index = counts[(speaker, lang)] = counts.get((speaker, lang), -1) + 1
        name = (
            f"{speaker}_{lang}_mixed_{index:02d}"
            if lang == "zh"
            else f"{speaker}_{lang}_{index:02d}"
        )
        write(wavs / f"{name}.flac", 0.7 * speak(text, voice))
        lines.append(f"wavs/{name}.flac|{speaker}|{lang}|{text}")
    (out / "languages.list").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(out: Path) -> None:
    make_language_clips(out)
    wavs = out / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    lines = []
    for s_index, (speaker, voices) in enumerate(SPEAKERS.items()):
        for lang, sentences in (("zh", ZH), ("en", EN)):
            for i, text in enumerate(sentences[s_index::2]):
                name = f"{speaker}_{lang}_{i:02d}.flac"
                write(wavs / name, 0.7 * speak(text, voices[lang]))
                lines.append(f"wavs/{name}|{speaker}|{lang}|{text}")
    (out / "demo.list").write_text("\n".join(lines) + "\n", encoding="utf-8")

    awkward = []
    gap = np.zeros(int(LONG_GAP_SEC * RATE), dtype=np.float32)
    parts = []
    for sentence in LONG_EN:
        parts += [0.7 * speak(sentence, SPEAKERS["ben"]["en"]), gap]
    long_clip = np.concatenate(parts[:-1])
    write(wavs / "long_story.flac", long_clip)
    awkward.append(f"wavs/long_story.flac|ben|en|{' '.join(LONG_EN)}")

    edge = np.zeros(int(EDGE_SILENCE_SEC * RATE), dtype=np.float32)
    padded_text = "Silence surrounds this sentence."
    speech = 0.7 * speak(padded_text, SPEAKERS["ava"]["en"])
    write(wavs / "edge_silence.flac", np.concatenate([edge, speech, edge]))
    awkward.append(f"wavs/edge_silence.flac|ava|en|{padded_text}")

    stereo_text = "这段录音是立体声的。"
    mono = 0.7 * speak(stereo_text, SPEAKERS["ava"]["zh"])
    mono = soxr.resample(mono, RATE, 44100)
    write(wavs / "stereo_44k.flac", np.stack([mono, 0.8 * mono], axis=1), rate=44100)
    awkward.append(f"wavs/stereo_44k.flac|ava|zh|{stereo_text}")
    (out / "awkward.list").write_text("\n".join(awkward) + "\n", encoding="utf-8")
    facts = {
        "long_story": {
            "gap_sec": LONG_GAP_SEC,
            "sentences": len(LONG_EN),
            "seconds": len(long_clip) / RATE,
        },
        "edge_silence": {"edge_sec": EDGE_SILENCE_SEC, "speech_sec": len(speech) / RATE},
    }
    (out / "awkward.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    target = Path(arguments[0] if arguments else "src/leanvoice/demo_data")
    if "--languages-only" in sys.argv:
        make_language_clips(target)
    else:
        main(target)
