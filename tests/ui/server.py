"""A real `leanvoice ui` process, for the tests that drive it through a browser or the
Gradio API."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from leanvoice.train.run_lock import LOCK

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_ui(
    workspace: Path, log_path: Path, *, cwd: Path | None = None, runs_root: Path | None = None
) -> Iterator[str]:
    """Serve `workspace` on a free port, wait until the page answers, yield its URL; then
    kill every run whose lock lies under `runs_root` (default: the workspace) so none
    outlives the test, and stop the server."""
    port = free_port()
    command = [sys.executable, "-m", "leanvoice", "ui", "--workspace", str(workspace)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert server.poll() is None, Path(log_path).read_text()[-3000:]
                assert time.monotonic() < deadline, "the UI did not come up"
                time.sleep(0.5)
        try:
            yield url
        finally:
            for lock in (runs_root or workspace).rglob(LOCK):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    os.kill(json.loads(lock.read_text())["pid"], signal.SIGKILL)
            server.terminate()
            server.wait(timeout=30)
