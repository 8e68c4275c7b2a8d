"""Run management behind the UI's Train tab, and the UI's guards, without a browser."""

import json
import os
import subprocess
import sys

import pytest

from leanvoice.errors import ConfigError, InputError
from leanvoice.ui import check_host, runs


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_live_lock_refuses_a_second_run_and_a_stale_one_is_cleared(tmp_path, featured_demo):
    run = tmp_path / "run"
    run.mkdir()
    (run / runs.LOCK).write_text(json.dumps({"pid": os.getpid(), "started": 0, "command": []}))
    assert runs.running_pid(run) == os.getpid()
    assert runs.status(run).state == "running"
    with pytest.raises(runs.RunBusyError, match="already going"):
        runs.start_run("gpt", featured_demo, run, None, ["model.size=tiny"])
    (run / runs.LOCK).write_text(json.dumps({"pid": _dead_pid(), "started": 0, "command": []}))
    assert runs.running_pid(run) is None
    assert not (run / runs.LOCK).exists()


def test_bad_input_is_refused_before_any_process_starts(tmp_path):
    with pytest.raises(InputError, match="not a prepared dataset"):
        runs.start_run("gpt", tmp_path, tmp_path / "run", None, [])
    with pytest.raises(InputError, match="choose gpt or sovits"):
        runs.start_run("hifigan", tmp_path, tmp_path / "run", None, [])
    with pytest.raises(InputError, match="no run is going"):
        runs.stop_run(tmp_path)
    assert runs.status(tmp_path / "nothing").state == "none"


def test_metrics_skip_a_half_written_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    assert runs.metrics(tmp_path) == [{"step": 1, "loss": 2.0}]


def test_listening_beyond_this_machine_needs_a_flag():
    assert check_host("127.0.0.1", False) and check_host("localhost", False)
    with pytest.raises(ConfigError, match="--allow-remote"):
        check_host("0.0.0.0", False)
    assert check_host("0.0.0.0", True) is False
    result = subprocess.run(
        [sys.executable, "-m", "leanvoice", "ui", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "--allow-remote" in result.stderr + result.stdout


def test_handler_failures_become_one_line_messages():
    pytest.importorskip("gradio")
    from leanvoice.ui.app import inline

    @inline(outputs=2)
    def refuses():
        raise InputError("x.wav: reference audio is 1.0 s")

    @inline(outputs=1)
    def breaks():
        raise RuntimeError("boom")

    message, _ = refuses()
    assert message == "**Error:** x.wav: reference audio is 1.0 s"
    assert "RuntimeError: boom" in breaks() and "Traceback" not in breaks()
