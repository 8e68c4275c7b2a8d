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
from leanvoice.errors import InputError, TextError
from leanvoice.features.bert import BertExtractor
from leanvoice.features.ssl import SSLExtractor
from leanvoice.fsutil import atomic_write, atomic_write_json, atomic_write_text
from leanvoice.models.sovits import SoVITSGenerator


@dataclass
class FeatureResult:
    clips: int
    computed: int  # clips whose features were computed in this run
    skipped: list[dict]


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda tmp: np.save(tmp.open("wb"), array))


def extract_features(
    out: Path, ssl: SSLExtractor, bert: BertExtractor, sovits: SoVITSGenerator
) -> FeatureResult:
    manifest_path = out / "manifest.jsonl"
    clips = [json.loads(line) for line in manifest_path.read_text(encoding="utf-8").splitlines()]
    kept, skipped, computed = [], [], 0
    sovits.eval()
    for clip in clips:
        paths = {kind: f"{kind}/{clip['id']}.npy" for kind in ("ssl", "bert", "semantic")}
        if not all((out / p).is_file() for p in paths.values()):
            try:
                bert_features = bert.phoneme_features(
                    clip["normalized_text"], clip["word2ph"], len(clip["phoneme_ids"])
                )
            except TextError as exc:
                skipped.append({"origin": clip["id"], "file": clip["wav"], "reason": str(exc)})
                continue
            audio = load_audio(out / clip["wav"])
            features = ssl.extract(audio.samples, audio.sample_rate)
            with torch.no_grad():
                codes = sovits.encode_semantic(torch.from_numpy(features)[None])[0]
            _save_npy(out / paths["bert"], bert_features.astype(np.float16))
            _save_npy(out / paths["semantic"], codes.numpy().astype(np.int16))
            _save_npy(out / paths["ssl"], features.astype(np.float16))  # written last
            computed += 1
        clip.update({f"{kind}_path": p for kind, p in paths.items()})
        clip["semantic_tokens"] = int(np.load(out / paths["semantic"]).shape[0])
        kept.append(clip)
    tsv = "".join(
        f"{c['id']}\t{' '.join(map(str, np.load(out / c['semantic_path']).tolist()))}\n"
        for c in kept
    )
    atomic_write_text(out / "semantic.tsv", tsv)
    atomic_write_text(
        manifest_path, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in kept)
    )
    return FeatureResult(len(kept), computed, skipped)


def run_feature_step(
    out: Path,
    *,
    tiny: bool = False,
    hubert: Path | None = None,
    bert: Path | None = None,
    sovits: Path | None = None,
    device: str = "cpu",
) -> FeatureResult:
    """Choose the models, extract, and add feature problems to report.json."""
    from leanvoice.features.setup import real_feature_models, tiny_feature_models

    if tiny:
        models = tiny_feature_models(out, device)
    else:
        missing = [name for name, v in (("--hubert", hubert), ("--bert", bert),
                                        ("--sovits", sovits)) if v is None]  # fmt: skip
        if missing:
            raise InputError(f"feature extraction needs {', '.join(missing)} too")
        models = real_feature_models(hubert, bert, sovits, device)  # type: ignore[arg-type]
    result = extract_features(out, *models)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["skipped"] += result.skipped
    report["clips_with_features"] = result.clips
    atomic_write_json(report_path, report)
    return result
