"""Padding efficiency: the bucketing sampler vs fixed-size batches, on the same clips.

    python -m bench.padding [PREPARED ...]   # demo corpus when none is given

Fixed-size random batches are what a plain DataLoader gives; fixed-size bucketed ones
(sorted by length, cut into batches of a fixed count, batches shuffled) are the official
recipe's scheme. The bucketing sampler packs to a token budget instead. Efficiency =
real tokens / tokens in the padded batch (GPT: phonemes + codes per clip).
"""

from __future__ import annotations

import datetime
import json
import random
import sys
import tempfile
from pathlib import Path

from bench.doc import write_results, write_section
from leanvoice.data.sampler import BucketBatchSampler, fixed_size_batches, padding_efficiency

BATCH = 8  # clips per fixed-size batch; the bucketing budget is set to match it on average


def fixed_size_bucketed(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    random.Random(seed).shuffle(batches)
    return batches


def gpt_lengths(prepared: Path) -> list[int]:
    clips = [json.loads(x) for x in (prepared / "manifest.jsonl").read_text().splitlines()]
    return [len(c["phoneme_ids"]) + c.get("semantic_tokens", c["frames"] // 2) for c in clips]


def synthetic_lengths(count: int) -> list[int]:
    """Clip costs of a typical sliced dataset: log-normal durations (median 5 s) within
    1-15 s, 25 codes and ~10 phonemes per second."""
    rng = random.Random(0)
    seconds = [min(15.0, max(1.0, rng.lognormvariate(1.6, 0.5))) for _ in range(count)]
    return [int(s * 35) for s in seconds]


def measure(lengths: list[int]) -> dict[str, float]:
    budget = budget_for(lengths)
    sampler = BucketBatchSampler(lengths, budget, seed=0, num_buckets=buckets_for(lengths))
    return {
        "clips": len(lengths),
        "fixed_random": padding_efficiency(fixed_size_batches(len(lengths), BATCH, 0), lengths),
        "fixed_bucketed": padding_efficiency(fixed_size_bucketed(lengths, BATCH, 0), lengths),
        "leanvoice": padding_efficiency(sampler.global_batches(0), lengths),
        "budget": budget,
        "clips_per_batch": len(lengths) / len(sampler.global_batches(0)),
    }


def row(name: str, f: dict[str, float]) -> str:
    return (
        f"| {name} | {f['clips']} | {f['fixed_random']:.3f} | {f['fixed_bucketed']:.3f} | "
        f"{f['leanvoice']:.3f} ({f['budget']} tokens, {f['clips_per_batch']:.1f} clips/batch) "
        f"| {f['leanvoice'] / f['fixed_random']:.2f}× |"
    )


def buckets_for(lengths: list[int]) -> int:
    """Length buckets of at least two fixed-size batches each (a bucket never shares a
    batch with another, so tiny buckets would cap the batch size)."""
    return max(1, min(10, len(lengths) // (2 * BATCH)))


def budget_for(lengths: list[int]) -> int:
    """The smallest budget whose batches hold at least BATCH clips on average: the same
    batch size as the fixed schemes, so only the padding differs."""
    budget, buckets = max(lengths), buckets_for(lengths)
    while (
        len(lengths)
        / len(BucketBatchSampler(lengths, budget, seed=0, num_buckets=buckets).global_batches(0))
        < BATCH
    ):
        budget += max(1, max(lengths) // 20)
    return budget


def main(paths: list[str]) -> None:
    lines = [
        f"{datetime.date.today()}, `python -m bench.padding`; GPT cost per clip = phonemes + "
        f"codes; fixed batches of {BATCH} clips; the bucketing budget gives the same mean "
        "batch size.",
        "",
        "| data | clips | fixed random | fixed bucketed (official) | LeanVoice bucketing | "
        "vs random |",
        "|---|---|---|---|---|---|",
    ]
    figures = {"synthetic: 2000 clips, log-normal 1-15 s": measure(synthetic_lengths(2000))}
    if paths:
        for path in paths:
            figures[Path(path).name] = measure(gpt_lengths(Path(path)))
    else:
        from leanvoice.config import load_config
        from leanvoice.data.prepare import prepare_dataset
        from leanvoice.demo import demo_corpus_list

        with tempfile.TemporaryDirectory() as tmp:
            result = prepare_dataset(demo_corpus_list(), Path(tmp), load_config())
            figures["demo corpus"] = measure(gpt_lengths(result.out))
    lines += [row(name, f) for name, f in figures.items()]
    table = "\n".join(lines)
    print(table)
    if not paths:
        write_section("padding", table)
        write_results("padding", figures)


if __name__ == "__main__":
    main(sys.argv[1:])
