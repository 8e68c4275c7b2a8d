"""Nothing lost, one run per folder: a final checkpoint always, a finished run left as it
is, a second process into a busy folder refused (real processes)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from leanvoice.config import load_config
from leanvoice.errors import ConfigError
from leanvoice.train import train_stage
from leanvoice.train.checkpoint import list_checkpoints
from tests.tiny import TINY

ARGS = TINY
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _train(data, run, *extra: str, **kwargs) -> subprocess.CompletedProcess:
    command = [
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
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300, **kwargs)


def test_save_every_0_still_writes_the_final_checkpoint(featured_demo, tmp_path) -> None:
    cfg = load_config(overrides=[*ARGS, "train.max_steps=3", "train.save_every=0"])
    train_stage("gpt", featured_demo, tmp_path / "run", cfg)
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000003.pt"]


@pytest.mark.parametrize("steps", ["0", "-2"])
def test_max_steps_at_or_below_zero_is_a_config_error(steps: str) -> None:
    with pytest.raises(ConfigError, match=r"train\.max_steps"):
        load_config(overrides=[f"train.max_steps={steps}"])


def test_rerunning_a_finished_run_says_so_and_leaves_the_folder(featured_demo, tmp_path) -> None:
    run = tmp_path / "run"
    first = _train(featured_demo, run, "train.max_steps=2")
    assert first.returncode == 0, first.stderr[-2000:]
    output = first.stdout + first.stderr  # not a terminal: a progress line per step here
    assert "step 1/2 · loss" in output and "step 2/2 · loss" in output
    before = {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    for steps in ("2", "1"):  # the same command again, and a lower max_steps
        again = _train(featured_demo, run, f"train.max_steps={steps}")
        assert again.returncode == 0, again.stderr[-2000:]
        output = again.stdout + again.stderr
        assert "already trained to step 2" in output and "Traceback" not in output
    after = {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert after == before


def test_a_second_run_into_a_busy_folder_is_refused(featured_demo, tmp_path) -> None:
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "leanvoice",
        "train",
        "gpt",
        "--data",
        str(featured_demo),
        "--out",
        str(run),
        *ARGS,
        "train.max_steps=100000",
        "train.save_every=0",
    ]
    first = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    metrics = run / "metrics.jsonl"
    while not metrics.exists() or metrics.read_text().count("\n") < 2:
        assert first.poll() is None and time.monotonic() < deadline, "first run ended too soon"
        time.sleep(0.01)
    second = _train(featured_demo, run, "train.max_steps=100000")
    assert first.poll() is None, "the first run must still be going"
    first.send_signal(signal.SIGTERM)  # it finishes its step, saves and exits 0
    assert first.wait(timeout=300) == 0
    assert second.returncode != 0
    error = second.stderr.strip().splitlines()
    assert f"process {first.pid}" in second.stderr and "already training" in second.stderr
    assert "Traceback" not in second.stderr and len(error) <= 2
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))  # the first run's metrics, each step once
    assert json.loads((run / "summary.json").read_text())["steps"] == len(steps)
    assert not (run / ".leanvoice-run.lock").exists()  # released and removed at the end


def test_a_run_that_cannot_make_auditions_is_refused_at_start(featured_demo, tmp_path) -> None:
    import shutil

    data = tmp_path / "one_clip"
    shutil.copytree(featured_demo, data)
    manifest = data / "manifest.jsonl"
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")
    cfg = load_config(overrides=[*ARGS, "train.audition_every=5", "train.max_steps=5"])
    with pytest.raises(ConfigError, match="auditions need at least 2 usable clips"):
        train_stage("gpt", data, tmp_path / "run", cfg)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_an_unsafe_pickle_to_resume_is_refused_by_name(featured_demo, tmp_path) -> None:
    import torch

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(tmp_path / "payload_ran"),))

    evil = tmp_path / "evil.pt"
    torch.save({"step": 1, "model": Payload()}, evil)
    result = _train(featured_demo, tmp_path / "run", "train.max_steps=2", "--resume", str(evil))
    assert result.returncode != 0 and not (tmp_path / "payload_ran").exists()
    assert "refused to load" in result.stderr and "the global os.makedirs" in result.stderr
    assert "weights_only" not in result.stderr and "Traceback" not in result.stderr
    assert "truncated" not in result.stderr


def test_a_refused_checkpoint_write_is_one_line_and_keeps_the_one_before(
    featured_demo, tmp_path
) -> None:
    """The kernel refuses the write of step 4's checkpoint (RLIMIT_FSIZE below its size:
    the write fails as on a full disk): one line naming the file, no temporary file
    left, step 2 intact and resumable."""
    import resource

    run = tmp_path / "run"
    first = _train(featured_demo, run, "train.max_steps=2")
    assert first.returncode == 0, first.stderr[-2000:]
    (saved,) = list_checkpoints(run)
    limit = saved.stat().st_size // 2  # metrics lines and events stay far below it

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    refused = _train(featured_demo, run, "train.max_steps=4", preexec_fn=small_files)
    assert refused.returncode == 2, refused.stderr[-2000:]
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "step-00000004.pt: could not write" in last, last
    assert "step-00000002.pt is kept" in last and "Traceback" not in refused.stderr
    assert list_checkpoints(run) == [saved]
    assert not list((run / "checkpoints").glob("*.tmp"))
    again = _train(featured_demo, run, "train.max_steps=4")
    assert again.returncode == 0 and "resumed from" in again.stdout + again.stderr
