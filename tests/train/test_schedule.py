"""Learning-rate schedules: the official shapes, per-group rates, TensorBoard, exact resume."""

import json
import math

import pytest
import torch

from leanvoice.config import load_config
from leanvoice.train import train_stage
from leanvoice.train.checkpoint import list_checkpoints
from leanvoice.train.schedule import lr_factor
from leanvoice.train.sovits import SoVITSTrainer
from tests.tiny import TINY


def test_warmup_cosine_follows_the_official_gpt_curve() -> None:
    cfg = load_config(overrides=["train.lr_schedule=warmup_cosine"]).train
    factor = lambda step: lr_factor(cfg, "warmup_cosine", step, 0)  # noqa: E731
    assert factor(0) == pytest.approx(0.001)  # official: 1e-5 of a 0.01 peak
    assert factor(1000) == pytest.approx(0.001 + 0.999 * 0.5)
    assert factor(2000) == pytest.approx(1.0)
    middle = 2000 + (40000 - 2000) // 2
    assert factor(middle) == pytest.approx(0.01 + 0.99 * 0.5)
    assert factor(40000) == pytest.approx(0.01) and factor(90000) == pytest.approx(0.01)


def test_exponential_decays_per_epoch_and_constant_stays() -> None:
    cfg = load_config().train
    assert lr_factor(cfg, "exponential", 123, 0) == 1.0
    assert lr_factor(cfg, "exponential", 5, 4) == pytest.approx(0.999875**4)
    assert lr_factor(cfg, "constant", 10**6, 10**3) == 1.0


def test_sovits_text_encoder_trains_at_0_4_of_the_rate(featured_demo, tmp_path) -> None:
    cfg = load_config(overrides=[*TINY, "train.lr=1e-3"])
    trainer = SoVITSTrainer(cfg, featured_demo, tmp_path / "run")
    trainer.setup()
    groups = trainer.networks["generator"].optimizer.param_groups
    text = {
        id(p)
        for n, p in trainer.generator.named_parameters()
        if n.startswith(("enc_p.text_embedding.", "enc_p.encoder_text.", "enc_p.mrte."))
    }
    assert [g["lr"] for g in groups] == [pytest.approx(4e-4), pytest.approx(1e-3)]
    assert {id(p) for p in groups[0]["params"]} == text and text
    assert trainer.networks["discriminator"].optimizer.param_groups[0]["lr"] == 1e-3


def _lines(run) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_resume_mid_schedule_equals_the_uninterrupted_run(featured_demo, tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    schedule = [
        "train.lr_schedule=warmup_cosine",
        "train.warmup_steps=2",
        "train.decay_steps=5",
        "train.lr=1e-3",
        "train.save_every=3",
    ]
    whole = tmp_path / "whole"
    whole_cfg = load_config(overrides=[*TINY, *schedule, "train.max_steps=6"])
    train_stage("gpt", featured_demo, whole, whole_cfg)
    split = tmp_path / "split"
    for steps in (3, 6):
        cfg = load_config(overrides=[*TINY, *schedule, f"train.max_steps={steps}"])
        train_stage("gpt", featured_demo, split, cfg)
    rates = [x["lr"] for x in _lines(whole)]
    expected = [1e-6 + (1e-3 - 1e-6) * 0 / 2, 1e-6 + (1e-3 - 1e-6) / 2, 1e-3]
    assert rates[:3] == pytest.approx(expected)
    assert rates[3] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi / 3)))
    assert rates[5] == pytest.approx(1e-5)
    assert [(x["loss"], x["lr"]) for x in _lines(split)] == [
        (x["loss"], x["lr"]) for x in _lines(whole)
    ]
    a = torch.load(list_checkpoints(whole)[-1], weights_only=True)
    b = torch.load(list_checkpoints(split)[-1], weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["optimizer_schedule"]["kind"] == "warmup_cosine"
    events = EventAccumulator(str(whole / "tensorboard")).Reload()
    assert [e.value for e in events.Scalars("train/lr")] == pytest.approx(rates)
