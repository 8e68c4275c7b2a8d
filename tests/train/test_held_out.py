"""Held-out clips and `valid_loss`: a fixed split, figures that leave training untouched,
and what each stage measures (tiny models, the demo corpus, real runs)."""

import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from leanvoice.config import load_config
from leanvoice.data.held_out import held_out_ids
from leanvoice.data.manifest import read_manifest
from leanvoice.errors import ConfigError
from leanvoice.train import train_stage
from tests.tiny import TINY


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_the_split_is_fixed_per_speaker_and_never_takes_every_clip(featured_demo) -> None:
    clips = read_manifest(featured_demo)
    held = held_out_ids(clips, 0.25)
    speakers = {c.speaker for c in clips}
    for speaker in speakers:
        mine = [c for c in clips if c.speaker == speaker]
        assert sum(c.id in held for c in mine) == round(0.25 * len(mine))
    assert held_out_ids(list(reversed(clips)), 0.25) == held  # order does not matter
    assert held_out_ids(clips, 0.0) == set()
    tiny = held_out_ids(clips, 0.001)  # at least one per speaker
    assert len(tiny) == len(speakers)
    lonely = [replace(clips[0], speaker="solo")]  # a speaker with one clip keeps it
    assert held_out_ids(lonely, 0.5) == set()
    assert held_out_ids(clips, 0.99) and all(
        any(c.id not in held_out_ids(clips, 0.99) for c in clips if c.speaker == s)
        for s in speakers
    )


def test_a_fraction_of_one_or_more_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"data\.valid_fraction=1\.0"):
        load_config(overrides=["data.valid_fraction=1"])


def test_gpt_logs_held_out_loss_and_accuracy_without_changing_training(
    featured_demo, tmp_path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    common = [*TINY, "train.max_steps=4", "data.valid_fraction=0.2"]
    measured = train_stage(
        "gpt", featured_demo, tmp_path / "a", load_config(overrides=[*common, "train.eval_every=2"])
    )
    plain = train_stage(
        "gpt", featured_demo, tmp_path / "b", load_config(overrides=[*common, "train.eval_every=0"])
    )
    lines = _metrics(tmp_path / "a")
    assert [line["step"] for line in lines if "valid_loss" in line] == [2, 4]
    for line in lines:
        if "valid_loss" in line:
            assert 0 < line["valid_loss"] < 20 and 0 <= line["valid_top3"] <= 1
    # evaluating draws no training random numbers and leaves train mode as it was
    assert [line["loss"] for line in lines] == [line["loss"] for line in _metrics(tmp_path / "b")]
    assert measured["final_loss"] == plain["final_loss"]
    clips = len(read_manifest(featured_demo))
    assert measured["held_out_clips"] == 8 and measured["clips"] <= clips - 8
    assert measured["valid"]["valid_loss"] == lines[-1]["valid_loss"]
    assert "valid_loss" not in plain["valid"]
    events = EventAccumulator(str(tmp_path / "a" / "tensorboard")).Reload()
    assert {"valid/loss", "valid/top3"} <= set(events.Tags()["scalars"])


def test_sovits_held_out_loss_is_the_reconstruction_error(featured_demo, tmp_path) -> None:
    """The mel L1 of clips decoded from their posterior: the demo's tiny SoVITS base,
    which learned to reconstruct speech, scores far better than fresh weights."""
    from leanvoice.demo import demo_bases
    from leanvoice.models.sovits import SoVITSGenerator
    from leanvoice.train.sovits import SoVITSTrainer

    base = demo_bases() / "sovits.pth"
    cfg = load_config(overrides=[*TINY, "data.valid_fraction=0.2", f"model.sovits_init={base}"])
    trained = SoVITSTrainer(cfg, featured_demo, tmp_path / "trained")
    trained.setup()
    first, again = trained.evaluate(), trained.evaluate()
    assert first == again and set(first) == {"valid_loss"}
    generator = trained.generator
    state = {k: v.clone() for k, v in generator.state_dict().items()}
    generator.load_state_dict(SoVITSGenerator(generator.size).state_dict())
    random = trained.evaluate()
    generator.load_state_dict(state)
    assert math.isfinite(first["valid_loss"]) and first["valid_loss"] < 0.8 * random["valid_loss"]


def test_train_valid_folder_from_the_command_line(featured_demo, tmp_path) -> None:
    def train(valid) -> subprocess.CompletedProcess:
        args = [sys.executable, "-m", "leanvoice", "train", "gpt", "--data", str(featured_demo)]
        args += ["--out", str(tmp_path / "run"), "--valid", str(valid)]
        args += [*TINY, "train.max_steps=2", "train.eval_every=1"]
        return subprocess.run(args, capture_output=True, text=True, timeout=300)

    done = train(featured_demo)
    assert done.returncode == 0, done.stderr
    assert "step 2: valid_loss" in done.stdout + done.stderr
    lines = _metrics(tmp_path / "run")
    assert all("valid_loss" in line for line in lines) and len(lines) == 2
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["held_out_clips"] == summary["clips"]  # the whole folder is held out

    missing = train(tmp_path / "nowhere")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "nowhere" in missing.stderr and "manifest" in missing.stderr


def test_v4_held_out_loss_is_its_flow_matching_loss_at_a_fixed_seed(featured_demo, tmp_path):
    """The default held-out figure (the stage's logged loss): the same every time it is
    measured, whatever the training RNG did in between, and it moves as the model learns."""
    from leanvoice.train.cfm import CFMTrainer

    overrides = [*TINY, "model.version=v4", "data.valid_fraction=0.2", "train.lr=0.01"]
    trainer = CFMTrainer(load_config(overrides=overrides), featured_demo, tmp_path / "run")
    trainer.setup()
    first = trainer.evaluate()
    torch.rand(7)  # the training stream moves on
    assert trainer.evaluate() == first and math.isfinite(first["valid_loss"])
    trainer.train_step(trainer.sampler.global_batches(0)[:1])
    assert trainer.evaluate()["valid_loss"] != first["valid_loss"]
    assert trainer.model.training  # back in train mode


def test_best_checkpoint_is_the_lowest_held_out_loss_measured_at_every_save(
    featured_demo, tmp_path
) -> None:
    from leanvoice.train.checkpoint import read_checkpoint_file

    run = tmp_path / "run"
    overrides = ["train.max_steps=6", "train.save_every=2", "train.eval_every=3"]
    cfg = load_config(overrides=[*TINY, "data.valid_fraction=0.2", "train.lr=0.01", *overrides])
    train_stage("gpt", featured_demo, run, cfg)
    lines = {line["step"]: line for line in _metrics(run) if "valid_loss" in line}
    assert sorted(lines) == [2, 3, 4, 6]  # every 3rd step and every save
    saved = {step: lines[step]["valid_loss"] for step in (2, 4, 6)}
    best = read_checkpoint_file(run / "checkpoints" / "best.pt")
    assert best.step == min(saved, key=saved.get)
    assert best.best_loss == min(saved.values())
