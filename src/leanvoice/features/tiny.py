"""Built-in tiny random HuBERT, BERT, speaker model and vocoders for tests and the demo.

They are written to a folder with `save_pretrained` and loaded back through the same
code as the real models, so the loading path is exercised without any download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel, mel_filterbank
from leanvoice.features.eres2net import TINY_SV, ERes2NetV2
from leanvoice.features.local_models import require_transformers
from leanvoice.fsutil import atomic_write

TINY_SSL_DIM = 64
TINY_BERT_DIM = 32
TINY_SV_DIM = TINY_SV.pooled_dim  # 64
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_PUNCTUATION = list("!?…,.-")


def build_tiny_hubert(directory: Path, seed: int = 0, hidden_size: int = TINY_SSL_DIM) -> Path:
    """A 2-layer HuBERT; `hidden_size=768` gives the official width (for v2-size tests)."""
    require_transformers()
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    config = HubertConfig(
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    HubertModel(config).save_pretrained(str(directory))
    return Path(directory)


def build_tiny_bert(
    directory: Path, characters: str, seed: int = 0, hidden_size: int = TINY_BERT_DIM
) -> Path:
    """A 3-layer BERT whose vocabulary is `characters` (one token per CJK character);
    `hidden_size=1024` gives the official width (for v2-size tests)."""
    require_transformers()
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for c in characters if not c.isspace()} - set(_PUNCTUATION))
    vocab = [*_SPECIAL, *_PUNCTUATION, *chars]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertForMaskedLM(config).save_pretrained(str(directory))
    BertTokenizer(str(directory / "vocab.txt")).save_pretrained(str(directory))
    return directory


def build_tiny_speaker_model(path: Path, seed: int = 0) -> Path:
    """A random tiny ERes2NetV2 (`TINY_SV`, 64-d embedding), saved as a plain state dict
    like the official `pretrained_eres2netv2w24s4ep4.ckpt`."""
    torch.manual_seed(seed)
    state = ERes2NetV2(TINY_SV).state_dict()
    atomic_write(Path(path), lambda tmp: torch.save(state, tmp))
    return Path(path)


DISTIL_MELS = 40  # log-mel bands the distilled tiny HuBERT learns to carry
_CROP = 32000  # 2 s at 16 kHz per training example


def distil_tiny_hubert(
    directory: Path,
    waves_16k: list[np.ndarray],
    *,
    steps: int = 600,
    batch: int = 8,
    lr: float = 2e-3,
    seed: int = 0,
) -> list[float]:
    """Teach the tiny HuBERT in `directory` to carry speech content: a linear head on its
    last layer regresses each frame's log-mel (40 bands, each crop's mean removed, so
    loudness and channel matter less). A random tiny HuBERT's transformer scrambles its
    input: k-means codes of its features barely repeat from one 20 ms frame to the next,
    so a GPT cannot learn them; after distillation they follow the speech as codes of a
    log-mel would. Rewrites the model in place; returns the loss every 50 steps."""
    require_transformers()
    from transformers import HubertModel

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = HubertModel.from_pretrained(str(directory), local_files_only=True).train()
    head = torch.nn.Linear(model.config.hidden_size, DISTIL_MELS)
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=lr)
    filterbank = mel_filterbank(16000, 400, DISTIL_MELS)
    losses = []
    for step in range(steps):
        crops = torch.from_numpy(np.stack([_crop(waves_16k, rng) for _ in range(batch)]))
        with torch.no_grad():
            spec = linear_spectrogram(crops, 400, 320, 400)
            target = linear_to_log_mel(spec, filterbank).transpose(1, 2)  # (B, T, mels)
            target = target - target.mean(dim=1, keepdim=True)
        hidden = model(crops).last_hidden_state
        frames = min(hidden.shape[1], target.shape[1])
        loss = torch.nn.functional.mse_loss(head(hidden[:, :frames]), target[:, :frames])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == steps - 1:
            losses.append(loss.item())
    model.eval().save_pretrained(str(directory))
    return losses


def _crop(waves: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    wave = waves[int(rng.integers(len(waves)))].astype(np.float32)
    if len(wave) < _CROP:
        return np.pad(wave, (0, _CROP - len(wave)))
    start = int(rng.integers(len(wave) - _CROP + 1))
    return wave[start : start + _CROP]


def build_tiny_vocoder(path: Path, seed: int = 0) -> Path:
    """A random tiny v4 vocoder (100 mels → 48 kHz), a plain state dict like the official
    `gsv-v4-pretrained/vocoder.pth`: it makes noise shaped by the mel, enough to run the
    v4 pipeline end to end."""
    from leanvoice.models.cfm import MelVocoder, vocoder_size

    torch.manual_seed(seed)
    state = MelVocoder(vocoder_size("tiny")).state_dict()
    atomic_write(Path(path), lambda tmp: torch.save(state, tmp))
    return Path(path)


def build_tiny_bigvgan(directory: Path, seed: int = 0) -> Path:
    """A random tiny v3 vocoder (BigVGAN, 100 mels → 24 kHz, 256 samples per frame), in
    the official folder layout (`config.json` + `bigvgan_generator.pt` with weight norm):
    enough to run the v3 pipeline end to end, and what the official code would load."""
    from leanvoice.compat.vocoders import export_bigvgan
    from leanvoice.models.cfm import BigVGAN, bigvgan_size

    torch.manual_seed(seed)
    return export_bigvgan(BigVGAN(bigvgan_size("tiny")), Path(directory))
