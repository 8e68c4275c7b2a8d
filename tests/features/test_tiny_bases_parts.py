"""The parts the tiny pretrained bases are made of: a distilled tiny HuBERT whose codes
follow the speech, and a codebook with a small code inventory."""

from pathlib import Path

import numpy as np
import torch

from leanvoice.audio.io import load_audio
from leanvoice.features.ssl import SSL_SAMPLE_RATE, SSLExtractor
from leanvoice.features.tiny import build_tiny_hubert, distil_tiny_hubert
from leanvoice.models.sovits.quantizer import ResidualVectorQuantizer


def _demo_waves(demo_list: Path, count: int) -> list[np.ndarray]:
    waves = []
    for line in demo_list.read_text(encoding="utf-8").splitlines()[:count]:
        waves.append(load_audio(demo_list.parent / line.split("|")[0], SSL_SAMPLE_RATE).samples)
    return waves


def _frame_to_frame_change(extractor: SSLExtractor, waves: list[np.ndarray]) -> float:
    """Mean distance between neighbouring frames over the mean distance between any two:
    near 1 for features that ignore the signal's continuity, well below for speech-like."""
    ratios = []
    for wave in waves:
        frames = torch.from_numpy(extractor.extract(wave, SSL_SAMPLE_RATE)).T
        frames = torch.nn.functional.normalize(frames - frames.mean(0), dim=1)
        neighbours = (frames[1:] - frames[:-1]).norm(dim=1).mean()
        ratios.append(float(neighbours / torch.cdist(frames, frames).mean()))
    return float(np.mean(ratios))


def test_distillation_makes_the_tiny_hubert_follow_the_speech(tmp_path, demo_list) -> None:
    waves = _demo_waves(demo_list, 8)
    build_tiny_hubert(tmp_path / "hubert")
    before = _frame_to_frame_change(SSLExtractor(tmp_path / "hubert"), waves)
    losses = distil_tiny_hubert(tmp_path / "hubert", waves, steps=120, batch=4)
    after = _frame_to_frame_change(SSLExtractor(tmp_path / "hubert"), waves)
    assert losses[-1] < 0.6 * losses[0]
    print(f"neighbour/any distance: random {before:.2f}, distilled {after:.2f}")
    assert after < 0.8 * before


def test_a_small_code_inventory_uses_only_its_first_codes() -> None:
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(8, 32).eval()
    frames = torch.randn(400, 8)
    codebook = quantizer.vq.layers[0]._codebook
    codebook.kmeans_init(frames, clusters=5)
    _, codes, _ = quantizer(frames.T[None])
    assert set(codes.flatten().tolist()) == set(range(5))
    assert torch.equal(codebook.embed[5:10], codebook.embed[:5])  # repeats, never chosen
    assert codebook.cluster_size[5:].sum() == 0 and codebook.cluster_size[:5].sum() == 400
