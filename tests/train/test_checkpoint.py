import random

import numpy as np
import pytest
import torch

from leanvoice.errors import InputError
from leanvoice.train import checkpoint as ckpt


def _state(step: int) -> dict:
    return {"step": step, "model": {"w": torch.full((3,), float(step))}}


def test_keeps_the_newest_n_and_best(tmp_path) -> None:
    for step in (1, 2, 3, 4):
        ckpt.save_checkpoint(tmp_path, step, _state(step), keep=2, best=step == 2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step-00000003.pt",
        "step-00000004.pt",
    ]
    best = ckpt.read_checkpoint_file(tmp_path / "checkpoints" / "best.pt")
    assert best["step"] == 2
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_truncated_newest_is_reported_and_the_one_before_is_used(tmp_path) -> None:
    for step in (2, 4):
        ckpt.save_checkpoint(tmp_path, step, _state(step), keep=5)
    newest = ckpt.checkpoint_path(tmp_path, 4)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    warnings: list[str] = []
    loaded = ckpt.load_for_resume(tmp_path, "auto", warnings.append)
    assert loaded.state["step"] == 2
    assert "step-00000004.pt" in warnings[0] and "truncated or corrupt" in warnings[0]
    with pytest.raises(InputError, match="truncated or corrupt"):
        ckpt.load_for_resume(tmp_path, str(newest), warnings.append)


def test_rng_states_round_trip_through_weights_only_files(tmp_path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    ckpt.save_checkpoint(tmp_path, 1, {**_state(1), "rng": ckpt.rng_state()}, keep=1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.restore_rng_state(ckpt.read_checkpoint_file(ckpt.checkpoint_path(tmp_path, 1))["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_nothing_to_resume_starts_fresh(tmp_path) -> None:
    assert ckpt.load_for_resume(tmp_path, "auto", print) is None
    assert ckpt.load_for_resume(tmp_path, "none", print) is None
