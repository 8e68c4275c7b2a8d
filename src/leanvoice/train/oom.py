"""OOM guard: an out-of-memory step is undone and retried on smaller micro-batches.

The sampler's batches never change (so a resumed run sees the same data); what shrinks
is the micro-batch limit that splits each batch: 10 % lower per out-of-memory, the
failed batch retried from zero gradients. Under DDP every rank reports whether it ran
out and all retry together, so no rank waits in a collective the others left. After
`max_in_a_row` consecutive failures the run stops with a message saying what to change.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from leanvoice.data.batch_cost import padded_cost
from leanvoice.errors import LeanVoiceError


class OutOfMemoryStop(LeanVoiceError):
    """Raised after too many consecutive out-of-memory retries."""


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class OOMGuard:
    micro_batch_limit: int  # tokens or frames a micro-batch may cost, padding counted
    max_in_a_row: int = 3
    factor: float = 0.9
    in_a_row: int = 0
    total: int = 0

    def failed(self, step: int, key: str) -> str:
        """Record one failure: lower the limit; returns the log line, or raises to stop."""
        self.in_a_row += 1
        self.total += 1
        old = self.micro_batch_limit
        self.micro_batch_limit = max(1, int(self.micro_batch_limit * self.factor))
        if self.in_a_row >= self.max_in_a_row:
            raise OutOfMemoryStop(
                f"out of memory {self.in_a_row} times in a row at step {step} (micro-batch "
                f"limit lowered to {self.micro_batch_limit}); lower {key}, or use "
                "memory.checkpoint=all / memory.precision=bf16 / memory.optimizer=adamw8bit, "
                "or run `leanvoice plan` for settings that fit"
            )
        new = self.micro_batch_limit
        return f"out of memory at step {step}: micro-batch limit {old} -> {new}, retrying"

    def succeeded(self) -> None:
        self.in_a_row = 0

    def state_dict(self) -> dict[str, int]:
        return {"budget": self.micro_batch_limit, "total": self.total}  # file keys kept

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.micro_batch_limit, self.total = int(state["budget"]), int(state["total"])


def split_by_limit(indices: Sequence[int], lengths: Sequence[int], limit: int) -> list[list[int]]:
    """Split one batch into micro-batches each within `limit` (`padded_cost`), longest
    first; a single clip over the limit stays alone (it cannot be split)."""
    order = sorted(indices, key=lambda i: -lengths[i])
    parts: list[list[int]] = []
    for index in order:
        if parts and padded_cost([*parts[-1], index], lengths) <= limit:
            parts[-1].append(index)
        else:
            parts.append([index])
    return parts
