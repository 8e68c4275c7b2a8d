"""Each memory technique alone and the preset combinations vs the official recipe's
settings, on v2 models at the same batch, as ratios.

    python -m bench.memory [gpt] [sovits] [--device cuda]   # prints, updates the docs

Each case runs in a process of its own (bench/isolate.py), three times, in interleaved
rounds; step time = the fastest of 4 timed steps over all rounds, on one CPU thread.

GPT batch: the 4 longest Mandarin demo clips (their real phoneme counts and 25 Hz code
lengths; random BERT features and codes, which do not change memory or time). SoVITS
batch: the 2 longest, at their real frame and phoneme counts (random SSL features and
waveform), generator losses (mel L1 + KL + commitment). CPU: the baseline runs fp32
(fp16 autocast needs CUDA). "sum" adds the measured categories (parameters + gradients +
optimizer states + tensors saved for backward); "peak" is the live-tensor peak of the
whole step measured by `StepMemory` (live tensors), which also sees the tensors
selective checkpointing keeps outside autograd's saved-tensor hooks.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.doc import write_results, write_section
from bench.isolate import run_case
from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel, mel_filterbank
from leanvoice.config import load_config
from leanvoice.config.schema import MemoryConfig
from leanvoice.config.sizes import load_size
from leanvoice.data.prepare import prepare_dataset
from leanvoice.demo import demo_corpus_list
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.optimizers import build_optimizer, resolve_auto
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.memory.report import StepMemory, gradient_bytes
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator
from leanvoice.models.sovits.losses import kl_divergence

OFFICIAL = MemoryConfig(checkpoint="none", precision="fp32", optimizer="adamw")
# the official recipe with the official code's attention (materialised scores, float
# masks) instead of our SDPA: what the official recipe itself needs on a GPU
OFFICIAL_ATTENTION = "official recipe, official attention"
SOVITS_CLIPS = 2  # the official SoVITS batch per 8 GB is small; 2 long clips
THREADS = 1  # one thread per case: no idle spinning counted as CPU time, no core contention
ROUNDS = 3  # each case runs 3 times, interleaved with the others; its fastest round counts


def _cases(stage: str, device: str = "cpu") -> dict[str, MemoryConfig]:
    """On CUDA the official recipe runs fp16-mixed and the presets their own precision
    (auto: bf16 where the GPU has it); on CPU fp32 and bf16 (auto would be fp32 there).
    The official GPT optimizer is ScaledAdam; each technique row changes one setting of
    that recipe."""
    on_cpu = device == "cpu"
    official = OFFICIAL if on_cpu else replace(OFFICIAL, precision="fp16")
    if stage == "gpt":  # the official s1 recipe trains with ScaledAdam, s2 with AdamW
        official = replace(official, optimizer="scaled_adam")
    lora = replace(official.lora, rank=16, alpha=32.0)
    cases = {
        "official recipe (baseline)": official,
        **({OFFICIAL_ATTENTION: official} if stage == "gpt" else {}),
        "checkpoint all": replace(official, checkpoint="all"),
        "checkpoint selective": replace(official, checkpoint="selective"),
        "bf16 autocast": replace(official, precision="bf16"),
        "8-bit AdamW": replace(official, optimizer="adamw8bit"),
        "AdamW in backward": replace(official, optimizer="adamw_in_backward"),
        "LoRA r16": replace(official, lora=lora),
    }
    for preset in ("timbre", "small", "scratch"):
        cfg = load_config(preset).memory
        if stage == "sovits" and "sovits" in cfg.freeze:
            continue  # this preset does not train SoVITS
        cases[f"preset {preset}"] = replace(
            cfg, precision="bf16" if on_cpu else cfg.precision, freeze=[]
        )
    return cases


def _demo_clips(tmp: Path) -> list[dict]:
    result = prepare_dataset(demo_corpus_list(), tmp, load_config())
    clips = [json.loads(x) for x in (result.out / "manifest.jsonl").read_text().splitlines()]
    return sorted((c for c in clips if c["language"] == "zh"), key=lambda c: -c["samples"])


def _gpt_batch(clips: list[dict]) -> tuple[torch.Tensor, ...]:
    clips = clips[:4]
    g = torch.Generator().manual_seed(0)
    x_lens = torch.tensor([len(c["phoneme_ids"]) for c in clips])
    y_lens = torch.tensor([c["frames"] // 2 for c in clips])
    x = _pad([c["phoneme_ids"] for c in clips])
    y = torch.randint(0, 1024, (len(clips), int(y_lens.max())), generator=g)
    bert = torch.randn(len(clips), 1024, x.shape[1], generator=g)
    return x, x_lens, bert, y, y_lens


def _sovits_batch(clips: list[dict]) -> tuple[torch.Tensor, ...]:
    clips = clips[:SOVITS_CLIPS]
    size = load_size("v2").sovits
    g = torch.Generator().manual_seed(0)
    frames = torch.tensor([c["frames"] for c in clips])
    ssl = torch.randn(len(clips), size.ssl_dim, int(frames.max()), generator=g)
    wave = 0.1 * torch.randn(len(clips), int(frames.max()) * size.hop_length, generator=g)
    spec = linear_spectrogram(wave, size.n_fft, size.hop_length, size.win_length)
    phonemes = _pad([c["phoneme_ids"] for c in clips])
    phoneme_lens = torch.tensor([len(c["phoneme_ids"]) for c in clips])
    return ssl, spec, frames, phonemes, phoneme_lens


def _pad(rows: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for index, row in enumerate(rows):
        out[index, : len(row)] = torch.tensor(row)
    return out


def _model(stage: str, size_name: str = "v2", official_attention: bool = False) -> torch.nn.Module:
    size = load_size(size_name)
    if stage == "sovits":
        return SoVITSGenerator(size.sovits)
    model = SemanticGPT(size.gpt)
    model.use_official_attention(official_attention)
    return model


def _loss(
    stage: str, model: torch.nn.Module, batch: tuple[torch.Tensor, ...], size_name: str = "v2"
) -> torch.Tensor:
    if stage == "gpt":
        return model.loss(*batch)[0]  # official: summed, padding counted
    size = load_size(size_name).sovits
    out = model(*batch, generator=torch.Generator().manual_seed(1))
    with torch.autocast(out["wave"].device.type, enabled=False):  # spectra stay fp32
        fake = linear_to_log_mel(
            linear_spectrogram(out["wave"].float(), size.n_fft, size.hop_length, size.win_length),
            mel_filterbank(size.sample_rate, size.n_fft, size.n_mels),
        )
        kl = kl_divergence(*(out[k].float() for k in ("z_p", "logs_q", "m_p", "logs_p", "mask")))
    return 45 * fake.abs().mean() + kl + out["commit_loss"]


def _run(
    stage: str,
    policy: MemoryConfig,
    batch: tuple[torch.Tensor, ...],
    device: str = "cpu",
    with_memory: bool = True,
    *,
    size_name: str = "v2",
    official_attention: bool = False,  # GPT: materialised scores, as the official code
    compile_blocks: bool = False,  # train.compile
) -> dict[str, float]:
    """Step time: CPU seconds of this process on CPU (other work on the machine barely
    moves them), synchronised wall seconds on CUDA; the wall time is kept either way. On
    CUDA the peak counts only what this call allocated (bytes live before it are
    subtracted)."""
    torch.manual_seed(0)
    on_cuda = torch.device(device).type == "cuda"
    before = torch.cuda.memory_allocated(device) if on_cuda else 0
    model = _model(stage, size_name, official_attention).to(device)
    setup = apply_memory_policy(model, stage, policy, device, compile_blocks=compile_blocks)
    if policy.optimizer == "auto":  # as the trainer does: resolved once, before building
        trainable = sum(p.numel() for p in setup.model.parameters() if p.requires_grad)
        policy = replace(policy, optimizer=resolve_auto(trainable, device)[0])
    optimizer = build_optimizer(setup.model.parameters(), policy.optimizer, 1e-4)
    model = setup.model.train()
    batch = tuple(t.to(device) for t in batch)
    in_backward = isinstance(optimizer, OptimizerInBackward)
    scaler = setup.precision.make_scaler() if not in_backward else None
    grad_peak = [0]
    if in_backward:
        optimizer.observers.append(
            lambda _p: grad_peak.__setitem__(0, max(grad_peak[0], gradient_bytes(model)))
        )
    probe = StepMemory(model, optimizer, device)
    times, walls = [], []
    for attempt in range(6):  # 0 warms up (optimizer states appear), 1 is measured, 2-5 timed
        if on_cuda:
            torch.cuda.synchronize(device)
        start, wall = time.process_time(), time.perf_counter()
        measured = attempt == 1 and with_memory  # later rounds only time the step
        with probe if measured else contextlib.nullcontext():
            counting = probe.forward() if measured else contextlib.nullcontext()
            with counting, setup.precision.autocast():
                loss = _loss(stage, model, batch, size_name)
            (scaler.scale(loss.float()) if scaler else loss.float()).backward()
            if measured:
                probe.after_backward()
            if not in_backward:
                untraced = measured and policy.optimizer == "adamw8bit"
                with probe.untraced() if untraced else contextlib.nullcontext():
                    scaler.step(optimizer)
                    scaler.update()
                optimizer.zero_grad(set_to_none=True)
        if on_cuda:
            torch.cuda.synchronize(device)
        if attempt > 1:
            walls.append(time.perf_counter() - wall)
            times.append(walls[-1] if on_cuda else time.process_time() - start)
    if not with_memory:
        return {"seconds": min(times), "wall_seconds": min(walls)}
    report = probe.report()
    return {
        "parameters": report.parameters_bytes,
        "gradients": max(report.gradients_bytes, grad_peak[0]),
        "optimizer": report.optimizer_bytes,
        "activations": report.activations_bytes,
        "peak": report.peak_bytes - before,
        "seconds": min(times),
        "wall_seconds": min(walls),
    }


def render(stage: str, results: dict[str, dict[str, float]], what: str, device: str = "cpu") -> str:
    base = results["official recipe (baseline)"]
    base_total = sum(base[k] for k in ("parameters", "gradients", "optimizer", "activations"))
    if device == "cpu":
        where = f"{platform.machine()} CPU ({THREADS} thread)"
        peak = "live-tensor peak of the step"
        step = "CPU seconds of the step (process time, which other work barely moves)"
    else:
        where = f"{torch.cuda.get_device_name(torch.device(device))}, official recipe fp16-mixed"
        peak = "torch.cuda.max_memory_allocated over the step"
        step = "wall seconds of the step, synchronised"
    lines = [
        f"{'GPT' if stage == 'gpt' else 'SoVITS'} v2, {what}, {datetime.date.today()}, "
        f"{where}, torch {torch.__version__}, `python -m bench.memory`. MiB; ratios vs the "
        f"baseline; peak = {peak}; step × = {step}.",
        "",
        "| case | params | grads | optimizer | saved activations | sum | sum × | peak | peak × "
        "| step × |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        total = sum(r[k] for k in ("parameters", "gradients", "optimizer", "activations"))
        mib = [r[k] / 2**20 for k in ("parameters", "gradients", "optimizer", "activations")]
        lines.append(
            f"| {name} | {mib[0]:.0f} | {mib[1]:.0f} | {mib[2]:.0f} | {mib[3]:.0f} | "
            f"{total / 2**20:.0f} | {total / base_total:.2f} | {r['peak'] / 2**20:.0f} | "
            f"{r['peak'] / base['peak']:.2f} | {r['seconds'] / base['seconds']:.2f} |"
        )
    return "\n".join(lines)


def measure_case(
    stage: str, case: str, clips_file: str, device: str = "cpu", with_memory: bool = True
) -> dict:
    """One case, from names and a file only (it runs in a process of its own)."""
    if device == "cpu":
        torch.set_num_threads(THREADS)
    clips = json.loads(Path(clips_file).read_text(encoding="utf-8"))
    batch = _gpt_batch(clips) if stage == "gpt" else _sovits_batch(clips)
    attention = case == OFFICIAL_ATTENTION
    return _run(
        stage, _cases(stage, device)[case], batch, device, with_memory, official_attention=attention
    )


def _measure_in_rounds(stage: str, clips_file: Path, device: str) -> dict[str, dict]:
    """Every case in ROUNDS interleaved rounds (every other one in reverse order); a case's
    step time is its fastest over the rounds, its bytes (deterministic) those of the first
    round, the only one that measures them. A slow spell of the host then has to cover
    every round of a case to move its ratio."""
    names = list(_cases(stage, device))
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(ROUNDS):
        for name in names if round_ % 2 == 0 else names[::-1]:
            found = run_case(
                "bench.memory", "measure_case", stage, name, str(clips_file), device, round_ == 0
            )
            rounds[name].append(found)
            print(
                stage,
                name,
                {
                    k: round(v / 2**20) if "seconds" not in k else round(v, 2)
                    for k, v in found.items()
                },
                flush=True,
            )
    return {
        name: {
            **found[0],
            "seconds": min(r["seconds"] for r in found),
            "wall_seconds": min(r["wall_seconds"] for r in found),
        }
        for name, found in rounds.items()
    }


def main(stages: tuple[str, ...] = ("gpt", "sovits"), device: str = "cpu") -> None:
    """CPU results go to `memory-STAGE`, CUDA ones to `memory-STAGE-cuda` (results file and
    doc section), so that one run does not overwrite the other."""
    import tempfile

    suffix = "" if device == "cpu" else "-cuda"
    with tempfile.TemporaryDirectory() as tmp:
        clips = _demo_clips(Path(tmp))
        clips_file = Path(tmp) / "clips.json"
        clips_file.write_text(json.dumps(clips), encoding="utf-8")
        for stage in stages:
            batch = _gpt_batch(clips) if stage == "gpt" else _sovits_batch(clips)
            if stage == "gpt":
                what = f"{int(batch[1].sum() + batch[4].sum())} real tokens (4 demo clips)"
            else:
                what = f"{int(batch[2].sum())} frames ({SOVITS_CLIPS} demo clips), generator losses"
            results = _measure_in_rounds(stage, clips_file, device)
            table = render(stage, results, what, device)
            print(table)
            write_section(f"memory-{stage}{suffix}", table)
            write_results(
                f"memory-{stage}{suffix}", {"batch": what, "device": device, "cases": results}
            )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stages", nargs="*", help="gpt and/or sovits (default: both)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here")
    if not set(args.stages) <= {"gpt", "sovits"}:
        parser.error(f"stages: choose gpt and/or sovits, not {' '.join(args.stages)}")
    main(tuple(args.stages or ("gpt", "sovits")), args.device)
