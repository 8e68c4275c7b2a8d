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


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun_command(*program: str, procs: int = 2) -> list[str]:
    """torchrun on a free port, running `program` (a script and its arguments, or `-m …`)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={procs}",
        f"--master_port={_free_port()}",
        *program,
    ]


def train_command(stage: str, data: Path, out: Path, *overrides: str, procs: int = 2):
    train = ["-m", "leanvoice", "train", stage, "--data", str(data), "--out", str(out)]
    return torchrun_command(*train, *TINY, *overrides, procs=procs)


def torchrun(stage: str, data: Path, out: Path, *overrides: str, procs: int = 2):
    command = train_command(stage, data, out, *overrides, procs=procs)
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=ENV)
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


def test_fsdp2_accumulates_and_resumes_to_the_uninterrupted_weights(
    featured_demo, tmp_path
) -> None:
    """FSDP2 with two micro-batches per step (gradients reduced once, on the second):
    2 steps, then a resumed 2 more, end with the loss and weights of 4 in one go."""
    import torch

    from leanvoice.train.checkpoint import checkpoint_path

    args = ["train.save_every=2", "train.distributed=fsdp", "train.grad_accum=2"]
    reference = torchrun("gpt", featured_demo, tmp_path / "reference", "train.max_steps=4", *args)
    run = tmp_path / "fsdp"
    first = torchrun("gpt", featured_demo, run, "train.max_steps=2", *args)
    second = torchrun("gpt", featured_demo, run, "train.max_steps=4", *args)
    assert first["steps"] == 2 and second["steps"] == 4 and second["steps_this_run"] == 2
    assert second["final_loss"] == reference["final_loss"]
    final = torch.load(checkpoint_path(run, 4), weights_only=True)["model"]
    expected = torch.load(checkpoint_path(tmp_path / "reference", 4), weights_only=True)["model"]
    assert all(torch.equal(final[k], expected[k]) for k in expected)


def test_fsdp2_and_ddp_gradients_of_two_micro_batches_equal_one_whole_batch(
    featured_demo, tmp_path
) -> None:
    """Each rank's two micro-batches (gradients reduced once, on the second) give the
    gradients of its whole batch, under FSDP2 as under DDP."""
    worker = Path(__file__).with_name("fsdp_gradients_worker.py")
    command = torchrun_command(str(worker), str(featured_demo), str(tmp_path), *TINY)
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        # fp32 sums in another order: ~1e-5 of a tensor's norm (tests/train/test_accumulation)
        assert all(difference <= 3e-5 for difference in report.values()), report


def test_sovits_trains_under_fsdp2_with_accumulation_and_clipping(featured_demo, tmp_path) -> None:
    """The generator sharded, the discriminator replicated (sovits.py says why)."""
    run = tmp_path / "run"
    overrides = ["train.max_steps=2", "train.distributed=fsdp", "train.grad_accum=2"]
    summary = torchrun("sovits", featured_demo, run, *overrides, "train.grad_clip=1")
    assert summary["steps"] == 2 and summary["world_size"] == 2
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["grad_norm/generator"] > 0 and last["grad_norm/discriminator"] > 0


def test_an_oom_in_one_ranks_backward_is_retried_by_every_rank(featured_demo, tmp_path) -> None:
    """Rank 1 alone runs out of memory before a backward (the step's first micro-batch,
    accumulated without an all-reduce); both ranks retry the step on smaller
    micro-batches and their weights stay identical."""
    worker = Path(__file__).with_name("ddp_oom_worker.py")
    run = tmp_path / "run"
    command = torchrun_command(
        str(worker),
        str(featured_demo),
        str(run),
        "2",
        *TINY,
        "train.max_steps=3",
        "train.grad_accum=2",
        "train.check_replicas=true",
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=ENV)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["out_of_memory_retries"] == 1 and summary["replicas_checked"] == 3
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["micro_batch_budget"] for x in lines] == [600, 540, 540]  # rank 0 retried too


def _rank_pids(parent: int) -> dict[int, int]:
    """LOCAL_RANK → pid of the workers under a torchrun process (from /proc)."""
    ranks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) != parent:  # field 4: the parent pid
            continue
        for item in environ:
            if item.startswith(b"LOCAL_RANK="):
                ranks[int(item.split(b"=")[1])] = int(entry.name)
    return ranks


def test_a_killed_rank_restarts_from_the_last_checkpoint(featured_demo, tmp_path) -> None:
    """What `torchrun --max-restarts` does after a rank dies, without gloo's flaky
    reconnect of a restarted round (docs/training.md): rank 1 is SIGKILLed mid-run, the
    group fails, and the same command resumes both ranks from the last checkpoint and
    ends with the weights of an uninterrupted run."""
    import signal
    import time

    import torch

    from leanvoice.train.checkpoint import checkpoint_path, list_checkpoints

    args = ["train.max_steps=12", "train.save_every=4"]
    reference = torchrun("gpt", featured_demo, tmp_path / "reference", *args)
    run = tmp_path / "run"
    command = train_command("gpt", featured_demo, run, *args)
    group = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not checkpoint_path(run, 4).exists():
        assert group.poll() is None and time.monotonic() < deadline, "the run ended too soon"
        time.sleep(0.01)
    os.kill(_rank_pids(group.pid)[1], signal.SIGKILL)
    _, errors = group.communicate(timeout=180)
    assert group.returncode != 0, errors[-2000:]
    assert not (run / "summary.json").exists()
    assert list_checkpoints(run)[-1] in (checkpoint_path(run, 4), checkpoint_path(run, 8))
    resumed = torchrun("gpt", featured_demo, run, *args)
    assert resumed["steps"] == 12 and 0 < resumed["steps_this_run"] < 12
    assert resumed["final_loss"] == reference["final_loss"]
    final = torch.load(checkpoint_path(run, 12), weights_only=True)["model"]
    expected = torch.load(checkpoint_path(tmp_path / "reference", 12), weights_only=True)["model"]
    assert all(torch.equal(final[k], expected[k]) for k in expected)


def test_fsdp_refuses_the_gpt_lora_attention_adapters_in_one_line(featured_demo, tmp_path):
    """peft's LoRA wrapper of nn.MultiheadAttention keeps weights FSDP2 cannot place: a
    one-line refusal that names ddp, not FSDP's assertion."""
    command = train_command(
        "gpt", featured_demo, tmp_path / "run", "train.max_steps=1",
        "train.distributed=fsdp", "memory.lora.rank=4",
    )  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=ENV)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cannot shard the GPT's LoRA attention adapters" in output
    assert "use train.distributed=ddp" in output and "AssertionError" not in output
