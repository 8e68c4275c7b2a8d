"""Read an official prepared experiment folder into our prepared-dataset layout.

The official WebUI writes `2-name2text.txt` (`name<TAB>phones<TAB>word2ph<TAB>text`),
`3-bert/NAME.pt` (Mandarin only), `4-cnhubert/NAME.pt` ([1, 768, T]), `5-wav32k/NAME`
and `6-name2semantic.tsv`; a v2Pro/v2ProPlus experiment also `7-sv_cn/NAME.pt` ([1, 20480]
speaker embeddings), imported into `sv/`. Tensors are read with
`torch.load(weights_only=True)`.
A clip with a missing or unreadable piece is skipped and reported.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from leanvoice.config.sizes import load_size
from leanvoice.data.manifest import ClipRecord, write_manifest
from leanvoice.data.report import build_report
from leanvoice.errors import InputError, TextError
from leanvoice.features.sv import OFFICIAL_SV_DIM
from leanvoice.fsutil import atomic_write, atomic_write_json, atomic_write_npy, atomic_write_text
from leanvoice.text.symbols import phonemes_to_ids

TEXT_FILE, SEMANTIC_FILE = "2-name2text.txt", "6-name2semantic.tsv"
SV_DIR = "7-sv_cn"  # Pro experiments only; when present, every clip needs its file


def is_official_experiment(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / TEXT_FILE).is_file()


def import_official_experiment(exp: Path, out: Path) -> dict:
    """Convert `exp` into `out`; returns the report (also written to report.json)."""
    exp, out = Path(exp), Path(out)
    if not (exp / SEMANTIC_FILE).is_file():
        raise InputError(f"{exp}: {SEMANTIC_FILE} missing; run the official step 1c first")
    semantic = _read_semantic(exp / SEMANTIC_FILE)
    clips, skipped = [], []
    lines = (exp / TEXT_FILE).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        origin = f"{exp / TEXT_FILE}:{number}"
        try:
            clips.append(_import_clip(exp, out, line, semantic))
        except (InputError, TextError, ValueError, KeyError, RuntimeError) as exc:
            skipped.append({"origin": origin, "file": None, "reason": str(exc)})
    write_manifest(out, clips)
    tsv = "".join(f"{c.id}\t{' '.join(map(str, semantic[c.source]))}\n" for c in clips)
    atomic_write_text(out / "semantic.tsv", tsv)
    report = build_report(clips, skipped, source=str(exp), items=len(clips) + len(skipped))
    atomic_write_json(out / "report.json", report)
    return report


def _read_semantic(path: Path) -> dict[str, list[int]]:
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, codes = line.partition("\t")
        if name and name != "item_name" and codes.strip():
            table[name] = [int(c) for c in codes.split()]
    return table


def _load_tensor(path: Path) -> torch.Tensor:
    if not path.is_file():
        raise InputError(f"{path} missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True).float()
    except Exception as exc:  # any unpickling failure means: not a plain tensor file
        raise InputError(f"{path}: not a plain tensor file ({type(exc).__name__})") from None


def _import_clip(exp: Path, out: Path, line: str, semantic: dict[str, list[int]]) -> ClipRecord:
    name, phones_text, word2ph_text, text = line.split("\t")
    phonemes = phones_text.split()
    word2ph = ast.literal_eval(word2ph_text)  # a list repr or "None", as written officially
    ids = phonemes_to_ids(phonemes)
    clip_id = Path(name).stem
    wav_source = exp / "5-wav32k" / name
    if not wav_source.is_file():
        raise InputError(f"{wav_source} missing")
    info = sf.info(str(wav_source))
    ssl = _load_tensor(exp / "4-cnhubert" / f"{name}.pt")[0]  # (768, T)
    if word2ph is not None:
        bert = _load_tensor(exp / "3-bert" / f"{name}.pt")
    else:
        bert = torch.zeros(1024, len(phonemes))
    if bert.shape[-1] != len(phonemes):
        raise ValueError(f"{name}: BERT features cover {bert.shape[-1]} of {len(phonemes)} phones")
    if name not in semantic:
        raise KeyError(f"{name}: no line in {SEMANTIC_FILE}")
    sv = _read_speaker_embedding(exp, name)
    wav_rel = f"wav32k/{clip_id}.wav"
    hop = load_size("v2").sovits.hop_length  # official experiments are v2, 32 kHz
    atomic_write(out / wav_rel, lambda tmp: shutil.copyfile(wav_source, tmp))
    paths = {kind: f"{kind}/{clip_id}.npy" for kind in ("ssl", "bert", "semantic")}
    atomic_write_npy(out / paths["ssl"], ssl.numpy().astype(np.float16))
    atomic_write_npy(out / paths["bert"], bert.numpy().astype(np.float16))
    atomic_write_npy(out / paths["semantic"], np.asarray(semantic[name], dtype=np.int16))
    sv_path = None
    if sv is not None:
        sv_path = f"sv/{clip_id}.npy"
        atomic_write_npy(out / sv_path, sv.numpy().astype(np.float16))
    return ClipRecord(
        id=clip_id,
        speaker=exp.name,
        language="zh" if word2ph is not None else language_of_phonemes(phonemes),
        text=text,
        normalized_text=text,
        phonemes=phonemes,
        phoneme_ids=ids,
        word2ph=word2ph,
        duration_sec=round(info.frames / info.samplerate, 4),
        samples=info.frames,
        frames=info.frames // hop,
        wav=wav_rel,
        source=name,
        source_span_sec=[0.0, round(info.frames / info.samplerate, 4)],
        ssl_path=paths["ssl"],
        bert_path=paths["bert"],
        semantic_path=paths["semantic"],
        semantic_tokens=len(semantic[name]),
        sv_path=sv_path,
    )


def _read_speaker_embedding(exp: Path, name: str) -> torch.Tensor | None:
    """The clip's (20480,) embedding from `7-sv_cn/`, or None for a v2 experiment."""
    if not (exp / SV_DIR).is_dir():
        return None
    embedding = _load_tensor(exp / SV_DIR / f"{name}.pt").reshape(-1)
    if embedding.numel() != OFFICIAL_SV_DIM:
        raise ValueError(
            f"{exp / SV_DIR / name}.pt: speaker embedding has {embedding.numel()} values, "
            f"not {OFFICIAL_SV_DIM}"
        )
    return embedding


def language_of_phonemes(phonemes: list[str]) -> str:
    """The language of an official line without word2ph (not Mandarin), told by its v2
    symbols: jamo are Korean, `Y`-prefixed rhymes Cantonese, ARPAbet English."""
    if any(p in ("空", "停") or "\u3131" <= p[0] <= "\u3163" for p in phonemes):
        return "ko"
    if any(len(p) > 1 and p[0] == "Y" and p[1].islower() for p in phonemes):
        return "yue"
    if any(p[:1].isupper() and p not in ("N", "I", "U", "UNK") for p in phonemes):
        return "en"
    return "ja"
