"""Pick the feature models for prepare: real local folders, or the built-in tiny ones."""

from __future__ import annotations

from pathlib import Path

import torch

from leanvoice.audio.io import load_audio
from leanvoice.compat.official import export_sovits, load_official_sovits
from leanvoice.config.sizes import load_size
from leanvoice.data.manifest import read_manifest
from leanvoice.features.bert import BertExtractor
from leanvoice.features.ssl import SSLExtractor
from leanvoice.features.tiny import (
    build_tiny_bert,
    build_tiny_bigvgan,
    build_tiny_hubert,
    build_tiny_vocoder,
)
from leanvoice.models.sovits import SoVITSGenerator

TINY_DIR = "tiny_models"
CODEBOOK_CLIPS = 16  # clips whose SSL frames seed the tiny codebook


def tiny_feature_models(
    out: Path, device: str = "cpu"
) -> tuple[SSLExtractor, BertExtractor, SoVITSGenerator]:
    """Build (once) and load tiny random HuBERT/BERT and a tiny SoVITS with a k-means
    codebook, under OUT/tiny_models, so later stages start from the same SoVITS."""
    root = out / TINY_DIR
    clips = read_manifest(out)
    if not (root / "hubert" / "config.json").is_file():
        build_tiny_hubert(root / "hubert")
    if not (root / "bert" / "config.json").is_file():
        build_tiny_bert(root / "bert", "".join(c.normalized_text for c in clips))
    ssl = SSLExtractor(root / "hubert", device)
    bert = BertExtractor(root / "bert", device)
    sovits_path = root / "sovits.pth"
    if not sovits_path.is_file():
        write_tiny_sovits(sovits_path, ssl, [out / clip.wav for clip in clips[:CODEBOOK_CLIPS]])
    if not (root / "vocoder.pth").is_file():  # what a tiny v4 model speaks through
        build_tiny_vocoder(root / "vocoder.pth")
    if not (root / "bigvgan" / "bigvgan_generator.pt").is_file():  # and a tiny v3 one
        build_tiny_bigvgan(root / "bigvgan")
    sovits, _ = load_official_sovits(sovits_path)  # the fp16-rounded weights, as saved
    return ssl, bert, sovits.to(device)


def write_tiny_sovits(
    path: Path, ssl: SSLExtractor, wavs: list[Path], clusters: int | None = None
) -> None:
    """A fresh tiny SoVITS whose codebook is k-means of `wavs`' SSL frames, in the
    official format (`clusters`: how many distinct codes, default all 1024)."""
    torch.manual_seed(0)
    sovits = SoVITSGenerator(load_size("tiny").sovits)
    features = []
    for wav in wavs:
        audio = load_audio(wav)
        features.append(torch.from_numpy(ssl.extract(audio.samples, audio.sample_rate)))
    sovits.init_codebook(features, clusters)
    export_sovits(sovits, path)


def real_feature_models(
    hubert_dir: Path, bert_dir: Path, sovits_path: Path, device: str = "cpu"
) -> tuple[SSLExtractor, BertExtractor, SoVITSGenerator]:
    """The semantic codes come from `sovits_path`'s quantizer: a v2/v2Pro file, or a
    v3/v4 one (the official prepare of those versions reads their own s2G)."""
    from leanvoice.compat.cfm import load_any_official_sovits

    sovits = load_any_official_sovits(Path(sovits_path))
    return SSLExtractor(hubert_dir, device), BertExtractor(bert_dir, device), sovits.to(device)
