"""Real torchrun processes with the gloo backend on CPU."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import TINY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(stage: str, data: Path, out: Path, *overrides: str, procs: int = 2):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={procs}",
        f"--master_port={_free_port()}",
        "-m",
        "leanvoice",
        "train",
        stage,
        "--data",
        str(data),
        "--out",
        str(out),
        *TINY,
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    if result.returncode != 0:  # show each rank's own error lines, not only torchrun's
        errors = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("[rank") or "Error" in line
        ]
        raise AssertionError("\n".join(errors[-60:]) + result.stderr[-2000:])
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("stage", ["gpt", "sovits"])
def test_ddp_ranks_stay_identical_every_step(featured_demo, tmp_path, stage) -> None:
    summary = torchrun(
        stage,
        featured_demo,
        tmp_path / "run",
        "train.max_steps=3",
        "train.save_every=3",
        "train.check_replicas=true",
    )
    assert summary["world_size"] == 2
    assert summary["replicas_checked"] == 3  # weights compared on both ranks after each step


def test_uneven_dataset_runs_past_an_epoch_without_hanging(featured_demo, tmp_path) -> None:
    # the demo manifest makes 11 batches at this budget: odd for 2 ranks; 8 steps cross
    # into the second epoch either way
    for tail in ("pad", "drop"):
        summary = torchrun(
            "gpt",
            featured_demo,
            tmp_path / tail,
            "train.max_steps=8",
            "train.save_every=0",
            f"train.tail={tail}",
        )
        assert summary["steps"] == 8


def test_fsdp2_trains_and_resumes(featured_demo, tmp_path) -> None:
    run = tmp_path / "fsdp"
    first = torchrun(
        "gpt",
        featured_demo,
        run,
        "train.max_steps=2",
        "train.save_every=2",
        "train.distributed=fsdp",
    )
    second = torchrun(
        "gpt",
        featured_demo,
        run,
        "train.max_steps=4",
        "train.save_every=2",
        "train.distributed=fsdp",
    )
    assert first["steps"] == 2 and second["steps"] == 4 and second["steps_this_run"] == 2


def test_an_oom_in_one_ranks_backward_is_retried_by_every_rank(featured_demo, tmp_path) -> None:
    """Rank 1 alone runs out of memory before a backward (the step's first micro-batch,
    accumulated without an all-reduce); both ranks retry the step on smaller
    micro-batches and their weights stay identical."""
    worker = Path(__file__).with_name("ddp_oom_worker.py")
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        str(worker),
        str(featured_demo),
        str(run),
        "2",
        *TINY,
        "train.max_steps=3",
        "train.grad_accum=2",
        "train.check_replicas=true",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["out_of_memory_retries"] == 1 and summary["replicas_checked"] == 3
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["micro_batch_budget"] for x in lines] == [600, 540, 540]  # rank 0 retried too
