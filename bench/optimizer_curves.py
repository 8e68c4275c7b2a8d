"""ScaledAdam (the official GPT recipe's optimizer) against AdamW, on loss curves: the
tiny GPT trained by the real trainer on the demo corpus (built-in tiny features), the
same batches and seed for every case, so our default optimizer is chosen on evidence.

`python -m bench.optimizer_curves [--steps N]`. The official schedule's shape (warm-up,
cosine decay to 1 % of the peak) is scaled to the run's length: warm-up over the first
10 % of the steps, decay to the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import tempfile
from pathlib import Path

import torch

from bench.doc import write_results, write_section

WARMUP_COSINE = "train.lr_schedule=warmup_cosine"
CASES = {  # name → overrides; the peak rate is ScaledAdam's official 0.01, AdamW's own
    "ScaledAdam 0.01, warm-up + cosine (official)": [
        "memory.optimizer=scaled_adam",
        "train.lr=0.01",
        WARMUP_COSINE,
    ],
    "AdamW 1e-3, warm-up + cosine": ["memory.optimizer=adamw", "train.lr=1e-3", WARMUP_COSINE],
    "AdamW 1e-3, constant": ["memory.optimizer=adamw", "train.lr=1e-3"],
    "AdamW 1e-4, constant (default)": ["memory.optimizer=adamw", "train.lr=1e-4"],
}


def curve(data: Path, out: Path, overrides: list[str], steps: int) -> list[float]:
    from leanvoice.config import load_config
    from leanvoice.train import train_stage

    schedule = [f"train.warmup_steps={max(steps // 10, 1)}", f"train.decay_steps={steps}"]
    cfg = load_config(
        overrides=[
            "model.size=tiny",
            "memory.precision=fp32",
            "data.max_tokens=600",
            "train.audition_every=0",
            "train.save_every=0",
            f"train.max_steps={steps}",
            *schedule,
            *overrides,
        ]
    )
    train_stage("gpt", data, out, cfg)
    return [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines()]


def render(curves: dict[str, list[float]], steps: int) -> str:
    window = max(steps // 10, 1)
    lines = [
        f"Tiny GPT on the demo corpus, {steps} steps of 600-token batches, "
        f"{datetime.date.today()}, {platform.machine()} CPU, torch {torch.__version__}, "
        f"`python -m bench.optimizer_curves`. Loss per real target token, mean of "
        f"{window} steps.",
        "",
        f"| optimizer and schedule | first {window} | middle {window} | last {window} |",
        "|---|---:|---:|---:|",
    ]
    middle = steps // 2
    for name, losses in curves.items():
        mean = lambda part: sum(part) / len(part)  # noqa: E731
        lines.append(
            f"| {name} | {mean(losses[:window]):.3f} | "
            f"{mean(losses[middle : middle + window]):.3f} | {mean(losses[-window:]):.3f} |"
        )
    return "\n".join(lines)


def main(steps: int = 200) -> dict[str, list[float]]:
    from leanvoice.config import load_config
    from leanvoice.data.features_step import run_feature_step
    from leanvoice.data.prepare import prepare_dataset
    from leanvoice.demo import demo_corpus_list

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_dataset(demo_corpus_list(), Path(tmp) / "data", load_config()).out
        run_feature_step(data, tiny=True)
        curves = {
            name: curve(data, Path(tmp) / f"run{index}", overrides, steps)
            for index, (name, overrides) in enumerate(CASES.items())
        }
    table = render(curves, steps)
    print(table)
    write_section("optimizer-curves", table)
    write_results("optimizer-curves", {"steps": steps, "curves": curves})
    return curves


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    main(parser.parse_args().steps)
