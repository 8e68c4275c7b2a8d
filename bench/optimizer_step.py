"""The optimizer step alone, side by side: torch AdamW (fused on CUDA, foreach on CPU)
against each 8-bit AdamW that is installed (torchao, bitsandbytes), on the GPT's
parameters with random gradients. The step that dominated the first GPU sweep (torchao's
8-bit step: 0.25 s per GPT v2 step on an H200); goal on CUDA: the 8-bit step of v2 GPT at
most 1.5× torch's fused AdamW step.

`python -m bench.optimizer_step [--size tiny|v2] [--device cpu|cuda]`. Each case runs in
a fresh process (torchao compiles its step per parameter shape on first use); time =
the fastest of 10 steps after 3 warm-up steps, synchronised on CUDA; one CPU thread on
CPU, as the other benchmarks.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch

from bench.doc import write_results, write_section
from bench.isolate import run_case

CASES = {  # name → (memory.optimizer, library that must be importable)
    "torch AdamW": ("adamw", "torch"),
    "torchao AdamW8bit": ("adamw8bit-torchao", "torchao"),
    "bitsandbytes AdamW8bit": ("adamw8bit-bitsandbytes", "bitsandbytes"),
}
WARMUP, TIMED = 3, 10


def _optimizer(kind: str, params: list[torch.nn.Parameter]):
    from leanvoice.memory.optimizers import build_optimizer

    if kind == "adamw8bit-torchao":
        from torchao.optim import AdamW8bit

        return AdamW8bit(params, lr=1e-4, betas=(0.8, 0.99), eps=1e-9, weight_decay=0.01)
    if kind == "adamw8bit-bitsandbytes":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-4, betas=(0.8, 0.99), eps=1e-9, weight_decay=0.01)
    return build_optimizer(params, kind, 1e-4)


def step_seconds(kind: str, size: str, device: str) -> dict[str, float | str]:
    """One case in this process: the fastest optimizer step of the GPT of `size`."""
    from leanvoice.config.sizes import load_size
    from leanvoice.memory.optimizers import optimizer_name
    from leanvoice.models.gpt import SemanticGPT

    if device == "cpu":
        torch.set_num_threads(1)
    torch.manual_seed(0)
    model = SemanticGPT(load_size(size).gpt).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    optimizer = _optimizer(kind, params)
    times = []
    for index in range(WARMUP + TIMED):
        if device != "cpu":
            torch.cuda.synchronize()
        started = time.perf_counter()
        optimizer.step()
        if device != "cpu":
            torch.cuda.synchronize()
        if index >= WARMUP:
            times.append(time.perf_counter() - started)
    count = sum(p.numel() for p in params)
    return {"seconds": min(times), "parameters": count, "implementation": optimizer_name(optimizer)}


def available(library: str) -> bool:
    try:
        __import__(library)
    except ImportError:
        return False
    return True


def render(results: dict[str, dict], size: str, device: str) -> str:
    base = results["torch AdamW"]["seconds"]
    on_cuda = device != "cpu" and torch.cuda.is_available()
    where = torch.cuda.get_device_name(device) if on_cuda else f"{platform.machine()} CPU"
    lines = [
        f"Optimizer step of GPT {size} ({results['torch AdamW']['parameters'] / 1e6:.1f} M "
        f"parameters), {datetime.date.today()}, {where}, torch {torch.__version__}, "
        "`python -m bench.optimizer_step`. Fastest of 10 steps; × = vs torch AdamW.",
        "",
        "| optimizer | implementation | step ms | × |",
        "|---|---|---:|---:|",
    ]
    for name in [n for n in CASES if n in results]:  # torch AdamW first, as measured
        result = results[name]
        lines.append(
            f"| {name} | {result['implementation']} | {1000 * result['seconds']:.2f} | "
            f"{result['seconds'] / base:.2f} |"
        )
    missing = [name for name in CASES if name not in results]
    if missing:
        lines += ["", f"Not installed here: {', '.join(missing)}."]
    return "\n".join(lines)


def measure(size: str, device: str, names: tuple[str, ...] = tuple(CASES)) -> dict[str, dict]:
    """The named cases that are installed, each in a process of its own."""
    return {
        name: run_case("bench.optimizer_step", "step_seconds", CASES[name][0], size, device)
        for name in names
        if available(CASES[name][1])
    }


def main(size: str = "tiny", device: str = "cpu") -> dict[str, dict]:
    results = measure(size, device)
    table = render(results, size, device)
    print(table)
    suffix = "" if device == "cpu" else "-cuda"
    write_section(f"optimizer-step-{size}{suffix}", table)
    write_results(f"optimizer-step-{size}{suffix}", {"device": device, "cases": results})
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", choices=("tiny", "v2"))
    parser.add_argument("--device", default="cpu")
    arguments = parser.parse_args()
    main(arguments.size, arguments.device)
