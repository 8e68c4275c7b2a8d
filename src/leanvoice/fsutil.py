"""Atomic file writes: an interrupted run never leaves a half-written file a later run trusts."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)`, fsync the result, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def writable_folder(folder: Path) -> Path:
    """Create `folder` if needed and check that files can be written in it, so a
    read-only or full target fails at once in one line instead of mid-run."""
    from leanvoice.errors import InputError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".leanvoice-write-test."):
            pass
    except OSError as error:
        raise InputError(f"{folder}: cannot write there ({error.strerror})") from None
    return folder


# Failures of the whole disk or file system, not of one file: nothing more can be written.
DISK_WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def write_failure(path: Path, error: OSError) -> str:
    """One line for a write of `path` that failed: the file meant (not its temporary
    name) and the system's reason."""
    return f"{path}: could not write ({error.strerror or type(error).__name__})"


@contextlib.contextmanager
def one_line_write_failure(path: Path, then: str = "") -> Iterator[None]:
    """A failed write of `path` inside becomes an `OutputError` of one line naming it
    (and `then`: what is kept, what to do), instead of a traceback."""
    from leanvoice.errors import OutputError

    try:
        yield
    except OSError as error:
        raise OutputError(write_failure(path, error) + (f"; {then}" if then else "")) from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=1) + "\n")


def atomic_write_npy(path: Path, array: Any) -> None:
    import numpy as np

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.save(handle, array)

    atomic_write(path, write)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
