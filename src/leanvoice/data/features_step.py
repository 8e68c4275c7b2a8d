"""The feature half of `leanvoice prepare`: SSL, BERT and semantic codes per clip.

Each clip gets `ssl/ID.npy` (fp16 [ssl_dim, frames]), `bert/ID.npy` (fp16 [bert_dim,
phonemes]) and `semantic/ID.npy` (int16 codes at 25 Hz), each written atomically and
skipped when present, so a re-run does nothing. `semantic.tsv` (official layout
`id<TAB>codes`) and the manifest's feature paths are rewritten at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from leanvoice.audio.io import load_audio
from leanvoice.data.manifest import ClipRecord, read_manifest, write_manifest
from leanvoice.errors import InputError, TextError
from leanvoice.features.bert import BertExtractor
from leanvoice.features.ssl import SSLExtractor
from leanvoice.fsutil import atomic_write_json, atomic_write_npy, atomic_write_text
from leanvoice.models.sovits import SoVITSGenerator


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
    batch_size: int = 8,
) -> FeatureResult:
    """BERT runs `batch_size` clips per forward pass (padding is masked, so results equal
    one-at-a-time); HuBERT runs one clip at a time, because the official model's
    group-normalised feature encoder would see the padding of a batch."""
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
            atomic_write_npy(out / paths["bert"], bert_features.astype(np.float16))
            atomic_write_npy(out / paths["semantic"], codes.numpy().astype(np.int16))
            atomic_write_npy(out / paths["ssl"], features.astype(np.float16))  # written last
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
        kept.append(clip)
        tsv_lines.append(f"{clip.id}\t{' '.join(map(str, codes.tolist()))}\n")
    computed = len(todo) - len(failed)
    atomic_write_text(out / "semantic.tsv", "".join(tsv_lines))
    write_manifest(out, kept)
    return FeatureResult(len(kept), computed, skipped)


def run_feature_step(
    out: Path,
    *,
    tiny: bool = False,
    hubert: Path | None = None,
    bert: Path | None = None,
    sovits: Path | None = None,
    device: str = "cpu",
    batch_size: int = 8,
) -> FeatureResult:
    """Choose the models, extract, and add feature problems to report.json."""
    from leanvoice.features.setup import real_feature_models, tiny_feature_models

    if tiny:
        models = tiny_feature_models(out, device)
    else:
        missing = [
            name
            for name, v in (("--hubert", hubert), ("--bert", bert), ("--sovits", sovits))
            if v is None
        ]
        if missing:
            raise InputError(f"feature extraction needs {', '.join(missing)} too")
        models = real_feature_models(hubert, bert, sovits, device)  # type: ignore[arg-type]
    result = extract_features(out, *models, batch_size=batch_size)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["skipped"] += result.skipped
    report["clips_with_features"] = result.clips
    atomic_write_json(report_path, report)
    return result


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
