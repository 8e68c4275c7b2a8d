"""A `leanvoice train gpt` worker for torchrun whose rank 1 alone runs out of memory
(injected) before the backward of a step's first micro-batch. Run by
tests/train/test_distributed.py, not collected by pytest itself.

Usage: ddp_oom_worker.py DATA RUN FAIL_AT_STEP key=value...
"""

import os
import sys
from pathlib import Path

import torch

from leanvoice.config import load_config
from leanvoice.train.gpt import GPTTrainer


def main() -> None:
    data, run, fail_at = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    rank, failed = int(os.environ["RANK"]), []

    def inject(step: int, micro: int, point: str) -> None:
        if rank == 1 and step == fail_at and micro == 0 and point == "gpt" and not failed:
            failed.append(step)
            raise torch.OutOfMemoryError("CUDA out of memory (injected on rank 1)")

    GPTTrainer(load_config(overrides=sys.argv[4:]), data, run, fault_injector=inject).train()


if __name__ == "__main__":
    main()
