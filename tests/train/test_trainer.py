"""Real training runs on tiny models and the demo corpus (CPU, in process)."""

import json
import math
import os

import pytest
import torch

from leanvoice.config import load_config
from leanvoice.train import train_stage
from leanvoice.train.checkpoint import list_checkpoints
from leanvoice.train.gpt import GPTTrainer
from leanvoice.train.oom import OutOfMemoryStop, split_by_limit
from tests.tiny import TINY_MODEL

TINY = TINY_MODEL


def _cfg(*extra: str, preset: str | None = None):
    return load_config(preset, overrides=[*TINY, *extra])


def test_gpt_run_writes_summary_checkpoints_and_tensorboard(featured_demo, tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "gpt"
    cfg = _cfg("train.max_steps=4", "train.save_every=2", "train.audition_every=4")
    summary = train_stage("gpt", featured_demo, run, cfg)
    written = json.loads((run / "summary.json").read_text())
    for key in ("steps", "final_loss", "tokens_per_second", "padding_efficiency"):
        assert key in written
    assert written["steps"] == 4 and summary["final_loss"] == written["final_loss"]
    assert written["tokens_per_second"] > 0 and 0.5 < written["padding_efficiency"] <= 1
    memory = written["memory"]
    assert set(memory) == {
        "parameters_bytes",
        "gradients_bytes",
        "optimizer_bytes",
        "activations_bytes",
        "peak_bytes",
        "device",
    }
    assert memory["peak_bytes"] >= memory["parameters_bytes"] + memory["activations_bytes"]
    assert [p.name for p in list_checkpoints(run)] == ["step-00000002.pt", "step-00000004.pt"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"audio": 0}).Reload()
    assert {"train/loss", "train/tokens_per_second"} <= set(events.Tags()["scalars"])
    audio = events.Audio("audition/gpt")
    assert audio and audio[0].length_frames > 0 and audio[0].sample_rate == 32000


def test_sovits_run_with_accumulation_trains_both_networks(featured_demo, tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "sovits"
    cfg = _cfg(
        "train.max_steps=2", "train.grad_accum=2", "train.save_every=2", "train.audition_every=2"
    )
    summary = train_stage("sovits", featured_demo, run, cfg)
    assert summary["steps"] == 2 and torch.isfinite(torch.tensor(summary["final_loss"]))
    state = torch.load(list_checkpoints(run)[-1], weights_only=True)
    assert state["discriminator"] and state["d_optimizer"]["state"]
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"audio": 0}).Reload()
    assert events.Audio("audition/sovits")


def test_oom_guard_retries_on_smaller_micro_batches(featured_demo, tmp_path) -> None:
    failures = []

    def inject(step: int, micro: int, point: str) -> None:
        if step == 2 and point == "forward" and len(failures) < 2:
            failures.append(micro)
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    cfg = _cfg("train.max_steps=3", "train.save_every=0", "train.audition_every=0")
    trainer = GPTTrainer(cfg, featured_demo, tmp_path / "run", fault_injector=inject)
    summary = trainer.train()
    assert summary["steps"] == 3 and summary["out_of_memory_retries"] == 2
    assert trainer.guard.micro_batch_limit == int(int(600 * 0.9) * 0.9)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["micro_batch_budget"] for x in lines] == [600, 486, 486]
    assert all(x["real_tokens"] > 0 and x["cpu_seconds"] > 0 for x in lines)


def test_oom_three_in_a_row_stops_cleanly_with_a_message(featured_demo, tmp_path) -> None:
    def inject(step: int, micro: int, point: str) -> None:
        if step >= 3:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    cfg = _cfg("train.max_steps=5", "train.save_every=1", "train.audition_every=0")
    trainer = GPTTrainer(cfg, featured_demo, tmp_path / "run", fault_injector=inject)
    with pytest.raises(OutOfMemoryStop, match=r"3 times in a row at step 3.*data\.max_tokens"):
        trainer.train()
    assert [p.name for p in list_checkpoints(tmp_path / "run")][-1] == "step-00000002.pt"


def test_split_by_limit_keeps_every_clip_once() -> None:
    lengths = [50, 10, 40, 30, 20]
    parts = split_by_limit([0, 1, 2, 3, 4], lengths, 80)
    assert sorted(i for p in parts for i in p) == [0, 1, 2, 3, 4]
    assert all(len(p) * max(lengths[i] for i in p) <= 80 or len(p) == 1 for p in parts)


@pytest.mark.parametrize(
    ("preset", "stages"),
    [
        ("timbre", ["gpt", "sovits"]),
        ("small", ["gpt", "sovits"]),
        ("scratch", ["gpt", "sovits"]),
    ],
)
def test_each_preset_trains_end_to_end(featured_demo, tmp_path, preset, stages) -> None:
    for stage in stages:
        cfg = _cfg(
            "train.max_steps=2", "train.save_every=2", "train.audition_every=0", preset=preset
        )
        summary = train_stage(stage, featured_demo, tmp_path / stage, cfg)
        assert summary["steps"] == 2 and math.isfinite(summary["final_loss"])


def test_timbre_trains_the_gpt_through_adapters_and_sovits_in_full(featured_demo, tmp_path):
    """`memory.lora.stages`: LoRA for the stages named, the others in full."""
    from leanvoice.train.gpt import GPTTrainer
    from leanvoice.train.sovits import SoVITSTrainer

    cfg = _cfg("train.audition_every=0", preset="timbre")
    gpt = GPTTrainer(cfg, featured_demo, tmp_path / "g")
    gpt.setup()
    trainable = [n for n, p in gpt.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    sovits = SoVITSTrainer(cfg, featured_demo, tmp_path / "s")
    sovits.setup()
    names = [n for n, p in sovits.generator.named_parameters() if p.requires_grad]
    assert not any("lora_" in n for n in names) and any(n.startswith("dec.") for n in names)


def test_cli_train_auto_fit_uses_the_planners_settings(featured_demo, tmp_path) -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "leanvoice",
            "train",
            "gpt",
            "--data",
            str(featured_demo),
            "--out",
            str(tmp_path / "run"),
            "--auto-fit",
            "--vram",
            "48MB",
            *TINY,
            "train.max_steps=2",
            "train.audition_every=0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "40"},  # a narrow log: the settings line still is one
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for noise in ("Failed to load", "Enum subclass", "Warning"):  # libraries' logging
        assert noise not in run.stdout + run.stderr, noise
    fitted = next(line for line in run.stdout.splitlines() if line.startswith("auto-fit:"))
    budget = int(fitted.split("data.max_tokens=")[1].split()[0])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["data"]["max_tokens"] == budget
    assert summary["memory"]["peak_bytes"] <= 48 * 2**20
