"""Planner error: predicted vs measured peak at batch sizes the planner did not see.

    python -m bench.planner        # prints the table and updates docs/benchmarks.md

For each stage and setting, the planner measures 1 and 3 copies of the worst-case clip
(`data.max_sec` of speech) and predicts 2, 5 and 7; each is then measured with the same
trainer step. CPU: live-tensor peaks; on CUDA the allocator peak (`--device cuda`).
"""

from __future__ import annotations

import datetime
import platform
import sys
import tempfile
from pathlib import Path

import torch

from bench.doc import write_section
from leanvoice.config import load_config
from leanvoice.plan.planner import (
    Candidate,
    calibrate,
    measured_peak,
    worst_case_clip,
    write_worst_case_clip,
)

# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
CASES = [  # (stage, size, preset)
    ("gpt", "tiny", None), ("gpt", "tiny", "small"), ("sovits", "tiny", None),
    ("sovits", "tiny", "small"), ("gpt", "v2", "small"),
]  # fmt: skip
UNSEEN = (2, 5, 7)


def main(device: str = "cpu") -> None:
    lines = [
        f"{datetime.date.today()}, {platform.machine()} {device} "
        f"({torch.get_num_threads()} threads), torch {torch.__version__}, "
        "`python -m bench.planner`; worst-case clip of data.max_sec=8 s; fp32.",
        "",
        "| stage | size | preset | batch | predicted MiB | measured MiB | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for stage, size, preset in CASES:
        cfg = load_config(
            preset, overrides=[f"model.size={size}", "memory.precision=fp32", "data.max_sec=8"]
        )
        candidate = Candidate(cfg.memory.checkpoint, cfg.memory.optimizer)
        with tempfile.TemporaryDirectory() as tmp:
            write_worst_case_clip(Path(tmp), cfg, worst_case_clip(stage, cfg, None))
            line = calibrate(stage, cfg, Path(tmp), candidate, device)
            for samples in UNSEEN:
                measured = measured_peak(stage, cfg, Path(tmp), samples, device)
                predicted = line.peak(samples)
                row = (
                    f"| {stage} | {size} | {preset or 'default'} | {samples} | "
                    f"{predicted / 2**20:.1f} | {measured / 2**20:.1f} | "
                    f"{100 * (predicted - measured) / measured:+.2f} % |"
                )
                print(row, flush=True)
                lines.append(row)
    table = "\n".join(lines)
    print(table)
    write_section("planner", table)


if __name__ == "__main__":
    main(*sys.argv[1:])
