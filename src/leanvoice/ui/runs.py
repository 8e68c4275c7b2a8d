"""Training runs started from the web UI: each is its own `leanvoice train` process, so
a closed tab, a page refresh or a restarted UI never kills or duplicates it.

A run folder holds a lock file while its process lives (the trainer `flock`s it:
`leanvoice.train.run_lock`); starting a second run into the
same folder is refused with a clear message (two tabs or two users). Stopping sends
SIGTERM, which the trainer answers by finishing its step and writing a checkpoint, so a
stopped run resumes (`--resume auto`) where it stopped. Everything a page shows — state,
loss and memory curves, audition samples — is read back from the run folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from leanvoice.errors import InputError
from leanvoice.fsutil import atomic_write_json
from leanvoice.train.run_lock import LOCK, RunBusyError, read_lock

LOG = "train.log"
SETTINGS = "ui-settings.json"  # what the last start from the UI asked for, to fill the form
_children: dict[int, subprocess.Popen] = {}  # processes this UI started, to reap them


@dataclass(frozen=True)
class RunStatus:
    state: str  # none | running | stopping | stopped | finished | failed
    step: int
    max_steps: int
    loss: float | None
    message: str


# How much later than the lock says a process may seem to have started and still be the
# one the lock names: the UI records the time just after starting it; /proc's start
# time is in clock ticks; wall and boot clocks drift apart by a few milliseconds.
START_TIME_SLACK_SEC = 1.0


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None  # also reaps it, so it does not linger as a zombie
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a finished child of another process lingers as a zombie until reaped
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _started_at(pid: int) -> float | None:
    """When `pid` started (Unix time), from /proc; None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat(5): start time in ticks since boot
        since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, IndexError, ValueError, AttributeError):
        return None
    return time.time() - since_boot + ticks / os.sysconf("SC_CLK_TCK")


def _command_line(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def is_lock_holder(pid: int, lock: dict) -> bool:
    """Whether the live process `pid` is the training process `lock` names, not another
    that got its pid after that one ended: one this UI started, or one that started no
    later than the lock was written and runs the `train` command the lock records."""
    if pid in _children:
        return True
    written = float(lock.get("started") or 0)  # 0: a lock that does not say
    started = _started_at(pid)
    if written and started is not None and started > written + START_TIME_SLACK_SEC:
        return False
    recorded = [str(part) for part in lock.get("command") or []]
    running = _command_line(pid)
    if not recorded or running is None:  # nothing more to compare (no /proc)
        return True
    # the UI records the exact argv; the trainer records sys.argv, whose first items
    # differ from /proc's for `python -m leanvoice` or the `leanvoice` script
    tail = recorded[recorded.index("train") :] if "train" in recorded else recorded
    return running[-len(tail) :] == tail


def running_pid(run: Path) -> int | None:
    """The pid of the live process training into `run`, or None (a stale lock, whose
    process ended or whose pid now belongs to another process, is removed)."""
    lock = read_lock(Path(run))
    if lock is None:
        return None
    pid = int(lock["pid"])
    if _alive(pid) and is_lock_holder(pid, lock):
        return pid
    (Path(run) / LOCK).unlink(missing_ok=True)
    return None


def start_run(stage: str, data: Path, run: Path, preset: str | None, overrides: list[str]) -> int:
    """Start `leanvoice train STAGE` into `run` (resuming what is there); → its pid."""
    run, data = Path(run), Path(data)
    if stage not in ("gpt", "sovits"):
        raise InputError(f"stage {stage!r}: choose gpt or sovits")
    if not (data / "manifest.jsonl").is_file():
        raise InputError(f"{data}: not a prepared dataset (no manifest.jsonl); run Data first")
    run.mkdir(parents=True, exist_ok=True)
    pid = running_pid(run)
    if pid is not None:
        raise RunBusyError(
            f"{run}: a run is already going there (process {pid}); stop it "
            "first or choose another folder"
        )
    command = [
        sys.executable,
        "-m",
        "leanvoice",
        "train",
        stage,
        "--data",
        str(data),
        "--out",
        str(run),
        "--resume",
        "auto",
    ]
    if preset:
        command += ["--preset", preset]
    command += overrides
    try:  # O_EXCL: of two tabs starting at once, one gets the lock
        fd = os.open(run / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise RunBusyError(f"{run}: another run is starting there") from None
    try:
        with open(run / LOG, "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _children[process.pid] = process
        settings = {"stage": stage, "data": str(data), "preset": preset, "overrides": overrides}
        atomic_write_json(run / SETTINGS, settings)
        os.ftruncate(fd, 0)  # the child may have written its own record meanwhile
        os.write(
            fd,
            json.dumps(
                {"pid": process.pid, "stage": stage, "started": time.time(), "command": command}
            ).encode(),
        )
    finally:
        os.close(fd)
    return process.pid


def stop_run(run: Path) -> str:
    """SIGTERM to the run's trainer, and only to it (`running_pid` checks the process is
    the one the lock names, not another that reuses its pid)."""
    pid = running_pid(Path(run))
    if pid is None:
        raise InputError(f"{run}: no run is going there")
    os.kill(pid, signal.SIGTERM)  # the trainer finishes its step and saves a checkpoint
    return f"asked process {pid} to stop; it saves a checkpoint after its current step"


def metrics(run: Path) -> list[dict]:
    """The run's per-step lines (complete lines only: the trainer may be writing one)."""
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def status(run: Path) -> RunStatus:
    run = Path(run)
    lock, pid = read_lock(run), running_pid(run)
    points = metrics(run)
    step = points[-1]["step"] if points else 0
    loss = points[-1]["loss"] if points else None
    summary_path = run / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    max_steps = _max_steps(lock, summary)
    if pid is not None:
        return RunStatus("running", step, max_steps, loss, f"running (process {pid})")
    if summary is not None and (lock is None or summary_path.stat().st_mtime >= lock["started"]):
        if summary.get("stopped_on_request"):
            return RunStatus(
                "stopped",
                summary["steps"],
                max_steps,
                summary["final_loss"],
                f"stopped at step {summary['steps']}; start again to resume",
            )
        return RunStatus(
            "finished",
            summary["steps"],
            max_steps,
            summary["final_loss"],
            f"finished: {summary['steps']} steps",
        )
    if lock is None and not (run / LOG).exists():
        return RunStatus("none", 0, 0, None, "no run in this folder yet")
    tail = (
        (run / LOG).read_text(errors="replace").strip().splitlines()[-1:]
        if (run / LOG).exists()
        else []
    )
    return RunStatus(
        "failed",
        step,
        max_steps,
        loss,
        f"the run ended without a summary: {' '.join(tail) or 'see ' + LOG}",
    )


def _max_steps(lock: dict | None, summary: dict | None) -> int:
    if summary is not None:
        return int(summary["config"]["train"]["max_steps"])
    for item in (lock or {}).get("command", []):
        if item.startswith("train.max_steps="):
            return int(item.split("=", 1)[1])
    return 0


def latest_audition(run: Path) -> Path | None:
    files = sorted((Path(run) / "auditions").glob("*.wav"))
    return files[-1] if files else None


def latest_checkpoint(run: Path) -> Path | None:
    from leanvoice.train.checkpoint import list_checkpoints

    found = list_checkpoints(Path(run))
    return found[-1] if found else None


def settings(run: Path) -> dict | None:
    """What the run was last started with from the UI (stage, data, preset, overrides)."""
    try:
        return json.loads((Path(run) / SETTINGS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
