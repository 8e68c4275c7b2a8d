"""`manifest.jsonl`: one prepared clip per line, read and written only here.

`ClipRecord` is the typed line; `read_manifest` and `write_manifest` are the one reader
and the one writer that prepare, the feature step, the official import, the trainers,
the planner and the demo go through. A line that is not JSON or lacks a field is an
InputError naming the file, the line and the field.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from leanvoice.errors import InputError
from leanvoice.fsutil import atomic_write_text
from leanvoice.text.g2p import Run, language_ids_of

MANIFEST = "manifest.jsonl"
FEATURE_KEYS = ("ssl_path", "bert_path", "semantic_path")


@dataclass
class ClipRecord:
    id: str
    speaker: str
    language: str  # a v2 code, or the mixed mode it was prepared under (then see `runs`)
    text: str
    normalized_text: str
    phonemes: list[str]
    phoneme_ids: list[int]
    word2ph: list[int] | None  # phonemes per character (Mandarin only; BERT alignment)
    duration_sec: float
    samples: int
    frames: int  # SoVITS spectrogram frames (samples // hop length)
    wav: str  # relative to the dataset folder
    source: str
    source_span_sec: list[float]
    runs: list[Run] = field(default_factory=list)  # language runs of a mixed transcript
    ssl_path: str | None = None  # the feature step adds these four
    bert_path: str | None = None
    semantic_path: str | None = None
    semantic_tokens: int | None = None
    # v2Pro/v2ProPlus only (`prepare --sv`), so not among the FEATURE_KEYS every clip needs
    sv_path: str | None = None

    def language_runs(self) -> list[Run]:
        """Several runs for a mixed-language transcript, else the whole clip as one."""
        if self.runs:
            return self.runs
        n = len(self.phoneme_ids)
        return [Run(self.language, self.normalized_text, self.word2ph, n)]

    def language_ids(self) -> list[int]:
        """One language id per phoneme (the GPT's optional language-ID embedding)."""
        return language_ids_of(self.language_runs())

    def has_features(self) -> bool:
        return all(getattr(self, key) is not None for key in FEATURE_KEYS)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["runs"] = [run.as_json() for run in self.runs]
        if not self.runs:
            del data["runs"]
        return {k: v for k, v in data.items() if v is not None or k == "word2ph"}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> ClipRecord:
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is f.default_factory is MISSING}
        missing = sorted(required - data.keys())
        if missing:
            raise InputError(f"{where}: clip has no {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in known}
        values["runs"] = [Run(**run) for run in data.get("runs") or []]
        return cls(**values)


def read_manifest(root: Path, *, need_features: bool = False) -> list[ClipRecord]:
    """The clips of a prepared dataset; with `need_features`, each must have its feature
    files listed (else a one-line error saying how to make them)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise InputError(f"{path}: not found; run `leanvoice prepare SRC {root}` first")
    clips = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: not JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a clip record")
        clip = ClipRecord.from_json(data, where)
        if need_features and not clip.has_features():
            missing = next(key for key in FEATURE_KEYS if getattr(clip, key) is None)
            raise InputError(
                f"{path}: clip {clip.id} has no {missing}; run prepare with feature "
                "extraction (--tiny-features, or --hubert/--bert/--sovits)"
            )
        clips.append(clip)
    return clips


def write_manifest(root: Path, clips: list[ClipRecord]) -> None:
    """Atomically: a crash leaves the old manifest or the new one."""
    lines = "".join(json.dumps(c.to_json(), ensure_ascii=False) + "\n" for c in clips)
    atomic_write_text(Path(root) / MANIFEST, lines)
