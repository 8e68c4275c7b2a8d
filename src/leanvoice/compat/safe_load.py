"""Load checkpoint files without running code from them.

`torch.load(weights_only=True)` admits tensors and plain containers only. Official
SoVITS files also pickle their config as a `utils.HParams` object; we admit exactly that
class through a stand-in with the same qualified name (attributes only, no code), and
refuse every other global with a clear error. Official files that start with a 2-byte
version code instead of the zip magic `PK` are read with `PK` restored, as the official
loader does.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from leanvoice.errors import InputError

ZIP_MAGIC = b"PK"
VERSION_HEADERS = {
    b"00": "v1",
    b"01": "v2",
    b"02": "v3",
    b"03": "v3-lora",
    b"04": "v4-lora",
    b"05": "v2Pro",
    b"06": "v2ProPlus",
    b"07": "v5dev-lora",
    b"08": "v5turbo-lora",
}


class OfficialHParams:
    """Stand-in for the official `utils.HParams`: a bag of attributes, nothing else."""

    def to_dict(self) -> dict[str, Any]:
        return {
            key: value.to_dict() if isinstance(value, OfficialHParams) else value
            for key, value in vars(self).items()
        }


OfficialHParams.__module__ = "utils"
OfficialHParams.__qualname__ = OfficialHParams.__name__ = "HParams"


def refusal(path: Path, error: pickle.UnpicklingError, raw: bytes | None = None) -> str:
    """One line for a file whose pickle names a global that is not admitted: which one,
    and never torch's advice to load it unsafely. Torch names it for the pickles it
    writes (protocol 2); for others (a raw `pickle.dumps`, protocol 4 and up) it stops at
    the first instruction it does not know, so the global is found by reading the
    instructions (`pickletools`, which runs nothing) of the file's bytes `raw`."""
    named = re.search(r"GLOBAL ([\w.]+)", str(error))
    found = named.group(1) if named else _first_refused_global(path, raw)
    if found is not None:
        what = f"it names the global {found}, which could run code"
    else:
        what = "it holds pickle instructions that are not admitted"
    return (
        f"{path}: refused to load: {what}; only tensors, plain containers and the "
        "official config are admitted"
    )


def _first_refused_global(path: Path, raw: bytes | None) -> str | None:
    """The first `module.name` the pickle(s) in `raw` (or the file) would import that the
    restricted loader does not admit; None when there is none or the bytes do not parse."""
    try:
        raw = Path(path).read_bytes() if raw is None else raw
        if raw[:2] != ZIP_MAGIC and raw[:2] in VERSION_HEADERS:
            raw = ZIP_MAGIC + raw[2:]
        if raw[:2] == ZIP_MAGIC:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                raw = archive.read(member)
    except (OSError, StopIteration, zipfile.BadZipFile, ValueError):
        return None
    admitted = _admitted_globals()
    stream = io.BytesIO(raw)
    while stream.tell() < len(raw):  # torch's legacy format: several pickles in a row
        for name in _globals_of_one_pickle(stream):
            if name not in admitted:
                return name
    return None


def _globals_of_one_pickle(stream: io.BytesIO) -> list[str]:
    """The globals one pickle names, in order: GLOBAL carries `module name`; STACK_GLOBAL
    takes the two strings pushed (or fetched from the memo) before it."""
    names: list[str] = []
    strings: list[str] = []
    memo: dict[int, str] = {}
    memoized, top = 0, None  # MEMOIZE count; the string the last instruction pushed
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            name, pushed = opcode.name, None
            if name == "GLOBAL":
                names.append(".".join(str(arg).split(" ", 1)))
            elif name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str) and "UNICODE" in name:
                pushed = arg
            elif name == "MEMOIZE":
                if top is not None:
                    memo[memoized] = top
                memoized += 1
                pushed = top
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if top is not None:
                    memo[int(arg)] = top
                pushed = top
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                pushed = memo.get(int(arg))
            if pushed is not None and name not in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                strings.append(pushed)
            top = pushed
    except (ValueError, EOFError):  # not a pickle (any more): what was read stands
        stream.seek(0, io.SEEK_END)
    return names


def _admitted_globals() -> set[str]:
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        admitted = set(_get_allowed_globals())
    except (ImportError, AttributeError):  # a torch without it: every global is named
        admitted = set()
    return admitted | {"utils.HParams"}


def read_checkpoint(path: Path) -> tuple[dict[str, Any], str | None]:
    """(the unpickled object, the official version code if the file carried one)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    raw = path.read_bytes()
    if len(raw) < 4:
        raise InputError(f"{path}: file is too short to be a checkpoint")
    version = None
    if raw[:2] != ZIP_MAGIC and raw[:2] in VERSION_HEADERS:
        version = VERSION_HEADERS[raw[:2]]
        raw = ZIP_MAGIC + raw[2:]
    try:
        with torch.serialization.safe_globals([OfficialHParams]):
            data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(refusal(path, exc, raw)) from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise InputError(
            f"{path}: not a readable checkpoint (truncated or corrupt: {first_sentence(exc)})"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict checkpoint, found {type(data).__name__}")
    return _plain(data), version


def first_sentence(error: BaseException) -> str:
    """An error's first sentence, whole (torch appends paragraphs of advice to some)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return "the file ends early" if isinstance(error, EOFError) else type(error).__name__
    return re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0].rstrip(".")


def _plain(value: Any) -> Any:
    """HParams stand-ins → dicts, recursively."""
    if isinstance(value, OfficialHParams):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
