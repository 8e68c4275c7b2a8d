"""Read the dataset formats users bring: an official `.list`, LJSpeech `metadata.csv`,
or a folder of audio with same-named `.txt`/`.lab` transcripts.

Reading never stops at a bad line: each problem is returned with its file and line.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from leanvoice.errors import InputError, TextError
from leanvoice.text.g2p import normalize_language

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
    items, problems, _ = read_source_with_encoding(src, language)
    return items, problems


def read_source_with_encoding(
    src: Path, language: str = "auto"
) -> tuple[list[SourceItem], list[SourceProblem], str | None]:
    """`read_source`, and the encoding its list or metadata.csv was read in (None for a
    folder of audio and transcripts), for the report."""
    src = Path(src)
    if not src.exists():
        raise InputError(f"{src}: no such file or folder")
    text_file = src if src.is_file() else None
    if text_file is None and (src / "metadata.csv").is_file():
        text_file = src / "metadata.csv"
    if text_file is None:
        lists = sorted(src.glob("*.list"))
        if len(lists) != 1:
            return (*read_audio_folder(src, language), None)
        text_file = lists[0]
    if text_file.name.endswith(".csv"):
        lines, encoding = read_text_lines(text_file, language)
        return (*read_ljspeech(text_file, language, lines), encoding)
    lines, encoding = read_text_lines(text_file)
    return (*read_official_list(text_file, lines), encoding)


def read_official_list(
    path: Path, lines: list[str | None] | None = None
) -> tuple[list[SourceItem], list[SourceProblem]]:
    """`wav_path|speaker|lang|text` per line; paths relative to the list's folder."""
    items: list[SourceItem] = []
    problems: list[SourceProblem] = []
    if lines is None:
        lines, _ = read_text_lines(path)
    for number, line in enumerate(lines, start=1):
        origin = f"{path}:{number}"
        if line is None:
            problems.append(SourceProblem(origin, NOT_UTF8_LINE))
            continue
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


def read_ljspeech(
    path: Path, language: str, lines: list[str | None] | None = None
) -> tuple[list[SourceItem], list[SourceProblem]]:
    """`id|transcript|normalized transcript`, audio in `wavs/ID.wav` beside the csv."""
    items: list[SourceItem] = []
    problems: list[SourceProblem] = []
    speaker = path.parent.name or "speaker"
    if lines is None:
        lines, _ = read_text_lines(path, language)
    for number, line in enumerate(lines, start=1):
        if line is None:
            problems.append(SourceProblem(f"{path}:{number}", NOT_UTF8_LINE))
            continue
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


# Encodings users of the supported languages save lists in, tried after UTF-8 (Python's
# codec, the name reported). The Windows code pages are supersets of the plain standards.
LEGACY_ENCODINGS = (
    ("gb18030", "GB18030/GBK"),
    ("cp932", "Shift-JIS"),
    ("cp949", "EUC-KR"),
    ("big5hkscs", "Big5"),
)
NOT_UTF8_LINE = "this line is not UTF-8 text (the rest of the file is); save the file as UTF-8"


def read_text_lines(path: Path, language: str = "auto") -> tuple[list[str | None], str]:
    """A list's or metadata.csv's lines and the encoding they were read in: UTF-8 (a BOM
    allowed) or UTF-16 with its BOM, else the legacy CJK encoding whose reading gives
    each line text in the script of its language (field 3 of a `.list`, else `language`):
    a wrong guess reads as characters of another script or private-use characters. A
    UTF-8 file with some broken lines keeps UTF-8, those lines None. A file with no line
    in any of these is refused."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Windows Notepad's "Unicode"
        try:
            return raw.decode("utf-16").splitlines(), "UTF-16"
        except UnicodeDecodeError:
            pass
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8").splitlines(), "UTF-8"
    except UnicodeDecodeError as exc:
        first_bad = raw[: exc.start].count(b"\n") + 1
        bad_byte = raw[exc.start]
    # No byte of a multi-byte character in these encodings is b"\n": split first.
    raw_lines = raw.split(b"\n")
    utf8_lines = [_utf8_or_none(line) for line in raw_lines]
    if any(line is not None and not line.isascii() for line in utf8_lines):
        return [_strip_cr(line) for line in utf8_lines], "UTF-8"
    scored = []
    for codec, name in LEGACY_ENCODINGS:
        try:
            lines = raw.decode(codec).splitlines()
        except UnicodeDecodeError:
            continue
        scored.append((_script_fit(lines, language, is_list=path.suffix != ".csv"), name, lines))
    best = max(scored, key=lambda entry: entry[0], default=None)  # ties: the earlier codec
    if best is not None and best[0] > 0:
        return best[2], best[1]
    if any(line for line in utf8_lines):  # UTF-8 (ASCII) but for some lines: skip those
        return [_strip_cr(line) for line in utf8_lines], "UTF-8"
    raise InputError(
        f"{path}: not UTF-8 (line {first_bad} has byte 0x{bad_byte:02x}), nor "
        f"{', '.join(name for _, name in LEGACY_ENCODINGS)} text in its lines' "
        "languages; save it as UTF-8"
    )


def _utf8_or_none(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _strip_cr(line: str | None) -> str | None:
    return line.removesuffix("\r") if line is not None else None


def _script(ch: str) -> str:
    """han | kana | hangul | neutral (ASCII, Latin, CJK punctuation) | other."""
    code = ord(ch)
    if code < 0x250 or 0x2000 <= code <= 0x206F or 0x3000 <= code <= 0x303F:
        return "neutral"
    if 0xFF01 <= code <= 0xFF65:  # full-width ASCII and punctuation
        return "neutral"
    if 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF:
        return "han"
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
        return "kana"  # half-width katakana is not: a misread GBK byte looks like it
    if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    return "other"


# How well each script fits a line's language: its own script counts fully, a script
# its texts also use (kanji, hanja) by half, another script against. Without a language,
# kana and Hangul outweigh Han: Japanese or Korean bytes misread as GBK are all Han.
SCRIPT_FIT = {
    "zh": {"han": 1.0, "kana": -1.0, "hangul": -1.0},
    "yue": {"han": 1.0, "kana": -1.0, "hangul": -1.0},
    "ja": {"han": 0.5, "kana": 1.0, "hangul": -1.0},
    "ko": {"han": 0.5, "kana": -1.0, "hangul": 1.0},
    "en": {"han": -1.0, "kana": -1.0, "hangul": -1.0},
    "auto": {"han": 0.75, "kana": 1.0, "hangul": 1.0},
}


def _script_fit(lines: list[str], language: str, *, is_list: bool) -> float:
    score = 0.0
    for line in lines:
        text, lang = line, language
        if is_list:
            fields = line.split("|")
            if len(fields) < 4:
                continue
            lang, text = fields[2], "|".join(fields[3:])
        try:
            weights = SCRIPT_FIT.get(normalize_language(lang, mixed=True), SCRIPT_FIT["auto"])
        except TextError:
            weights = SCRIPT_FIT["auto"]
        for ch in text:
            script = _script(ch)
            if script != "neutral":
                score += weights.get(script, -1.0)
    return score


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
