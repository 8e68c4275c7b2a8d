"""Duration-bucketing batch sampler with a token budget that counts padding.

A batch costs `padded_cost` (batch_cost.py: clips × the longest). Samples
are split into length buckets by quantile, shuffled and then sorted within each bucket
(so neighbours have similar lengths), packed greedily under the budget, and the batches
are shuffled — all from `seed + epoch`, so every rank computes the same global list and
takes every `world_size`-th batch. The tail is padded (batches repeated from the start)
or dropped so every rank gets the same number of batches and none waits forever in a
collective. `state_dict()` holds the epoch and the position within it: a resumed run
sees exactly the batches the interrupted one would have.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from leanvoice.data.batch_cost import padded_cost
from leanvoice.errors import ConfigError


@dataclass
class BucketBatchSampler:
    lengths: Sequence[int]  # cost of each sample: tokens (GPT) or frames (SoVITS)
    max_tokens: int  # budget per batch, padding counted
    seed: int = 0
    num_buckets: int = 10
    world_size: int = 1
    rank: int = 0
    tail: Literal["pad", "drop"] = "pad"
    epoch: int = 0
    position: int = 0  # batches of this epoch already handed out on this rank
    fixed_batch: int = 0  # >0: this many clips per batch, budget ignored (official scheme)
    max_clips: int = 0  # >0: a batch also closes at this many samples

    def __post_init__(self) -> None:
        if not self.lengths:
            raise ConfigError("the dataset has no samples to batch")
        if self.max_clips < 0:
            raise ConfigError(f"data.max_clips={self.max_clips}: use 0 (no cap) or more")
        if self.max_tokens <= 0:
            raise ConfigError(f"batch budget {self.max_tokens} must be positive")
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"rank {self.rank} outside world size {self.world_size}")
        if self.tail not in ("pad", "drop"):
            raise ConfigError(f"train.tail={self.tail!r}: use pad or drop")

    # -- the batches ------------------------------------------------------------------------
    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every rank's batches for `epoch`, in order (rank r takes r, r+W, r+2W, ...)."""
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = sorted(range(len(self.lengths)), key=lambda i: self.lengths[i])
        buckets = _split_evenly(order, self.bucket_count())
        batches: list[list[int]] = []
        for bucket in buckets:
            rng.shuffle(bucket)
            bucket.sort(key=lambda i: self.lengths[i])  # stable: ties keep the shuffle
            batches.extend(self._pack(bucket))
        rng.shuffle(batches)
        return self._even_out(batches)

    def bucket_count(self) -> int:
        """At most `num_buckets`, and few enough that each holds about two full batches:
        a batch never spans buckets, so small buckets would cap the batch below budget."""
        if self.fixed_batch > 0:
            per_bucket = 2 * self.fixed_batch
            return max(1, min(self.num_buckets, len(self.lengths) // per_bucket))
        budget = self.max_tokens
        if self.max_clips > 0:  # a capped batch holds fewer tokens than the budget
            budget = min(budget, self.max_clips * sum(self.lengths) // len(self.lengths))
        return max(1, min(self.num_buckets, sum(self.lengths) // (2 * max(budget, 1))))

    def _pack(self, indices: list[int]) -> list[list[int]]:
        if self.fixed_batch > 0:
            step = self.fixed_batch
            return [indices[i : i + step] for i in range(0, len(indices), step)]
        batches, current, longest = [], [], 0
        for index in indices:
            length = self.lengths[index]
            full = self.max_clips > 0 and len(current) >= self.max_clips
            if current and (full or max(longest, length) * (len(current) + 1) > self.max_tokens):
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, length)
        if current:
            batches.append(current)
        return batches

    def _even_out(self, batches: list[list[int]]) -> list[list[int]]:
        extra = len(batches) % self.world_size
        if extra == 0:
            return batches
        if self.tail == "drop" and len(batches) >= self.world_size:
            return batches[: len(batches) - extra]
        missing = self.world_size - extra
        return batches + [batches[i % len(batches)] for i in range(missing)]

    def rank_batches(self, epoch: int) -> list[list[int]]:
        return self.global_batches(epoch)[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.rank_batches(self.epoch))

    def __iter__(self) -> Iterator[list[int]]:
        """Endless: batches from the saved position on, epoch after epoch."""
        while True:
            batches = self.rank_batches(self.epoch)
            while self.position < len(batches):
                self.position += 1
                yield batches[self.position - 1]
            self.epoch += 1
            self.position = 0

    def peek(self, count: int) -> list[list[int]]:
        """The next `count` batches this rank will get, without moving the sampler."""
        saved = (self.epoch, self.position)
        upcoming = list(itertools.islice(iter(self), count))
        self.epoch, self.position = saved
        return upcoming

    # -- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "world_size": self.world_size,
            "max_tokens": self.max_tokens,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["world_size"] != self.world_size:
            raise ConfigError(
                f"the checkpoint was written by {state['world_size']} processes and this run "
                f"has {self.world_size}: exact resume needs the same world size "
                "(start a new run folder to change it)"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.seed, self.max_tokens = int(state["seed"]), int(state["max_tokens"])


def _split_evenly(items: list[int], parts: int) -> list[list[int]]:
    size, rest = divmod(len(items), parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < rest else 0)
        out.append(list(items[start:end]))
        start = end
    return out


def padding_efficiency(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Real tokens / tokens in the padded tensors."""
    real = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(padded_cost(batch, lengths) for batch in batches)
    return real / padded if padded else 1.0


def fixed_size_batches(count: int, batch_size: int, seed: int) -> list[list[int]]:
    """The official scheme's shape without its buckets: random order, fixed batch size."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, count, batch_size)]
