"""`leanvoice prepare SRC OUT`: ingest a dataset into 32 kHz clips and a manifest.

Per source item: G2P the transcript, decode and resample the audio, reject silent files,
normalise loudness, trim edge silence, cut clips longer than `max_sec` at pauses that
match the text, and write each clip. Every item ends in a small record file written
atomically, so a killed run resumes where it stopped and produces the same manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from leanvoice import __version__
from leanvoice.audio.io import load_audio, normalize_loudness, peak_db, write_wav
from leanvoice.audio.slicer import Span, trim_edges
from leanvoice.config.schema import Config
from leanvoice.config.sizes import load_size
from leanvoice.data.align import split_transcribed
from leanvoice.data.manifest import ClipRecord, write_manifest
from leanvoice.data.report import build_report
from leanvoice.data.sources import SourceItem, read_source_with_encoding
from leanvoice.errors import AudioError, InputError, OutputError, TextError
from leanvoice.fsutil import (
    DISK_WRITE_FAILURES,
    atomic_write_json,
    one_line_write_failure,
    writable_folder,
    write_failure,
)
from leanvoice.text.g2p import Phonemes, g2p

RECORDS_DIR = ".items"
RESUMABLE = "run prepare again to go on (finished items are kept)"


@dataclass
class PrepareResult:
    out: Path
    clips: int
    skipped: int
    processed_now: int  # items (re)processed in this run; 0 when everything was already done
    report: dict[str, Any]


def prepare_dataset(
    src: Path,
    out: Path,
    cfg: Config,
    *,
    language: str = "auto",
    on_item: Callable[[int, int], None] | None = None,
) -> PrepareResult:
    """Prepare `src` into `out`; resumable; returns counts and the report."""
    src, out = Path(src), Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: output path exists and is a file; choose a folder")
    items, problems, encoding = read_source_with_encoding(src, language)
    writable_folder(out)
    settings = _settings_fingerprint(cfg)
    records_dir = out / RECORDS_DIR
    records_dir.mkdir(exist_ok=True)

    todo = [item for item in items if not _is_done(records_dir, item, settings)]
    done = len(items) - len(todo)
    if on_item:
        on_item(done, len(items))
    jobs = [(item, cfg, out, settings) for item in todo]
    if cfg.prepare.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=cfg.prepare.workers) as pool:
            for _ in pool.map(_process_and_record, jobs, chunksize=1):
                done += 1
                if on_item:
                    on_item(done, len(items))
    else:
        for job in jobs:
            _process_and_record(job)
            done += 1
            if on_item:
                on_item(done, len(items))

    records = [_read_record(records_dir, item) for item in items]
    clips = [
        ClipRecord.from_json(clip, str(_record_path(records_dir, item)))
        for item, record in zip(items, records, strict=True)
        for clip in record["clips"]
    ]
    skipped = [asdict(p) | {"file": None} for p in problems]
    skipped += [s for record in records for s in record["skipped"]]
    with one_line_write_failure(out / "manifest.jsonl", RESUMABLE):
        write_manifest(out, clips)
    report = build_report(clips, skipped, source=str(src), items=len(items) + len(problems))
    if encoding is not None:
        report["source_encoding"] = encoding
    with one_line_write_failure(out / "report.json", RESUMABLE):
        atomic_write_json(out / "report.json", report)
    return PrepareResult(out, len(clips), len(skipped), len(todo), report)


def _settings_fingerprint(cfg: Config) -> str:
    relevant = {"prepare": asdict(cfg.prepare), "max_sec": cfg.data.max_sec, "v": __version__}
    relevant["prepare"].pop("workers")
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _item_signature(item: SourceItem, settings: str) -> str:
    try:
        stat = item.audio_path.stat()
        audio_sig = f"{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        audio_sig = "missing"
    raw = f"{settings}|{item.audio_path}|{audio_sig}|{item.speaker}|{item.language}|{item.text}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _record_path(records_dir: Path, item: SourceItem) -> Path:
    return records_dir / f"{item.item_id}.json"


def _is_done(records_dir: Path, item: SourceItem, settings: str) -> bool:
    path = _record_path(records_dir, item)
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if record.get("signature") != _item_signature(item, settings):
        return False
    wav_root = records_dir.parent
    return all((wav_root / clip["wav"]).is_file() for clip in record["clips"])  # raw JSON


def _read_record(records_dir: Path, item: SourceItem) -> dict[str, Any]:
    return json.loads(_record_path(records_dir, item).read_text(encoding="utf-8"))


def _process_and_record(job: tuple[SourceItem, Config, Path, str]) -> None:
    item, cfg, out, settings = job
    clips, skipped = process_item(item, cfg, out)
    retry = any(entry.pop("retry", False) for entry in skipped)
    record = {
        "item_id": item.item_id,
        # a clip that could not be written is tried again by the next run
        "signature": "" if retry else _item_signature(item, settings),
        "clips": [clip.to_json() for clip in clips],
        "skipped": skipped,
    }
    path = _record_path(out / RECORDS_DIR, item)
    with one_line_write_failure(path, RESUMABLE):
        atomic_write_json(path, record)


def process_item(
    item: SourceItem, cfg: Config, out: Path
) -> tuple[list[ClipRecord], list[dict[str, Any]]]:
    """Turn one source item into clips; problems become `skipped` entries, never exceptions."""
    pcfg = cfg.prepare

    def skip(reason: str) -> tuple[list[ClipRecord], list[dict[str, Any]]]:
        return [], [{"origin": item.origin, "file": str(item.audio_path), "reason": reason}]

    try:
        phonemes = g2p(item.text, item.language)
        audio = load_audio(item.audio_path, pcfg.sample_rate)
    except (TextError, AudioError) as exc:
        return skip(str(exc).removeprefix(f"{item.audio_path}: "))
    samples = audio.samples
    if peak_db(samples) < pcfg.silence_peak_db:
        return skip(f"silent (peak below {pcfg.silence_peak_db:.0f} dBFS)")
    samples = normalize_loudness(samples, audio.sample_rate, pcfg.target_rms_db, pcfg.peak_limit)
    region = trim_edges(samples, audio.sample_rate, pcfg.slicer)
    if region is None:
        return skip(f"silent (no frame above {pcfg.slicer.threshold_db:.0f} dB)")

    max_len = int(cfg.data.max_sec * audio.sample_rate)
    if region.length <= max_len:
        pieces = [(region, item.text)]
        dropped: list[tuple[float, str]] = []
    else:
        result = split_transcribed(
            samples,
            audio.sample_rate,
            region,
            item.text,
            phonemes.language,
            cfg.data.max_sec,
            pcfg.slicer,
        )
        pieces = [(p.span, p.text) for p in result.pieces]
        dropped = result.dropped

    clips: list[ClipRecord] = []
    hop = load_size(cfg.model.size).sovits.hop_length
    skipped = [skip(reason)[1][0] for _, reason in dropped]
    for index, (span, text) in enumerate(pieces):
        clip_id = item.item_id if len(pieces) == 1 else f"{item.item_id}_{index:02d}"
        seconds = span.length / audio.sample_rate
        if seconds < pcfg.min_sec:
            skipped += skip(f"clip {clip_id} is {seconds:.2f} s, below min_sec={pcfg.min_sec}")[1]
            continue
        try:
            piece_phonemes = phonemes if len(pieces) == 1 else g2p(text, phonemes.language)
        except TextError as exc:
            skipped += skip(f"clip {clip_id}: {exc}")[1]
            continue
        rate = len(piece_phonemes.phoneme_ids) / seconds
        if not pcfg.min_phonemes_per_sec <= rate <= pcfg.max_phonemes_per_sec:
            skipped += skip(
                f"clip {clip_id}: {len(piece_phonemes.phoneme_ids)} phonemes in {seconds:.2f} s "
                f"({rate:.1f}/s, outside prepare.min/max_phonemes_per_sec "
                f"{pcfg.min_phonemes_per_sec:g}-{pcfg.max_phonemes_per_sec:g}): the text does "
                "not match the audio"
            )[1]
            continue
        wav_rel = f"wav32k/{clip_id}.wav"
        try:
            write_wav(out / wav_rel, samples[span.start : span.end], audio.sample_rate)
        except OSError as error:
            if error.errno in DISK_WRITE_FAILURES:  # every later write would fail too
                raise OutputError(f"{write_failure(out / wav_rel, error)}; {RESUMABLE}") from None
            reason = f"clip {clip_id}: {write_failure(out / wav_rel, error)}"
            skipped.append(skip(reason)[1][0] | {"retry": True})
            continue
        clips.append(
            _clip_entry(item, clip_id, text, piece_phonemes, span, audio.sample_rate, hop, wav_rel)
        )
    return clips, skipped


def _clip_entry(
    item: SourceItem,
    clip_id: str,
    text: str,
    phonemes: Phonemes,
    span: Span,
    sample_rate: int,
    hop: int,
    wav_rel: str,
) -> ClipRecord:
    samples = span.length
    return ClipRecord(
        id=clip_id,
        speaker=item.speaker,
        language=phonemes.language,
        text=text,
        normalized_text=phonemes.normalized_text,
        phonemes=phonemes.phonemes,
        phoneme_ids=phonemes.phoneme_ids,
        word2ph=phonemes.word2ph,
        runs=phonemes.runs if len(phonemes.runs) > 1 else [],
        duration_sec=round(samples / sample_rate, 4),
        samples=samples,
        frames=samples // hop,
        wav=wav_rel,
        source=str(item.audio_path),
        source_span_sec=[round(span.start / sample_rate, 4), round(span.end / sample_rate, 4)],
    )
