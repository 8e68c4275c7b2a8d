import random

import numpy as np
import pytest
import torch

from leanvoice.errors import InputError
from leanvoice.train import checkpoint as ckpt


def _checkpoint(step: int, **extra) -> ckpt.Checkpoint:
    weights = {"w": torch.full((3,), float(step))}
    return ckpt.Checkpoint(step, "gpt", {}, {}, {}, {"gpt": ckpt.NetworkState(weights)}, **extra)


def test_keeps_the_newest_n_and_best(tmp_path) -> None:
    for step in (1, 2, 3, 4):
        ckpt.save_checkpoint(tmp_path, _checkpoint(step), keep=2, best=step == 2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step-00000003.pt",
        "step-00000004.pt",
    ]
    best = ckpt.read_checkpoint_file(tmp_path / "checkpoints" / "best.pt")
    assert best.step == 2 and best.weights["w"][0] == 2
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_truncated_newest_is_reported_and_the_one_before_is_used(tmp_path) -> None:
    for step in (2, 4):
        ckpt.save_checkpoint(tmp_path, _checkpoint(step), keep=5)
    newest = ckpt.checkpoint_path(tmp_path, 4)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    warnings: list[str] = []
    loaded = ckpt.load_for_resume(tmp_path, "auto", warnings.append)
    assert loaded.checkpoint.step == 2
    assert "step-00000004.pt" in warnings[0] and "truncated or corrupt" in warnings[0]
    with pytest.raises(InputError, match="truncated or corrupt"):
        ckpt.load_for_resume(tmp_path, str(newest), warnings.append)


def test_rng_states_round_trip_through_weights_only_files(tmp_path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    ckpt.save_checkpoint(tmp_path, _checkpoint(1, rng=ckpt.rng_state()), keep=1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.restore_rng_state(ckpt.read_checkpoint_file(ckpt.checkpoint_path(tmp_path, 1)).rng)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_nothing_to_resume_starts_fresh(tmp_path) -> None:
    assert ckpt.load_for_resume(tmp_path, "auto", print) is None
    assert ckpt.load_for_resume(tmp_path, "none", print) is None


def test_the_file_layout_stays_flat_and_round_trips(tmp_path) -> None:
    """Two networks with optimizer, scaler and schedule state: written, read back equal,
    under the keys earlier releases wrote (so their checkpoints still resume)."""
    networks = {
        key: ckpt.NetworkState(
            {"w": torch.ones(2) * i}, {"state": {}, "n": i}, {"scale": float(i)}, {"f": 0.5}
        )
        for i, key in enumerate(("generator", "discriminator"))
    }
    written = ckpt.Checkpoint(
        7,
        "sovits",
        {"train": {"lr": 1e-4}},
        {"hidden": 4},
        {"f0_conditioning": True},
        networks,
        sampler={"epoch": 1},
        oom_guard={"budget": 3, "total": 3},
        best_loss=1.5,
    )
    path = tmp_path / "c.pt"
    ckpt.write_checkpoint(path, written)
    flat = torch.load(path, weights_only=True)
    keys = "model optimizer scaler optimizer_schedule discriminator d_optimizer d_scaler"
    assert {*keys.split(), "d_optimizer_schedule", "sampler"} <= flat.keys()
    read = ckpt.read_checkpoint_file(path)
    assert read.extensions == {"f0_conditioning": True} and read.best_loss == 1.5
    assert read.networks["discriminator"].scaler == {"scale": 1.0}
    assert torch.equal(read.networks["discriminator"].weights["w"], torch.ones(2))
    assert torch.equal(read.weights["w"], torch.zeros(2))  # the generator's, file key "model"
    assert read.rng is None and read.step == 7


def test_a_file_without_stage_or_weights_is_named(tmp_path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"step": 1}, path)
    with pytest.raises(InputError, match=r"x\.pt: not a LeanVoice training checkpoint"):
        ckpt.read_checkpoint_file(path)
