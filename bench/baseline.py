"""Baseline for the memory engine: v2 GPT and SoVITS forward+backward at a fixed batch.

    python -m bench.baseline            # prints the table and updates docs/benchmarks.md

No memory technique is on: fp32 on CPU, no checkpointing. Saved-activation bytes are
measured with saved_tensors_hooks (unique storages, parameters excluded).
"""

from __future__ import annotations

import datetime
import platform
import statistics
import time
from collections.abc import Callable

import torch

from bench.doc import write_section
from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel, mel_filterbank
from leanvoice.config.sizes import load_size
from leanvoice.memory.accounting import SavedTensorMeter
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator
from leanvoice.models.sovits.losses import kl_divergence

GPT_PHONEMES, GPT_CODES = [80, 60, 70, 50], [250, 200, 220, 150]  # ~10, 8, 9, 6 s clips
SOVITS_FRAMES, SOVITS_PHONEMES = [200, 160], [60, 45]  # 4 s and 3.2 s clips


def _measure(model: torch.nn.Module, step: Callable[[], torch.Tensor], repeats: int = 2):
    times, saved = [], 0
    for attempt in range(repeats + 1):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        with SavedTensorMeter(model.parameters()) as meter:
            loss = step()
        loss.backward()
        saved = meter.activation_bytes
        if attempt:  # the first run warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times), saved


def gpt_case() -> dict:
    torch.manual_seed(0)
    size = load_size("v2").gpt
    model = SemanticGPT(size).train()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 732, (4, max(GPT_PHONEMES)), generator=g)
    y = torch.randint(0, 1024, (4, max(GPT_CODES)), generator=g)
    bert = torch.randn(4, size.bert_dim, max(GPT_PHONEMES), generator=g)
    xl, yl = torch.tensor(GPT_PHONEMES), torch.tensor(GPT_CODES)
    seconds, saved = _measure(model, lambda: model.loss(x, xl, bert, y, yl)[0])
    tokens = sum(GPT_PHONEMES) + sum(GPT_CODES)
    return {
        "model": "GPT v2",
        "batch": f"4 clips, {tokens} real tokens",
        "seconds": seconds,
        "saved": saved,
        "params": sum(p.numel() for p in model.parameters()),
    }


def sovits_case() -> dict:
    torch.manual_seed(0)
    size = load_size("v2").sovits
    model = SoVITSGenerator(size).train()
    g = torch.Generator().manual_seed(0)
    frames = max(SOVITS_FRAMES)
    ssl = torch.randn(2, size.ssl_dim, frames, generator=g)
    wave = 0.1 * torch.randn(2, frames * size.hop_length, generator=g)
    spec = linear_spectrogram(wave, size.n_fft, size.hop_length, size.win_length)
    phonemes = torch.randint(0, 732, (2, max(SOVITS_PHONEMES)), generator=g)
    lens, plens = torch.tensor(SOVITS_FRAMES), torch.tensor(SOVITS_PHONEMES)
    filters = mel_filterbank(size.sample_rate, size.n_fft, size.n_mels)

    def step() -> torch.Tensor:
        out = model(ssl, spec, lens, phonemes, plens, generator=torch.Generator().manual_seed(1))
        fake = linear_to_log_mel(
            linear_spectrogram(out["wave"], size.n_fft, size.hop_length, size.win_length), filters
        )
        kl = kl_divergence(out["z_p"], out["logs_q"], out["m_p"], out["logs_p"], out["mask"])
        return 45 * fake.abs().mean() + kl + out["commit_loss"]

    seconds, saved = _measure(model, step)
    return {
        "model": "SoVITS v2 generator",
        "batch": "2 clips, 360 frames",
        "seconds": seconds,
        "saved": saved,
        "params": sum(p.numel() for p in model.parameters()),
    }


def render(rows: list[dict]) -> str:
    lines = [
        f"Measured {datetime.date.today()} on {platform.processor() or platform.machine()} "
        f"CPU ({torch.get_num_threads()} threads), torch {torch.__version__}, fp32, "
        "no memory technique, by `python -m bench.baseline`.",
        "",
        "| model | parameters | batch | forward+backward s | saved activations MiB |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['params'] / 1e6:.1f} M | {row['batch']} | "
            f"{row['seconds']:.2f} | {row['saved'] / 2**20:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    table = render([gpt_case(), sovits_case()])
    print(table)
    write_section("baseline", table)
