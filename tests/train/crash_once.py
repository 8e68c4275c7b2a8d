"""A torchrun worker for the restart test: trains the tiny GPT and, in the first attempt
only, kills rank 1 outright (os._exit) before the micro-batch of step CRASH_STEP.

    torchrun --nproc_per_node=2 --max-restarts=1 tests/train/crash_once.py DATA RUN
"""

import os
import sys
from pathlib import Path

from leanvoice.config import load_config
from leanvoice.train.gpt import GPTTrainer

CRASH_STEP = 7
OVERRIDES = ["model.size=tiny", "memory.precision=fp32", "data.max_tokens=600",
             "train.audition_every=0", "train.max_steps=10", "train.save_every=3"]  # fmt: skip


def crash(step: int, _micro_batch: int) -> None:
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if first_attempt and os.environ.get("RANK") == "1" and step == CRASH_STEP:
        os._exit(3)  # no cleanup, no checkpoint: as a segfault or a killed node would


if __name__ == "__main__":
    data, run = map(Path, sys.argv[1:3])
    GPTTrainer(load_config(overrides=OVERRIDES), data, run, fault_injector=crash).train()
