"""Run one benchmark case in a fresh Python process, so that no case inherits what the
one before left behind: allocator caches, compiled kernels (torchao's 8-bit step is
compiled on first use), warmed-up libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
MARK = "LEANVOICE-BENCH-RESULT "


def run_case(module: str, function: str, *args: Any) -> Any:
    """`module.function(*args)` in a new interpreter; args and result travel as JSON."""
    code = (
        f"import json, sys\nfrom {module} import {function} as case\n"
        f"print({MARK!r} + json.dumps(case(*json.loads(sys.argv[1]))), flush=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module}.{function}{tuple(args)} failed:\n{done.stderr[-3000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith(MARK)][-1]
    return json.loads(line[len(MARK) :])
