"""v4 (flow-matching SoVITS) training memory: the official LoRA recipe's settings against
LeanVoice's, side by side in one run, one clip of `--seconds`, the bootstrap target on.
`--version v5dev` measures v5 (no step embedding, no bootstrap: the bootstrap case is
left out).

Cases (each one training step of `CFMSoVITS` measured by `StepMemory`, after a warm-up
step so optimizer states exist):
- the official LoRA recipe: adapters (rank 32) on the DiT, `bridge` + `wns1` in full,
  no checkpointing, the bootstrap's extra estimator runs under autograd (then detached,
  as the official), AdamW;
- LeanVoice LoRA: the same plus checkpointing of every DiT and content block, and the
  bootstrap runs without autograd; and the same with the bootstrap under autograd, to
  isolate what the no-grad bootstrap saves;
- the official full fine-tune's settings (no adapters, no checkpointing, AdamW);
- LeanVoice full fine-tune: checkpointing, no-grad bootstrap, 8-bit AdamW states;
- LeanVoice LoRA under bf16 autocast (on a CPU too), without and with
  `memory.half_frozen` (the frozen weights in fp16: the model's weights are rounded to
  fp16 first, as the official files hold them).

`python -m bench.cfm_memory [--size official|tiny] [--seconds 10] [--device cpu]
[--version v4|v5dev]`; the results go to
docs/bench-results/cfm-memory-<device>-<size>[-<version>].json and a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from dataclasses import replace
from pathlib import Path

import torch

from leanvoice.audio.cfm_mel import cfm_log_mel, normalize_mel
from leanvoice.audio.spectrogram import linear_spectrogram
from leanvoice.config.schema import LoraConfig, MemoryConfig
from leanvoice.memory.optimizers import build_optimizer
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.memory.report import StepMemory
from leanvoice.models.cfm import CFMSoVITS, cfm_size

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "bench-results"
LORA = LoraConfig(rank=32, alpha=32.0)  # the official default rank, alpha = rank
CHECKPOINT = "dit_blocks:all,content:all"
# name → (memory policy, bootstrap without autograd)
CASES = {
    "official LoRA recipe (baseline)": (MemoryConfig(lora=LORA, optimizer="adamw"), False),
    "LeanVoice LoRA": (MemoryConfig(lora=LORA, optimizer="adamw", checkpoint=CHECKPOINT), True),
    "LeanVoice LoRA, bootstrap under autograd": (
        MemoryConfig(lora=LORA, optimizer="adamw", checkpoint=CHECKPOINT),
        False,
    ),
    "official full fine-tune settings": (MemoryConfig(optimizer="adamw"), False),
    "LeanVoice full fine-tune": (MemoryConfig(optimizer="adamw8bit", checkpoint=CHECKPOINT), True),
    # under bf16 autocast on a CPU as well (the cases above run fp32 there)
    "LeanVoice LoRA, bf16": (
        MemoryConfig(lora=LORA, optimizer="adamw", checkpoint=CHECKPOINT, precision="bf16"),
        True,
    ),
    "LeanVoice LoRA, bf16 + half frozen": (
        MemoryConfig(
            lora=LORA, optimizer="adamw", checkpoint=CHECKPOINT, precision="bf16", half_frozen=True
        ),
        True,
    ),
}


def cases(version: str = "v4") -> list[str]:
    """The cases that apply to `version` (v5 has no bootstrap target to run under autograd)."""
    shortcut = cfm_size("tiny", version).settings.step_embedding
    return [name for name in CASES if shortcut or "bootstrap" not in name]


def clip_batch(
    seconds: float, size_name: str, device: str, version: str = "v4"
) -> dict[str, torch.Tensor]:
    """One clip of random features at the official rates: SSL 50 Hz, v4/v5 mels 100 Hz."""
    size = cfm_size(size_name, version)
    g = torch.Generator().manual_seed(0)
    frames = int(seconds * 50)
    wave = 0.1 * torch.randn(1, frames * 640, generator=g)
    batch = {
        "ssl": torch.randn(1, size.ssl_dim, frames, generator=g),
        "spec": linear_spectrogram(wave, 2048, 640, 2048)[..., :frames],
        "spec_lengths": torch.tensor([frames]),
        "mel": normalize_mel(cfm_log_mel(wave, size.settings.mel)),
        "mel_lengths": torch.tensor([frames * 2]),
        "phoneme_ids": torch.randint(1, 700, (1, int(seconds * 12)), generator=g),
        "phoneme_lengths": torch.tensor([int(seconds * 12)]),
    }
    return {k: v.to(device) for k, v in batch.items()}


def measure(
    name: str, size_name: str, batch: dict, device: str, version: str = "v4"
) -> dict[str, float]:
    """One case's step. On CUDA, as the official trainer, the official cases run fp16
    autocast with a GradScaler and LeanVoice's `memory.precision=auto` (bf16 where the
    card has it); the peak is the allocator's, less what was live before. On a CPU: fp32,
    except the bf16 cases."""
    policy, no_grad_bootstrap = CASES[name]
    on_cuda = torch.device(device).type == "cuda"
    if on_cuda:
        policy = replace(policy, precision="fp16" if name.startswith("official") else "auto")
    elif "bf16" not in name:
        policy = replace(policy, precision="fp32")
    before = torch.cuda.memory_allocated(device) if on_cuda else 0
    torch.manual_seed(0)
    model = CFMSoVITS(cfm_size(size_name, version)).to(device)
    with torch.no_grad():  # fp16 values, as the official files hold them (half_frozen)
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    bootstrap = model.size.settings.step_embedding  # the worst case; v5 has none
    setup = apply_memory_policy(model, "sovits", policy, device)
    model, precision = setup.model.train(), setup.precision  # LoRA: bridge, wns1 in full
    optimizer = build_optimizer(model.parameters(), policy.optimizer, 1e-4)
    scaler = precision.make_scaler()
    probe = StepMemory(model, optimizer, device)
    for attempt in range(2):  # 0: optimizer states appear; 1: measured
        measured = attempt == 1
        with probe if measured else _nothing():
            with probe.forward() if measured else _nothing(), precision.autocast():
                loss = model(**batch, bootstrap=bootstrap, bootstrap_no_grad=no_grad_bootstrap)
                loss = loss["loss"]
            (scaler.scale(loss.float()) if scaler else loss.float()).backward()
            if measured:
                probe.after_backward()
            untraced = measured and policy.optimizer == "adamw8bit"
            with probe.untraced() if untraced else _nothing():
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    report = probe.report()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "trainable_parameters": trainable,
        "parameters": report.parameters_bytes,
        "gradients": report.gradients_bytes,
        "optimizer": report.optimizer_bytes,
        "activations": report.activations_bytes,
        "peak": report.peak_bytes - before,
    }


def measure_case(
    name: str, size_name: str, device: str, seconds: float, version: str = "v4"
) -> dict[str, float]:
    """One case in a process of its own (`bench gpu --parts v4`): on CUDA the allocator's
    peak counts every live tensor of the process."""
    batch = clip_batch(seconds, size_name, device, version)
    return measure(name, size_name, batch, device, version)


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def render(
    results: dict[str, dict[str, float]],
    size_name: str,
    seconds: float,
    where: str = "",
    version: str = "v4",
) -> str:
    base = results["official LoRA recipe (baseline)"]
    full = results["official full fine-tune settings"]
    mib = 2**20
    lines = [
        f"{version} SoVITS ({size_name} size), one {seconds:g} s clip, "
        f"{'bootstrap target on' if 'v5' not in version else 'no bootstrap (v5)'}, "
        f"{datetime.date.today()}, {where or platform.machine() + ' CPU, fp32'}, torch "
        f"{torch.__version__}. MiB; peak = {'the allocator' if where else 'live-tensor'} "
        "peak of the step; × = against the official setting of the same kind (LoRA or full).",
        "",
        "| case | trainable | params | grads | optimizer | saved activations | peak | peak × |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        reference = full if "full" in name else base
        lines.append(
            f"| {name} | {r['trainable_parameters'] / 1e6:.1f} M | {r['parameters'] / mib:.0f} | "
            f"{r['gradients'] / mib:.0f} | {r['optimizer'] / mib:.0f} | "
            f"{r['activations'] / mib:.0f} | {r['peak'] / mib:.0f} | "
            f"{r['peak'] / reference['peak']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="official", choices=["official", "tiny"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--version", default="v4", choices=["v4", "v5dev"])
    args = parser.parse_args()
    batch = clip_batch(args.seconds, args.size, args.device, args.version)
    results = {}
    for name in cases(args.version):
        results[name] = measure(name, args.size, batch, args.device, args.version)
        print(name, {k: round(v / 2**20) for k, v in results[name].items()}, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.version == "v4" else f"-{args.version}"
    out = RESULTS / f"cfm-memory-{torch.device(args.device).type}-{args.size}{suffix}.json"
    out.write_text(json.dumps({"seconds": args.seconds, "results": results}, indent=2) + "\n")
    print(render(results, args.size, args.seconds, version=args.version))


if __name__ == "__main__":
    main()
