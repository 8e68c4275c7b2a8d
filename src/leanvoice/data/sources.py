"""Read the dataset formats users bring: an official `.list`, LJSpeech `metadata.csv`,
or a folder of audio with same-named `.txt`/`.lab` transcripts.

Reading never stops at a bad line: each problem is returned with its file and line.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from leanvoice.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")


@dataclass(frozen=True)
class SourceItem:
    item_id: str
    audio_path: Path
    speaker: str
    language: str  # as written in the source; validated by the G2P step
    text: str
    origin: str  # "file:line" or the audio path, for reports


@dataclass(frozen=True)
class SourceProblem:
    origin: str
    reason: str


def read_source(src: Path, language: str = "auto") -> tuple[list[SourceItem], list[SourceProblem]]:
    """Detect the format of `src` and list its items, with the problems found on the way."""
    src = Path(src)
    if not src.exists():
        raise InputError(f"{src}: no such file or folder")
    if src.is_file():
        if src.name.endswith(".csv"):
            return read_ljspeech(src, language)
        return read_official_list(src)
    if (src / "metadata.csv").is_file():
        return read_ljspeech(src / "metadata.csv", language)
    lists = sorted(src.glob("*.list"))
    if len(lists) == 1:
        return read_official_list(lists[0])
    return read_audio_folder(src, language)


def read_official_list(path: Path) -> tuple[list[SourceItem], list[SourceProblem]]:
    """`wav_path|speaker|lang|text` per line; paths relative to the list's folder."""
    items: list[SourceItem] = []
    problems: list[SourceProblem] = []
    lines = _read_lines(path)
    for number, line in enumerate(lines, start=1):
        origin = f"{path}:{number}"
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 4:
            problems.append(SourceProblem(origin, "expected 4 fields `wav|speaker|lang|text`"))
            continue
        wav, speaker, lang, text = fields[0], fields[1], fields[2], "|".join(fields[3:])
        audio = _resolve_audio(path.parent, wav.strip())
        items.append(
            SourceItem(
                _make_id(speaker, audio), audio, speaker.strip(), lang.strip(), text.strip(), origin
            )
        )
    return _unique_ids(items), problems


def read_ljspeech(path: Path, language: str) -> tuple[list[SourceItem], list[SourceProblem]]:
    """`id|transcript|normalized transcript`, audio in `wavs/ID.wav` beside the csv."""
    items: list[SourceItem] = []
    problems: list[SourceProblem] = []
    speaker = path.parent.name or "speaker"
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 2:
            problems.append(SourceProblem(f"{path}:{number}", "expected `id|transcript`"))
            continue
        text = (fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]).strip()
        audio = path.parent / "wavs" / f"{fields[0].strip()}.wav"
        items.append(
            SourceItem(
                _make_id(speaker, audio),
                audio,
                speaker,
                language,  # `auto`: the G2P splits runs by script
                text,
                f"{path}:{number}",
            )
        )
    return _unique_ids(items), problems


def read_audio_folder(root: Path, language: str) -> tuple[list[SourceItem], list[SourceProblem]]:
    """Audio files under `root` with a same-named `.txt` or `.lab`; speaker = parent folder."""
    items: list[SourceItem] = []
    problems: list[SourceProblem] = []
    audio_files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not audio_files:
        raise InputError(
            f"{root}: no .list, metadata.csv or audio files ({', '.join(AUDIO_SUFFIXES)}) found"
        )
    for audio in audio_files:
        transcript = next(
            (p for p in (audio.with_suffix(".txt"), audio.with_suffix(".lab")) if p.is_file()),
            None,
        )
        if transcript is None:
            problems.append(SourceProblem(str(audio), "no transcript (.txt or .lab) beside it"))
            continue
        text = transcript.read_text(encoding="utf-8", errors="replace").strip()
        speaker = audio.parent.name if audio.parent != root else root.name or "speaker"
        items.append(
            SourceItem(
                _make_id(speaker, audio),
                audio,
                speaker,
                language,  # `auto`: the G2P splits runs by script
                text,
                str(audio),
            )
        )
    return _unique_ids(items), problems


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _resolve_audio(base: Path, wav: str) -> Path:
    path = Path(wav)
    if not path.is_absolute():
        path = base / path
    if not path.exists() and (base / Path(wav.replace("\\", "/")).name).exists():
        # official lists often carry absolute paths from the machine they were made on
        path = base / Path(wav.replace("\\", "/")).name
    return path


def _make_id(speaker: str, audio: Path) -> str:
    raw = f"{speaker.strip()}_{audio.stem}" if speaker.strip() else audio.stem
    return re.sub(r"[^\w.-]+", "_", raw, flags=re.UNICODE).strip("_") or "clip"


def _unique_ids(items: list[SourceItem]) -> list[SourceItem]:
    seen: dict[str, int] = {}
    out = []
    for item in items:
        count = seen.get(item.item_id, 0)
        seen[item.item_id] = count + 1
        if count:
            item = dataclasses.replace(item, item_id=f"{item.item_id}-{count}")
        out.append(item)
    return out
