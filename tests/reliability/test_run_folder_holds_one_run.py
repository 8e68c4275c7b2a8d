"""A run folder holds one run: `--resume none` never mixes a second run into it."""

import json

import pytest
import torch

from leanvoice.config import load_config
from leanvoice.errors import InputError
from leanvoice.train import checkpoint as ckpt
from leanvoice.train.gpt import GPTTrainer
from tests.tiny import TINY


def _train(data, run, steps: int, **options) -> dict:
    cfg = load_config(overrides=[*TINY, f"train.max_steps={steps}", "train.save_every=2"])
    return GPTTrainer(cfg, data, run, **options).train()


def test_resume_none_into_a_finished_run_is_refused_naming_its_newest_step(
    featured_demo, tmp_path
) -> None:
    run = tmp_path / "run"
    _train(featured_demo, run, 4)
    with pytest.raises(InputError, match=r"holds a run \(newest step-00000004.pt\).*--overwrite"):
        _train(featured_demo, run, 2, resume="none")
    assert json.loads((run / "summary.json").read_text())["steps"] == 4  # untouched


def test_overwrite_moves_the_earlier_run_aside_and_keeps_the_new_one_whole(
    featured_demo, tmp_path
) -> None:
    run = tmp_path / "run"
    _train(featured_demo, run, 4)
    summary = _train(featured_demo, run, 2, resume="none", overwrite=True)
    assert summary["steps"] == 2
    (aside,) = run.glob("previous-*")
    assert [p.name for p in ckpt.list_checkpoints(aside)] == [
        "step-00000002.pt",
        "step-00000004.pt",
    ]
    assert json.loads((aside / "summary.json").read_text())["steps"] == 4
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-00000002.pt"]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    assert ckpt.load_for_resume(run, "auto", print).checkpoint.step == 2  # the new run's


def test_pruning_never_removes_the_checkpoint_just_written(tmp_path) -> None:
    run = tmp_path / "run"
    state = ckpt.NetworkState({"w": torch.zeros(1)})
    for step in (6, 8):
        ckpt.save_checkpoint(run, ckpt.Checkpoint(step, "gpt", {}, {}, {}, {"gpt": state}), keep=2)
    written = ckpt.save_checkpoint(
        run, ckpt.Checkpoint(3, "gpt", {}, {}, {}, {"gpt": state}), keep=2
    )
    assert written.exists()


def test_when_every_checkpoint_is_corrupt_none_is_said_to_be_used(tmp_path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt.checkpoint_path(run, 2).write_bytes(b"not a checkpoint")
    warnings = []
    with pytest.raises(InputError) as error:
        ckpt.load_for_resume(run, "auto", warnings.append)
    assert "using" not in str(error.value) and not warnings
