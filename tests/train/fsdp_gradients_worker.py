"""A torchrun worker comparing accumulated gradients: each rank's two micro-batches
against its whole batch, under DDP and under FSDP2. Run by
tests/train/test_distributed.py, not collected by pytest itself.

Usage: fsdp_gradients_worker.py DATA OUT key=value...   (writes OUT/rankR.json)
"""

import json
import os
import sys
from pathlib import Path

import torch

from leanvoice.config import load_config
from leanvoice.train.gpt import GPTTrainer


def gradients(data: Path, run: Path, strategy: str, parts: list[list[int]]) -> dict:
    """Full (unsharded) gradients after `forward_backward(parts)`: no optimizer step."""
    cfg = load_config(overrides=[*sys.argv[3:], f"train.distributed={strategy}"])
    trainer = GPTTrainer(cfg, data, run)
    torch.manual_seed(0)
    trainer.setup()
    trainer.model.eval()  # no dropout: the same maths in every layout
    assert not trainer.forward_backward(parts).failed_at
    full = {}
    for name, parameter in trainer.model.named_parameters():
        grad = parameter.grad
        grad = grad.full_tensor() if hasattr(grad, "full_tensor") else grad
        full[name] = grad.detach().clone()
    # the DDP/FSDP wrappers hold the process group: gone before it is destroyed, as a
    # trainer's own train() does (a rank aborted at exit once in ~10 runs without this)
    trainer._drop_wrappers()
    return full


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    split = [[0 + rank, 5 + rank], [11 + rank, 23 + rank, 30 + rank]]  # unequal lengths
    whole = [[i for part in split for i in part]]
    runs = {
        (strategy, layout): gradients(data, out / f"{strategy}-{layout}", strategy, parts)
        for strategy in ("ddp", "fsdp")
        for layout, parts in (("split", split), ("whole", whole))
    }
    reference = runs[("ddp", "whole")]

    def worst(grads: dict) -> float:
        """The largest difference from the reference, relative to each tensor's norm."""
        return max(float((grads[n] - g).norm() / (g.norm() + 1e-12)) for n, g in reference.items())

    report = {f"{s}-{layout}": worst(g) for (s, layout), g in runs.items()}
    (out / f"rank{rank}.json").write_text(json.dumps(report))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
