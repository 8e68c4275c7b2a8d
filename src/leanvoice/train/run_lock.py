"""One run per folder: the training process holds an OS lock (`flock`) on a file in the
run folder for as long as it lives; the kernel releases it when the process exits, also
on a crash or `kill -9`, so a stale file never blocks the next run.

The file is the same one the web UI creates when it starts a run (its JSON names the
process), so the CLI, the Python API and the UI all refuse a second run into a busy
folder, naming the process that holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from leanvoice.errors import InputError
from leanvoice.fsutil import writable_folder

LOCK = ".leanvoice-run.lock"


class RunBusyError(InputError):
    """A run is already going in the folder."""


def read_lock(run: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(run) / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class RunLock:
    """Held while training into `run`; `acquire()` raises `RunBusyError` when another
    live process holds it."""

    def __init__(self, run: Path, stage: str) -> None:
        self.path = Path(run) / LOCK
        self.stage = stage
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> None:
        writable_folder(self.path.parent)
        self._created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = (read_lock(self.path.parent) or {}).get("pid", "unknown")
            raise RunBusyError(
                f"{self.path.parent}: a run is already training there (process {holder}); "
                "stop it first or choose another --out"
            ) from None
        self._fd = fd
        mine = read_lock(self.path.parent)
        if mine is None or mine.get("pid") != os.getpid():  # the UI wrote ours already
            record = {
                "pid": os.getpid(),
                "stage": self.stage,
                "started": time.time(),
                "command": [sys.executable, *sys.argv],
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            self._created = True

    def release(self) -> None:
        if self._fd is None:
            return
        if self._created:  # ours alone: remove it (a UI-made file is the UI's to clear)
            self.path.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
