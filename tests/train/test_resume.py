"""Kill -9 in the middle of an epoch, resume: the run continues exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import torch

from leanvoice.train.checkpoint import checkpoint_path
from tests.tiny import TINY

ARGS = [*TINY, "train.max_steps=40", "train.save_every=4"]


def _command(data, run) -> list[str]:
    return [
        sys.executable,
        "-m",
        "leanvoice",
        "train",
        "gpt",
        "--data",
        str(data),
        "--out",
        str(run),
        *ARGS,
    ]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _curve(run) -> list[tuple[int, float]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [(x["step"], x["loss"]) for x in map(json.loads, lines)]


def test_kill_9_mid_epoch_then_resume_equals_the_uninterrupted_run(featured_demo, tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(
        _command(featured_demo, reference), check=True, env=ENV, capture_output=True, timeout=300
    )

    run = tmp_path / "killed"
    process = subprocess.Popen(
        _command(featured_demo, run), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not checkpoint_path(run, 8).exists():  # 11 batches per epoch: step 8 is mid-epoch
        assert process.poll() is None and time.monotonic() < deadline, "run ended too soon"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "summary.json").exists()  # it really died before the end
    steps_done = len(_curve(run))
    assert steps_done < 40

    resumed = subprocess.run(
        _command(featured_demo, run), env=ENV, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert _curve(run) == _curve(reference)  # every step's loss, bit for bit
    final = torch.load(checkpoint_path(run, 40), weights_only=True)["model"]
    expected = torch.load(checkpoint_path(reference, 40), weights_only=True)["model"]
    assert all(torch.equal(final[k], expected[k]) for k in expected)


def test_sigterm_finishes_the_step_writes_a_checkpoint_and_the_run_resumes(featured_demo, tmp_path):
    run = tmp_path / "stopped"
    command = [*_command(featured_demo, run), "train.save_every=0", "train.max_steps=400"]
    process = subprocess.Popen(
        command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    metrics = run / "metrics.jsonl"
    while not metrics.exists() or metrics.read_text().count("\n") < 3:
        assert process.poll() is None and time.monotonic() < deadline, "run ended too soon"
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_on_request"] and summary["steps"] < 400
    assert checkpoint_path(run, summary["steps"]).exists()  # saved though save_every=0
    assert "stopped at step" in output
    resumed = subprocess.run(
        [*command[:-1], f"train.max_steps={summary['steps'] + 2}"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"at step {summary['steps']}" in resumed.stdout + resumed.stderr
    assert json.loads((run / "summary.json").read_text())["steps"] == summary["steps"] + 2
