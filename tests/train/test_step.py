"""The trainer owns the step: an out-of-memory retry never updates a network twice for
one batch (GPT, SoVITS's GAN, the step-in-backward optimizer)."""

import io

import pytest
import torch
from rich.console import Console

from leanvoice.config import load_config
from leanvoice.train.checkpoint import list_checkpoints
from leanvoice.train.gpt import GPTTrainer
from leanvoice.train.oom import OutOfMemoryStop
from leanvoice.train.sovits import SoVITSTrainer
from tests.tiny import TINY as SHARED_TINY

TINY = [*SHARED_TINY, "train.save_every=0"]


def _adam_steps(optimizer_state: dict) -> set[int]:
    return {int(s["step"]) for s in optimizer_state["state"].values()}


def test_sovits_oom_in_the_generator_backward_retries_without_a_second_d_update(
    featured_demo, tmp_path
) -> None:
    failures = []

    def inject(step: int, micro: int, point: str) -> None:
        # the discriminator's backward of step 2 has run; the generator's fails
        if step == 2 and point == "generator" and not failures:
            failures.append(point)
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    cfg = load_config(overrides=[*TINY, "train.max_steps=3"])
    trainer = SoVITSTrainer(cfg, featured_demo, tmp_path / "run", fault_injector=inject)
    summary = trainer.train()
    assert failures == ["generator"] and summary["out_of_memory_retries"] == 1
    state = torch.load(list_checkpoints(tmp_path / "run")[-1], weights_only=True)
    assert _adam_steps(state["d_optimizer"]) == {3}  # one update per step, retry included
    assert _adam_steps(state["optimizer"]) == {3}
    assert trainer.guard.micro_batch_limit == int(800 * 0.9)


def test_gpt_oom_in_backward_retries_on_smaller_micro_batches(featured_demo, tmp_path) -> None:
    points = []

    def inject(step: int, micro: int, point: str) -> None:
        if step == 2 and point == "gpt" and not points:
            points.append(point)
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    cfg = load_config(overrides=[*TINY, "train.max_steps=3"])
    trainer = GPTTrainer(cfg, featured_demo, tmp_path / "run", fault_injector=inject)
    summary = trainer.train()
    assert summary["out_of_memory_retries"] == 1 and summary["steps"] == 3
    state = torch.load(list_checkpoints(tmp_path / "run")[-1], weights_only=True)
    assert _adam_steps(state["optimizer"]) == {3}


def test_in_backward_guard_shrinks_the_batch_instead_of_accumulating(
    featured_demo, tmp_path
) -> None:
    failures = []

    def inject(step: int, micro: int, point: str) -> None:
        if step == 2 and point == "forward" and len(failures) < 4:  # budget 600 → 393
            failures.append(micro)
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    cfg = load_config(
        overrides=[
            *TINY,
            "train.max_steps=3",
            "train.max_oom_retries=5",
            "memory.optimizer=adamw_in_backward",
        ]
    )
    trainer = GPTTrainer(cfg, featured_demo, tmp_path / "run", fault_injector=inject)
    summary = trainer.train()
    assert summary["out_of_memory_retries"] == 4
    assert summary["clips_left_out_by_oom_guard"] > 0  # the rest of step 2's batch
    state = torch.load(list_checkpoints(tmp_path / "run")[-1], weights_only=True)
    steps = {int(s["step"]) for per in state["optimizer"].values() for s in per["state"].values()}
    assert steps == {3}  # one update per parameter and step: no accumulation


def test_in_backward_oom_inside_backward_stops_rather_than_update_twice(
    featured_demo, tmp_path
) -> None:
    def inject(step: int, micro: int, point: str) -> None:
        if step == 2 and point == "gpt":
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    cfg = load_config(overrides=[*TINY, "train.max_steps=3", "memory.optimizer=adamw_in_backward"])
    trainer = GPTTrainer(cfg, featured_demo, tmp_path / "run", fault_injector=inject)
    with pytest.raises(OutOfMemoryStop, match="inside backward at step 2"):
        trainer.train()


def test_auto_optimizer_is_resolved_once_for_every_network_and_said(
    featured_demo, tmp_path
) -> None:
    """memory.optimizer=auto (the presets): on a CPU, with no memory budget, both SoVITS
    networks get full-precision AdamW, and the run's log and summary say so."""
    cfg = load_config(overrides=[*TINY, "train.max_steps=1", "memory.optimizer=auto"])
    console = Console(file=io.StringIO(), record=True, width=200)
    trainer = SoVITSTrainer(cfg, featured_demo, tmp_path / "run", console=console)
    summary = trainer.train()
    assert trainer.cfg.memory.optimizer == "adamw"
    assert "full-precision AdamW" in trainer.optimizer_choice
    assert summary["optimizer"].count("torch AdamW") == 2
    assert "memory.optimizer=auto: full-precision AdamW" in console.export_text()


def test_resuming_8bit_states_where_auto_chooses_adamw_says_what_to_set(
    featured_demo, tmp_path
) -> None:
    """A run saved with 8-bit states (a small card's auto, here set explicitly), resumed
    where auto chooses AdamW: a one-line error naming the setting that resumes it."""
    from leanvoice.errors import ConfigError
    from leanvoice.train import train_stage

    run = tmp_path / "run"
    saved = ["train.max_steps=1", "train.save_every=1", "memory.optimizer=adamw8bit"]
    train_stage("gpt", featured_demo, run, load_config(overrides=[*SHARED_TINY, *saved]))
    resumed = load_config(overrides=[*SHARED_TINY, "train.max_steps=2", "memory.optimizer=auto"])
    with pytest.raises(ConfigError, match=r"resume with memory\.optimizer=adamw8bit"):
        train_stage("gpt", featured_demo, run, resumed)
