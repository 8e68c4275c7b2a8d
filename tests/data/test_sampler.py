import json

import pytest

from leanvoice.data.sampler import BucketBatchSampler, fixed_size_batches, padding_efficiency
from leanvoice.errors import ConfigError

LENGTHS = [(i * 37) % 101 + 20 for i in range(203)]


def test_batches_fit_the_budget_and_cover_each_sample_once() -> None:
    sampler = BucketBatchSampler(LENGTHS, max_tokens=600, seed=3)
    batches = sampler.global_batches(0)
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    for batch in batches:
        assert len(batch) * max(LENGTHS[i] for i in batch) <= 600


def test_order_is_deterministic_per_seed_and_epoch() -> None:
    a = BucketBatchSampler(LENGTHS, 600, seed=3)
    b = BucketBatchSampler(LENGTHS, 600, seed=3)
    assert a.global_batches(0) == b.global_batches(0)
    assert a.global_batches(0) != a.global_batches(1)
    assert a.global_batches(0) != BucketBatchSampler(LENGTHS, 600, seed=4).global_batches(0)


@pytest.mark.parametrize("tail", ["pad", "drop"])
def test_every_rank_gets_the_same_number_of_batches(tail: str) -> None:
    ranks = [
        BucketBatchSampler(LENGTHS, 600, seed=1, world_size=3, rank=r, tail=tail) for r in range(3)
    ]
    counts = {len(r.rank_batches(0)) for r in ranks}
    assert len(counts) == 1
    seen = [i for r in ranks for b in r.rank_batches(0) for i in b]
    if tail == "pad":
        assert set(seen) == set(range(len(LENGTHS)))
    else:
        assert len(seen) == len(set(seen))


def test_resume_continues_with_the_next_batch_across_epochs() -> None:
    run = BucketBatchSampler(LENGTHS, 600, seed=5)
    stream = iter(run)
    first = [next(stream) for _ in range(len(run) + 3)]  # into the second epoch
    state = run.state_dict()
    expected = [next(stream) for _ in range(5)]
    resumed = BucketBatchSampler(LENGTHS, 600, seed=5)
    resumed.load_state_dict(state)
    assert [b for _, b in zip(range(5), iter(resumed), strict=False)] == expected
    assert first[: len(run)] == run.rank_batches(0)


def test_resume_with_another_world_size_is_refused() -> None:
    state = BucketBatchSampler(LENGTHS, 600, world_size=2, rank=0).state_dict()
    with pytest.raises(ConfigError, match="same world size"):
        BucketBatchSampler(LENGTHS, 600).load_state_dict(state)


def test_demo_manifest_padding_efficiency_vs_fixed_random_batches(featured_demo) -> None:
    clips = [json.loads(x) for x in (featured_demo / "manifest.jsonl").read_text().splitlines()]
    lengths = [len(c["phoneme_ids"]) + c["semantic_tokens"] for c in clips]
    bucketed = padding_efficiency(
        BucketBatchSampler(lengths, 600, seed=0).global_batches(0), lengths
    )
    fixed = padding_efficiency(fixed_size_batches(len(lengths), 8, seed=0), lengths)
    print(
        f"padding efficiency on the demo manifest: bucketing {bucketed:.3f}, "
        f"fixed-size random batches of 8 {fixed:.3f}"
    )
    assert bucketed >= 0.9
    assert bucketed > fixed


def test_fixed_batch_mode_gives_the_official_fixed_clip_count() -> None:
    sampler = BucketBatchSampler(LENGTHS, max_tokens=1, seed=0, fixed_batch=8)
    batches = sampler.global_batches(0)
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    assert sum(len(b) == 8 for b in batches) >= len(batches) - sampler.num_buckets


def test_a_clip_cap_closes_batches_before_the_budget() -> None:
    lengths = [10 + i % 7 for i in range(200)]
    capped = BucketBatchSampler(lengths, max_tokens=1000, seed=1, max_clips=8)
    batches = capped.rank_batches(0)
    assert max(map(len, batches)) == 8
    assert sorted(i for b in batches for i in b) == list(range(200))
    uncapped = BucketBatchSampler(lengths, max_tokens=1000, seed=1).rank_batches(0)
    assert max(map(len, uncapped)) > 8
