"""Issue #30: the web UI stays inside its workspace. Names sent to its API (dataset, run,
export file) are plain names or refused with a message; driven through a real server
with gradio_client, nothing is written outside the workspace. Stop signals only the
process the run's lock names, never another that reuses its pid."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leanvoice.config.sizes import load_size
from leanvoice.errors import InputError
from leanvoice.models.gpt import SemanticGPT
from leanvoice.train.checkpoint import Checkpoint, NetworkState, write_checkpoint
from leanvoice.train.run_lock import LOCK
from leanvoice.ui import runs
from tests.tiny import TINY
from tests.train.test_resume import ENV
from tests.ui.server import running_ui

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("gradio")

DEMO = Path(__file__).parents[2] / "src" / "leanvoice" / "demo_data"
# what a client may send in place of a name: each would leave the workspace's folder
BAD_NAMES = ["../../escaped", "x/../../../escaped", "..", ".", ".hidden", "a\\b", "~"]


def test_only_plain_names_resolve_and_only_inside_their_folder(tmp_path) -> None:
    from leanvoice.ui.app import Workspace

    ws = Workspace(tmp_path / "ws")
    for bad in [*BAD_NAMES, str(tmp_path / "abs"), "", "a b", "x" * 65, "a\x00b"]:
        for resolve in (ws.dataset, ws.run, lambda name: ws.export(name, ".ckpt")):
            with pytest.raises(InputError):
                resolve(bad)
    assert ws.run("gpt-1") == ws.root / "runs" / "gpt-1"
    assert ws.dataset("声音.v2") == ws.root / "data" / "声音.v2"
    assert ws.export("voice.ckpt", ".ckpt") == ws.root / "out" / "export" / "voice.ckpt"
    (tmp_path / "elsewhere").mkdir()
    (ws.root / "runs" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="leads outside"):
        ws.run("link")


def _tiny_gpt_checkpoint(path: Path) -> Path:
    size = load_size("tiny").gpt
    weights = SemanticGPT(size).state_dict()
    config = {"memory": {"lora": {"rank": 0}}}
    networks = {"gpt": NetworkState(weights)}
    write_checkpoint(
        path, Checkpoint(1, "gpt", config, dataclasses.asdict(size), {}, networks=networks)
    )
    return path


@pytest.fixture
def ui(tmp_path, featured_demo):
    """A real `leanvoice ui` whose workspace holds the prepared demo as data/demo; its
    working folder is tmp/srv/cwd, so `../../x` from there is tmp/x."""
    workspace, cwd = tmp_path / "ws", tmp_path / "srv" / "cwd"
    cwd.mkdir(parents=True)
    shutil.copytree(featured_demo, workspace / "data" / "demo")
    with running_ui(workspace, tmp_path / "ui.log", cwd=cwd, runs_root=tmp_path) as url:
        yield gradio_client.Client(url, verbose=False), workspace


def _files(root: Path, but: tuple[Path, ...]) -> set[Path]:
    return {p for p in root.rglob("*") if not any(p.is_relative_to(b) for b in but)}


def test_names_sent_to_the_api_write_nothing_outside_the_workspace(ui, tmp_path) -> None:
    client, workspace = ui
    source = tmp_path / "src" / "two.list"
    source.parent.mkdir()
    lines = (DEMO / "demo.list").read_text(encoding="utf-8").splitlines()[:2]
    source.write_text("".join(f"{DEMO}/{line}\n" for line in lines), encoding="utf-8")
    checkpoint = _tiny_gpt_checkpoint(tmp_path / "src" / "g.pt")
    absolute = str(tmp_path / "abs" / "escaped")
    outside_before = _files(tmp_path, (workspace, tmp_path / "ui.log"))
    workspace_before = _files(workspace, ())
    tiny = "built-in tiny models (test, demo)"
    for bad in [*BAD_NAMES, absolute]:
        prepared = client.predict(
            str(source), bad, "auto", 15, tiny, "", "", "", api_name="/prepare"
        )
        assert prepared[0].startswith("**Error:**") and "plain name" in prepared[0], prepared
        started = client.predict("gpt", "demo", bad, "(none)", "tiny", 1, "", api_name="/start_run")
        assert started[0].startswith("**Error:**") and "plain name" in started[0], started
        started = client.predict("gpt", bad, "run", "(none)", "tiny", 1, "", api_name="/start_run")
        assert started[0].startswith("**Error:**"), started
        stopped = client.predict(bad, api_name="/stop_run")
        assert stopped.startswith("**Error:**"), stopped
    for bad in [*BAD_NAMES, absolute, "...ckpt", "..\\voice"]:
        exported = client.predict(str(checkpoint), bad, api_name="/export")
        assert exported.startswith("**Error:**") and "plain name" in exported, exported
    time.sleep(1)  # a process started by mistake would have begun writing
    assert _files(tmp_path, (workspace, tmp_path / "ui.log")) == outside_before
    assert _files(workspace, ()) == workspace_before
    exported = client.predict(str(checkpoint), "voice", api_name="/export")
    assert exported.startswith("wrote") and (workspace / "out/export/voice.ckpt").is_file()


def test_stop_never_signals_a_process_that_reuses_the_locks_pid(tmp_path) -> None:
    """The lock names a trainer that ended long ago; its pid now belongs to a `sleep`
    (started after the lock was written, or running another command)."""
    run = tmp_path / "run"
    run.mkdir()
    trainer = [sys.executable, "-m", "leanvoice", "train", "gpt", "--out", str(run)]
    for lock_written_sec_ago in (60.0, -5.0):  # before the sleep started; or after it
        unrelated = subprocess.Popen(["sleep", "60"])
        try:
            lock = {"pid": unrelated.pid, "stage": "gpt", "command": trainer}
            lock["started"] = time.time() - lock_written_sec_ago
            (run / LOCK).write_text(json.dumps(lock))
            with contextlib.suppress(InputError):
                runs.stop_run(run)
            time.sleep(0.3)
            assert unrelated.poll() is None, "the unrelated process was signalled"
            assert not (run / LOCK).exists()  # the stale lock is cleared
            (run / LOCK).write_text(json.dumps(lock))
            assert runs.status(run).state != "running"
            with pytest.raises(InputError, match="no run is going there"):
                runs.stop_run(run)
        finally:
            unrelated.kill()
            unrelated.wait()


def test_stop_still_stops_a_trainer_this_ui_did_not_start(featured_demo, tmp_path) -> None:
    """A run started from the command line (or by an earlier UI) is the lock's process:
    found running, stopped, and it saves a checkpoint."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "leanvoice", "train", "gpt", "--data", str(featured_demo)]
    command += ["--out", str(run), *TINY, "train.save_every=0", "train.max_steps=400"]
    trainer = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists():
            assert trainer.poll() is None and time.monotonic() < deadline, "no training step"
            time.sleep(0.05)
        assert runs.running_pid(run) == trainer.pid and trainer.pid not in runs._children
        assert "asked process" in runs.stop_run(run)
        assert trainer.wait(timeout=120) == 0
    finally:
        trainer.kill()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_on_request"] and summary["steps"] < 400
