"""Each memory technique alone and the preset combinations vs the official recipe's
settings, on v2 models at the same batch, as ratios.

    python -m bench.memory            # prints the tables and updates docs/benchmarks.md

Batch: the 4 longest Mandarin demo clips (their real phoneme counts and 25 Hz code
lengths; random BERT features and codes, which do not change memory or time). CPU: the
baseline runs fp32 (fp16 autocast needs CUDA) and no allocator peak exists, so "total"
is the sum of the measured categories: parameters + gradients + optimizer states +
tensors saved for backward.
"""

from __future__ import annotations

import datetime
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.doc import write_section
from leanvoice.config import load_config
from leanvoice.config.schema import MemoryConfig
from leanvoice.config.sizes import load_size
from leanvoice.data.prepare import prepare_dataset
from leanvoice.demo import demo_corpus_list
from leanvoice.memory.accounting import SavedTensorMeter, optimizer_state_bytes
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.gpt import SemanticGPT

OFFICIAL = MemoryConfig(checkpoint="none", precision="fp32", optimizer="adamw")


def _cases() -> dict[str, MemoryConfig]:
    cases = {
        "official recipe (baseline)": OFFICIAL,
        "checkpoint all": replace(OFFICIAL, checkpoint="all"),
        "bf16 autocast": replace(OFFICIAL, precision="bf16"),
        "8-bit AdamW": replace(OFFICIAL, optimizer="adamw8bit"),
        "AdamW in backward": replace(OFFICIAL, optimizer="adamw_in_backward"),
        "LoRA r16": replace(OFFICIAL, lora=replace(OFFICIAL.lora, rank=16, alpha=32.0)),
    }
    for preset in ("timbre", "small"):
        cfg = load_config(preset).memory
        cases[f"preset {preset}"] = replace(cfg, precision="bf16")  # auto = fp32 on CPU
    return cases


def _demo_batch(tmp: Path) -> tuple[torch.Tensor, ...]:
    result = prepare_dataset(demo_corpus_list(), tmp, load_config())
    clips = [json.loads(x) for x in (result.out / "manifest.jsonl").read_text().splitlines()]
    clips = sorted((c for c in clips if c["language"] == "zh"), key=lambda c: -c["samples"])[:4]
    g = torch.Generator().manual_seed(0)
    x_lens = torch.tensor([len(c["phoneme_ids"]) for c in clips])
    y_lens = torch.tensor([c["frames"] // 2 for c in clips])
    x = torch.zeros(4, int(x_lens.max()), dtype=torch.long)
    for row, clip in enumerate(clips):
        x[row, : len(clip["phoneme_ids"])] = torch.tensor(clip["phoneme_ids"])
    y = torch.randint(0, 1024, (4, int(y_lens.max())), generator=g)
    bert = torch.randn(4, 1024, x.shape[1], generator=g)
    return x, x_lens, bert, y, y_lens


def _run(policy: MemoryConfig, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
    torch.manual_seed(0)
    setup = apply_memory_policy(SemanticGPT(load_size("v2").gpt), "gpt", policy, 1e-4)
    model = setup.model.train()
    parameters = sum(p.nbytes for p in model.parameters())
    times, grad_peak = [], [0]
    if isinstance(setup.optimizer, OptimizerInBackward):
        setup.optimizer.observers.append(
            lambda _p: grad_peak.__setitem__(0, max(grad_peak[0], _grad_bytes(model)))
        )
    for attempt in range(3):  # the first run warms up; the best of two is timed
        start = time.perf_counter()
        with SavedTensorMeter(model.parameters()) as meter, setup.precision.autocast():
            loss, _, _ = model.loss(*batch)  # official: summed, padding counted
        saved = meter.activation_bytes
        loss.float().backward()
        grads = max(_grad_bytes(model), grad_peak[0])
        if not isinstance(setup.optimizer, OptimizerInBackward):
            setup.optimizer.step()
            setup.optimizer.zero_grad(set_to_none=True)
        if attempt:
            times.append(time.perf_counter() - start)
    optimizer = (
        sum(optimizer_state_bytes(o) for o in setup.optimizer.optimizers.values())
        if isinstance(setup.optimizer, OptimizerInBackward)
        else optimizer_state_bytes(setup.optimizer)
    )
    return {"parameters": parameters, "gradients": grads, "optimizer": optimizer,
            "activations": saved, "seconds": min(times)}  # fmt: skip


def _grad_bytes(model: torch.nn.Module) -> int:
    return sum(p.grad.nbytes for p in model.parameters() if p.grad is not None)


def render(results: dict[str, dict[str, float]], tokens: int) -> str:
    base = results["official recipe (baseline)"]
    base_total = sum(base[k] for k in ("parameters", "gradients", "optimizer", "activations"))
    lines = [
        f"GPT v2, {tokens} real tokens (4 demo clips), {datetime.date.today()}, "
        f"{platform.machine()} CPU ({torch.get_num_threads()} threads), torch "
        f"{torch.__version__}, `python -m bench.memory`. MiB; ratios vs the baseline.",
        "",
        "| case | params | grads | optimizer | saved activations | total | total × | step × |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        total = sum(r[k] for k in ("parameters", "gradients", "optimizer", "activations"))
        mib = [r[k] / 2**20 for k in ("parameters", "gradients", "optimizer", "activations")]
        lines.append(
            f"| {name} | {mib[0]:.0f} | {mib[1]:.0f} | {mib[2]:.0f} | {mib[3]:.0f} | "
            f"{total / 2**20:.0f} | {total / base_total:.2f} | "
            f"{r['seconds'] / base['seconds']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        batch = _demo_batch(Path(tmp))
    results = {}
    for name, policy in _cases().items():
        results[name] = _run(policy, batch)
        print(name, {k: round(v / 2**20) if k != "seconds" else round(v, 2)
                     for k, v in results[name].items()}, flush=True)  # fmt: skip
    table = render(results, int(batch[1].sum() + batch[4].sum()))
    print(table)
    write_section("memory", table)
