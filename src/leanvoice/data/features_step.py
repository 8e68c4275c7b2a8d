"""The feature half of `leanvoice prepare`: SSL, BERT and semantic codes per clip.

Each clip gets `ssl/ID.npy` (fp16 [ssl_dim, frames]), `bert/ID.npy` (fp16 [bert_dim,
phonemes]) and `semantic/ID.npy` (int16 codes at 25 Hz), and with a speaker model
(v2Pro/v2ProPlus) `sv/ID.npy` (fp16 [sv_dim], the official `7-sv_cn`), each written
atomically and skipped when present, so a re-run does nothing. `semantic.tsv` (official
layout `id<TAB>codes`) and the manifest's feature paths are rewritten at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from leanvoice.audio.io import load_audio
from leanvoice.data.manifest import ClipRecord, read_manifest, write_manifest
from leanvoice.errors import AudioError, InputError, OutputError, TextError
from leanvoice.features.bert import BertExtractor
from leanvoice.features.ssl import SSLExtractor
from leanvoice.features.sv import SpeakerEmbedder
from leanvoice.fsutil import (
    DISK_WRITE_FAILURES,
    atomic_write_json,
    atomic_write_npy,
    atomic_write_text,
    one_line_write_failure,
    write_failure,
)
from leanvoice.models.sovits import SoVITSGenerator

TINY_SPEAKER_MODEL = "tiny"  # `--sv tiny`: the built-in tiny speaker model
RESUMABLE = "run prepare again to go on (features already written are kept)"


@dataclass
class FeatureResult:
    clips: int
    computed: int  # clips whose features were computed in this run
    skipped: list[dict]


def extract_features(
    out: Path,
    ssl: SSLExtractor,
    bert: BertExtractor,
    sovits: SoVITSGenerator,
    *,
    sv: SpeakerEmbedder | None = None,
    batch_size: int = 8,
) -> FeatureResult:
    """BERT runs `batch_size` clips per forward pass (padding is masked, so results equal
    one-at-a-time); HuBERT and the speaker model run one clip at a time, because padding
    would change their results (group norm; convolutions and the time average)."""
    clips = read_manifest(out)
    paths_of = {c.id: {k: f"{k}/{c.id}.npy" for k in ("ssl", "bert", "semantic")} for c in clips}
    todo = [c for c in clips if not all((out / p).is_file() for p in paths_of[c.id].values())]
    failed: dict[str, str] = {}
    sovits.eval()
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        berts = _bert_per_clip(bert, chunk)
        for clip, bert_features in zip(chunk, berts, strict=True):
            if isinstance(bert_features, TextError):
                failed[clip.id] = str(bert_features)
                continue
            paths = paths_of[clip.id]
            audio = load_audio(out / clip.wav)
            features = ssl.extract(audio.samples, audio.sample_rate)
            with torch.no_grad():
                codes = sovits.encode_semantic(torch.from_numpy(features)[None])[0]
            arrays = {
                "bert": bert_features.astype(np.float16),
                "semantic": codes.numpy().astype(np.int16),
                "ssl": features.astype(np.float16),  # written last: it marks the clip done
            }
            for kind, array in arrays.items():
                problem = _write_npy(out / paths[kind], array)
                if problem:
                    failed[clip.id] = problem
                    break
    computed = {c.id for c in todo} - failed.keys()
    if sv is not None:
        sv_done, sv_failed = _write_speaker_embeddings(
            out, [c for c in clips if c.id not in failed], sv
        )
        computed = (computed | sv_done) - sv_failed.keys()
        failed |= sv_failed
    kept, tsv_lines = [], []
    skipped = [
        {"origin": c.id, "file": c.wav, "reason": failed[c.id]} for c in clips if c.id in failed
    ]
    for clip in clips:
        if clip.id in failed:
            continue
        paths = paths_of[clip.id]
        codes = np.load(out / paths["semantic"])  # read once: token count and tsv line
        clip.ssl_path, clip.bert_path = paths["ssl"], paths["bert"]
        clip.semantic_path, clip.semantic_tokens = paths["semantic"], int(codes.shape[0])
        clip.sv_path = _sv_path(clip) if (out / _sv_path(clip)).is_file() else None
        kept.append(clip)
        tsv_lines.append(f"{clip.id}\t{' '.join(map(str, codes.tolist()))}\n")
    with one_line_write_failure(out / "semantic.tsv", RESUMABLE):
        atomic_write_text(out / "semantic.tsv", "".join(tsv_lines))
    with one_line_write_failure(out / "manifest.jsonl", RESUMABLE):
        write_manifest(out, kept)
    return FeatureResult(len(kept), len(computed), skipped)


def _write_npy(path: Path, array: np.ndarray) -> str | None:
    """Write one clip's feature file; a failure of this file is returned as the clip's
    reason to be skipped, one of the disk (full, read-only) stops prepare in one line."""
    try:
        atomic_write_npy(path, array)
    except OSError as error:
        if error.errno in DISK_WRITE_FAILURES:
            raise OutputError(f"{write_failure(path, error)}; {RESUMABLE}") from None
        return write_failure(path, error)
    return None


def _sv_path(clip: ClipRecord) -> str:
    return f"sv/{clip.id}.npy"


def _write_speaker_embeddings(
    out: Path, clips: list[ClipRecord], sv: SpeakerEmbedder
) -> tuple[set[str], dict[str, str]]:
    """`sv/ID.npy` for each clip that lacks it, from its 32 kHz clip as the official
    `2-get-sv.py` reads `5-wav32k/`. Stored fp16 like the other features, as the official
    stores its half-precision GPU result: rounding moves the embedding less (cosine
    ≥ 0.9999996) than the official's fp16 model does. Returns the ids computed and the
    clips that failed, with the reason."""
    done, failed = set(), {}
    for clip in clips:
        path = out / _sv_path(clip)
        if path.is_file() and np.load(path, mmap_mode="r").shape == (sv.dim,):
            continue  # done; one of another model's width (tiny vs official) is redone
        try:
            audio = load_audio(out / clip.wav)
            embedding = sv.extract(audio.samples, audio.sample_rate)
        except AudioError as exc:
            failed[clip.id] = f"speaker embedding: {exc}"
            continue
        problem = _write_npy(path, embedding.astype(np.float16))
        if problem:
            failed[clip.id] = f"speaker embedding: {problem}"
            continue
        done.add(clip.id)
    return done, failed


def run_feature_step(
    out: Path,
    *,
    tiny: bool = False,
    hubert: Path | None = None,
    bert: Path | None = None,
    sovits: Path | None = None,
    sv: Path | str | None = None,
    device: str = "cpu",
    batch_size: int = 8,
) -> FeatureResult:
    """Choose the models, extract, and add feature problems to report.json. `sv` adds the
    v2Pro/v2ProPlus speaker embedding: the official `pretrained_eres2netv2w24s4ep4.ckpt`,
    or "tiny" (with `tiny`) for a random tiny speaker model under OUT/tiny_models."""
    from leanvoice.features.setup import real_feature_models, tiny_feature_models

    missing = [
        name
        for name, v in (("--hubert", hubert), ("--bert", bert), ("--sovits", sovits))
        if v is None and not tiny
    ]
    if missing:
        raise InputError(f"feature extraction needs {', '.join(missing)} too")
    speaker = _speaker_model(out, sv, tiny=tiny, device=device) if sv is not None else None
    if tiny:
        models = tiny_feature_models(out, device)
    else:
        models = real_feature_models(hubert, bert, sovits, device)  # type: ignore[arg-type]
    result = extract_features(out, *models, sv=speaker, batch_size=batch_size)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["skipped"] += result.skipped
    report["clips_with_features"] = result.clips
    with one_line_write_failure(report_path, RESUMABLE):
        atomic_write_json(report_path, report)
    return result


def _speaker_model(out: Path, sv: Path | str, *, tiny: bool, device: str) -> SpeakerEmbedder:
    from leanvoice.features.setup import TINY_DIR
    from leanvoice.features.tiny import build_tiny_speaker_model

    if str(sv) != TINY_SPEAKER_MODEL:
        return SpeakerEmbedder(Path(sv), device)
    if not tiny:
        raise InputError(
            "--sv tiny goes with --tiny-features; for real features give the official "
            "pretrained_eres2netv2w24s4ep4.ckpt"
        )
    path = out / TINY_DIR / "sv.ckpt"
    if not path.is_file():
        build_tiny_speaker_model(path)
    return SpeakerEmbedder(path, device)


def _bert_per_clip(bert: BertExtractor, clips: list[ClipRecord]) -> list[np.ndarray | TextError]:
    """Each clip's BERT features, its language runs side by side in one batch: Mandarin
    runs get real features, the others zeros, joined in the clip's phoneme order."""
    runs = [clip.language_runs() for clip in clips]
    flat = bert.phoneme_features_batch(
        [(r.normalized_text, r.word2ph, r.phonemes) for clip_runs in runs for r in clip_runs]
    )
    results: list[np.ndarray | TextError] = []
    for clip_runs in runs:
        parts, flat = flat[: len(clip_runs)], flat[len(clip_runs) :]
        error = next((p for p in parts if isinstance(p, TextError)), None)
        results.append(error if error else np.concatenate(parts, axis=1))
    return results
