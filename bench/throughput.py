"""Useful tokens per second at an equal memory budget: the official recipe's settings vs
LeanVoice's `small` preset, each given the largest batch that fits the same budget.

    python -m bench.throughput [BUDGET_MIB]     # tiny GPT on the demo corpus, CPU

Official settings: fixed batches of N clips (sorted buckets), no checkpointing, AdamW,
fp32 on CPU; N is the largest whose worst batch (N of the longest clip) fits. LeanVoice:
the preset's checkpointing and 8-bit AdamW, batches packed to the largest token budget
that fits (the planner's measurement of the same worst-case clip). Both train the same
steps on the same clips; tokens/s counts real (non-pad) phonemes + codes.
"""

from __future__ import annotations

import datetime
import platform
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from bench.doc import write_section
from leanvoice.config import load_config
from leanvoice.data.features_step import run_feature_step
from leanvoice.data.prepare import prepare_dataset
from leanvoice.demo import demo_corpus_list
from leanvoice.memory.planner import Candidate, calibrate, worst_case_clip, write_worst_case_clip
from leanvoice.train import train_stage

STEPS = 40
BASE = ["model.size=tiny", "memory.precision=fp32", "train.audition_every=0",
        "train.save_every=0", f"train.max_steps={STEPS}", "train.lr=1e-3"]  # fmt: skip


def _line(cfg, data: Path):
    with tempfile.TemporaryDirectory() as tmp:
        clip = worst_case_clip("gpt", cfg, data)
        write_worst_case_clip(Path(tmp), cfg, clip)
        candidate = Candidate(cfg.memory.checkpoint, cfg.memory.optimizer)
        return calibrate("gpt", cfg, Path(tmp), candidate, "cpu"), clip


def main(budget_mib: float = 24.0) -> None:
    budget = int(budget_mib * 2**20)
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_dataset(demo_corpus_list(), Path(tmp) / "data", load_config()).out
        run_feature_step(data, tiny=True)
        official = load_config(overrides=[*BASE, "memory.checkpoint=none",
                                          "memory.optimizer=adamw"])  # fmt: skip
        line, clip = _line(official, data)
        clips = line.largest_batch(budget)
        official = replace(official, train=replace(official.train, fixed_batch=clips))
        results = {f"official settings ({clips} clips/batch)": train_stage(
            "gpt", data, Path(tmp) / "official", official)}  # fmt: skip
        cost = clip["phonemes"] + clip["codes"]
        for name, cfg in (
            ("LeanVoice small preset", load_config("small", overrides=BASE)),
            ("LeanVoice checkpoint all, AdamW", load_config(overrides=[
                *BASE, "memory.checkpoint=all", "memory.optimizer=adamw"])),
        ):  # fmt: skip
            tokens = _line(cfg, data)[0].largest_batch(budget) * cost
            cfg = replace(cfg, data=replace(cfg.data, max_tokens=tokens))
            results[f"{name} ({tokens} tokens/batch)"] = train_stage(
                "gpt", data, Path(tmp) / name.replace(" ", "_"), cfg)  # fmt: skip
    base = next(iter(results.values()))
    lines = [
        f"{datetime.date.today()}, {platform.machine()} CPU ({torch.get_num_threads()} "
        f"threads), torch {torch.__version__}, `python -m bench.throughput {budget_mib:g}`: "
        f"tiny GPT, demo corpus, budget {budget_mib:g} MiB, {STEPS} steps each.",
        "",
        "| case | useful tokens/s | × | padding efficiency | peak MiB (first step) | final loss |",
        "|---|---|---|---|---|---|",
    ]
    for name, summary in results.items():
        lines.append(
            f"| {name} | {summary['tokens_per_second']:.0f} | "
            f"{summary['tokens_per_second'] / base['tokens_per_second']:.2f} | "
            f"{summary['padding_efficiency']:.3f} | "
            f"{summary['memory']['peak_bytes'] / 2**20:.1f} | {summary['final_loss']:.3f} |"
        )
    table = "\n".join(lines)
    print(table)
    write_section("throughput", table)


if __name__ == "__main__":
    main(*(float(x) for x in sys.argv[1:]))
